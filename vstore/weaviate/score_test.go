package weaviate_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"imglish/vstore"
	"imglish/vstore/weaviate"
)

// TestSearchScores: at a real model's dimension, an approximate Search
// without a cursor (scored from Weaviate's distance) agrees with the
// float64 dot product within 1e-5, as the embedded store does, and one
// with a cursor scores exactly as the exact path does (both from the
// vectors), so a cursor taken from an exact page bounds the same hits.
func TestSearchScores(t *testing.T) {
	cl := startNode(t)
	s, err := weaviate.Open(t.Context(), weaviate.Options{URLs: cl.URLs(), Namespace: "Scores"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	const dim, n, k = 768, 300, 20
	const space = "images:scores"
	if err := s.CreateSpace(t.Context(), vstore.Space{Name: space, Kind: vstore.KindImages, Model: "m", Dim: dim}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	unit := func() []float32 {
		v := make([]float32, dim)
		var ss float64
		for i := range v {
			v[i] = float32(r.NormFloat64())
			ss += float64(v[i]) * float64(v[i])
		}
		for i := range v {
			v[i] = float32(float64(v[i]) / math.Sqrt(ss))
		}
		return v
	}
	vecs := map[string][]float32{}
	var b vstore.Batch
	for i := range n {
		id := fmt.Sprintf("id%05d", i)
		vecs[id] = unit()
		b.PutItem(vstore.Item{ID: id, Files: []vstore.File{{Path: "/s/" + id + ".jpg"}}})
		b.PutVector(space, id, vecs[id])
	}
	if err := s.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		q := unit()
		exact, err := s.Search(t.Context(), space, q, n, vstore.SearchOptions{Exact: true})
		if err != nil {
			t.Fatal(err)
		}
		exactScore := map[string]float32{}
		for _, h := range exact {
			exactScore[h.ID] = h.Score
		}
		page1, err := s.Search(t.Context(), space, q, k, vstore.SearchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cursor, err := s.Search(t.Context(), space, q, k, vstore.SearchOptions{Until: &vstore.Hit{ID: "~", Score: -2}})
		if err != nil {
			t.Fatal(err)
		}
		if len(page1) != k || len(cursor) != k {
			t.Fatalf("approximate searches gave %d and %d hits, want %d", len(page1), len(cursor), k)
		}
		for _, h := range page1 {
			var d float64
			for i, f := range q {
				d += float64(f) * float64(vecs[h.ID][i])
			}
			if diff := math.Abs(float64(h.Score) - d); diff > 1e-5 {
				t.Errorf("page 1 hit %s scores %v, dot product %v", h.ID, h.Score, d)
			}
		}
		for _, h := range cursor {
			if h.Score != exactScore[h.ID] {
				t.Errorf("hit %s under a cursor scores %v, the exact path %v", h.ID, h.Score, exactScore[h.ID])
			}
		}
	}
}
