package app_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"imglish/app"
	"imglish/encoder/convert"
	"imglish/internal/testenv"
)

// openDemo opens an App on the converted demo model and a new store in a
// temp folder, with opts; the test closes it (Close is idempotent, so the
// cleanup's call is harmless after the test's own).
func openDemo(t *testing.T, opts app.Options) *app.App {
	t.Helper()
	demo := testenv.Path(t, "testdata", "models", "demo")
	modelDir := filepath.Join(t.TempDir(), "model")
	if _, err := convert.Convert(t.Context(), convert.Options{
		Checkpoint: filepath.Join(demo, "demo.pth"), OutDir: modelDir, Tokenizer: filepath.Join(demo, "demo.model"),
	}); err != nil {
		t.Fatalf("convert the demo model: %v", err)
	}
	a, err := app.Open(t.Context(), app.Config{ModelDir: modelDir, DataDir: filepath.Join(t.TempDir(), "data"), Options: opts})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return a
}

// TestJobs: StartIndexJob indexes only folders within the index roots
// (canonical: no "..", no symlink out), a job is found by id and listed in
// the index status, and Close cancels a running watch job, waits for it and
// refuses new jobs.
func TestJobs(t *testing.T) {
	root := t.TempDir()
	photos := filepath.Join(root, "photos")
	if err := os.MkdirAll(photos, 0o755); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(photos, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(photos, "note.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := openDemo(t, app.Options{IndexRoots: []string{photos}})
	for _, tc := range []struct {
		folder string
		want   error
	}{
		{"relative/path", app.ErrInvalid},
		{outside, app.ErrForbidden},
		{photos + "/../", app.ErrForbidden},
		{filepath.Join(photos, "escape"), app.ErrForbidden},
		{filepath.Join(photos, "missing"), app.ErrNotFound},
		{filepath.Join(photos, "note.txt"), app.ErrInvalid},
		{"/etc", app.ErrForbidden},
	} {
		if _, err := a.StartIndexJob(t.Context(), tc.folder); !errors.Is(err, tc.want) {
			t.Errorf("index job for %q: %v, want %v", tc.folder, err, tc.want)
		}
	}
	j, err := a.StartIndexJob(t.Context(), photos)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for j.State == app.JobRunning && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if j, err = a.Job(j.ID); err != nil {
			t.Fatal(err)
		}
	}
	if j.State != app.JobDone || j.Folder != photos || j.Finished.IsZero() {
		t.Fatalf("index job ended %+v", j)
	}
	if _, err := a.Job("0123456789abcdef"); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("unknown job: %v", err)
	}
	if _, err := a.Job("../x"); !errors.Is(err, app.ErrInvalid) {
		t.Errorf("malformed job id: %v", err)
	}

	w, err := a.StartWatch(photos)
	if err != nil {
		t.Fatal(err)
	}
	st, err := a.IndexStatus(t.Context())
	if err != nil || len(st.Jobs) != 2 || st.Jobs[1].ID != w.ID || a.RunningJobs() != 1 {
		t.Fatalf("status %+v (%v), %d running; want the done job and the watch", st, err, a.RunningJobs())
	}
	closed := make(chan error, 1)
	go func() { closed <- a.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return with a watch job running")
	}
	if w, err = a.Job(w.ID); err != nil || w.State != app.JobCanceled {
		t.Errorf("watch job after Close: %+v (%v), want canceled", w, err)
	}
	if _, err := a.StartIndexJob(context.Background(), photos); !errors.Is(err, app.ErrClosed) {
		t.Errorf("index job after Close: %v, want ErrClosed", err)
	}
}
