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

// TestPreprocessCmdExact: the command's PNG is Pillow's draft + resize by
// default and Pillow's full decode + resize with --exact (goldens from
// tools/preprocess/make_draft_goldens.py; fast_420.jpg is 1600×1200, so 224
// decodes at 1/4).
func TestPreprocessCmdExact(t *testing.T) {
	src := filepath.Join("..", "..", "testdata", "preprocess", "fast_420.jpg")
	for _, tc := range []struct {
		name   string
		args   []string
		golden string
	}{
		{"default draft", nil, "gold_fast_fast_420_224_draft.png"},
		{"exact", []string{"--exact"}, "gold_fast_fast_420_224_exact.png"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "t.png")
			root := newRoot()
			root.SetOut(&bytes.Buffer{})
			root.SetArgs(append([]string{"preprocess", "--size", "224", "--png", out, src}, tc.args...))
			if err := root.ExecuteContext(t.Context()); err != nil {
				t.Fatal(err)
			}
			got, want := readRGB(t, out), readRGB(t, filepath.Join("..", "..", "testdata", "preprocess", tc.golden))
			if got.Width != want.Width || got.Height != want.Height || !bytes.Equal(got.Pix, want.Pix) {
				t.Fatalf("%s: the command's pixels differ from %s", tc.name, tc.golden)
			}
		})
	}
	// The two goldens differ, so the flag is what selects between them.
	if bytes.Equal(readRGB(t, filepath.Join("..", "..", "testdata", "preprocess", "gold_fast_fast_420_224_draft.png")).Pix,
		readRGB(t, filepath.Join("..", "..", "testdata", "preprocess", "gold_fast_fast_420_224_exact.png")).Pix) {
		t.Fatal("draft and exact goldens are identical; the test would not tell the paths apart")
	}
}

func readRGB(t *testing.T, path string) *preprocess.RGB {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := preprocess.Decode(f, preprocess.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return img
}
