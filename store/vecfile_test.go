package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"imglish/search"
	"imglish/search/synth"
	"imglish/vstore"
)

// liveSet is the vectors a quantised store should hold, by id, for
// checking its answers after deletes and replacements.
type liveSet map[string][]float32

// check requires, for every query, hits whose scores are their exact
// cosines with the vectors in s, and recall@10 ≥ 0.95 against s's exact
// top 10.
func (s liveSet) check(t *testing.T, what string, db *DB, queries [][]float32) {
	t.Helper()
	ids := make([]string, 0, len(s))
	for id := range s {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	data := make([][]float32, len(ids))
	for i, id := range ids {
		data[i] = s[id]
	}
	found, total := 0, 0
	for qi, q := range queries {
		hits, err := db.Search(t.Context(), quantSpace, q, 10, SearchOptions{})
		if err != nil {
			t.Fatalf("%s: search: %v", what, err)
		}
		want := map[string]bool{}
		for _, i := range exactTop(data, q, 10) {
			want[ids[i]] = true
		}
		for _, h := range hits {
			v, ok := s[h.ID]
			if !ok {
				t.Fatalf("%s: query %d: hit %s is not stored", what, qi, h.ID)
			}
			if d := math.Abs(float64(h.Score) - dot64(q, v)); d > 1e-5 {
				t.Fatalf("%s: query %d hit %s score %v, exact %v", what, qi, h.ID, h.Score, dot64(q, v))
			}
			if want[h.ID] {
				found++
			}
		}
		total += len(want)
	}
	if r := float64(found) / float64(total); r < 0.95 {
		t.Errorf("%s: recall@10 %.3f, want ≥ 0.95", what, r)
	}
}

// TestVectorFile: a quantised space re-ranks from its mapped vector file,
// which the store keeps equal to Badger through replaced, deleted and
// reused slots, rewrites at open when a crash (or anything) left it wrong,
// removes when the space is dropped or held as floats, and leaves alone
// when opened read-only; searches racing Close fail cleanly.
func TestVectorFile(t *testing.T) {
	const n, dim = 1500, 64
	f := newQuantFixture(n, 40, dim)
	opts := testOpts()
	opts.Quantize, opts.QuantizeAfter = true, 500
	dir := t.TempDir()
	db, err := Open(t.Context(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.fill(t, db)
	path := filepath.Join(dir, vecDir, vecFileName(quantSpace))
	sp := db.spaceForTest(t, quantSpace)
	if !sp.idx.Quantized() || sp.vf == nil || sp.vf.path != path {
		t.Fatalf("quantised %v, vector file %v: want a quantised space re-ranking from %s", sp.idx.Quantized(), sp.vf, path)
	}
	live := liveSet{}
	for i, v := range f.data {
		live[quantID(i)] = v
	}
	live.check(t, "filled", db, f.queries)

	// The file serves the re-ranking: a slot overwritten behind the store's
	// back changes the score of its hit.
	q := f.queries[0]
	hits, err := db.Search(t.Context(), quantSpace, q, 1, SearchOptions{})
	if err != nil || len(hits) != 1 {
		t.Fatalf("search: %v %v", hits, err)
	}
	var top int
	fmt.Sscanf(hits[0].ID, "q%d", &top)
	slot := -1
	for s := range sp.idx.Slots() {
		if nd, ok := sp.idx.Node(uint32(s)); ok && nd.Key == hits[0].ID {
			slot = s
		}
	}
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	neg := make([]byte, 0, 4*dim)
	for _, x := range f.data[top] {
		neg = appendF32(neg, -x)
	}
	if _, err := fh.WriteAt(neg, int64(slot)*4*dim); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	again, err := db.Search(t.Context(), quantSpace, q, 10, SearchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range again {
		if h.ID == hits[0].ID {
			t.Fatalf("hit %s kept score %v after its slot was negated in the vector file: re-ranking does not read the file", h.ID, h.Score)
		}
	}

	// Replaced, deleted and new vectors (the new ones reuse freed slots).
	// The commit rewrites the negated slot too: its item is replaced.
	var b Batch
	for i := range 200 {
		b.DeleteItem(quantID(i))
		delete(live, quantID(i))
	}
	for i := 200; i < 400; i++ {
		v := f.data[(i+700)%n]
		b.PutVector(quantSpace, quantID(i), v)
		live[quantID(i)] = v
	}
	v := f.data[(top+1)%n]
	b.PutVector(quantSpace, quantID(top), v)
	live[quantID(top)] = v
	if err := db.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	extra := synth.Clustered(200, dim, 40, 0.8, 99)
	b = Batch{}
	for i, v := range extra {
		id := quantID(n + i)
		b.PutItem(Item{ID: id, Files: []vstore.File{{Path: fmt.Sprintf("/q/new%d.jpg", i)}}})
		b.PutVector(quantSpace, id, v)
		live[id] = v
	}
	if err := db.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	if got := sp.idx.Slots(); got > n+10 {
		t.Errorf("%d slots after deleting 200 and adding 200: freed slots not reused", got)
	}
	live.check(t, "after replace, delete and reuse", db, f.queries)

	// A commit that fails (a batch too big for one transaction) reloads
	// the store: the replaced index re-ranks from Badger, so a search still
	// holding it gets exact scores or, for a node of the failed batch, a
	// not-found error, never a slot the reload rewrites; the file serves
	// only the new index.
	old := sp.idx
	b = Batch{}
	big := synth.Clustered(6000, dim, 40, 0.8, 5)
	for i, v := range big {
		id := fmt.Sprintf("big%05d", i)
		b.PutItem(Item{ID: id, Files: []vstore.File{{Path: "/q/big/" + id + ".jpg"}}})
		b.PutVector(quantSpace, id, v)
	}
	if err := db.Apply(t.Context(), &b); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("oversized batch: %v, want ErrBatchTooLarge", err)
	}
	sp = db.spaceForTest(t, quantSpace)
	if sp.idx == old || sp.vf == nil || len(sp.vf.users) != 1 || sp.vf.users[0] != sp.idx {
		t.Fatalf("after the failed commit's reload: new index %t, vector file users %d, want the new index alone", sp.idx != old, len(sp.vf.users))
	}
	for _, q := range f.queries {
		got, err := old.Search(t.Context(), q, 10, search.SearchOptions{})
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("search on the replaced index: %v, want exact hits or ErrNotFound", err)
			}
			continue
		}
		for i, h := range got {
			if v, ok := live[h.ID]; !ok || math.Abs(float64(h.Score)-dot64(q, v)) > 1e-5 {
				t.Fatalf("replaced index hit %d %s score %v: not exact", i, h.ID, h.Score)
			}
		}
	}
	live.check(t, "after a failed commit", db, f.queries)

	// Searches racing Close: an error or an answer, never a fault.
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				_, err := db.Search(context.Background(), quantSpace, f.queries[(g+i)%len(f.queries)], 10, SearchOptions{})
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("search racing Close: %v, want ErrClosed", err)
					}
					return
				}
			}
		}()
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	// A file left wrong (garbage, cut short, or gone) is repaired at open.
	for _, damage := range []string{"garbage", "truncated", "missing"} {
		switch damage {
		case "garbage":
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			junk := make([]byte, st.Size())
			for i := range junk {
				junk[i] = byte(i * 7)
			}
			err = os.WriteFile(path, junk, 0o644)
			if err != nil {
				t.Fatal(err)
			}
		case "truncated":
			if err := os.Truncate(path, 4*dim*100+17); err != nil {
				t.Fatal(err)
			}
		case "missing":
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}
		db, err = Open(t.Context(), dir, opts)
		if err != nil {
			t.Fatalf("open with the vector file %s: %v", damage, err)
		}
		if db.spaceForTest(t, quantSpace).vf == nil {
			t.Fatalf("open with the vector file %s: no vector file", damage)
		}
		live.check(t, "vector file "+damage, db, f.queries)
		db.Close()
	}

	// Read-only: re-ranks from Badger and leaves the file as it is.
	st0, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	ro := opts
	ro.ReadOnly = true
	db, err = Open(t.Context(), dir, ro)
	if err != nil {
		t.Fatal(err)
	}
	if db.spaceForTest(t, quantSpace).vf != nil {
		t.Error("read-only store keeps a vector file")
	}
	live.check(t, "read-only", db, f.queries)
	db.Close()
	if st, err := os.Stat(path); err != nil || !st.ModTime().Equal(st0.ModTime()) || st.Size() != st0.Size() {
		t.Errorf("read-only open changed the vector file: %v", err)
	}

	// Held as floats: the file goes. Quantised again, then dropped: gone.
	db = openT(t, dir)
	db.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("vector file of a space held as floats: %v, want removed", err)
	}
	db, err = Open(t.Context(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("quantised again: %v", err)
	}
	if err := db.DropSpace(t.Context(), quantSpace); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("vector file of a dropped space: %v, want removed", err)
	}
}

func appendF32(b []byte, f float32) []byte {
	u := math.Float32bits(f)
	return append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
}
