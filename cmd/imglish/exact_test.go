package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"imglish/encoder"
	"imglish/encoder/preprocess"
	"imglish/server"
)

// TestExactJPEGFlag: --exact-jpeg reaches every place that embeds an image.
// embed's vector equals the library's with Options.Exact (and without it by
// default), and the two differ for a JPEG far larger than the model; an index
// built with the flag finds the photo itself with a query made with the flag
// at a higher score than with one made without it.
func TestExactJPEGFlag(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	model, photos := filepath.Join(dir, "model"), filepath.Join(dir, "photos")
	if _, err := runCLI(ctx, t, "convert", "--checkpoint", "../../testdata/reference/tiny.pth", "--image-size", "32",
		"--tokenizer", "../../testdata/models/demo/demo.model", "--out", model); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../../testdata/preprocess/fast_420.jpg") // 1600×1200: 1/8 scale for 32 px
	if err != nil {
		t.Fatal(err)
	}
	photo := filepath.Join(photos, "p.jpg")
	if err := os.MkdirAll(photos, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(photo, src, 0o644); err != nil {
		t.Fatal(err)
	}

	enc, err := encoder.Open(ctx, model, encoder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[bool][]float32{}
	for _, exact := range []bool{false, true} {
		px, _, err := preprocess.File(ctx, photo, preprocess.Options{Size: 32, Exact: exact})
		if err != nil {
			t.Fatal(err)
		}
		v, err := enc.EmbedImages(ctx, px, 1)
		if err != nil {
			t.Fatal(err)
		}
		want[exact] = v[0]
	}
	enc.Close()
	if slices.Equal(want[false], want[true]) {
		t.Fatal("the fast and exact vectors are identical; the test could not tell the paths apart")
	}

	for _, tc := range []struct {
		name  string
		flags []string
		exact bool
	}{
		{"default", nil, false},
		{"exact", []string{"--exact-jpeg"}, true},
	} {
		out, err := runCLI(ctx, t, append(tc.flags, "--model", model, "embed", "--image", photo)...)
		if err != nil {
			t.Fatalf("%s: embed: %v", tc.name, err)
		}
		var got embedOutput
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%s: embed output %q: %v", tc.name, out, err)
		}
		if !slices.Equal(got.Embedding, want[tc.exact]) {
			t.Errorf("%s: embed's vector is not the library's with Exact=%v", tc.name, tc.exact)
		}
	}

	data := filepath.Join(dir, "data")
	if _, err := runCLI(ctx, t, "--exact-jpeg", "--data", data, "--model", model, "index", "-q", photos); err != nil {
		t.Fatal(err)
	}
	score := func(flags ...string) float32 {
		t.Helper()
		out, err := runCLI(ctx, t, append(flags, "--data", data, "--model", model, "search", "--json", "-k", "1", "--image", photo)...)
		if err != nil {
			t.Fatal(err)
		}
		var res server.SearchResponse
		if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Hits) != 1 {
			t.Fatalf("search output %q: %v", out, err)
		}
		return res.Hits[0].Score
	}
	same, other := score("--exact-jpeg"), score()
	if same < 0.99999 || other >= same {
		t.Errorf("exact index: self score %v with --exact-jpeg, %v without; want ≈1 and lower", same, other)
	}
}

// TestSpinFlag: --spin, or IMGLISH_SPIN=1, reaches the encoder options every
// command builds; neither leaves it off.
func TestSpinFlag(t *testing.T) {
	for _, tc := range []struct {
		env  string
		args []string
		want bool
	}{
		{"", nil, false},
		{"", []string{"--spin"}, true},
		{"1", nil, true},
		{"1", []string{"--spin=false"}, false},
	} {
		t.Setenv("IMGLISH_SPIN", tc.env)
		g := &globals{}
		root := newRootFor(g)
		if err := root.ParseFlags(tc.args); err != nil {
			t.Fatal(err)
		}
		if got := g.encoderOptions(0).Spin; got != tc.want {
			t.Errorf("IMGLISH_SPIN=%q %v: Spin %v, want %v", tc.env, tc.args, got, tc.want)
		}
	}
}
