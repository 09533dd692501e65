package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"imglish/encoder/preprocess"
)

// TestPreprocessCmd: the command writes the same tensor as the library and
// refuses a dimension bomb with the typed error.
func TestPreprocessCmd(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join("..", "..", "testdata", "preprocess", "exif_rot6.jpg")
	out, pngOut := filepath.Join(dir, "t.f32"), filepath.Join(dir, "t.png")
	root := newRoot()
	var stdout bytes.Buffer
	root.SetOut(&stdout)
	root.SetArgs([]string{"preprocess", "--size", "40", "--out", out, "--png", pngOut, src})
	if err := root.ExecuteContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	var rep preprocessReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if rep.Info.Width != 32 || rep.Info.Height != 48 || rep.Values != 3*40*40 || rep.Info.EXIF == nil {
		t.Fatalf("report %+v", rep)
	}
	want, _, err := preprocess.File(t.Context(), src, preprocess.Options{Size: 40})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil || len(raw) != 4*len(want) {
		t.Fatalf("tensor file: %d bytes, %v", len(raw), err)
	}
	for i, v := range want {
		if binary.LittleEndian.Uint32(raw[4*i:]) != math.Float32bits(v) {
			t.Fatalf("value %d differs from the library's", i)
		}
	}
	f, err := os.Open(pngOut)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := preprocess.Decode(f, preprocess.Options{})
	if err != nil || img.Width != 40 || img.Height != 40 {
		t.Fatalf("png: %v", err)
	}

	root = newRoot()
	root.SetOut(&stdout)
	root.SetArgs([]string{"preprocess", filepath.Join("..", "..", "testdata", "preprocess", "bomb_header.png")})
	if err := root.ExecuteContext(t.Context()); !errors.Is(err, preprocess.ErrTooLarge) {
		t.Fatalf("bomb: got %v, want ErrTooLarge", err)
	}
}
