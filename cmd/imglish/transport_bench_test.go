//go:build bench

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"imglish/internal/wvcluster"
	"imglish/internal/wvcluster/wvtest"
	"imglish/search/synth"
	"imglish/vstore"
	"imglish/vstore/weaviate"
)

// TestBatchTransportBench (make bench-transport) inserts the ANN bench's
// vectors as items with their vectors (insertRange: 500 per Apply; each
// item is two objects, the item and its vector in the space) into a 1-node
// and a 3-node Weaviate cluster, once with batches over REST and once over
// gRPC (two namespaces of the same cluster), chunk by chunk, alternating
// which transport goes first: items/s, the client's and the nodes' CPU per
// item, and the gRPC/REST rate ratio per chunk as median (min–max).
// BENCH_TRANSPORT_N (default 20,000) and BENCH_TRANSPORT_CHUNK (2,000) size
// it; IMGLISH_BENCH_OUT names the markdown file to write.
func TestBatchTransportBench(t *testing.T) {
	bin := wvtest.Binary(t)
	ctx := t.Context()
	n := benchEnvInt(t, "BENCH_TRANSPORT_N", 20000)
	chunk := benchEnvInt(t, "BENCH_TRANSPORT_CHUNK", 2000)
	data := synth.Clustered(n, annDim, annCentres, annSigma, annSeed)
	var md strings.Builder
	fmt.Fprintf(&md, "## Batch transport: REST vs gRPC (`make bench-transport`)\n\n")
	fmt.Fprintf(&md, "%s; %d items with %d-d vectors per store, %d per chunk, 500 per Apply; load at start %s.\n\n",
		time.Now().UTC().Format(time.RFC3339), n, annDim, chunk, loadAvg())
	fmt.Fprintf(&md, "| cluster | transport | items/s | client CPU ms/item | nodes' CPU ms/item | gRPC/REST rate per chunk, median (min–max) |\n|---|---|---|---|---|---|\n")
	for _, nodes := range []int{1, 3} {
		cl, err := wvcluster.Start(ctx, wvcluster.Options{Bin: bin, Nodes: nodes, Dir: filepath.Join(t.TempDir(), "wv"), ReadyTimeout: 3 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		rf, shards := 1, 1
		if nodes == 3 {
			rf, shards = 2, 3
		}
		type run struct {
			name               string
			st                 *weaviate.Store
			wall, client, node time.Duration
			rates              []float64
		}
		var runs []*run
		for _, tr := range []struct {
			name, ns string
			grpc     []string
		}{{"REST", "TRest", nil}, {"gRPC", "TGrpc", cl.GRPCAddrs()}} {
			st, err := weaviate.Open(ctx, weaviate.Options{URLs: cl.URLs(), GRPC: tr.grpc, Namespace: tr.ns, Replicas: rf, Shards: shards})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			sp := vstore.Space{Name: benchSpace, Kind: vstore.KindImages, Model: "annbench", Dim: annDim, M: annM, EfConstruction: annEfC}
			if err := st.CreateSpace(ctx, sp); err != nil {
				t.Fatal(err)
			}
			runs = append(runs, &run{name: tr.name, st: st})
		}
		nodeCPU := func() time.Duration {
			var d time.Duration
			for _, nd := range cl.Nodes {
				d += procCPU(nd.PID())
			}
			return d
		}
		var ratios []float64
		for lo, round := 0, 0; lo < n; lo, round = lo+chunk, round+1 {
			hi := min(lo+chunk, n)
			for j := range runs {
				r := runs[(j+round)%len(runs)]
				c0, n0, start := selfCPU(), nodeCPU(), time.Now()
				if err := insertRange(ctx, r.st, data, lo, hi); err != nil {
					t.Fatalf("%d nodes, %s: %v", nodes, r.name, err)
				}
				d := time.Since(start)
				r.wall += d
				r.client += selfCPU() - c0
				r.node += nodeCPU() - n0
				r.rates = append(r.rates, float64(hi-lo)/d.Seconds())
			}
			ratios = append(ratios, runs[1].rates[len(runs[1].rates)-1]/runs[0].rates[len(runs[0].rates)-1])
			t.Logf("%d nodes: %d/%d (load %s)", nodes, hi, n, loadAvg())
		}
		if err := cl.Stop(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(ratios)
		name := "1 node"
		if nodes == 3 {
			name = fmt.Sprintf("3 nodes (%d replicas, %d shards)", rf, shards)
		}
		per := func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6/float64(n)) }
		for i, r := range runs {
			cmp := ""
			if i == 1 {
				cmp = fmt.Sprintf("%.2f× (%.2f–%.2f)", ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1])
			}
			fmt.Fprintf(&md, "| %s | %s | %.0f | %s | %s | %s |\n", name, r.name, float64(n)/r.wall.Seconds(), per(r.client), per(r.node), cmp)
		}
	}
	fmt.Fprintf(&md, "\nLoad at the end: %s. Client CPU is this process's (the store's encoding, HTTP or gRPC); the nodes' CPU is every Weaviate process's, from /proc.\n", loadAvg())
	t.Log("\n" + md.String())
	if out := os.Getenv("IMGLISH_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(md.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
