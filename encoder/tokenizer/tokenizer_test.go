package tokenizer

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// testPiece describes one piece of a hand-built model.
type testPiece struct {
	piece string
	score float32
	typ   pieceType
}

// buildModel serialises a minimal ModelProto with the identity normaliser.
func buildModel(pieces []testPiece, mt modelType, byteFallback bool, charsmap []byte) []byte {
	var b []byte
	for _, p := range pieces {
		var pb []byte
		pb = protowire.AppendTag(pb, 1, protowire.BytesType)
		pb = protowire.AppendString(pb, p.piece)
		pb = protowire.AppendTag(pb, 2, protowire.Fixed32Type)
		pb = protowire.AppendFixed32(pb, math.Float32bits(p.score))
		pb = protowire.AppendTag(pb, 3, protowire.VarintType)
		pb = protowire.AppendVarint(pb, uint64(p.typ))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, pb)
	}
	var ts []byte
	ts = protowire.AppendTag(ts, 3, protowire.VarintType)
	ts = protowire.AppendVarint(ts, uint64(mt))
	if byteFallback {
		ts = protowire.AppendTag(ts, 35, protowire.VarintType)
		ts = protowire.AppendVarint(ts, 1)
	}
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, ts)
	var ns []byte
	ns = protowire.AppendTag(ns, 1, protowire.BytesType)
	ns = protowire.AppendString(ns, "identity")
	if charsmap != nil {
		ns = protowire.AppendTag(ns, 2, protowire.BytesType)
		ns = protowire.AppendBytes(ns, charsmap)
	}
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendBytes(b, ns)
	return b
}

var basePieces = []testPiece{
	{"<unk>", 0, typeUnknown}, {"<s>", 0, typeControl}, {"</s>", 0, typeControl},
	{"▁a", -1, typeNormal}, {"b", -2, typeNormal}, {"▁", -3, typeNormal}, {"a", -4, typeNormal},
}

func TestLoadBytesErrors(t *testing.T) {
	real, err := os.ReadFile(filepath.Join(testdataDir, "uni_nmt_nfkc.model"))
	if err != nil {
		t.Fatal(err)
	}
	with := func(extra ...testPiece) []testPiece { return append(slices.Clone(basePieces), extra...) }
	noUnk := slices.Clone(basePieces[1:])
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"garbage", []byte("not a protobuf at all \xff\xff\xff"), ErrInvalidModel},
		{"truncated", real[:len(real)-1], ErrInvalidModel},
		{"empty", nil, ErrInvalidModel},
		{"no unknown piece", buildModel(noUnk, modelUnigram, false, nil), ErrInvalidModel},
		{"two unknown pieces", buildModel(with(testPiece{"<unk2>", 0, typeUnknown}), modelUnigram, false, nil), ErrInvalidModel},
		{"duplicate piece", buildModel(with(testPiece{"b", -5, typeNormal}), modelUnigram, false, nil), ErrInvalidModel},
		{"empty piece", buildModel(with(testPiece{"", -5, typeNormal}), modelUnigram, false, nil), ErrInvalidModel},
		{"byte piece without byte_fallback", buildModel(with(testPiece{"<0x41>", 0, typeByte}), modelBPE, false, nil), ErrInvalidModel},
		{"unknown piece type", buildModel(with(testPiece{"c", -5, 9}), modelUnigram, false, nil), ErrInvalidModel},
		{"word model", buildModel(basePieces, modelWord, false, nil), ErrUnsupported},
		{"char model", buildModel(basePieces, modelChar, false, nil), ErrUnsupported},
		{"unknown model type", buildModel(basePieces, 7, false, nil), ErrInvalidModel},
		{"charsmap too short", buildModel(basePieces, modelUnigram, false, []byte{1, 0}), ErrInvalidModel},
		{"charsmap size past end", buildModel(basePieces, modelUnigram, false, []byte{200, 0, 0, 0, 1, 2, 3, 4}), ErrInvalidModel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk, err := LoadBytes(tc.data)
			if !errors.Is(err, tc.want) {
				t.Fatalf("LoadBytes: err = %v, want %v", err, tc.want)
			}
			if tk != nil {
				t.Fatalf("LoadBytes returned a tokenizer with error %v", err)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.model"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load: err = %v, want fs.ErrNotExist", err)
	}
}

