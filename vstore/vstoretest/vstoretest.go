// Package vstoretest is the conformance suite of vstore.Store: one exported
// helper, Run, that every implementation's tests call (as database/sql
// drivers and litestream's replica clients are tested), so the behaviour
// the indexer and the server rely on is checked on each backend alike.
//
// The suite is plain Go testing code with small dimensions and a seeded
// random source; it runs in a few seconds under -race on the embedded
// store. It imports package testing and belongs in _test.go callers only.
package vstoretest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"imglish/vstore"
)

// Harness opens the implementation under test.
type Harness struct {
	// Open returns a new, empty store owned by the (sub)test t: it must be
	// closed at t's cleanup (Close is idempotent, so the suite may close it
	// first). Required.
	Open func(t *testing.T) vstore.Store
	// Reopen closes s and opens the same store again, as a restart would.
	// nil when the implementation does not persist; the durability
	// subtest is then skipped.
	Reopen func(t *testing.T, s vstore.Store) vstore.Store
	// Crash returns a new, empty store that writer processes are started
	// on and killed (see CrashTarget), for implementations that promise
	// Apply durable and atomic across a kill of the process; nil skips
	// the Crash subtest.
	Crash func(t *testing.T) CrashTarget
}

// Run runs the conformance suite against h, one subtest per area.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("vstoretest: Harness.Open is nil")
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Items", testItems},
		{"BatchAtomic", testBatchAtomic},
		{"DeleteItemDropsVectors", testDeleteItem},
		{"Filters", testFilters},
		{"Nearest", testNearest},
		{"Paging", testPaging},
		{"Spaces", testSpaces},
		{"Texts", testTexts},
		{"Values", testValues},
		{"Reopen", testReopen},
		{"Closed", testClosed},
		{"Crash", testCrash},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

const (
	dim    = 8
	space  = "images:conformance"
	model  = "conformance"
	textsp = "texts:conformance:labels"
)

var base = time.Date(2021, 3, 1, 10, 0, 0, 0, time.UTC)

// item is the test item i: paths in three folders, two media types, four
// cameras, five tags, a date for most (Taken for even i, file time
// otherwise), none for every 7th.
func item(i int) vstore.Item {
	it := vstore.Item{
		ID:    fmt.Sprintf("id%05d", i),
		Hash:  fmt.Sprintf("hash%05d", i),
		Files: []vstore.File{{Path: fmt.Sprintf("/p/%s/f%05d.jpg", []string{"a", "b", "c"}[i%3], i), Size: int64(100 + i)}},
		Meta: vstore.Meta{
			Size:        int64(100 + i),
			MediaType:   []string{"image/jpeg", "image/png"}[i%2],
			Width:       640,
			Height:      480,
			CameraMake:  []string{"Canon", "Nikon", "Fujifilm", "Sony"}[i%4],
			CameraModel: fmt.Sprintf("M%d", i%4),
		},
		Tags:    []string{fmt.Sprintf("t%d", i%5), "all"},
		Model:   model,
		AddedAt: base,
	}
	switch {
	case i%7 == 0:
	case i%2 == 0:
		it.Taken = base.Add(time.Duration(i) * time.Hour)
		it.GPS = &vstore.GPS{Lat: 48.1, Lon: 11.5}
	default:
		it.Files[0].ModTime = base.Add(time.Duration(i) * time.Hour)
	}
	return it
}

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func normalise(v []float32) []float32 {
	var ss float64
	for _, f := range v {
		ss += float64(f) * float64(f)
	}
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = float32(float64(f) / math.Sqrt(ss))
	}
	return out
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func createSpace(t *testing.T, s vstore.Store, sp vstore.Space) {
	t.Helper()
	if err := s.CreateSpace(t.Context(), sp); err != nil {
		t.Fatalf("create space %s: %v", sp.Name, err)
	}
}

func imageSpace(name string, d int) vstore.Space {
	return vstore.Space{Name: name, Kind: vstore.KindImages, Model: model, Dim: d}
}

func apply(t *testing.T, s vstore.Store, b *vstore.Batch) {
	t.Helper()
	if err := s.Apply(t.Context(), b); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// fill adds items 0..n-1 with vectors vecs[i] in space, in batches.
func fill(t *testing.T, s vstore.Store, n int, vecs [][]float32) {
	t.Helper()
	var b vstore.Batch
	for i := range n {
		b.PutItem(item(i))
		b.PutVector(space, item(i).ID, vecs[i])
		if b.Len() >= 400 || i == n-1 {
			apply(t, s, &b)
			b.Reset()
		}
	}
}

func ids(hits []vstore.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

func scanIDs(t *testing.T, s vstore.Store, f *vstore.Filter) []string {
	t.Helper()
	var out []string
	if err := s.Items(t.Context(), f, func(it vstore.Item) bool { out = append(out, it.ID); return true }); err != nil {
		t.Fatalf("items: %v", err)
	}
	return out
}

func wantErr(t *testing.T, what string, err error, want ...error) {
	t.Helper()
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Errorf("%s: error %v, want %v", what, err, w)
		}
	}
}

