package store

import (
	"context"
	"errors"
	"testing"

	"imglish/vstore"
	"imglish/vstore/vstoretest"
)

// TestConformance runs vstore's conformance suite on a real Badger store
// on disk, reopened from the same directory for the durability checks.
func TestConformance(t *testing.T) {
	dirs := map[vstore.Store]string{}
	open := func(t *testing.T, dir string) vstore.Store {
		t.Helper()
		db, err := Open(t.Context(), dir, testOpts())
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() {
			if err := db.Check(context.Background()); err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("check at cleanup: %v", err)
			}
			db.Close()
		})
		dirs[db] = dir
		return db
	}
	vstoretest.Run(t, vstoretest.Harness{
		Open: func(t *testing.T) vstore.Store { return open(t, t.TempDir()) },
		Reopen: func(t *testing.T, s vstore.Store) vstore.Store {
			if err := s.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			return open(t, dirs[s])
		},
	})
}
