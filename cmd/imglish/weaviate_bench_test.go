//go:build bench

package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"imglish/demo/scene"
	"imglish/internal/wvcluster"
	"imglish/internal/wvcluster/wvtest"
)

// TestWeaviateVectorizerThroughput (make bench-weaviate) measures Weaviate
// inserts vectorised by `imglish serve --vectorizer-addr` against imglish's
// own indexing of the same files, for the demo and the base-shaped model, in
// one run on one machine. Weaviate, imglish and the client share the CPU, as
// they would on one host. IMGLISH_BENCH_OUT names a file for the table.
func TestWeaviateVectorizerThroughput(t *testing.T) {
	bin := wvtest.Binary(t)
	ctx := t.Context()
	models := []struct {
		name, ckpt string
		n          int
	}{
		{"demo", "../../testdata/models/demo/demo.pth", 600},
		{"base-shaped", "../../testdata/reference/base_shaped.pth", 300},
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| model | images | imglish index (img/s) | Weaviate insert via imglish (objects/s) | ratio |\n|---|---|---|---|---|\n")
	for _, m := range models {
		dir := t.TempDir()
		model, data, photos := filepath.Join(dir, "model"), filepath.Join(dir, "data"), filepath.Join(dir, "photos")
		gen, err := scene.New(scene.Options{Seed: 5, Split: scene.Test})
		if err != nil {
			t.Fatal(err)
		}
		if err := scene.WriteDataset(ctx, photos, gen, scene.DatasetOptions{N: m.n}); err != nil {
			t.Fatal(err)
		}
		files := make([]string, m.n)
		for i := range files {
			files[i] = filepath.Join(photos, scene.ImagesDir, fmt.Sprintf("test-%06d.png", i))
		}
		if _, err := runCLI(ctx, t, "convert", "--checkpoint", m.ckpt, "--tokenizer", "../../testdata/models/demo/demo.model", "--out", model); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := runCLI(ctx, t, append([]string{"--data", data, "--model", model, "index", "-q"}, files...)...); err != nil {
			t.Fatal(err)
		}
		indexRate := float64(m.n) / time.Since(start).Seconds()

		addrs := freeAddrs(t, 2)
		api, vec := addrs[0], addrs[1]
		sctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := runCLI(sctx, t, "--data", filepath.Join(dir, "data2"), "--model", model, "serve", "--addr", api, "--no-auth",
				"--vectorizer-addr", vec, "--vectorizer-no-auth")
			done <- err
		}()
		waitFor(t, "http://"+api+"/readyz", done)
		cl, err := wvcluster.Start(ctx, wvcluster.Options{Bin: bin, Dir: t.TempDir(),
			Env: []string{"ENABLE_MODULES=multi2vec-clip", "CLIP_INFERENCE_API=http://" + vec}})
		if err != nil {
			t.Fatal(err)
		}
		base := cl.Nodes[0].URL()
		wvtest.Call(t, http.MethodPost, base+"/v1/schema", map[string]any{
			"class": "Scene", "vectorizer": "multi2vec-clip",
			"moduleConfig":      map[string]any{"multi2vec-clip": map[string]any{"imageFields": []string{"image"}}},
			"vectorIndexConfig": map[string]any{"distance": "cosine"},
			"properties": []map[string]any{{"name": "image", "dataType": []string{"blob"}},
				{"name": "path", "dataType": []string{"text"}}},
		}, nil)
		// Read the files inside the timed loop, as imglish's indexer does.
		start = time.Now()
		const batch = 50
		for lo := 0; lo < m.n; lo += batch {
			objs := make([]map[string]any, 0, batch)
			for _, f := range files[lo:min(lo+batch, m.n)] {
				raw, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				objs = append(objs, map[string]any{"class": "Scene", "properties": map[string]any{
					"image": base64.StdEncoding.EncodeToString(raw), "path": f}})
			}
			wvtest.Call(t, http.MethodPost, base+"/v1/batch/objects", map[string]any{"objects": objs}, nil)
		}
		wvRate := float64(m.n) / time.Since(start).Seconds()
		var agg struct {
			Data struct {
				Aggregate struct {
					Scene []struct {
						Meta struct {
							Count int `json:"count"`
						} `json:"meta"`
					} `json:"Scene"`
				} `json:"Aggregate"`
			} `json:"data"`
		}
		wvtest.Call(t, http.MethodPost, base+"/v1/graphql", map[string]string{"query": "{ Aggregate { Scene { meta { count } } } }"}, &agg)
		if got := agg.Data.Aggregate.Scene; len(got) != 1 || got[0].Meta.Count != m.n {
			t.Fatalf("weaviate holds %+v objects, want %d", got, m.n)
		}
		if err := cl.Stop(); err != nil {
			t.Error(err)
		}
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
		fmt.Fprintf(&table, "| %s | %d | %s | %s | %.2f |\n", m.name, m.n, strconv.FormatFloat(indexRate, 'f', 1, 64),
			strconv.FormatFloat(wvRate, 'f', 1, 64), wvRate/indexRate)
	}
	t.Log("\n" + table.String())
	if out := os.Getenv("IMGLISH_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