func testItems(t *testing.T, h Harness) {
	s := h.Open(t)
	var b vstore.Batch
	for i := range 5 {
		b.PutItem(item(i))
	}
	apply(t, s, &b)
	if n := s.ItemCount(); n != 5 {
		t.Fatalf("ItemCount = %d, want 5", n)
	}
	it3 := item(3)
	for _, get := range []struct {
		name string
		fn   func() (vstore.Item, error)
	}{
		{"Item", func() (vstore.Item, error) { return s.Item(it3.ID) }},
		{"ItemByPath", func() (vstore.Item, error) { return s.ItemByPath(it3.Files[0].Path) }},
		{"ItemByHash", func() (vstore.Item, error) { return s.ItemByHash(it3.Hash) }},
	} {
		got, err := get.fn()
		if err != nil {
			t.Fatalf("%s: %v", get.name, err)
		}
		if !sameItem(got, it3) {
			t.Errorf("%s = %+v, want %+v", get.name, got, it3)
		}
	}
	// A returned item is a copy.
	got, _ := s.Item(it3.ID)
	got.Tags[0], got.Files[0].Path = "changed", "/changed"
	if again, _ := s.Item(it3.ID); !sameItem(again, it3) {
		t.Errorf("Item shares memory with the store: %+v", again)
	}
	// Update: a second path, the first moved away, new tags.
	up := item(3)
	up.Files = []vstore.File{{Path: "/p/moved.jpg", Size: 7}, {Path: "/p/copy.jpg", Size: 7}}
	up.Tags = []string{"new"}
	b.Reset()
	b.PutItem(up)
	apply(t, s, &b)
	if got, err := s.ItemByPath("/p/copy.jpg"); err != nil || got.ID != up.ID || !slices.Equal(got.Tags, up.Tags) {
		t.Errorf("ItemByPath(new path) = %+v, %v", got, err)
	}
	_, err := s.ItemByPath(it3.Files[0].Path)
	wantErr(t, "ItemByPath(old path)", err, vstore.ErrNotFound)
	// Delete.
	b.Reset()
	b.DeleteItem(item(1).ID)
	apply(t, s, &b)
	_, err = s.Item(item(1).ID)
	wantErr(t, "Item(deleted)", err, vstore.ErrNotFound)
	_, err = s.ItemByPath(item(1).Files[0].Path)
	wantErr(t, "ItemByPath(deleted)", err, vstore.ErrNotFound)
	_, err = s.ItemByHash(item(1).Hash)
	wantErr(t, "ItemByHash(deleted)", err, vstore.ErrNotFound)
	if got, want := scanIDs(t, s, nil), []string{"id00000", "id00002", "id00003", "id00004"}; !slices.Equal(got, want) {
		t.Errorf("Items = %v, want %v (id order)", got, want)
	}
	// Items is a snapshot: fn may write.
	n := 0
	err = s.Items(t.Context(), nil, func(it vstore.Item) bool {
		var wb vstore.Batch
		wb.PutItem(item(100 + n))
		n++
		return s.Apply(t.Context(), &wb) == nil
	})
	if err != nil || n != 4 {
		t.Errorf("Items writing from fn: %d calls, %v; want 4, nil", n, err)
	}
	if c := s.ItemCount(); c != 8 {
		t.Errorf("ItemCount = %d, want 8", c)
	}
	// Stop early.
	n = 0
	_ = s.Items(t.Context(), nil, func(vstore.Item) bool { n++; return n < 2 })
	if n != 2 {
		t.Errorf("Items after fn returned false: %d calls, want 2", n)
	}
	// Every field comes back, metadata included: a field the backend
	// does not keep fails here (and after a reopen, testReopen).
	full := FullItem(t, "full")
	b.Reset()
	b.PutItem(full)
	apply(t, s, &b)
	if got, err := s.Item(full.ID); err != nil || !sameItem(got, full) {
		t.Errorf("Item(every field set) = %+v, %v; want %+v", got, err, full)
	}
}

