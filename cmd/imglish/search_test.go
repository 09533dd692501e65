package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imglish/encoder"
	"imglish/server"
	"imglish/vstore"
)

// runCLI runs one imglish command line in-process and returns its stdout.
func runCLI(ctx context.Context, t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"--log-level", "error"}, args...))
	err := root.ExecuteContext(ctx)
	if err != nil {
		err = fmt.Errorf("%w (stderr: %s)", err, errOut.String())
	}
	return out.String(), err
}

// TestServeAndSearchCLI: convert the tiny fixture, index demo scenes, search
// the local store, then `imglish serve` and `imglish search --server` against it.
func TestServeAndSearchCLI(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	model, data, scenes := filepath.Join(dir, "model"), filepath.Join(dir, "data"), filepath.Join(dir, "scenes")
	photos := filepath.Join(scenes, "images")
	steps := [][]string{
		{"convert", "--checkpoint", "../../testdata/reference/tiny.pth", "--image-size", "32",
			"--tokenizer", "../../testdata/models/demo/demo.model", "--out", model},
		{"demo", "scenes", "--out", scenes, "--n", "12", "--size", "64"},
		{"--data", data, "--model", model, "index", "-q", photos},
	}
	for _, args := range steps {
		out, err := runCLI(ctx, t, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		// As `make run` does: the scenes' images folder holds only images
		// (captions.tsv and scenes.jsonl in it were reported as 2 failed).
		if args[len(args)-1] == photos && !strings.Contains(out, "12 embedded") || strings.Contains(out, "see `imglish index --errors`") {
			t.Errorf("%v: %q, want 12 images embedded and none failed", args, out)
		}
	}
	out, err := runCLI(ctx, t, "--data", data, "--model", model, "search", "--json", "-k", "3", "--image", filepath.Join(photos, "train-000004.png"))
	if err != nil {
		t.Fatalf("local search: %v", err)
	}
	var local server.SearchResponse
	if err := json.Unmarshal([]byte(out), &local); err != nil || len(local.Hits) != 3 {
		t.Fatalf("local search output %q: %v", out, err)
	}
	if local.Hits[0].Path != filepath.Join(photos, "train-000004.png") || local.Hits[0].Score < 0.999 {
		t.Errorf("local image search: top hit %+v, want the query image", local.Hits[0])
	}

	// A relative --folder is under the current folder, as the shell means it.
	t.Run("relative folder", func(t *testing.T) {
		query := filepath.Join(photos, "train-000004.png")
		lib, err := encoder.LibraryPath("") // found from the package folder
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(encoder.LibraryEnv, lib)
		t.Chdir(scenes)
		for folder, want := range map[string]int{"images": 3, "images/": 3, "./images/../images": 3, "elsewhere": 0} {
			out, err := runCLI(ctx, t, "--data", data, "--model", model, "search", "--json", "-k", "3", "--folder", folder, "--image", query)
			if err != nil {
				t.Fatalf("--folder %s: %v", folder, err)
			}
			var resp server.SearchResponse
			if err := json.Unmarshal([]byte(out), &resp); err != nil || len(resp.Hits) != want {
				t.Errorf("--folder %s from %s: output %q (%v), want %d hits", folder, scenes, out, err, want)
			}
		}
	})

	out, err = runCLI(ctx, t, "--data", data, "--model", model, "doctor")
	if err != nil {
		t.Fatalf("doctor: %v", err)
	}
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor output %q: %v", out, err)
	}
	if rep.Store == nil || rep.Store.Items != 12 || len(rep.Store.Spaces) != 1 {
		t.Fatalf("doctor store report %+v, want 12 items in one space", rep.Store)
	}
	if sp := rep.Store.Spaces[0]; sp.Count != 12 || sp.Recall10 < 0.95 || sp.RecallErr != "" {
		t.Errorf("doctor space report %+v, want 12 vectors and recall@10 ≥ 0.95", sp)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	t.Setenv(server.KeysEnv, "cli-test-key-0123456789:write")
	go func() {
		_, err := runCLI(sctx, t, "--data", data, "--model", model, "serve", "--addr", addr)
		done <- err
	}()
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("server not ready: %v", <-done)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := runCLI(ctx, t, "search", "--server", base, "a red circle"); !errors.Is(err, errServer) {
		t.Errorf("search without a key: %v, want errServer (401)", err)
	}
	t.Setenv("IMGLISH_API_KEY", "cli-test-key-0123456789")
	out, err = runCLI(ctx, t, "search", "--server", base, "-k", "3", "a red circle -people")
	if err != nil {
		t.Fatalf("remote search: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "#") || !strings.Contains(lines[1], photos) {
		t.Errorf("table output:\n%s", out)
	}
	out, err = runCLI(ctx, t, "search", "--server", base, "--json", "-k", "3", "--image", filepath.Join(photos, "train-000004.png"))
	var remote server.SearchResponse
	if err != nil || json.Unmarshal([]byte(out), &remote) != nil || len(remote.Hits) != 3 || remote.Hits[0].ID != local.Hits[0].ID {
		t.Errorf("remote image search: %v %q, want the local answer's top hit", err, out)
	}
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"beach at dusk -people -dogs", []string{"beach at dusk:1", "people:-0.5", "dogs:-0.5"}},
		{"-red cars", []string{"red cars:-0.5"}},
		{"well-lit room - ", []string{"well-lit room -:1"}},
	} {
		var got []string
		for _, term := range textTerms(tc.in) {
			w := 1.0
			if term.Weight != nil {
				w = *term.Weight
			}
			got = append(got, fmt.Sprintf("%s:%g", term.Text, w))
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("textTerms(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after SIGTERM-like cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// TestOtherModels: an empty local search explains itself when the store
// holds images of other models only (a search reads its model's space).
func TestOtherModels(t *testing.T) {
	img := func(model string, n int) vstore.Space {
		return vstore.Space{Name: vstore.ImageSpace(model), Kind: vstore.KindImages, Model: model, Count: n}
	}
	texts := vstore.Space{Name: "texts:x", Kind: vstore.KindTexts, Model: "m1", Count: 5}
	for _, tc := range []struct {
		name   string
		spaces []vstore.Space
		want   string // in the hint; "" for none
	}{
		{"empty store", nil, ""},
		{"this model's images", []vstore.Space{img("m1", 3), img("m2", 4)}, ""},
		{"another model's images", []vstore.Space{img("m2", 4), texts}, "model m1; it holds images of m2 (4 images)"},
		{"an emptied space of this model", []vstore.Space{img("m1", 0), img("m2", 4), img("m3", 1)}, "m2 (4 images), m3 (1 images)"},
		{"only empty spaces", []vstore.Space{img("m2", 0)}, ""},
	} {
		got := otherModels(tc.spaces, "m1")
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
