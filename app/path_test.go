package app

import (
	"testing"

	"imglish/store"
	"imglish/vstore"
)

// TestHitPathInFolder: one content at two paths, the first-committed one
// outside the folder a search is filtered to; every page of the search
// shows the hit by its path inside the folder, and an unfiltered search
// by its first path.
func TestHitPathInFolder(t *testing.T) {
	db, err := store.Open(t.Context(), t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	const model, dim = "m", 4
	if err := db.CreateSpace(t.Context(), vstore.Space{Name: store.ImageSpace(model), Kind: vstore.KindImages, Model: model, Dim: dim}); err != nil {
		t.Fatal(err)
	}
	var b vstore.Batch
	b.PutItem(vstore.Item{ID: "a", Hash: "a", Files: []vstore.File{{Path: "/photos/2020/x.jpg"}, {Path: "/photos/best/x.jpg"}}})
	b.PutVector(store.ImageSpace(model), "a", []float32{1, 0, 0, 0})
	b.PutItem(vstore.Item{ID: "b", Hash: "b", Files: []vstore.File{{Path: "/photos/best/y.jpg"}}})
	b.PutVector(store.ImageSpace(model), "b", []float32{0, 1, 0, 0})
	if err := db.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	cat, err := NewCatalog(db, nil, model, dim)
	if err != nil {
		t.Fatal(err)
	}
	q := []float32{1, 0.5, 0, 0}
	for _, p := range []SearchPage{{}, {Exact: true}} {
		hits, err := cat.Search(t.Context(), q, 10, &vstore.Filter{PathPrefixes: []string{"/photos/best/"}}, p)
		if err != nil || len(hits) != 2 {
			t.Fatalf("filtered search (exact %v) = %+v, %v", p.Exact, hits, err)
		}
		if hits[0].ID != "a" || hits[0].Item.Path != "/photos/best/x.jpg" || len(hits[0].Item.Paths) != 2 {
			t.Errorf("filtered search (exact %v): hit %s path %q paths %q, want /photos/best/x.jpg of both", p.Exact, hits[0].ID, hits[0].Item.Path, hits[0].Item.Paths)
		}
	}
	hits, err := cat.Search(t.Context(), q, 10, nil, SearchPage{})
	if err != nil || len(hits) != 2 || hits[0].Item.Path != "/photos/2020/x.jpg" {
		t.Errorf("unfiltered search = %+v, %v; want a by its first path", hits, err)
	}
}
