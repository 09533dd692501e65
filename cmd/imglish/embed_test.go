package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"imglish/model"
	"imglish/model/modeltest"
)

// TestEmbedTextWindow: `imglish embed --text` frames a text longer than the
// 64-token window as every other door does (server's TestTextWindowEveryDoor):
// <s> + its first 62 pieces + </s>, against modeltest's reference.
func TestEmbedTextWindow(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "model")
	if _, err := runCLI(ctx, t, "convert", "--checkpoint", "../../testdata/reference/tiny.pth", "--image-size", "32",
		"--tokenizer", "../../testdata/models/demo/demo.model", "--out", dir); err != nil {
		t.Fatalf("convert: %v", err)
	}
	m, err := model.Open(ctx, dir, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	ref := modeltest.Reference(t, m, modeltest.LongText)
	out, err := runCLI(ctx, t, "--model", dir, "embed", "--text", modeltest.LongText)
	if err != nil {
		t.Fatalf("embed: %v", err)
	}
	var line embedOutput
	if err := json.Unmarshal([]byte(out), &line); err != nil {
		t.Fatalf("embed output %q: %v", out, err)
	}
	if line.Input != modeltest.LongText {
		t.Fatalf("embed printed input %q", line.Input)
	}
	modeltest.Check(t, "imglish embed --text", line.Embedding, ref)
}
