package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"imglish/encoder/modelfile"
)

var tokData = filepath.Join("..", "..", "testdata", "tokenizer")

// expectedIDs reads the spm_encode ids committed for the corpus.
func expectedIDs(t *testing.T, model string) [][]int {
	t.Helper()
	f, err := os.Open(filepath.Join(tokData, model+".ids.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]int
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		ids := []int{}
		for _, f := range strings.Fields(l) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, n)
		}
		out = append(out, ids)
	}
	return out
}

func runTokenize(t *testing.T, stdin string, args ...string) []tokenizeOutput {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(append([]string{"tokenize"}, args...))
	if err := root.ExecuteContext(t.Context()); err != nil {
		t.Fatalf("tokenize %v: %v", args, err)
	}
	var res []tokenizeOutput
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var o tokenizeOutput
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		res = append(res, o)
	}
	return res
}

func TestTokenizeStdinMatchesSPM(t *testing.T) {
	corpus, err := os.ReadFile(filepath.Join(tokData, "corpus.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(corpus), "\n")[:200]
	want := expectedIDs(t, "bpe_nmt_nfkc")[:200]
	got := runTokenize(t, strings.Join(lines, ""), "--model", filepath.Join(tokData, "bpe_nmt_nfkc.model"))
	if len(got) != len(want) {
		t.Fatalf("%d objects for %d lines", len(got), len(want))
	}
	for i := range want {
		if !slices.Equal(got[i].SPMIDs, want[i]) {
			t.Errorf("line %d: spm_ids %v, want %v", i+1, got[i].SPMIDs, want[i])
		}
		if len(got[i].Pieces) != len(want[i]) || len(got[i].IDs) != len(want[i]) {
			t.Errorf("line %d: %d pieces, %d ids, want %d", i+1, len(got[i].Pieces), len(got[i].IDs), len(want[i]))
		}
		for j, id := range got[i].SPMIDs {
			wantX := int64(id) + 1
			if id == 0 {
				wantX = 3
			}
			if got[i].IDs[j] != wantX {
				t.Errorf("line %d token %d: id %d, want %d", i+1, j, got[i].IDs[j], wantX)
			}
		}
	}
}

func TestTokenizeModelFolder(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(tokData, "uni_nmt_nfkc.model"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "beit3.spm"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	m := &modelfile.Manifest{Format: 1, ID: "test", VisionModel: "v.onnx", TextModel: "t.onnx"}
	m.Architecture.Dim, m.Image.Size, m.Text.MaxTokens, m.Text.Tokenizer = 8, 16, 64, "beit3.spm"
	if err := modelfile.Write(dir, m); err != nil {
		t.Fatal(err)
	}
	got := runTokenize(t, "", "--model", dir, "Ａ frog — ﬁne!", "")
	if len(got) != 2 {
		t.Fatalf("%d objects, want 2", len(got))
	}
	// spm_encode --model uni_nmt_nfkc.model gives 18 3633 42 907 126 437 24.
	if want := []int{18, 3633, 42, 907, 126, 437, 24}; !slices.Equal(got[0].SPMIDs, want) {
		t.Errorf("spm_ids %v, want %v", got[0].SPMIDs, want)
	}
	if want := []int64{19, 3634, 43, 908, 127, 438, 25}; !slices.Equal(got[0].IDs, want) {
		t.Errorf("ids %v, want %v", got[0].IDs, want)
	}
	if got[1].Pieces == nil || len(got[1].Pieces) != 0 {
		t.Errorf("empty text: pieces %v, want []", got[1].Pieces)
	}
}
