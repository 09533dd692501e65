package indexer

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWatchRootReturns takes a watched root away and brings it back, with a
// reconcile far longer than the test, so only the watch can notice the
// return. Each row: the root's records go once it has gone; once back, the
// files at its path are indexed (under the canonical folder they lie in),
// a file added after the return is indexed too (the root is watched
// again), and nothing beside the root (its parent's other content, the
// folder it was moved to) is ever recorded. Cancel still stops Watch
// within 2 s.
func TestWatchRootReturns(t *testing.T) {
	for _, tc := range []struct {
		name string
		// leave takes the root away.
		leave func(t *testing.T, parent, root string)
		// back brings it back and returns the folder its files are recorded
		// under: root, or a symlink's target.
		back func(t *testing.T, parent, root string) string
	}{
		{"removed and re-created",
			func(t *testing.T, _, root string) { removeAll(t, root) },
			func(t *testing.T, _, root string) string {
				mkdir(t, root)
				genImage(t, filepath.Join(root, "new.png"), 801, 72, 72)
				return root
			}},
		{"moved away and back",
			func(t *testing.T, parent, root string) { rename(t, root, filepath.Join(parent, "away")) },
			func(t *testing.T, parent, root string) string {
				rename(t, filepath.Join(parent, "away"), root)
				return root
			}},
		{"parent removed, root re-created",
			func(t *testing.T, parent, _ string) { removeAll(t, parent) },
			func(t *testing.T, _, root string) string {
				mkdir(t, root)
				genImage(t, filepath.Join(root, "sub", "new.jpg"), 802, 80, 64)
				return root
			}},
		{"replaced by a symlink to a folder",
			func(t *testing.T, _, root string) { removeAll(t, root) },
			func(t *testing.T, parent, root string) string {
				target := filepath.Join(parent, "elsewhere")
				collection(t, target, 2, 81)
				if err := os.Symlink(target, root); err != nil {
					t.Fatal(err)
				}
				return target
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{Debounce: 50 * time.Millisecond, Reconcile: time.Hour})
			parent, err := filepath.EvalSymlinks(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			root := filepath.Join(parent, "photos")
			collection(t, root, 3, 80)
			genImage(t, filepath.Join(parent, "beside.png"), 803, 64, 64)
			genImage(t, filepath.Join(parent, "sibling", "s.jpg"), 804, 64, 64)

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- e.ix.Watch(ctx, root) }()
			waitFor(t, "the first scan", func() bool { return e.ix.Progress().Phase == "watching" })
			if n := len(e.records()); n != 3 {
				t.Fatalf("after the first scan: %d records, want 3", n)
			}

			tc.leave(t, parent, root)
			waitFor(t, "the root's records to go", func() bool { return len(e.records()) == 0 })
			// A gone root costs no sync while it stays away: a few polls pass
			// without a commit.
			commits := e.ix.prog.commits.Load()
			time.Sleep(300 * time.Millisecond)
			if n := e.ix.prog.commits.Load() - commits; n != 0 {
				t.Errorf("%d commits while the root was gone", n)
			}

			start := time.Now()
			folder := tc.back(t, parent, root)
			want := listFiles(t, folder)
			has := func(rel ...string) bool {
				recs := e.records()
				for _, r := range rel {
					if _, ok := recs[filepath.Join(folder, r)]; !ok {
						return false
					}
				}
				return true
			}
			waitFor(t, "the returned root's files", func() bool { return has(want...) })
			t.Logf("%d files indexed %v after the return", len(want), time.Since(start).Round(time.Millisecond))

			genImage(t, filepath.Join(folder, "trip", "later.png"), 805, 70, 90)
			waitFor(t, "a file added after the return", func() bool { return has(filepath.Join("trip", "later.png")) })

			for p := range e.records() {
				if !within(p, folder) {
					t.Errorf("record %s lies outside the root", p)
				}
			}
			stopWatch(t, cancel, done)
			e.checkConsistent(folder, nil)
		})
	}
}

// TestWatchRootGoneStops cancels Watch while its only root is gone and
// polled for, which must stop it as promptly as when the root is there.
func TestWatchRootGoneStops(t *testing.T) {
	e := newEnv(t, Options{Debounce: 20 * time.Millisecond, Reconcile: time.Hour})
	root := filepath.Join(t.TempDir(), "photos")
	collection(t, root, 2, 82)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.ix.Watch(ctx, root) }()
	waitFor(t, "the first scan", func() bool { return e.ix.Progress().Phase == "watching" })
	removeAll(t, root)
	waitFor(t, "the root's records to go", func() bool { return len(e.records()) == 0 })
	time.Sleep(100 * time.Millisecond) // a few polls
	stopWatch(t, cancel, done)
}

func removeAll(t *testing.T, p string) {
	t.Helper()
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestWatchRootSymlinkAtOnce moves a watched root away and puts a symlink to
// it in its place before the next sync: its files are then recorded under
// the folder they now lie in (canonical paths), none is left under the
// symlink's path, and none is embedded again. The debounce is long enough
// for the symlink to be there before the sync, even on a loaded machine.
func TestWatchRootSymlinkAtOnce(t *testing.T) {
	e := newEnv(t, Options{Debounce: 300 * time.Millisecond, Reconcile: time.Hour})
	parent, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(parent, "photos")
	collection(t, root, 3, 83)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.ix.Watch(ctx, root) }()
	waitFor(t, "the first scan", func() bool { return e.ix.Progress().Phase == "watching" })
	embedded := e.enc.images.Load()

	target := filepath.Join(parent, "disk2")
	rename(t, root, target)
	if err := os.Symlink(target, root); err != nil {
		t.Fatal(err)
	}
	want := listFiles(t, target)
	waitFor(t, "the files under the target, none under the symlink", func() bool {
		recs := e.records()
		for _, r := range want {
			if _, ok := recs[filepath.Join(target, r)]; !ok {
				return false
			}
		}
		return len(recs) == len(want)
	})
	if n := e.enc.images.Load() - embedded; n != 0 {
		t.Errorf("the move cost %d inferences", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch: %v", err)
	}
	e.checkConsistent(target, nil)
}
