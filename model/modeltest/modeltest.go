// Package modeltest is the text-window fixture the tests of every door share
// (model, server, cmd/imglish, demo): a text longer than BEiT-3's 64-token
// window and the vector of its official truncation, embedded directly by the
// encoder, so each door's test compares against the same reference.
package modeltest

import (
	"math"
	"strings"
	"testing"

	"imglish/encoder/tokenizer"
	"imglish/model"
)

// Window is the official retrieval window, <s> and </s> included: BEiT-3's
// fine-tuning code and spec/beit3.md keep the first Window−2 pieces.
const Window = 64

// MinCosine is how close a door's vector must be to the reference: the same
// ids through the same graph differ only by batch padding's float rounding.
const MinCosine = 0.99999

// LongText has more than Window pieces under demo.model and at most 200 bytes
// (a classify label's limit): 35 "red," (70 pieces) and then blue squares,
// which only a door that keeps more than Window−2 pieces sees.
var LongText = strings.Repeat("red,", 35) + strings.Repeat(" blue square", 5)

// Reference returns the vector of <s> + the first Window−2 pieces of text +
// </s>, embedded by m's encoder without its tokenizer window. It fails t when
// m's model.json does not say Window, or when the text would not tell a
// wrong window: it must have more than Window−2 pieces, and its whole-text
// vector must be farther than MinCosine from the reference.
func Reference(t testing.TB, m *model.Model, text string) []float32 {
	t.Helper()
	if w := m.Manifest().Text.MaxTokens; w != Window {
		t.Fatalf("model.json max_tokens = %d, want the official %d", w, Window)
	}
	ids := m.Tokenizer().XLMRIDs(text)
	if len(ids) <= Window-2 {
		t.Fatalf("text has %d pieces, want more than %d", len(ids), Window-2)
	}
	frame := func(p []int64) []int64 { return append(append([]int64{tokenizer.BOS}, p...), tokenizer.EOS) }
	vecs, err := m.Encoder().EmbedTexts(t.Context(), [][]int64{frame(ids[:Window-2]), frame(ids)})
	if err != nil {
		t.Fatal(err)
	}
	if c := Cosine(vecs[0], vecs[1]); c >= MinCosine {
		t.Fatalf("the whole text and its first %d pieces embed alike (cosine %.7f): a wrong window would pass", Window-2, c)
	}
	return vecs[0]
}

// Check fails t unless got is within MinCosine of ref.
func Check(t testing.TB, door string, got, ref []float32) {
	t.Helper()
	if c := Cosine(got, ref); c < MinCosine {
		t.Errorf("%s: cosine %.7f to <s> + first %d pieces + </s>, want ≥ %v", door, c, Window-2, MinCosine)
	}
}

// Cosine is the cosine of a and b (0 when their lengths differ).
func Cosine(a, b []float32) float64 {
	if len(a) != len(b) {
		return 0
	}
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}
