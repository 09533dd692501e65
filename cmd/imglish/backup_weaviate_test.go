package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"imglish/internal/wvcluster"
	"imglish/internal/wvcluster/wvtest"
)

// TestBackupWeaviateRefused: backup and restore with --backend weaviate
// refuse with errRemoteBackup before they touch a store or a file (the
// URL is never dialled), and say what to use instead; a bad --backend is
// still errBackend.
func TestBackupWeaviateRefused(t *testing.T) {
	dir := t.TempDir()
	out, data := filepath.Join(dir, "backup"), filepath.Join(dir, "data")
	wv := []string{"--data", data, "--backend", "weaviate", "--weaviate", "http://127.0.0.1:1"}
	for _, tc := range []struct {
		name string
		args []string
		want error
	}{
		{"backup", append(slices.Clone(wv), "backup", "--out", out), errRemoteBackup},
		{"restore", append(slices.Clone(wv), "restore", out), errRemoteBackup},
		{"backup, unknown backend", []string{"--data", data, "--backend", "nope", "backup", "--out", out}, errBackend},
	} {
		_, err := runCLI(t.Context(), t, tc.args...)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if tc.want == errRemoteBackup && !strings.Contains(fmt.Sprint(err), "/v1/backups/") {
			t.Errorf("%s: %v does not name Weaviate's backups", tc.name, err)
		}
	}
	for _, p := range []string{out, data} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after refused commands: %v, want it absent", p, err)
		}
	}
}

// TestWeaviateBackupRecipe follows the recipe errRemoteBackup's message
// gives on a real node with backup-filesystem: imglish indexes scenes into
// a namespace, Weaviate backs up its classes, the classes are dropped and
// restored (with no imglish running: the store creates its classes when
// it opens, and a restore refuses classes that exist), and `imglish
// search` answers as before.
func TestWeaviateBackupRecipe(t *testing.T) {
	bin := wvtest.Binary(t)
	ctx := t.Context()
	dir := t.TempDir()
	cl, err := wvcluster.Start(ctx, wvcluster.Options{Bin: bin, Dir: filepath.Join(dir, "wv"),
		Env: []string{"ENABLE_MODULES=backup-filesystem", "BACKUP_FILESYSTEM_PATH=" + filepath.Join(dir, "backups")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cl.Stop(); err != nil {
			t.Errorf("stop weaviate: %v", err)
		}
	})
	model, scenes := filepath.Join(dir, "model"), filepath.Join(dir, "scenes")
	args := []string{"--data", filepath.Join(dir, "data"), "--model", model, "--backend", "weaviate",
		"--weaviate", strings.Join(cl.URLs(), ","), "--weaviate-namespace", "Bk"}
	for _, a := range [][]string{
		{"convert", "--checkpoint", "../../testdata/reference/tiny.pth", "--image-size", "32",
			"--tokenizer", "../../testdata/models/demo/demo.model", "--out", model},
		{"demo", "scenes", "--out", scenes, "--n", "8", "--size", "64"},
		append(slices.Clone(args), "index", "-q", filepath.Join(scenes, "images")),
	} {
		if _, err := runCLI(ctx, t, a...); err != nil {
			t.Fatalf("%v: %v", a, err)
		}
	}
	// The hits of `imglish search --json` (took_ms aside).
	search := func() string {
		t.Helper()
		out, err := runCLI(ctx, t, append(slices.Clone(args), "search", "--json", "-k", "5", "a red star")...)
		if err != nil {
			t.Fatalf("search: %v", err)
		}
		var r struct {
			Hits json.RawMessage `json:"hits"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("search output %q: %v", out, err)
		}
		return string(r.Hits)
	}
	before := search()
	if !strings.Contains(before, `"score"`) {
		t.Fatalf("search before the backup: %s", before)
	}

	base := cl.URLs()[0]
	var schema struct {
		Classes []struct {
			Class string `json:"class"`
		} `json:"classes"`
	}
	wvtest.Call(t, "GET", base+"/v1/schema", nil, &schema)
	var classes []string
	for _, c := range schema.Classes {
		if strings.HasPrefix(c.Class, "Bk_") {
			classes = append(classes, c.Class)
		}
	}
	if len(classes) < 2 {
		t.Fatalf("classes of namespace Bk: %v", classes)
	}
	waitBackup := func(url string) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); ; {
			var st struct {
				Status string `json:"status"`
				Error  string `json:"error"`
			}
			wvtest.Call(t, "GET", url, nil, &st)
			switch {
			case st.Status == "SUCCESS":
				return
			case st.Status == "FAILED", time.Now().After(deadline):
				t.Fatalf("%s: %s %s", url, st.Status, st.Error)
			}
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	wvtest.Call(t, "POST", base+"/v1/backups/filesystem", map[string]any{"id": "bk1", "include": classes}, nil)
	waitBackup(base + "/v1/backups/filesystem/bk1")
	for _, c := range classes {
		wvtest.Call(t, "DELETE", base+"/v1/schema/"+c, nil, nil)
	}
	// (Nothing of imglish may open the store now: weaviate.Open creates
	// the items, values and blobs classes, and a restore refuses classes
	// that exist.)
	wvtest.Call(t, "GET", base+"/v1/schema", nil, &schema)
	if len(schema.Classes) != 0 {
		t.Fatalf("classes left after dropping: %+v", schema.Classes)
	}
	wvtest.Call(t, "POST", base+"/v1/backups/filesystem/bk1/restore", map[string]any{"include": classes}, nil)
	waitBackup(base + "/v1/backups/filesystem/bk1/restore")
	// The same hits, items and order; scores within 1e-5 (Weaviate's
	// distances may differ in the last bits once the index is rebuilt).
	after := search()
	var a, b any
	if err := json.Unmarshal([]byte(after), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(before), &b); err != nil {
		t.Fatal(err)
	}
	if !sameJSON(a, b) {
		t.Errorf("search after restore: %s\nwant %s", after, before)
	}
}
