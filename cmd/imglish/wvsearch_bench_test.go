//go:build bench

package main

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"imglish/internal/wvcluster"
	"imglish/internal/wvcluster/wvtest"
	"imglish/search/synth"
	"imglish/vstore"
	"imglish/vstore/weaviate"
)

// TestWeaviateSearchBench is the 1-node part of TestClusterBench's
// search measurement alone (go test -tags bench -run
// TestWeaviateSearchBench ./cmd/imglish/): the store's page-1 Search
// (approximate, no cursor) at 1 client (p50/p99) and 8 clients (QPS),
// recall@10 against an exact scan, and the largest difference between a
// hit's score and its exact dot product. BENCH_CLUSTER_N and
// BENCH_CLUSTER_Q size it.
func TestWeaviateSearchBench(t *testing.T) {
	bin := wvtest.Binary(t)
	ctx := t.Context()
	n, nq := benchEnvInt(t, "BENCH_CLUSTER_N", 20000), benchEnvInt(t, "BENCH_CLUSTER_Q", 500)
	cl, err := wvcluster.Start(ctx, wvcluster.Options{Bin: bin, Nodes: 1, Dir: filepath.Join(t.TempDir(), "wv"), ReadyTimeout: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Stop() })
	all := synth.Clustered(n+nq, annDim, annCentres, annSigma, annSeed)
	data, queries := all[:n], all[n:]
	gt := exactTop10(data, queries)
	ws, err := weaviate.Open(ctx, weaviate.Options{URLs: cl.URLs(), Namespace: "Bench", Replicas: 1, Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	sp := vstore.Space{Name: benchSpace, Kind: vstore.KindImages, Model: "annbench", Dim: annDim, M: annM, EfConstruction: annEfC}
	if err := ws.CreateSpace(ctx, sp); err != nil {
		t.Fatal(err)
	}
	if err := insertRange(ctx, ws, data, 0, n); err != nil {
		t.Fatal(err)
	}
	t.Logf("inserted %d (load %s)", n, loadAvg())
	// Warm up, then recall, score error and 1-client latency.
	for _, q := range queries[:min(50, nq)] {
		if _, err := ws.Search(ctx, benchSpace, q, 10, vstore.SearchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	lat := make([]time.Duration, nq)
	found, maxErr := 0, 0.0
	for qi, q := range queries {
		start := time.Now()
		hits, err := ws.Search(ctx, benchSpace, q, 10, vstore.SearchOptions{})
		lat[qi] = time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			var i int
			fmt.Sscanf(h.ID, "v%07d", &i)
			if slices.Contains(gt[qi], i) {
				found++
			}
			var d float64
			for j := range q {
				d += float64(q[j]) * float64(data[i][j])
			}
			maxErr = max(maxErr, math.Abs(float64(h.Score)-d))
		}
	}
	slices.Sort(lat)
	t.Logf("1 client: p50 %s ms, p99 %s ms; recall@10 %.4f; max |score - dot| %.2g (load %s)",
		ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), float64(found)/float64(10*nq), maxErr, loadAvg())
	// 8 clients, every query once each.
	var next atomic.Int64
	var wg sync.WaitGroup
	total := 8 * nq
	start := time.Now()
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				if _, err := ws.Search(ctx, benchSpace, queries[i%nq], 10, vstore.SearchOptions{}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("8 clients: %.0f QPS (load %s)", float64(total)/time.Since(start).Seconds(), loadAvg())
}