// TestHandBuilt checks unknown handling on tiny models whose answers can be
// worked out by hand: consecutive unknown characters merge into one unknown
// piece; with byte_fallback they become byte pieces instead.
func TestHandBuilt(t *testing.T) {
	bytePieces := slices.Clone(basePieces)
	for c := range 256 {
		bytePieces = append(bytePieces, testPiece{bytePiece(byte(c)), 0, typeByte})
	}
	tests := []struct {
		name     string
		pieces   []testPiece
		mt       modelType
		fallback bool
		text     string
		want     []Piece
	}{
		{"unigram merges unknown run", basePieces, modelUnigram, false, "a\u9f98\u9f98b",
			[]Piece{{"▁a", 3}, {"\u9f98\u9f98", 0}, {"b", 4}}},
		{"unigram unknown then space", basePieces, modelUnigram, false, "x a",
			[]Piece{{"▁", 5}, {"x", 0}, {"▁a", 3}}},
		{"bpe merges unknown run", basePieces, modelBPE, false, "a\u9f98\u9f98b",
			[]Piece{{"▁a", 3}, {"\u9f98\u9f98", 0}, {"b", 4}}},
		{"unigram byte fallback", bytePieces, modelUnigram, true, "a\u00e9b",
			[]Piece{{"▁a", 3}, {"<0xC3>", 7 + 0xC3}, {"<0xA9>", 7 + 0xA9}, {"b", 4}}},
		{"bpe byte fallback", bytePieces, modelBPE, true, "\u00e9",
			[]Piece{{"▁", 5}, {"<0xC3>", 7 + 0xC3}, {"<0xA9>", 7 + 0xA9}}},
		{"invalid utf-8 becomes U+FFFD", basePieces, modelUnigram, false, "a\xff",
			[]Piece{{"▁a", 3}, {"\uFFFD", 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk, err := LoadBytes(buildModel(tc.pieces, tc.mt, tc.fallback, nil))
			if err != nil {
				t.Fatal(err)
			}
			if got := tk.Encode(tc.text); !slices.Equal(got, tc.want) {
				t.Errorf("Encode(%q) = %+v, want %+v", tc.text, got, tc.want)
			}
		})
	}
}

func TestXLMRID(t *testing.T) {
	tests := []struct {
		spm  int
		want int64
	}{{0, Unk}, {3, 4}, {4, 5}, {7999, 8000}, {63999, 64000}}
	for _, tc := range tests {
		if got := XLMRID(tc.spm); got != tc.want {
			t.Errorf("XLMRID(%d) = %d, want %d", tc.spm, got, tc.want)
		}
	}
}

func TestBEiT3Input(t *testing.T) {
	tk := loadModel(t, "uni_nmt_nfkc")
	if got, want := tk.MaskID(), int64(tk.VocabSize()+1); got != want {
		t.Errorf("MaskID = %d, want %d", got, want)
	}
	long := strings.Repeat("A great blue heron stands in the water. ", 30)
	tests := []struct {
		name      string
		text      string
		maxTokens int
		wantLen   int // 0 when an error is expected
		wantErr   error
	}{
		{"caption", "A frog sits on a leaf.", 64, len(tk.EncodeIDs("A frog sits on a leaf.")) + 2, nil},
		{"truncated to 62 pieces", long, 64, 64, nil},
		{"small budget", long, 5, 5, nil},
		{"budget of three", "A frog.", 3, 3, nil},
		{"empty", "", 64, 0, ErrEmpty},
		{"whitespace only", " \t\u00a0\u3000  ", 64, 0, ErrEmpty},
		{"deleted controls only", "\u0001\u200b", 64, 0, ErrEmpty},
		{"budget too small", "A frog.", 2, 0, ErrMaxTokens},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tk.BEiT3Input(tc.text, tc.maxTokens)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			if len(got) != tc.wantLen {
				t.Fatalf("len = %d, want %d", len(got), tc.wantLen)
			}
			xs := tk.XLMRIDs(tc.text)
			want := append(append([]int64{BOS}, xs[:tc.wantLen-2]...), EOS)
			if !slices.Equal(got, want) {
				t.Errorf("BEiT3Input = %v, want %v", got, want)
			}
			for i, id := range tk.EncodeIDs(tc.text)[:tc.wantLen-2] {
				if got[i+1] != XLMRID(id) {
					t.Errorf("token %d = %d, want XLMRID(%d)", i+1, got[i+1], id)
				}
			}
		})
	}
}

// TestConcurrentEncode encodes the corpus from several goroutines at once
// (run with -race) and compares with a sequential pass.
func TestConcurrentEncode(t *testing.T) {
	tk := loadModel(t, "bpe_nmt_nfkc")
	corpus := readLines(t, "corpus.txt")[:600]
	want := make([][]int, len(corpus))
	for i, l := range corpus {
		want[i] = tk.EncodeIDs(string(l))
	}
	var wg sync.WaitGroup
	errs := make(chan int, 4*len(corpus))
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, l := range corpus {
				if !slices.Equal(tk.EncodeIDs(string(l)), want[i]) {
					errs <- i
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for i := range errs {
		t.Errorf("line %d differs under concurrency", i+1)
	}
}
