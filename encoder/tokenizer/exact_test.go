package tokenizer

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// testdataDir holds the corpus, the models trained with Debian's spm_train and
// the expected spm_encode/spm_decode outputs (tools/tokenizer/regen.sh).
var testdataDir = filepath.Join("..", "..", "testdata", "tokenizer")

// exactModels are the committed models; each exercises a different corner:
// user-defined and control symbols, byte fallback, identity normalisation
// without whitespace cleanup, no dummy prefix, nfkc_cf with a whitespace suffix.
var exactModels = []string{"uni_nmt_nfkc", "bpe_nmt_nfkc", "uni_identity", "bpe_identity", "uni_nfkc_cf"}

func readLines(t testing.TB, name string) [][]byte {
	t.Helper()
	path := filepath.Join(testdataDir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v (run tools/tokenizer/regen.sh)", path, err)
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("gunzip %s: %v", path, err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatalf("gunzip %s: %v", path, err)
		}
	}
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func loadModel(t testing.TB, name string) *Tokenizer {
	t.Helper()
	tk, err := Load(filepath.Join(testdataDir, name+".model"))
	if err != nil {
		t.Fatalf("Load(%s): %v", name, err)
	}
	return tk
}

// TestExactness requires every corpus line to give spm_encode's ids and
// pieces and spm_decode's text, for every model.
func TestExactness(t *testing.T) {
	corpus := readLines(t, "corpus.txt")
	if len(corpus) < 3000 {
		t.Fatalf("corpus has %d lines, want >= 3000", len(corpus))
	}
	for _, name := range exactModels {
		t.Run(name, func(t *testing.T) {
			tk := loadModel(t, name)
			if tk.VocabSize() < 8000 {
				t.Errorf("VocabSize = %d, want >= 8000", tk.VocabSize())
			}
			wantIDs := readLines(t, name+".ids.gz")
			wantPieces := readLines(t, name+".pieces.gz")
			wantDecoded := readLines(t, name+".decoded.gz")
			if len(wantIDs) != len(corpus) || len(wantPieces) != len(corpus) || len(wantDecoded) != len(corpus) {
				t.Fatalf("expected files have %d/%d/%d lines, corpus %d", len(wantIDs), len(wantPieces), len(wantDecoded), len(corpus))
			}
			idOK, pieceOK, decOK := 0, 0, 0
			reported := 0
			for i, line := range corpus {
				ps := tk.Encode(string(line))
				ids := make([]string, len(ps))
				texts := make([]string, len(ps))
				nums := make([]int, len(ps))
				for j, p := range ps {
					ids[j] = strconv.Itoa(p.ID)
					texts[j] = p.Text
					nums[j] = p.ID
				}
				gotIDs, gotPieces := strings.Join(ids, " "), strings.Join(texts, " ")
				gotDec := tk.Decode(nums)
				okI := gotIDs == string(wantIDs[i])
				okP := gotPieces == string(wantPieces[i])
				okD := gotDec == string(wantDecoded[i])
				if okI {
					idOK++
				}
				if okP {
					pieceOK++
				}
				if okD {
					decOK++
				}
				if (!okI || !okP || !okD) && reported < 5 {
					reported++
					t.Errorf("line %d %q:\n ids    %v\n want   %s\n pieces %q\n want   %q\n decode %q\n want   %q",
						i+1, trunc(string(line)), trunc(gotIDs), trunc(string(wantIDs[i])), trunc(gotPieces), trunc(string(wantPieces[i])), trunc(gotDec), trunc(string(wantDecoded[i])))
				}
			}
			t.Logf("%s: ids %d/%d, pieces %d/%d, decode %d/%d lines match", name, idOK, len(corpus), pieceOK, len(corpus), decOK, len(corpus))
			if idOK != len(corpus) || pieceOK != len(corpus) || decOK != len(corpus) {
				t.Errorf("%s: ids %d, pieces %d, decode %d of %d lines match", name, idOK, pieceOK, decOK, len(corpus))
			}
		})
	}
}

func trunc(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
