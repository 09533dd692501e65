package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// relToCwd returns abs relative to the test's working directory (the package
// folder), so a test can hand out a relative path without changing directory.
func relToCwd(t *testing.T, abs string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, abs)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// TestUploadDeleteDataDirForms uploads (raw and multipart) and deletes through
// the real handler, indexer and store with the data dir given as `make run`
// gives it (relative), through a symlink, and with "..": the indexer records
// canonical paths, so the upload's lookup and the delete's cleanup must use
// the same form (an upload answered 404 "was not indexed" and a delete left
// its file behind when they did not).
func TestUploadDeleteDataDirForms(t *testing.T) {
	cases := []struct {
		name string
		data func(t *testing.T) string
	}{
		{"relative", func(t *testing.T) string { return filepath.Join(relToCwd(t, t.TempDir()), "data") }},
		{"symlinked", func(t *testing.T) string {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "real"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("real", filepath.Join(dir, "link")); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, "link")
		}},
		{"dot-dot", func(t *testing.T) string { return "./" + relToCwd(t, t.TempDir()) + "/x/../x" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{data: tc.data(t)})
			for i, body := range []rawBody{
				{pngBytes(t, 64, 48), "image/png"},
				multipartBody(t, nil, map[string][]byte{"image": pngBytes(t, 48, 64)}),
			} {
				var up uploadResponse
				if st, _ := e.call("POST", "/v1/images", writeKey, body, &up); st != http.StatusCreated || !up.Created {
					t.Fatalf("upload %d: %d %+v, want 201 created", i, st, up)
				}
				real, err := filepath.EvalSymlinks(up.Item.Path)
				if err != nil || real != up.Item.Path {
					t.Errorf("upload %d recorded at %q, want its canonical path (resolves to %q, %v)", i, up.Item.Path, real, err)
				}
				var again uploadResponse
				if st, _ := e.call("POST", "/v1/images", writeKey, body, &again); st != http.StatusOK || again.Created || again.Item.ID != up.Item.ID {
					t.Errorf("upload %d again: %d %+v, want 200 with %s", i, st, again, up.Item.ID)
				}
				if st, _ := e.call("DELETE", "/v1/items/"+up.Item.ID, writeKey, nil, nil); st != http.StatusOK {
					t.Fatalf("delete upload %d: %d", i, st)
				}
				if _, err := os.Stat(up.Item.Path); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("upload %d's file after delete: %v, want it removed", i, err)
				}
			}
			left, err := os.ReadDir(filepath.Join(e.data, "uploads"))
			if err != nil || len(left) != 0 {
				t.Errorf("uploads dir after deleting every upload: %d entries, %v", len(left), err)
			}
		})
	}
}

// TestIndexRootForms: an index root given relative and through a symlink, a
// watch folder given with "..", a job folder and a path_prefix filter typed
// through the symlink all meet the canonical paths the indexer records.
func TestIndexRootForms(t *testing.T) {
	dir := t.TempDir()
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	real = filepath.Join(real, "real")
	for _, d := range []string{"sub", "watched"} {
		if err := os.MkdirAll(filepath.Join(real, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if err := os.WriteFile(filepath.Join(real, "sub", fmt.Sprintf("p%d.png", i)), pngBytes(t, 30+i, 30), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	// real/escape → a folder outside the root, with an image in it.
	outside := filepath.Join(dir, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret.png"), pngBytes(t, 33, 33), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(real, "escape")); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envConfig{opts: Options{
		IndexRoots:   []string{relToCwd(t, link)},
		WatchFolders: []string{relToCwd(t, link) + "/sub/../watched"},
	}})
	for _, tc := range []struct {
		folder string
		want   int
	}{
		{filepath.Join(link, "sub", "..", "..", "elsewhere"), http.StatusForbidden},
		{filepath.Join(link, "missing"), http.StatusNotFound},
		{real + "/missing/../escape", http.StatusForbidden}, // a ".." after a missing folder, then a symlink out
		{filepath.Join(real, "sub"), http.StatusAccepted},
	} {
		var j job
		var out any = &j
		if tc.want != http.StatusAccepted {
			out = nil
		}
		if st, _ := e.call("POST", "/v1/index/jobs", writeKey, map[string]any{"folder": tc.folder}, out); st != tc.want {
			t.Errorf("job for %s: %d, want %d", tc.folder, st, tc.want)
		}
		for deadline := time.Now().Add(30 * time.Second); j.State == "running" && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
			e.call("GET", "/v1/index/jobs/"+j.ID, readKey, nil, &j)
		}
		if tc.want == http.StatusAccepted && (j.State != "done" || j.Folder != filepath.Join(real, "sub") || j.Progress.Embedded != 2) {
			t.Fatalf("job for %s: %+v, want done in %s with 2 embedded", tc.folder, j, filepath.Join(real, "sub"))
		}
	}
	var sr SearchResponse
	e.call("POST", "/v1/search", readKey, map[string]any{"text": "a shape", "k": 10, "filter": map[string]any{"path_prefix": link + "/sub/"}}, &sr)
	if len(sr.Hits) != 2 || filepath.Dir(sr.Hits[0].Path) != filepath.Join(real, "sub") {
		t.Errorf("search with path_prefix through the symlink: %+v, want the 2 images under %s", sr.Hits, filepath.Join(real, "sub"))
	}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	e.srv.startWatching(ctx)
	var st struct {
		Jobs []job `json:"jobs"`
	}
	e.call("GET", "/v1/index/status", readKey, nil, &st)
	if i := slices.IndexFunc(st.Jobs, func(j job) bool { return j.Watch }); i < 0 || st.Jobs[i].Folder != filepath.Join(real, "watched") {
		t.Errorf("watch jobs %+v, want one on %s", st.Jobs, filepath.Join(real, "watched"))
	}
}