func sameItem(a, b vstore.Item) bool {
	if len(a.Files) != len(b.Files) {
		return false
	}
	for i := range a.Files {
		if a.Files[i].Path != b.Files[i].Path || a.Files[i].Size != b.Files[i].Size || !a.Files[i].ModTime.Equal(b.Files[i].ModTime) {
			return false
		}
	}
	a.Files, b.Files = nil, nil
	if !a.Taken.Equal(b.Taken) || !a.AddedAt.Equal(b.AddedAt) || (a.GPS == nil) != (b.GPS == nil) || (a.GPS != nil && *a.GPS != *b.GPS) {
		return false
	}
	a.Taken, b.Taken, a.AddedAt, b.AddedAt, a.GPS, b.GPS = time.Time{}, time.Time{}, time.Time{}, time.Time{}, nil, nil
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func testBatchAtomic(t *testing.T, h Harness) {
	s := h.Open(t)
	createSpace(t, s, imageSpace(space, dim))
	createSpace(t, s, vstore.Space{Name: textsp, Kind: vstore.KindTexts, Model: model, Dim: dim})
	r := rand.New(rand.NewPCG(1, 2))
	good := func(b *vstore.Batch) {
		b.PutItem(item(0))
		b.PutVector(space, item(0).ID, randVec(r, dim))
		b.SetValue("k", []byte("v"))
		b.SetBlob("b", []byte("blob"))
		b.PutText(textsp, vstore.TextEntry{ID: "t", Text: "x", Vector: randVec(r, dim)})
	}
	nan := randVec(r, dim)
	nan[2] = float32(math.NaN())
	tests := []struct {
		name string
		bad  func(b *vstore.Batch)
		want []error
	}{
		{"NaN vector", func(b *vstore.Batch) { b.PutVector(space, item(0).ID, nan) }, []error{vstore.ErrInvalid}},
		{"zero vector", func(b *vstore.Batch) { b.PutVector(space, item(0).ID, make([]float32, dim)) }, []error{vstore.ErrInvalid}},
		{"empty id", func(b *vstore.Batch) { b.PutItem(vstore.Item{}) }, []error{vstore.ErrInvalid}},
		{"oversized id", func(b *vstore.Batch) { b.DeleteItem(strings.Repeat("x", vstore.MaxIDLen+1)) }, []error{vstore.ErrInvalid}},
		{"empty path", func(b *vstore.Batch) { b.PutItem(vstore.Item{ID: "x", Files: []vstore.File{{}}}) }, []error{vstore.ErrInvalid}},
		{"bad gps", func(b *vstore.Batch) { b.PutItem(vstore.Item{ID: "x", Meta: vstore.Meta{GPS: &vstore.GPS{Lat: 91}}}) }, []error{vstore.ErrInvalid}},
		{"oversized value", func(b *vstore.Batch) { b.SetValue("k2", make([]byte, vstore.MaxValueSize+1)) }, []error{vstore.ErrInvalid}},
		{"wrong dimension", func(b *vstore.Batch) {
			b.PutItem(item(9))
			b.PutVector(space, item(9).ID, randVec(r, dim+1))
		}, []error{vstore.ErrInvalid, vstore.ErrDimension}},
		{"missing space", func(b *vstore.Batch) {
			b.PutItem(item(9))
			b.PutVector("images:none", item(9).ID, randVec(r, dim))
		}, []error{vstore.ErrNotFound}},
		{"vector of a missing item", func(b *vstore.Batch) { b.PutVector(space, "nobody", randVec(r, dim)) }, []error{vstore.ErrNotFound}},
		{"text op on an image space", func(b *vstore.Batch) {
			b.PutText(space, vstore.TextEntry{ID: "t2", Text: "y", Vector: randVec(r, dim)})
		}, []error{vstore.ErrInvalid}},
		{"vector op on a text collection", func(b *vstore.Batch) { b.PutVector(textsp, item(0).ID, randVec(r, dim)) }, []error{vstore.ErrInvalid}},
	}
	for _, tc := range tests {
		for _, badFirst := range []bool{true, false} {
			var b vstore.Batch
			if badFirst {
				tc.bad(&b)
				good(&b)
			} else {
				good(&b)
				tc.bad(&b)
			}
			wantErr(t, fmt.Sprintf("%s (bad op first: %v)", tc.name, badFirst), s.Apply(t.Context(), &b), tc.want...)
		}
	}
	// Nothing of any failed batch is visible.
	if n := s.ItemCount(); n != 0 {
		t.Errorf("ItemCount after failed batches = %d, want 0", n)
	}
	_, err := s.Value("k")
	wantErr(t, "Value after failed batches", err, vstore.ErrNotFound)
	_, err = s.Blob("b")
	wantErr(t, "Blob after failed batches", err, vstore.ErrNotFound)
	if ts, err := s.Texts(textsp); err != nil || len(ts) != 0 {
		t.Errorf("Texts after failed batches = %v, %v; want none", ts, err)
	}
	for _, sp := range s.Spaces() {
		if sp.Count != 0 {
			t.Errorf("space %s holds %d vectors after failed batches", sp.Name, sp.Count)
		}
	}
	// The same operations without the bad one apply in full.
	var b vstore.Batch
	good(&b)
	apply(t, s, &b)
	if _, err := s.Vector(space, item(0).ID); err != nil {
		t.Errorf("Vector after a good batch: %v", err)
	}
	if v, err := s.Value("k"); err != nil || string(v) != "v" {
		t.Errorf("Value after a good batch = %q, %v", v, err)
	}
	// Within a batch the last operation on a key wins, and a vector may
	// follow its item.
	b.Reset()
	last := randVec(r, dim)
	b.PutItem(item(1))
	b.PutVector(space, item(1).ID, randVec(r, dim))
	b.PutVector(space, item(1).ID, last)
	b.SetValue("k", []byte("first"))
	b.SetValue("k", []byte("second"))
	apply(t, s, &b)
	if got, _ := s.Vector(space, item(1).ID); dot(got, normalise(last)) < 0.9999 {
		t.Errorf("Vector after two puts in one batch is not the last one")
	}
	if v, _ := s.Value("k"); string(v) != "second" {
		t.Errorf("Value after two sets in one batch = %q, want second", v)
	}
}

func testDeleteItem(t *testing.T, h Harness) {
	s := h.Open(t)
	other := "images:other"
	createSpace(t, s, imageSpace(space, dim))
	createSpace(t, s, imageSpace(other, dim+2))
	r := rand.New(rand.NewPCG(3, 4))
	var b vstore.Batch
	for i := range 3 {
		b.PutItem(item(i))
		b.PutVector(space, item(i).ID, randVec(r, dim))
		b.PutVector(other, item(i).ID, randVec(r, dim+2))
	}
	apply(t, s, &b)
	b.Reset()
	b.DeleteItem(item(1).ID)
	b.DeleteVector(space, item(2).ID)
	apply(t, s, &b)
	for _, c := range []struct {
		space, id string
		want      error
	}{
		{space, item(0).ID, nil},
		{space, item(1).ID, vstore.ErrNotFound},
		{other, item(1).ID, vstore.ErrNotFound},
		{space, item(2).ID, vstore.ErrNotFound},
		{other, item(2).ID, nil},
	} {
		_, err := s.Vector(c.space, c.id)
		if !errors.Is(err, c.want) {
			t.Errorf("Vector(%s, %s): %v, want %v", c.space, c.id, err, c.want)
		}
	}
	hits, err := s.Search(t.Context(), space, randVec(r, dim), 10, vstore.SearchOptions{})
	if err != nil || !slices.Equal(ids(hits), []string{item(0).ID}) {
		t.Errorf("Search after deletes = %v, %v; want only %s", ids(hits), err, item(0).ID)
	}
}

func testFilters(t *testing.T, h Harness) {
	s := h.Open(t)
	createSpace(t, s, imageSpace(space, dim))
	const n = 120
	r := rand.New(rand.NewPCG(5, 6))
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = randVec(r, dim)
	}
	fill(t, s, n, vecs)
	all := make([]vstore.Item, n)
	for i := range all {
		all[i] = item(i)
	}
	day := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	tests := []struct {
		name string
		f    *vstore.Filter
	}{
		{"nil", nil},
		{"zero", &vstore.Filter{}},
		{"path prefix", &vstore.Filter{PathPrefixes: []string{"/p/a/"}}},
		{"two path prefixes", &vstore.Filter{PathPrefixes: []string{"/p/a/", "/p/c/f0001"}}},
		{"from", &vstore.Filter{From: day(60)}},
		{"to", &vstore.Filter{To: day(30)}},
		{"from and to", &vstore.Filter{From: day(20), To: day(40)}},
		{"media type", &vstore.Filter{MediaTypes: []string{"image/png"}}},
		{"media types", &vstore.Filter{MediaTypes: []string{"image/png", "image/jpeg"}}},
		{"tag", &vstore.Filter{Tags: []string{"t2"}}},
		{"tags (all of)", &vstore.Filter{Tags: []string{"t2", "all"}}},
		{"absent tag", &vstore.Filter{Tags: []string{"none"}}},
		{"camera make, any case", &vstore.Filter{Camera: "nIKON"}},
		{"camera make and model", &vstore.Filter{Camera: "fujifilm m2"}},
		{"ids", &vstore.Filter{IDs: []string{"id00003", "id00050", "missing"}}},
		{"empty ids", &vstore.Filter{IDs: []string{}}},
		{"combination", &vstore.Filter{PathPrefixes: []string{"/p/b/"}, From: day(10), To: day(100),
			MediaTypes: []string{"image/png"}, Tags: []string{"all"}, Camera: "sony"}},
		{"combination with ids", &vstore.Filter{IDs: []string{"id00004", "id00005", "id00010"}, MediaTypes: []string{"image/jpeg"}}},
	}
	q := randVec(r, dim)
	for _, tc := range tests {
		var want []string
		var sum float64
		for i := range all {
			if tc.f.Match(&all[i]) {
				want = append(want, all[i].ID)
				sum += dot(normalise(vecs[i]), normalise(q))
			}
		}
		if got := scanIDs(t, s, tc.f); !slices.Equal(got, want) {
			t.Errorf("%s: Items = %v, want %v", tc.name, got, want)
		}
		for _, exact := range []bool{true, false} {
			hits, err := s.Search(t.Context(), space, q, n, vstore.SearchOptions{Filter: tc.f, Exact: exact})
			if err != nil {
				t.Fatalf("%s: search: %v", tc.name, err)
			}
			got := ids(hits)
			slices.Sort(got)
			// A filtered graph walk is approximate; on this small space
			// with k = every item it must still find every match.
			if !slices.Equal(got, want) {
				t.Errorf("%s: Search(exact=%v) = %d hits %v, want %d %v", tc.name, exact, len(got), got, len(want), want)
			}
		}
		mean, cnt, err := s.MeanScore(t.Context(), space, q, tc.f)
		wantMean := 0.0
		if len(want) > 0 {
			wantMean = sum / float64(len(want))
		}
		if err != nil || cnt != len(want) || math.Abs(mean-wantMean) > 1e-4 {
			t.Errorf("%s: MeanScore = %v, %d, %v; want %v, %d", tc.name, mean, cnt, err, wantMean, len(want))
		}
	}
}

