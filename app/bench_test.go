package app_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"imglish/app"
	"imglish/encoder/convert"
	"imglish/store"
	"imglish/vstore"
)

// BenchmarkSearch times App.Search on 20,000 stored items, with a vector
// query term (no encoder run: the core's own path, store search, the
// filter's mapping and the items' mapping to the API's form), k=20:
// relevance page 1, page 2 through the cursor, a filter on tags, camera,
// date and path prefix, and the date order. Run:
//
//	go test -run '^$' -bench Search -benchtime 200x ./app/
func BenchmarkSearch(b *testing.B) {
	const n = 20_000
	ctx := b.Context()
	tmp := b.TempDir()
	demo := filepath.Join("..", "testdata", "models", "demo")
	modelDir := filepath.Join(tmp, "model")
	if _, err := convert.Convert(ctx, convert.Options{
		Checkpoint: filepath.Join(demo, "demo.pth"), OutDir: modelDir, Tokenizer: filepath.Join(demo, "demo.model"),
	}); err != nil {
		b.Fatal(err)
	}
	a, err := app.Open(ctx, app.Config{ModelDir: modelDir, DataDir: filepath.Join(tmp, "data"), StoreOptions: store.Options{NoSync: true}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Close() })
	info := a.Info()
	fillStore(b, ctx, a.Store(), info.ID, info.Dim, n)
	r := rand.New(rand.NewPCG(3, 4))
	q := randUnit(r, info.Dim)
	after := time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, bc := range []struct {
		name string
		req  app.SearchRequest
		page int
	}{
		{"relevance", app.SearchRequest{Query: []app.QueryTerm{{Vector: q}}, K: 20}, 1},
		{"page2", app.SearchRequest{Query: []app.QueryTerm{{Vector: q}}, K: 20}, 2},
		{"filtered", app.SearchRequest{Query: []app.QueryTerm{{Vector: q}}, K: 20,
			Filter: app.Filter{Tags: []string{"t1"}, Camera: "canon", After: after, PathPrefix: "/bench/0"}}, 1},
		{"date", app.SearchRequest{Query: []app.QueryTerm{{Vector: q}}, K: 20, Sort: "date"}, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			req := bc.req
			if bc.page == 2 {
				first, err := a.Search(ctx, req)
				if err != nil || first.NextCursor == "" {
					b.Fatalf("page 1: %v, cursor %q", err, first.NextCursor)
				}
				req.Cursor = first.NextCursor
			}
			for b.Loop() {
				resp, err := a.Search(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if len(resp.Hits) == 0 {
					b.Fatal("no hits")
				}
			}
		})
	}
}

// fillStore writes n items with metadata (set field by field) and random
// vectors into model's image space.
func fillStore(b *testing.B, ctx context.Context, db vstore.Store, model string, dim, n int) {
	space := vstore.ImageSpace(model)
	if err := db.CreateSpace(ctx, vstore.Space{Name: space, Kind: vstore.KindImages, Model: model, Dim: dim}); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var batch vstore.Batch
	for i := range n {
		id := fmt.Sprintf("%032x", i)
		it := vstore.Item{ID: id, Hash: id, Model: model, AddedAt: base,
			Files: []vstore.File{{Path: fmt.Sprintf("/bench/%03d/img-%06d.jpg", i%1000, i), Size: 100_000, ModTime: base.Add(time.Duration(i) * time.Hour)}},
			Tags:  []string{fmt.Sprintf("t%d", i%5)}}
		it.Size, it.MediaType, it.Width, it.Height = 100_000, "image/jpeg", 640, 480
		it.CameraMake, it.CameraModel, it.Lens = []string{"Canon", "NIKON"}[i%2], "X1", "24mm"
		if i%3 == 0 {
			it.Taken = base.Add(time.Duration(i) * time.Minute)
			it.GPS = &vstore.GPS{Lat: 48, Lon: 11}
		}
		batch.PutItem(it)
		batch.PutVector(space, id, randUnit(r, dim))
		if batch.Len() >= 2000 {
			if err := db.Apply(ctx, &batch); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
	if err := db.Apply(ctx, &batch); err != nil {
		b.Fatal(err)
	}
}

func randUnit(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	var s float64
	for i := range v {
		x := r.NormFloat64()
		v[i] = float32(x)
		s += x * x
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(s))
	}
	return v
}
