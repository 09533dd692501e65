package store

import (
	"os"
	"path/filepath"
	"testing"

	"imglish/search/synth"
)

// TestOpenAfterKillBeforeMemtableSized: a process killed between creating a
// Badger memtable file and sizing it leaves a zero-length *.mem file, which
// Badger refuses to open (dgraph-io/badger#2207). Open must recover, keeping
// every acknowledged item.
func TestOpenAfterKillBeforeMemtableSized(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir)
	fill(t, db, 30, synth.Clustered(30, tDim, 3, 0.8, 1))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	mems, _ := filepath.Glob(filepath.Join(dir, "*.mem"))
	next := filepath.Join(dir, "00099.mem")
	if err := os.WriteFile(next, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(t.Context(), dir, testOpts())
	if err != nil {
		t.Fatalf("open with an empty memtable file (other .mem files: %v): %v", mems, err)
	}
	defer db.Close()
	if n := db.ItemCount(); n != 30 {
		t.Fatalf("items after recovery: %d, want 30", n)
	}
	if err := db.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
}
