package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"imglish/search/synth"
)

// TestLookups checks ItemByHash (hash equal to the id, or not) and
// ItemByPath (built on first use) through updates, deletes and a reopen,
// with the path lookup built before a write and not yet built during one.
func TestLookups(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir)
	items := []Item{
		{ID: "aa", Hash: "aa", Files: []File{{Path: "/p/a1.jpg"}, {Path: "/p/a2.jpg"}}},
		{ID: "bb", Hash: "hash-bb", Files: []File{{Path: "/p/b.jpg"}}},
		{ID: "cc", Files: []File{{Path: "/p/c.jpg"}}},
	}
	var b Batch
	for _, it := range items {
		b.PutItem(it)
	}
	if err := db.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	type lookup struct {
		byHash bool
		key    string
		want   string // "" = ErrNotFound
	}
	check := func(t *testing.T, db *DB, cases []lookup) {
		t.Helper()
		for _, c := range cases {
			get, what := db.ItemByPath, "path"
			if c.byHash {
				get, what = db.ItemByHash, "hash"
			}
			it, err := get(c.key)
			switch {
			case c.want == "" && !errors.Is(err, ErrNotFound):
				t.Errorf("%s %q: got %q, %v; want ErrNotFound", what, c.key, it.ID, err)
			case c.want != "" && (err != nil || it.ID != c.want):
				t.Errorf("%s %q: got %q, %v; want %q", what, c.key, it.ID, err, c.want)
			}
		}
	}
	initial := []lookup{
		{true, "aa", "aa"}, {true, "hash-bb", "bb"}, {true, "bb", ""}, {true, "cc", ""}, {true, "", ""},
		{false, "/p/a1.jpg", "aa"}, {false, "/p/a2.jpg", "aa"}, {false, "/p/b.jpg", "bb"}, {false, "/p/c.jpg", "cc"}, {false, "/p/x.jpg", ""},
	}
	check(t, db, initial)
	// Updates with the path lookup built: aa moves and changes hash, bb
	// takes its id as hash, cc goes.
	update := func(db *DB) {
		t.Helper()
		b.Reset()
		b.PutItem(Item{ID: "aa", Hash: "hash-aa", Files: []File{{Path: "/q/a.jpg"}}})
		b.PutItem(Item{ID: "bb", Hash: "bb", Files: []File{{Path: "/p/b.jpg"}}})
		b.DeleteItem("cc")
		if err := db.Apply(t.Context(), &b); err != nil {
			t.Fatal(err)
		}
	}
	updated := []lookup{
		{true, "aa", ""}, {true, "hash-aa", "aa"}, {true, "hash-bb", ""}, {true, "bb", "bb"},
		{false, "/p/a1.jpg", ""}, {false, "/p/a2.jpg", ""}, {false, "/q/a.jpg", "aa"}, {false, "/p/b.jpg", "bb"}, {false, "/p/c.jpg", ""},
	}
	update(db)
	check(t, db, updated)
	db.Close()
	db = openT(t, dir)
	check(t, db, updated)
	// The same updates on a fresh copy whose path lookup is not built yet.
	dir2 := t.TempDir()
	db2 := openT(t, dir2)
	b.Reset()
	for _, it := range items {
		b.PutItem(it)
	}
	if err := db2.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	db2.Close()
	db2 = openT(t, dir2)
	update(db2)
	check(t, db2, updated)
}

// wideDim makes vectors larger than valueLogAbove, so they live in
// Badger's value log (the tests above use narrow vectors, kept inline).
const wideDim = 300

func fillWide(t *testing.T, db *DB, n int, vecs [][]float32) {
	t.Helper()
	if 4*wideDim+4 <= valueLogAbove {
		t.Fatalf("%d-d vectors stay inline", wideDim)
	}
	if err := db.CreateSpace(t.Context(), Space{Name: tSpace, Kind: KindImages, Model: "test", Dim: wideDim}); err != nil {
		t.Fatal(err)
	}
	var b Batch
	for i := range n {
		b.PutItem(testItem(i))
		b.PutVector(tSpace, testItem(i).ID, vecs[i])
		if b.Len() >= 64 || i == n-1 {
			if err := db.Apply(t.Context(), &b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
}

// TestValueLogVectors covers vectors stored in the value log: a reopen
// answers identically (also after replacing and deleting vectors and
// compacting the value log), and a byte flipped in the value-log file on
// disk, below Badger, fails Open with ErrCorrupt.
func TestValueLogVectors(t *testing.T) {
	dir := t.TempDir()
	vecs := synth.Clustered(900, wideDim, 10, 0.8, 11)
	db := openT(t, dir)
	fillWide(t, db, 600, vecs)
	ask := func(db *DB) [][]Hit {
		t.Helper()
		var out [][]Hit
		for _, q := range vecs[800:820] {
			h, err := db.Search(t.Context(), tSpace, q, 10, SearchOptions{Ef: 32})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, h)
		}
		return out
	}
	// Churn: replace 200 vectors, delete 100 items.
	var b Batch
	for i := range 200 {
		b.PutVector(tSpace, testItem(i).ID, vecs[600+i])
	}
	for i := 300; i < 400; i++ {
		b.DeleteItem(testItem(i).ID)
	}
	if err := db.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	before := ask(db)
	if err := db.bdb.Flatten(1); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CompactValueLog(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ask(db), before) {
		t.Fatal("answers changed by value-log compaction")
	}
	v7, err := db.Vector(tSpace, testItem(7).ID)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openT(t, dir)
	if !reflect.DeepEqual(ask(db), before) {
		t.Fatal("reopened store answers differently")
	}
	if err := db.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if sp := db.Spaces(); sp[0].Count != 500 {
		t.Fatalf("count %d, want 500", sp[0].Count)
	}
	// Find node 7's sealed vector in a value-log file and flip a byte of it.
	var sealed []byte
	err = db.bdb.View(func(txn *badger.Txn) error {
		it, err := txn.Get(nodeKey(prefixVec, tSpace, 7))
		if err != nil {
			return err
		}
		sealed, err = it.ValueCopy(nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(v7) != wideDim || len(sealed) != 4*wideDim+4 {
		t.Fatalf("vector of %d floats, record of %d bytes", len(v7), len(sealed))
	}
	db.Close()
	logs, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
	flipped := 0
	for _, f := range logs {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(data, sealed); i >= 0 {
			data[i+len(sealed)/2] ^= 0x40
			if err := os.WriteFile(f, data, 0o600); err != nil {
				t.Fatal(err)
			}
			flipped++
		}
	}
	if flipped == 0 {
		t.Fatal("vector not found in any value-log file")
	}
	if _, err := Open(t.Context(), dir, testOpts()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
}
