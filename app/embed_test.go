package app_test

import (
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"imglish/app"
	"imglish/encoder/convert"
)

// TestEmbedTextRefusedAlone: a text the tokenizer leaves with nothing to
// embed is refused (ErrInvalid, in the request's terms) before it joins a
// coalesced batch, where its error would fail its batch mates' requests;
// a valid text runs as a batch of its own.
func TestEmbedTextRefusedAlone(t *testing.T) {
	ctx := t.Context()
	demo := filepath.Join("..", "testdata", "models", "demo")
	modelDir := filepath.Join(t.TempDir(), "model")
	if _, err := convert.Convert(ctx, convert.Options{
		Checkpoint: filepath.Join(demo, "demo.pth"), OutDir: modelDir, Tokenizer: filepath.Join(demo, "demo.model"),
	}); err != nil {
		t.Fatal(err)
	}
	var batches, texts atomic.Int64
	opts := app.Options{TextBatch: app.CoalescerOptions{Observe: func(n int, _ time.Duration, _ error) {
		batches.Add(1)
		texts.Add(int64(n))
	}}}
	a, err := app.Open(ctx, app.Config{ModelDir: modelDir, DataDir: filepath.Join(t.TempDir(), "data"), Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, bad := range []string{"\u200b", "\u0001\u200b\u0002"} {
		_, err := a.EmbedText(ctx, bad)
		if !errors.Is(err, app.ErrInvalid) || err.Error() == "" {
			t.Errorf("EmbedText(%q): %v, want ErrInvalid", bad, err)
		}
	}
	if n := batches.Load(); n != 0 {
		t.Errorf("refused texts ran %d encoder batches (%d texts), want none", n, texts.Load())
	}
	if _, err := a.EmbedText(ctx, "a red circle"); err != nil {
		t.Fatal(err)
	}
	if b, n := batches.Load(), texts.Load(); b != 1 || n != 1 {
		t.Errorf("one valid text: %d batches of %d texts, want 1 of 1", b, n)
	}
	// The bulk path names the text.
	if _, err := a.EmbedTexts(ctx, []string{"a red circle", "\u200b"}); !errors.Is(err, app.ErrInvalid) {
		t.Errorf("EmbedTexts with an empty-once-normalised text: %v, want ErrInvalid", err)
	} else if got := err.Error(); !strings.Contains(got, "texts[1]") {
		t.Errorf("EmbedTexts error %q does not name texts[1]", got)
	}
}
