package indexer

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// waitFor polls cond until it holds or 15 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWatch starts Watch on a collection and makes each kind of change —
// create, modify, rename, delete, a folder moved in, a folder moved out, a new
// folder with a file — waiting for the store to reflect each one.
func TestWatch(t *testing.T) {
	e := newEnv(t, Options{Debounce: 50 * time.Millisecond, Reconcile: time.Hour})
	root := t.TempDir()
	outside := t.TempDir()
	paths := collection(t, root, 6, 11)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.ix.Watch(ctx, root) }()
	waitFor(t, "the first scan", func() bool { return e.ix.Progress().Phase == "watching" })
	if n := len(e.records()); n != 6 {
		t.Fatalf("after the first scan: %d records", n)
	}
	has := func(p string) bool { _, ok := e.records()[p]; return ok }

	created := filepath.Join(root, "new.png")
	genImage(t, created, 700, 80, 80)
	waitFor(t, "create", func() bool { return has(created) })

	old := e.records()[paths[1]].Hash
	genImage(t, paths[1], 701, 90, 70)
	waitFor(t, "modify", func() bool { r := e.records()[paths[1]]; return r.Hash != old && r.Hash != (Hash{}) })

	embedded := e.enc.images.Load()
	renamed := filepath.Join(root, "family", "renamed.png")
	if err := os.Rename(paths[2], renamed); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "rename", func() bool { return has(renamed) && !has(paths[2]) })
	if e.enc.images.Load() != embedded {
		t.Errorf("a rename cost %d inferences", e.enc.images.Load()-embedded)
	}

	if err := os.Remove(paths[3]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delete", func() bool { return !has(paths[3]) })

	in := collection(t, filepath.Join(outside, "album"), 3, 12)
	if err := os.Rename(filepath.Join(outside, "album"), filepath.Join(root, "album")); err != nil {
		t.Fatal(err)
	}
	movedIn := filepath.Join(root, "album", filepath.Base(in[0]))
	waitFor(t, "folder moved in", func() bool { return has(movedIn) })
	// The moved-in folder is watched: a file added to it shows up.
	inside := filepath.Join(root, "album", "trip", "later.jpg")
	genImage(t, inside, 702, 70, 70)
	waitFor(t, "file in a moved-in folder", func() bool { return has(inside) })

	if err := os.Rename(filepath.Join(root, "trip"), filepath.Join(outside, "trip")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "folder moved out", func() bool {
		for p := range e.records() {
			if within(p, filepath.Join(root, "trip")) {
				return false
			}
		}
		return true
	})

	deep := filepath.Join(root, "a", "b", "c.png")
	genImage(t, deep, 703, 64, 64)
	waitFor(t, "new nested folder", func() bool { return has(deep) })

	// Files in the moved-out folder are no longer watched.
	genImage(t, filepath.Join(outside, "trip", "after.png"), 704, 64, 64)

	stopWatch(t, cancel, done)
	e.checkConsistent(root, nil)
}

// TestWatchReconcile checks that the periodic rescan repairs what no event
// reported. Missing events for real needs a filesystem without inotify (NFS),
// which a test cannot mount; so the store is changed behind the watcher's back
// (a record deleted) and the reconcile must restore it.
func TestWatchReconcile(t *testing.T) {
	e := newEnv(t, Options{Debounce: 20 * time.Millisecond, Reconcile: 300 * time.Millisecond})
	root := t.TempDir()
	collection(t, root, 2, 13)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.ix.Watch(ctx, root) }()
	waitFor(t, "the first scan", func() bool { return e.ix.Progress().Phase == "watching" })
	p := filepath.Join(root, "img0.jpg")
	recs := e.records()
	if _, ok := recs[p]; !ok {
		t.Fatalf("no record for %s", p)
	}
	if err := e.ix.cat.commit(ctx, &batch{Deletes: []string{p}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reconcile", func() bool { _, ok := e.records()[p]; return ok })
	cancel()
	<-done
}

// stopWatch cancels a Watch running in its own goroutine (reporting on
// done) and fails t unless it stops within 2 s, without an error.
func stopWatch(t *testing.T, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Watch did not stop within 2 s of cancel")
	}
}
