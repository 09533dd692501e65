package main

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"imglish/app"
	"imglish/internal/wvcluster"
	"imglish/internal/wvcluster/wvtest"
	"imglish/store"
	"imglish/vstore"
	"imglish/vstore/weaviate"
)

// TestWeaviateCLI runs the commands that touch the store on the embedded
// store and on a Weaviate node over the same folder and compares what they
// print: `index` (with a file that does not decode, a copy, then a
// deletion), `index --errors`, and `search` by text and image with
// --folder, --sort date and --cursor paging. Then `index --watch` on
// Weaviate picks up a file added while it runs (the embedded store is
// single-process, so only Weaviate is searched meanwhile).
func TestWeaviateCLI(t *testing.T) {
	bin := wvtest.Binary(t)
	ctx := t.Context()
	dir := t.TempDir()
	cl, err := wvcluster.Start(ctx, wvcluster.Options{Bin: bin, Dir: filepath.Join(dir, "wv")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cl.Stop(); err != nil {
			t.Errorf("stop weaviate: %v", err)
		}
	})
	model, scenes := filepath.Join(dir, "model"), filepath.Join(dir, "scenes")
	photos := filepath.Join(scenes, "images")
	for _, a := range [][]string{
		{"convert", "--checkpoint", "../../testdata/reference/tiny.pth", "--image-size", "32",
			"--tokenizer", "../../testdata/models/demo/demo.model", "--out", model},
		{"demo", "scenes", "--out", scenes, "--n", "10", "--size", "64"},
	} {
		if _, err := runCLI(ctx, t, a...); err != nil {
			t.Fatalf("%v: %v", a, err)
		}
	}
	files, err := filepath.Glob(filepath.Join(photos, "*.png"))
	if err != nil || len(files) != 10 {
		t.Fatalf("scenes: %v, %v", files, err)
	}
	copyScenes(t, files, 0, 2, filepath.Join(photos, "sub"))
	if err := os.WriteFile(filepath.Join(photos, "broken.png"), []byte("\x89PNG\r\n\x1a\nnot a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	urls := strings.Join(cl.URLs(), ",")
	backends := map[string][]string{
		"embedded": {"--data", filepath.Join(dir, "data"), "--model", model},
		"weaviate": {"--data", filepath.Join(dir, "wvdata"), "--model", model, "--backend", "weaviate", "--weaviate", urls,
			"--weaviate-grpc", strings.Join(cl.GRPCAddrs(), ","), "--weaviate-namespace", "Cli"},
	}
	// run runs a command on both backends and returns what each printed,
	// decoded as JSON with timings and cursors' values dropped.
	run := func(args ...string) map[string]any {
		t.Helper()
		out := map[string]any{}
		for name, b := range backends {
			s, err := runCLI(ctx, t, append(slices.Clone(b), args...)...)
			if err != nil {
				t.Fatalf("%s %v: %v", name, args, err)
			}
			var v any
			if err := json.Unmarshal([]byte(s), &v); err != nil {
				t.Fatalf("%s %v: output %q: %v", name, args, s, err)
			}
			out[name] = dropTimings(v)
		}
		if !sameJSON(out["embedded"], out["weaviate"]) {
			t.Errorf("%v:\nembedded %v\nweaviate %v", args, out["embedded"], out["weaviate"])
		}
		return out
	}
	counts := func(sum any, keys ...string) []any {
		var out []any
		for _, k := range keys {
			out = append(out, sum.(map[string]any)[k])
		}
		return out
	}
	sum := run("index", "-q", "--json", photos)
	if got := counts(sum["weaviate"], "files", "embedded", "linked", "failed"); !reflect.DeepEqual(got, []any{13.0, 10.0, 2.0, 1.0}) {
		t.Errorf("index: files, embedded, linked, failed = %v, want 13 10 2 1", got)
	}
	errs := run("index", "--errors", "--json")
	// run drops "path" keys (an item's first path differs between
	// backends), so the file's name is looked for in the output itself.
	wvErrs, err := runCLI(ctx, t, append(slices.Clone(backends["weaviate"]), "index", "--errors", "--json")...)
	if l, _ := errs["weaviate"].([]any); err != nil || len(l) != 1 || !strings.Contains(strings.ToLower(wvErrs), "broken.png") {
		t.Errorf("index --errors: %s (%s, %v), want broken.png", fmtJSON(errs["weaviate"]), wvErrs, err)
	}
	run("search", "--json", "-k", "4", "a red star")
	run("search", "--json", "-k", "4", "--folder", filepath.Join(photos, "sub"), "a circle")
	run("search", "--json", "-k", "3", "--image", files[3])
	// Date order, paged by the cursor each page prints (each backend's own).
	pages := func(b []string) []any {
		t.Helper()
		var all []any
		base := []string{"search", "--json", "-k", "3", "--sort", "date", "--min-score", "-0.99", "a star"}
		args := base
		for range 10 {
			out, err := runCLI(ctx, t, append(slices.Clone(b), args...)...)
			if err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("%v: output %q: %v", args, out, err)
			}
			all = append(all, dropTimings(v))
			cur, _ := v["next_cursor"].(string)
			if cur == "" {
				return all
			}
			args = append(slices.Clone(base), "--cursor", cur)
		}
		t.Errorf("search --sort date: more than 10 pages of 3")
		return all
	}
	if e, w := pages(backends["embedded"]), pages(backends["weaviate"]); len(w) < 4 || !sameJSON(e, w) {
		t.Errorf("date pages (want 4 or more):\nembedded %v\nweaviate %v", e, w)
	}
	if err := os.Remove(files[6]); err != nil {
		t.Fatal(err)
	}
	sum = run("index", "-q", "--json", photos)
	if got := counts(sum["weaviate"], "deleted", "embedded"); !reflect.DeepEqual(got, []any{1.0, 0.0}) {
		t.Errorf("index after a deletion: deleted, embedded = %v, want 1 0", got)
	}
	// --data keeps this host's file catalog (app.OpenLocalCatalog): one
	// record per file still there, the error record included.
	cat, err := store.Open(ctx, filepath.Join(dir, "wvdata", app.LocalCatalogDir), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	records := 0
	err = cat.ScanValues(ctx, "indexer/file:", func(string, []byte) bool { records++; return true })
	if err = errors.Join(err, cat.Close()); err != nil || records != 12 {
		t.Errorf("local file catalog: %d records (%v), want 12", records, err)
	}

	// index --watch on the cluster: a file added while it runs is indexed.
	db, err := weaviate.Open(ctx, weaviate.Options{URLs: cl.URLs(), Namespace: "Cli"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := runCLI(wctx, t, append(slices.Clone(backends["weaviate"]), "index", "--watch", "-q", photos)...)
		done <- err
	}()
	added := filepath.Join(photos, "added.png")
	// Give the watcher time to start (a file written before it would be
	// found by its first scan all the same).
	select {
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	case <-time.After(500 * time.Millisecond):
	}
	copyFile(t, files[5], filepath.Join(dir, "new.png"))
	if err := os.Rename(filepath.Join(dir, "new.png"), added); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := db.ItemByPath(added); err == nil {
			break
		} else if !errors.Is(err, vstore.ErrNotFound) || time.Now().After(deadline) {
			stop()
			t.Fatalf("watched file %s: %v", added, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("index --watch: %v", err)
	}
}

// dropTimings removes what differs between runs from decoded JSON output:
// timings and rates, when each item was added (each backend indexed at its
// own time), a cursor's value (kept as whether there is one), and
// which of an item's paths is its first (the indexer's workers decide
// which copy of a content commits first; paths are compared as a set).
func dropTimings(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range x {
			switch {
			case k == "took_ms", k == "elapsed_s", k == "encoder_s", k == "eta_s", k == "started", k == "added_at", strings.HasSuffix(k, "_per_s"), k == "path":
			case k == "paths":
				ps := dropTimings(val).([]any)
				slices.SortFunc(ps, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
				out[k] = ps
			case k == "next_cursor":
				out[k] = val != ""
			default:
				out[k] = dropTimings(val)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = dropTimings(x[i])
		}
		return out
	}
	return v
}

// sameJSON reports whether decoded JSON a and b are equal, numbers within
// 1e-5 (each store computes a score from the stored vector in its own
// float order).
func sameJSON(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if _, ok := y[k]; !ok || !sameJSON(x[k], y[k]) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	case float64:
		y, ok := b.(float64)
		return ok && math.Abs(x-y) <= 1e-5
	}
	return reflect.DeepEqual(a, b)
}

func fmtJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
