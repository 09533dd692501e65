package tokenizer

import (
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

var (
	fuzzOnce   sync.Once
	fuzzModels []*Tokenizer
)

// FuzzEncode checks, for every committed model and any input: Encode does not
// panic; every id is in range; the pieces' surfaces (byte pieces as their
// bytes) concatenate to exactly Normalize(x), which is valid UTF-8; and, when
// no piece is unknown, Decode round-trips modulo normalisation:
// Decode(EncodeIDs(x)) == Normalize(x) with "▁" read as a space, both with
// leading spaces removed (Decode drops a leading "▁" per piece, as
// SentencePiece does, so how many depends on the segmentation).
func FuzzEncode(f *testing.F) {
	for i, l := range readLines(f, "corpus.txt") {
		if i%8 == 0 || len(l) < 8 {
			f.Add(string(l))
		}
	}
	f.Fuzz(func(t *testing.T, text string) {
		fuzzOnce.Do(func() {
			for _, name := range exactModels {
				fuzzModels = append(fuzzModels, loadModel(t, name))
			}
		})
		for i, tk := range fuzzModels {
			norm := tk.Normalize(text)
			if !utf8.ValidString(norm) {
				t.Fatalf("%s: Normalize(%q) = %q is not valid UTF-8", exactModels[i], text, norm)
			}
			ps := tk.Encode(text)
			var surface strings.Builder
			ids := make([]int, len(ps))
			hasUnk := false
			for j, p := range ps {
				if p.ID < 0 || p.ID >= tk.VocabSize() {
					t.Fatalf("%s: id %d out of range", exactModels[i], p.ID)
				}
				ids[j] = p.ID
				if int32(p.ID) == tk.unkID {
					hasUnk = true
				}
				if c, ok := pieceByte(p.Text); ok && tk.pieces[p.ID].typ == typeByte {
					surface.WriteByte(c)
				} else {
					surface.WriteString(p.Text)
				}
			}
			if surface.String() != norm {
				t.Fatalf("%s: pieces %+v do not concatenate to Normalize = %q", exactModels[i], ps, norm)
			}
			if hasUnk {
				continue
			}
			got := strings.TrimLeft(tk.Decode(ids), " ")
			want := strings.TrimLeft(strings.ReplaceAll(norm, spaceSymbol, " "), " ")
			if got != want {
				t.Fatalf("%s: Decode(EncodeIDs(%q)) = %q, want %q", exactModels[i], text, got, want)
			}
		}
	})
}
