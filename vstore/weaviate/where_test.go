package weaviate

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"imglish/internal/wvcluster"
	"imglish/internal/wvcluster/wvtest"
	"imglish/vstore"
)

// openNode starts a one-node Weaviate and opens a store on it in
// namespace ns.
func openNode(t *testing.T, ns string) (*Store, *wvcluster.Cluster) {
	t.Helper()
	bin := wvtest.Binary(t)
	cl, err := wvcluster.Start(t.Context(), wvcluster.Options{Bin: bin, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cl.Stop(); err != nil {
			t.Error(err)
		}
	})
	return openStore(t, cl, ns), cl
}

func openStore(t *testing.T, cl *wvcluster.Cluster, ns string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Options{URLs: cl.URLs(), Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

const testSpace = "images:where"

// TestFilterWhere checks the translation of a Filter into a Weaviate
// where filter on its own (without the exact test that follows it in
// Search): it must select a superset of Filter.Match's items, and exactly
// them for filters Weaviate can express.
func TestFilterWhere(t *testing.T) {
	s, _ := openNode(t, "Where")
	if err := s.CreateSpace(t.Context(), vstore.Space{Name: testSpace, Kind: vstore.KindImages, Model: "m", Dim: 4}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2022, 5, 1, 0, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(1, 2))
	var items []vstore.Item
	var b vstore.Batch
	for i := range 60 {
		it := vstore.Item{
			ID:    fmt.Sprintf("w%03d", i),
			Files: []vstore.File{{Path: fmt.Sprintf("/photos/%s/%d/img%03d.jpg", []string{"trip", "home", "trip 2"}[i%3], i%2, i)}},
			Meta: vstore.Meta{
				MediaType:   []string{"image/jpeg", "image/png", "image/heic"}[i%3],
				CameraMake:  []string{"Canon", "NIKON CORPORATION", ""}[i%3],
				CameraModel: fmt.Sprintf("Z%d", i%4),
			},
			Tags: []string{fmt.Sprintf("t%d", i%4), "all"},
		}
		if i%5 != 0 {
			it.Taken = base.Add(time.Duration(i) * 24 * time.Hour).In(time.FixedZone("", 2*3600))
		}
		if i%7 == 0 {
			it.Files = append(it.Files, vstore.File{Path: "/other/dup.jpg", ModTime: base})
		}
		items = append(items, it)
		b.PutItem(it)
		b.PutVector(testSpace, it.ID, randVec(r, 4))
	}
	if err := s.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	sp, err := s.space(t.Context(), testSpace)
	if err != nil {
		t.Fatal(err)
	}
	day := func(d int) time.Time { return base.Add(time.Duration(d) * 24 * time.Hour) }
	tests := []struct {
		name  string
		f     vstore.Filter
		exact bool // Weaviate's where selects exactly the matches; else there is no where
	}{
		{"folder", vstore.Filter{PathPrefixes: []string{"/photos/trip/"}}, true},
		{"folder with a space", vstore.Filter{PathPrefixes: []string{"/photos/trip 2/"}}, true},
		{"nested folder", vstore.Filter{PathPrefixes: []string{"/photos/home/1/"}}, true},
		{"file prefix", vstore.Filter{PathPrefixes: []string{"/photos/home/0/img01"}}, true},
		{"folder or file prefix", vstore.Filter{PathPrefixes: []string{"/other/", "/photos/trip/1/img00"}}, true},
		{"wildcard in prefix", vstore.Filter{PathPrefixes: []string{"/photos/*"}}, false},
		{"from", vstore.Filter{From: day(30)}, true},
		{"to (an item dated exactly then is out)", vstore.Filter{To: day(12)}, true},
		{"from a nanosecond after an item (it is out)", vstore.Filter{From: day(12).Add(time.Nanosecond)}, true},
		{"from and to", vstore.Filter{From: day(10), To: day(20)}, true},
		{"media types", vstore.Filter{MediaTypes: []string{"image/png", "image/heic"}}, true},
		{"tags", vstore.Filter{Tags: []string{"t1", "all"}}, true},
		{"camera any case", vstore.Filter{Camera: "nikon corp"}, true},
		{"camera make and model", vstore.Filter{Camera: "canon z1"}, true},
		{"camera with wildcard", vstore.Filter{Camera: "c*n"}, false},
		{"ids", vstore.Filter{IDs: []string{"w001", "w042", "none"}}, true},
		{"combination", vstore.Filter{PathPrefixes: []string{"/photos/"}, From: day(3), MediaTypes: []string{"image/jpeg"}, Tags: []string{"t3"}, Camera: "canon"}, true},
	}
	for _, tc := range tests {
		var want []string
		for i := range items {
			if tc.f.Match(&items[i]) {
				want = append(want, items[i].ID)
			}
		}
		where := filterWhere(&tc.f, vstore.KindImages)
		var got []string
		if where == "" {
			for _, it := range items {
				got = append(got, it.ID)
			}
		} else {
			objs, err := s.getWhere(t.Context(), sp.class, where, "itemId", 1000, false)
			if err != nil {
				t.Fatalf("%s: %s: %v", tc.name, where, err)
			}
			for _, o := range objs {
				got = append(got, o.Properties.ItemID)
			}
		}
		slices.Sort(got)
		for _, id := range want {
			if !slices.Contains(got, id) {
				t.Errorf("%s: where %s misses %s", tc.name, where, id)
			}
		}
		if tc.exact && !slices.Equal(got, want) {
			t.Errorf("%s: where %s selects %v, want exactly %v", tc.name, where, got, want)
		}
		if !tc.exact && where != "" {
			t.Errorf("%s: where %s, want none (left to the exact test)", tc.name, where)
		}
		if tc.exact && (len(want) == 0 || len(want) == len(items)) {
			t.Errorf("%s: the case tests nothing (%d of %d match)", tc.name, len(want), len(items))
		}
	}
}

// TestItemUpdateRewritesSpaces: an item put without a vector rewrites its
// object in every space that holds its vector, so filtered searches (where
// Weaviate filters on the copied fields) and SearchItems see the update,
// and the vector stays.
func TestItemUpdateRewritesSpaces(t *testing.T) {
	s, _ := openNode(t, "Update")
	const other = "images:other"
	for _, sp := range []vstore.Space{
		{Name: testSpace, Kind: vstore.KindImages, Model: "m", Dim: 4},
		{Name: other, Kind: vstore.KindImages, Model: "m2", Dim: 6},
	} {
		if err := s.CreateSpace(t.Context(), sp); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	it := vstore.Item{ID: "u1", Files: []vstore.File{{Path: "/a/old.jpg"}}, Tags: []string{"old"}}
	v4, v6 := randVec(r, 4), randVec(r, 6)
	var b vstore.Batch
	b.PutItem(it)
	b.PutItem(vstore.Item{ID: "u2", Tags: []string{"old"}})
	b.PutVector(testSpace, it.ID, v4)
	b.PutVector(other, it.ID, v6)
	b.PutVector(testSpace, "u2", randVec(r, 4))
	if err := s.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	it.Tags = []string{"new"}
	it.Files = []vstore.File{{Path: "/b/new.jpg"}}
	b.Reset()
	b.PutItem(it)
	if err := s.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		space string
		q     []float32
		f     vstore.Filter
		want  []string
	}{
		{testSpace, v4, vstore.Filter{Tags: []string{"new"}}, []string{"u1"}},
		{testSpace, v4, vstore.Filter{Tags: []string{"old"}}, []string{"u2"}},
		{testSpace, v4, vstore.Filter{PathPrefixes: []string{"/b/"}}, []string{"u1"}},
		{other, v6, vstore.Filter{Tags: []string{"new"}}, []string{"u1"}},
		{other, v6, vstore.Filter{PathPrefixes: []string{"/a/"}}, nil},
	} {
		for _, exact := range []bool{false, true} {
			hits, err := s.SearchItems(t.Context(), c.space, c.q, 10, vstore.SearchOptions{Filter: &c.f, Exact: exact})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range hits {
				got = append(got, h.ID)
				if h.ID == "u1" && (h.Item.Tags[0] != "new" || h.Score < 0.9999) {
					t.Errorf("%s exact=%v: hit %+v: stale item or lost vector", c.space, exact, h)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s exact=%v filter %+v: %v, want %v", c.space, exact, c.f, got, c.want)
			}
		}
	}
}

// TestSpaceMismatch: a store opened later (another indexer, a restart with
// another model) finds the space in the schema and refuses another model or
// dimension with ErrExists; the same configuration is accepted. The later
// store fails over from a dead node to a live one.
func TestSpaceMismatch(t *testing.T) {
	s, cl := openNode(t, "Mismatch")
	sp := vstore.Space{Name: testSpace, Kind: vstore.KindImages, Model: "beit3-base", Dim: 8}
	if err := s.CreateSpace(t.Context(), sp); err != nil {
		t.Fatal(err)
	}
	// The later store lists a dead node first: its requests move on to the
	// live one after a failed try.
	later, err := Open(t.Context(), Options{URLs: append([]string{"http://127.0.0.1:1"}, cl.URLs()...), Namespace: "Mismatch", Backoff: time.Millisecond})
	if err != nil {
		t.Fatalf("Open with a dead node first: %v", err)
	}
	t.Cleanup(func() { _ = later.Close() })
	otherModel, otherDim := sp, sp
	otherModel.Model = "beit3-large"
	otherDim.Dim = 16
	for _, c := range []struct {
		name string
		sp   vstore.Space
		want error
	}{
		{"same", sp, nil},
		{"other model", otherModel, vstore.ErrExists},
		{"other dimension", otherDim, vstore.ErrExists},
	} {
		if err := later.CreateSpace(t.Context(), c.sp); !errors.Is(err, c.want) {
			t.Errorf("%s: CreateSpace = %v, want %v", c.name, err, c.want)
		}
	}
	if sps := later.Spaces(); len(sps) != 1 || sps[0].Model != sp.Model || sps[0].Dim != sp.Dim {
		t.Errorf("Spaces in a later store = %+v", sps)
	}
}
