package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"imglish/demo/scene"
	"imglish/encoder/pull"
)

// TestDemoScenesAndModelList runs the CLI: demo scenes writes a test-split
// set whose captions match the library's, and model list reports an empty
// data folder, the known names, and bad flags as typed errors.
func TestDemoScenesAndModelList(t *testing.T) {
	out := filepath.Join(t.TempDir(), "scenes")
	root := newRoot()
	root.SetArgs([]string{"demo", "scenes", "--out", out, "--n", "3", "--size", "32", "--split", "test", "--seed", "4"})
	if err := root.ExecuteContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	tsv, err := os.ReadFile(filepath.Join(out, "captions.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := scene.New(scene.Options{Seed: 4, Split: scene.Test})
	if err != nil {
		t.Fatal(err)
	}
	if want := "images/test-000002.png\t" + g.Scene(2).Caption(); !strings.Contains(string(tsv), want) {
		t.Fatalf("captions.tsv %q lacks %q", tsv, want)
	}

	cases := []struct {
		args []string
		want string
		err  error
	}{
		{[]string{"--data", t.TempDir(), "model", "list"}, "(none under", nil},
		{[]string{"model", "list", "--available"}, "beit3-large-itc", nil},
		{[]string{"demo", "scenes", "--out", out, "--split", "val"}, "", scene.ErrOptions},
		{[]string{"--data", t.TempDir(), "model", "pull", "beit3-huge"}, "", pull.ErrUnknownModel},
		{[]string{"model", "pull", "--layout", "spiral", "beit3-base-coco"}, "", pull.ErrOptions},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		root := newRoot()
		root.SetOut(&buf)
		root.SetArgs(c.args)
		err := root.ExecuteContext(t.Context())
		if !errors.Is(err, c.err) || !strings.Contains(buf.String(), c.want) {
			t.Errorf("%v: err %v (want %v), output %q (want %q)", c.args, err, c.err, buf.String(), c.want)
		}
	}
}