// reference is the exact ranking of vecs against q: (score desc, id asc).
func reference(q []float32, vecs [][]float32, n int) []vstore.Hit {
	out := make([]vstore.Hit, n)
	for i := range n {
		out[i] = vstore.Hit{ID: item(i).ID, Score: float32(dot(normalise(q), normalise(vecs[i])))}
	}
	slices.SortFunc(out, func(a, b vstore.Hit) int {
		if a.Before(b) {
			return -1
		}
		if b.Before(a) {
			return 1
		}
		return 0
	})
	return out
}

func sorted(hits []vstore.Hit) bool {
	for i := 1; i < len(hits); i++ {
		if !hits[i-1].Before(hits[i]) {
			return false
		}
	}
	return true
}

func testNearest(t *testing.T, h Harness) {
	s := h.Open(t)
	createSpace(t, s, imageSpace(space, dim))
	const n = 300
	r := rand.New(rand.NewPCG(7, 8))
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = randVec(r, dim)
	}
	fill(t, s, n, vecs)
	const tol = 1e-5
	found, total := 0, 0
	for range 20 {
		q := randVec(r, dim)
		ref := reference(q, vecs, n)
		score := map[string]float32{}
		for _, h := range ref {
			score[h.ID] = h.Score
		}
		for _, exact := range []bool{true, false} {
			const k = 10
			hits, err := s.Search(t.Context(), space, q, k, vstore.SearchOptions{Exact: exact})
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) != k || !sorted(hits) {
				t.Fatalf("Search(exact=%v) = %v: want %d hits by score desc, id asc", exact, hits, k)
			}
			for _, h := range hits {
				if d := math.Abs(float64(h.Score - score[h.ID])); d > tol {
					t.Errorf("hit %s score %v, reference %v", h.ID, h.Score, score[h.ID])
				}
			}
			if exact {
				// The exact answer is the reference's top k (up to ties
				// within float error).
				if hits[k-1].Score < ref[k-1].Score-tol {
					t.Errorf("exact search missed a better item: last %v, reference %v", hits[k-1], ref[k-1])
				}
				continue
			}
			top := map[string]bool{}
			for _, h := range ref[:k] {
				top[h.ID] = true
			}
			for _, h := range hits {
				if top[h.ID] {
					found++
				}
			}
			total += k
		}
	}
	if recall := float64(found) / float64(total); recall < 0.9 {
		t.Errorf("approximate recall@10 = %.3f on %d items, want ≥ 0.9", recall, n)
	}
	// SearchItems gives the same hits, each with its item.
	q := randVec(r, dim)
	plain, err := s.Search(t.Context(), space, q, 10, vstore.SearchOptions{Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	withItems, err := s.SearchItems(t.Context(), space, q, 10, vstore.SearchOptions{Exact: true})
	if err != nil || len(withItems) != len(plain) {
		t.Fatalf("SearchItems = %d hits, %v; Search gave %d", len(withItems), err, len(plain))
	}
	for i, h := range withItems {
		if h.Hit != plain[i] || h.Item.ID != h.ID {
			t.Errorf("SearchItems hit %d = %+v (item %s), Search gave %+v", i, h.Hit, h.Item.ID, plain[i])
		}
	}
	// A stored vector finds itself first.
	hits, err := s.Search(t.Context(), space, vecs[42], 1, vstore.SearchOptions{})
	if err != nil || len(hits) != 1 || hits[0].ID != item(42).ID {
		t.Errorf("Search(own vector) = %v, %v; want %s", hits, err, item(42).ID)
	}
	// Bad queries.
	_, err = s.Search(t.Context(), space, randVec(r, dim+1), 5, vstore.SearchOptions{})
	wantErr(t, "Search with a wrong-dimension query", err, vstore.ErrDimension)
	_, err = s.Search(t.Context(), "images:none", randVec(r, dim), 5, vstore.SearchOptions{})
	wantErr(t, "Search of a missing space", err, vstore.ErrNotFound)
}

// testPaging pages through 2,000 items of which groups share a vector
// (equal scores), the way the server does: page 1 approximate, later pages
// exact after a cursor with page 1's hits excluded. Every item must come
// exactly once, also when items are added and deleted between pages.
func testPaging(t *testing.T, h Harness) {
	s := h.Open(t)
	createSpace(t, s, imageSpace(space, dim))
	const n, distinct, k = 2000, 40, 97
	r := rand.New(rand.NewPCG(9, 10))
	pool := make([][]float32, distinct)
	for i := range pool {
		pool[i] = randVec(r, dim)
	}
	vecs := make([][]float32, n+50)
	for i := range vecs {
		vecs[i] = pool[r.IntN(distinct)]
	}
	fill(t, s, n, vecs)
	q := randVec(r, dim)

	for _, churn := range []bool{false, true} {
		seen := map[string]int{}
		first, err := s.Search(t.Context(), space, q, k, vstore.SearchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		served := map[string]bool{}
		for _, h := range first {
			served[h.ID] = true
			seen[h.ID]++
		}
		exclude := func(id string) bool { return served[id] }
		var after *vstore.Hit
		deleted := map[string]bool{}
		added := 0
		for page := 2; ; page++ {
			if churn && page%3 == 0 && added < 50 {
				// Between pages: add an item and delete one not yet served.
				var b vstore.Batch
				b.PutItem(item(n + added))
				b.PutVector(space, item(n+added).ID, vecs[n+added])
				added++
				victim := item(r.IntN(n)).ID
				if seen[victim] == 0 && !deleted[victim] {
					b.DeleteItem(victim)
					deleted[victim] = true
				}
				apply(t, s, &b)
			}
			hits, err := s.Search(t.Context(), space, q, k, vstore.SearchOptions{Exact: true, Exclude: exclude, After: after})
			if err != nil {
				t.Fatal(err)
			}
			if !sorted(hits) || (after != nil && len(hits) > 0 && !after.Before(hits[0])) {
				t.Fatalf("page %d out of order after %v: %v", page, after, hits)
			}
			for _, h := range hits {
				seen[h.ID]++
				if deleted[h.ID] {
					t.Errorf("page %d served %s, deleted before it", page, h.ID)
				}
			}
			if len(hits) < k {
				break
			}
			last := hits[len(hits)-1]
			after = &last
		}
		for i := range n {
			id := item(i).ID
			if c := seen[id]; c != 1 && !deleted[id] {
				t.Errorf("churn=%v: item %s served %d times, want once", churn, id, c)
			}
		}
		for id, c := range seen {
			if c > 1 {
				t.Errorf("churn=%v: item %s served %d times", churn, id, c)
			}
		}
	}

	// Until fixes the lower end of a set: its members stay, items added
	// since that sort inside it join, none outside it appear.
	all, err := s.Search(t.Context(), space, q, 500, vstore.SearchOptions{Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	until := all[299]
	var b vstore.Batch
	newcomer := item(n + 60)
	b.PutItem(newcomer)
	b.PutVector(space, newcomer.ID, q) // scores 1: sorts first
	apply(t, s, &b)
	got, err := s.Search(t.Context(), space, q, 1000, vstore.SearchOptions{Exact: true, Until: &until})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 301 || got[0].ID != newcomer.ID || got[300] != until {
		t.Errorf("Search(Until=%v) = %d hits from %v to %v; want 301 from %s to the bound", until, len(got), got[0], got[len(got)-1], newcomer.ID)
	}
}

func testSpaces(t *testing.T, h Harness) {
	s := h.Open(t)
	a, b2 := imageSpace("images:a", dim), imageSpace("images:b", dim*2)
	createSpace(t, s, a)
	createSpace(t, s, b2)
	createSpace(t, s, a) // same configuration: no error
	tests := []struct {
		name string
		sp   vstore.Space
		want error
	}{
		{"other dimension", imageSpace("images:a", dim+1), vstore.ErrExists},
		{"other kind", vstore.Space{Name: "images:a", Kind: vstore.KindTexts, Model: model, Dim: dim}, vstore.ErrExists},
		{"empty name", imageSpace("", dim), vstore.ErrInvalid},
		{"NUL in name", imageSpace("a\x00b", dim), vstore.ErrInvalid},
		{"zero dimension", imageSpace("images:z", 0), vstore.ErrInvalid},
		{"unknown kind", vstore.Space{Name: "x", Kind: "audio", Dim: dim}, vstore.ErrInvalid},
	}
	for _, tc := range tests {
		wantErr(t, "CreateSpace "+tc.name, s.CreateSpace(t.Context(), tc.sp), tc.want)
	}
	r := rand.New(rand.NewPCG(11, 12))
	var b vstore.Batch
	b.PutItem(item(0))
	b.PutItem(item(1))
	b.PutVector(a.Name, item(0).ID, randVec(r, dim))
	b.PutVector(b2.Name, item(1).ID, randVec(r, dim*2))
	apply(t, s, &b)
	sps := s.Spaces()
	if len(sps) != 2 || sps[0].Name != a.Name || sps[0].Count != 1 || sps[0].Dim != dim || sps[1].Name != b2.Name || sps[1].Count != 1 {
		t.Errorf("Spaces = %+v", sps)
	}
	// A vector in one space is invisible in the other.
	_, err := s.Vector(b2.Name, item(0).ID)
	wantErr(t, "Vector of another space's item", err, vstore.ErrNotFound)
	hits, err := s.Search(t.Context(), b2.Name, randVec(r, dim*2), 10, vstore.SearchOptions{Exact: true})
	if err != nil || !slices.Equal(ids(hits), []string{item(1).ID}) {
		t.Errorf("Search(%s) = %v, %v; want only %s", b2.Name, ids(hits), err, item(1).ID)
	}
	_, err = s.Search(t.Context(), b2.Name, randVec(r, dim), 10, vstore.SearchOptions{})
	wantErr(t, "Search with the other space's dimension", err, vstore.ErrDimension)
	_, _, err = s.MeanScore(t.Context(), b2.Name, randVec(r, dim), nil)
	wantErr(t, "MeanScore with the other space's dimension", err, vstore.ErrDimension)
	// Drop: the space goes, the items stay.
	if err := s.DropSpace(t.Context(), a.Name); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DropSpace again", s.DropSpace(t.Context(), a.Name), vstore.ErrNotFound)
	_, err = s.Search(t.Context(), a.Name, randVec(r, dim), 1, vstore.SearchOptions{})
	wantErr(t, "Search of a dropped space", err, vstore.ErrNotFound)
	if _, err := s.Item(item(0).ID); err != nil {
		t.Errorf("Item after its space was dropped: %v", err)
	}
	if sps := s.Spaces(); len(sps) != 1 || sps[0].Name != b2.Name {
		t.Errorf("Spaces after drop = %+v", sps)
	}
	// Recreated, it is empty.
	createSpace(t, s, a)
	_, err = s.Vector(a.Name, item(0).ID)
	wantErr(t, "Vector in a recreated space", err, vstore.ErrNotFound)
}

func testTexts(t *testing.T, h Harness) {
	s := h.Open(t)
	createSpace(t, s, vstore.Space{Name: textsp, Kind: vstore.KindTexts, Model: model, Dim: dim})
	createSpace(t, s, imageSpace(space, dim))
	r := rand.New(rand.NewPCG(13, 14))
	vecs := map[string][]float32{}
	var b vstore.Batch
	for i := range 30 {
		id := fmt.Sprintf("t%02d", i)
		vecs[id] = randVec(r, dim)
		b.PutText(textsp, vstore.TextEntry{ID: id, Text: "text " + id, Vector: vecs[id]})
	}
	apply(t, s, &b)
	hits, err := s.SearchTexts(t.Context(), textsp, vecs["t07"], 3, vstore.SearchOptions{})
	if err != nil || len(hits) != 3 || hits[0].ID != "t07" || hits[0].Text != "text t07" {
		t.Errorf("SearchTexts(own vector) = %+v, %v", hits, err)
	}
	hits, err = s.SearchTexts(t.Context(), textsp, vecs["t07"], 30, vstore.SearchOptions{Filter: &vstore.Filter{IDs: []string{"t01", "t02"}}, Exact: true})
	if err != nil || len(hits) != 2 {
		t.Errorf("SearchTexts with an ids filter = %+v, %v; want t01 and t02", hits, err)
	}
	_, err = s.SearchTexts(t.Context(), textsp, vecs["t07"], 3, vstore.SearchOptions{Filter: &vstore.Filter{Tags: []string{"x"}}})
	wantErr(t, "SearchTexts with a tag filter", err, vstore.ErrInvalid)
	_, err = s.SearchTexts(t.Context(), space, vecs["t07"], 3, vstore.SearchOptions{})
	wantErr(t, "SearchTexts of an image space", err, vstore.ErrInvalid)
	// Replace one, delete one.
	b.Reset()
	b.PutText(textsp, vstore.TextEntry{ID: "t03", Text: "replaced", Vector: vecs["t03"]})
	b.DeleteText(textsp, "t04")
	b.DeleteText(textsp, "never")
	apply(t, s, &b)
	entries, err := s.Texts(textsp)
	if err != nil || len(entries) != 29 {
		t.Fatalf("Texts = %d entries, %v; want 29", len(entries), err)
	}
	if !slices.IsSortedFunc(entries, func(a, b vstore.TextEntry) int { return strings.Compare(a.ID, b.ID) }) {
		t.Errorf("Texts not by id")
	}
	for _, e := range entries {
		if e.ID == "t04" || (e.ID == "t03" && e.Text != "replaced") {
			t.Errorf("Texts after replace and delete holds %+v", e)
		}
	}
	hits, _ = s.SearchTexts(t.Context(), textsp, vecs["t04"], 29, vstore.SearchOptions{Exact: true})
	for _, h := range hits {
		if h.ID == "t04" {
			t.Errorf("SearchTexts found deleted entry t04")
		}
	}
	_, err = s.Texts(space)
	wantErr(t, "Texts of an image space", err, vstore.ErrInvalid)
	_, err = s.Texts("texts:none")
	wantErr(t, "Texts of a missing collection", err, vstore.ErrNotFound)
	if err := s.DropSpace(t.Context(), textsp); err != nil {
		t.Fatal(err)
	}
	_, err = s.Texts(textsp)
	wantErr(t, "Texts of a dropped collection", err, vstore.ErrNotFound)
}

func testValues(t *testing.T, h Harness) {
	s := h.Open(t)
	var b vstore.Batch
	for _, k := range []string{"app/b", "app/a", "app/c", "other/x"} {
		b.SetValue(k, []byte("v:"+k))
	}
	blob := bytes.Repeat([]byte{0, 1, 2, 255}, 1000)
	b.SetBlob("app/blob", blob)
	apply(t, s, &b)
	var keys []string
	err := s.ScanValues(t.Context(), "app/", func(k string, v []byte) bool {
		if string(v) != "v:"+k {
			t.Errorf("ScanValues %s = %q", k, v)
		}
		keys = append(keys, k)
		return true
	})
	if err != nil || !slices.Equal(keys, []string{"app/a", "app/b", "app/c"}) {
		t.Errorf("ScanValues(app/) = %v, %v; want a, b, c in key order, no blob", keys, err)
	}
	n := 0
	_ = s.ScanValues(t.Context(), "", func(string, []byte) bool { n++; return false })
	if n != 1 {
		t.Errorf("ScanValues went on after fn returned false: %d calls", n)
	}
	if got, err := s.Blob("app/blob"); err != nil || !bytes.Equal(got, blob) {
		t.Errorf("Blob = %d bytes, %v; want %d", len(got), err, len(blob))
	}
	_, err = s.Value("app/blob")
	wantErr(t, "Value of a blob key", err, vstore.ErrNotFound)
	_, err = s.Blob("app/a")
	wantErr(t, "Blob of a value key", err, vstore.ErrNotFound)
	b.Reset()
	b.SetValue("app/a", nil)
	b.SetBlob("app/blob", nil)
	apply(t, s, &b)
	_, err = s.Value("app/a")
	wantErr(t, "Value deleted", err, vstore.ErrNotFound)
	_, err = s.Blob("app/blob")
	wantErr(t, "Blob deleted", err, vstore.ErrNotFound)
}

func testReopen(t *testing.T, h Harness) {
	if h.Reopen == nil {
		t.Skip("the implementation does not persist (Harness.Reopen is nil)")
	}
	s := h.Open(t)
	createSpace(t, s, imageSpace(space, dim))
	createSpace(t, s, vstore.Space{Name: textsp, Kind: vstore.KindTexts, Model: model, Dim: dim})
	const n = 200
	r := rand.New(rand.NewPCG(15, 16))
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = randVec(r, dim)
	}
	fill(t, s, n, vecs)
	full := FullItem(t, "full")
	var b vstore.Batch
	b.DeleteItem(item(5).ID)
	b.PutItem(full)
	b.PutText(textsp, vstore.TextEntry{ID: "t", Text: "a text", Vector: vecs[0]})
	b.SetValue("v", []byte("value"))
	b.SetBlob("b", []byte("blob"))
	apply(t, s, &b)
	q := randVec(r, dim)
	before, err := s.Search(t.Context(), space, q, 20, vstore.SearchOptions{Exact: true})
	if err != nil {
		t.Fatal(err)
	}

	s = h.Reopen(t, s)
	if c := s.ItemCount(); c != n {
		t.Errorf("ItemCount after reopen = %d, want %d", c, n)
	}
	if got, err := s.ItemByPath(item(7).Files[0].Path); err != nil || !sameItem(got, item(7)) {
		t.Errorf("ItemByPath after reopen = %+v, %v", got, err)
	}
	// Every field is persisted (the item with all of them set).
	if got, err := s.Item(full.ID); err != nil || !sameItem(got, full) {
		t.Errorf("Item(every field set) after reopen = %+v, %v; want %+v", got, err, full)
	}
	_, err = s.Item(item(5).ID)
	wantErr(t, "deleted Item after reopen", err, vstore.ErrNotFound)
	after, err := s.Search(t.Context(), space, q, 20, vstore.SearchOptions{Exact: true})
	if err != nil || !slices.Equal(after, before) {
		t.Errorf("Search after reopen = %v, %v; want %v", after, err, before)
	}
	if hits, err := s.SearchTexts(t.Context(), textsp, vecs[0], 1, vstore.SearchOptions{}); err != nil || len(hits) != 1 || hits[0].Text != "a text" {
		t.Errorf("SearchTexts after reopen = %+v, %v", hits, err)
	}
	if v, err := s.Value("v"); err != nil || string(v) != "value" {
		t.Errorf("Value after reopen = %q, %v", v, err)
	}
	if v, err := s.Blob("b"); err != nil || string(v) != "blob" {
		t.Errorf("Blob after reopen = %q, %v", v, err)
	}
	// Still writable.
	b.Reset()
	b.PutItem(item(5))
	b.PutVector(space, item(5).ID, vecs[5])
	apply(t, s, &b)
	if hits, err := s.Search(t.Context(), space, vecs[5], 1, vstore.SearchOptions{}); err != nil || len(hits) != 1 || hits[0].ID != item(5).ID {
		t.Errorf("Search after a write after reopen = %v, %v", hits, err)
	}
}

// crashTrials is the number of kill-and-reopen rounds of the Crash subtest
// (soak runs call RunCrash with more).
const crashTrials = 3

func testCrash(t *testing.T, h Harness) {
	if h.Crash == nil {
		t.Skip("the implementation does not promise durability across a kill (Harness.Crash is nil)")
	}
	RunCrash(t, h.Crash(t), crashTrials)
}

func testClosed(t *testing.T, h Harness) {
	s := h.Open(t)
	createSpace(t, s, imageSpace(space, dim))
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	var b vstore.Batch
	b.PutItem(item(0))
	wantErr(t, "Apply after Close", s.Apply(t.Context(), &b), vstore.ErrClosed)
	_, err := s.Item(item(0).ID)
	wantErr(t, "Item after Close", err, vstore.ErrClosed)
	_, err = s.Search(t.Context(), space, make([]float32, dim), 1, vstore.SearchOptions{})
	wantErr(t, "Search after Close", err, vstore.ErrClosed)
	_, err = s.Value("k")
	wantErr(t, "Value after Close", err, vstore.ErrClosed)
	wantErr(t, "Items after Close", s.Items(t.Context(), nil, func(vstore.Item) bool { return true }), vstore.ErrClosed)
}

// FullItem returns an item with id whose every field, those of the
// embedded vstore.Meta included, is set (reflectively) to a valid,
// non-zero value: a time with a zone offset, a GPS position in range, two
// files and two tags. The suite stores it on every backend and wants it
// back whole, and app's tests want every field in the API's item, so a
// field added to vstore.Item or vstore.Meta that a backend or a door drops
// fails. A field of a kind it cannot fill fails t: extend fillValue then.
func FullItem(t testing.TB, id string) vstore.Item {
	t.Helper()
	var it vstore.Item
	fillValue(t, reflect.ValueOf(&it).Elem(), "item")
	it.ID = id
	if err := it.Validate(); err != nil {
		t.Fatalf("FullItem: %v", err)
	}
	return it
}

// fillValue sets v, recursively, to a non-zero value derived from name
// (its field path), so that distinct fields get distinct values.
func fillValue(t testing.TB, v reflect.Value, name string) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString("v-" + name)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(1 + len(name)%7)) // small: also a valid EXIF orientation
	case reflect.Float64:
		v.SetFloat(1.25 + float64(len(name)%40)) // within any latitude or longitude
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillValue(t, v.Elem(), name)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fillValue(t, v.Index(i), fmt.Sprintf("%s%d", name, i))
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2021, 3, 4, 5, 6, 7, 1000*len(name), time.FixedZone("", 1800*(len(name)%9)))))
			return
		}
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				fillValue(t, v.Field(i), name+"."+f.Name)
			}
		}
	default:
		t.Fatalf("FullItem: field %s is a %s: teach fillValue its values", name, v.Kind())
	}
}
