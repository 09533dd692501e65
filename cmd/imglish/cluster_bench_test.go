//go:build bench

package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/viterin/vek/vek32"

	"imglish/demo/scene"
	"imglish/internal/wvcluster"
	"imglish/internal/wvcluster/wvtest"
	"imglish/model"
	"imglish/search"
	"imglish/search/synth"
	"imglish/store"
	"imglish/vstore"
	"imglish/vstore/weaviate"
)

// The ANN benchmark's data (search/annbench's flag defaults): clustered
// unit vectors from search/synth, so the two benches measure the same
// distribution.
const (
	annDim     = 768
	annCentres = 500
	annSigma   = 0.8
	annSeed    = 20240601
	annM       = 16
	annEfC     = 128
)

// benchLevels are the concurrent client counts of every latency table.
var benchLevels = []int{1, 8, 32}

// TestClusterBench (make bench-cluster) compares the embedded store with
// a 1-node and a 3-node Weaviate cluster (vstore/weaviate on
// internal/wvcluster, loopback) in one run: inserts, search latency at
// 1/8/32 clients and recall@10 against an exact scan on the ANN bench's
// vectors; the bytes each holds per object on disk and in memory, with a
// projection of the nodes 10 M and 100 M photos need; where a cluster
// search's and insert's time goes (CPU of the client and of each node, a
// direct GraphQL call against the same call through the store, 1 node
// against 3); and the demo model end to end (imglish index, then text
// search over the HTTP API). Inserts go in rotating chunks and searches
// in rotating order per client count, so the three backends share the
// machine's conditions. BENCH_CLUSTER_N (default 100,000),
// BENCH_CLUSTER_Q (queries, 500), BENCH_CLUSTER_SCENES (demo scenes, 300)
// and BENCH_CLUSTER_REPLICAS (the 3-node cluster's replication factor, 2)
// size it; IMGLISH_BENCH_OUT names the markdown file to write.
func TestClusterBench(t *testing.T) {
	bin := wvtest.Binary(t)
	ctx := t.Context()
	cfg := clusterBenchConfig{
		n: benchEnvInt(t, "BENCH_CLUSTER_N", 100000), nq: benchEnvInt(t, "BENCH_CLUSTER_Q", 500),
		scenes: benchEnvInt(t, "BENCH_CLUSTER_SCENES", 300), rf: benchEnvInt(t, "BENCH_CLUSTER_REPLICAS", 2),
		chunk: 5000,
	}
	cfg.chunk = min(cfg.chunk, max(cfg.n/4, 500))
	rep := &clusterBenchReport{cfg: cfg, loads: []string{"start " + loadAvg()}, date: time.Now().UTC().Format(time.RFC3339)}
	dir := t.TempDir()

	// Both clusters start while the data and the exact answers are made.
	type started struct {
		cl  *wvcluster.Cluster
		err error
	}
	clc := [2]chan started{make(chan started, 1), make(chan started, 1)}
	// The 1-node cluster serves Go's pprof on a free port, for the CPU
	// profile of its searches.
	pprofAddr := freeAddrs(t, 1)[0]
	_, pprofPort, _ := strings.Cut(pprofAddr, ":")
	for i, nodes := range []int{1, 3} {
		var env []string
		if nodes == 1 {
			env = []string{"GO_PROFILING_DISABLE=false", "GO_PROFILING_PORT=" + pprofPort}
		}
		go func() {
			// One more try on a fresh folder: on a loaded machine a node
			// has been seen answering /v1/nodes with 500 until the
			// deadline.
			var cl *wvcluster.Cluster
			var err error
			for try := range 2 {
				cl, err = wvcluster.Start(ctx, wvcluster.Options{Bin: bin, Nodes: nodes, Dir: filepath.Join(dir, fmt.Sprintf("wv%d-%d", nodes, try)),
					ReadyTimeout: 3 * time.Minute, Env: env})
				if err == nil || ctx.Err() != nil {
					break
				}
				t.Logf("%d-node cluster did not start (trying again): %v", nodes, err)
			}
			clc[i] <- started{cl, err}
		}()
	}
	t.Logf("generating %d+%d vectors", cfg.n, cfg.nq)
	all := synth.Clustered(cfg.n+cfg.nq, annDim, annCentres, annSigma, annSeed)
	data, queries := all[:cfg.n], all[cfg.n:]
	gt := exactTop10(data, queries)
	var clusters []*wvcluster.Cluster
	for i := range clc {
		st := <-clc[i]
		if st.err != nil {
			t.Fatal(st.err)
		}
		clusters = append(clusters, st.cl)
		t.Cleanup(func() {
			if err := st.cl.Stop(); err != nil {
				t.Errorf("stop weaviate: %v", err)
			}
		})
	}
	rep.loads = append(rep.loads, "clusters up "+loadAvg())

	runtime.GC()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	heapBefore := mem.HeapAlloc
	embDir := filepath.Join(dir, "embedded")
	db, err := store.Open(ctx, embDir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	bks := []*benchBackend{{name: "embedded (store.DB)", st: db}}
	for i, cl := range clusters {
		opts := weaviate.Options{URLs: cl.URLs(), GRPC: cl.GRPCAddrs(), Namespace: "Bench", Replicas: 1, Shards: 1}
		name := "Weaviate 1 node"
		if i == 1 {
			opts.Replicas, opts.Shards = cfg.rf, 3
			name = fmt.Sprintf("Weaviate 3 nodes (%d replicas, 3 shards)", cfg.rf)
		}
		ws, err := weaviate.Open(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		b := &benchBackend{name: name, st: ws, cl: cl, rf: opts.Replicas, replicated: opts.Replicas > 1,
			class: wvSpaceClass("Bench", benchSpace)}
		for _, n := range cl.Nodes {
			b.rssBase += procRSS(n.PID())
		}
		bks = append(bks, b)
	}
	sp := vstore.Space{Name: benchSpace, Kind: vstore.KindImages, Model: "annbench", Dim: annDim, M: annM, EfConstruction: annEfC}
	for _, b := range bks {
		if err := b.st.CreateSpace(ctx, sp); err != nil {
			t.Fatalf("%s: %v", b.name, err)
		}
	}

	// Inserts, in chunks, rotating which backend goes first.
	for lo, round := 0, 0; lo < cfg.n; lo, round = lo+cfg.chunk, round+1 {
		hi := min(lo+cfg.chunk, cfg.n)
		for j := range bks {
			b := bks[(j+round)%len(bks)]
			c0, n0 := selfCPU(), b.nodeCPU()
			start := time.Now()
			if err := insertRange(ctx, b.st, data, lo, hi); err != nil {
				t.Fatalf("%s: insert %d..%d: %v", b.name, lo, hi, err)
			}
			d := time.Since(start)
			b.insert += d
			b.insertClient += selfCPU() - c0
			b.insertNodes += b.nodeCPU() - n0
			if lo == 0 {
				b.firstChunk = d
			}
		}
		if lo == 0 {
			// A direct batch insert of the same vectors (no item objects,
			// no properties) into a class of its own: the store's share.
			for _, b := range bks[1:] {
				if err := rawInsert(ctx, b, data[:hi]); err != nil {
					t.Fatalf("%s: raw insert: %v", b.name, err)
				}
			}
		}
		t.Logf("inserted %d/%d (load %s)", hi, cfg.n, loadAvg())
		if lo < cfg.n/2 && hi >= cfg.n/2 || hi == cfg.n {
			// Memory at about half and at the end of the inserts: the
			// difference per photo is the marginal cost, without the
			// fixed part (memtables, caches, the runtime).
			runtime.GC()
			runtime.ReadMemStats(&mem)
			bks[0].memAt = append(bks[0].memAt, memPoint{hi, int64(mem.HeapAlloc)})
			for _, b := range bks[1:] {
				var rss int64
				for _, n := range b.cl.Nodes {
					rss += procRSS(n.PID())
				}
				b.memAt = append(b.memAt, memPoint{hi, rss})
			}
		}
	}
	rep.loads = append(rep.loads, "inserted "+loadAvg())

	// Searches: every query at each client count, backends rotating.
	for li, c := range benchLevels {
		for j := range bks {
			b := bks[(j+li)%len(bks)]
			c0, n0 := selfCPU(), b.nodeCPU()
			res, err := runLevel(ctx, c, len(queries), func(ctx context.Context, i int) ([]string, error) {
				hits, err := b.st.Search(ctx, benchSpace, queries[i], 10, vstore.SearchOptions{})
				ids := make([]string, len(hits))
				for k, h := range hits {
					ids[k] = h.ID
				}
				return ids, err
			})
			if err != nil {
				t.Fatalf("%s at %d clients: %v", b.name, c, err)
			}
			res.clientCPU, res.nodeCPU = selfCPU()-c0, b.nodeCPU()-n0
			res.recall = recallAt10(res.ids, func(i int) []string { return idsOf(gt[i]) })
			b.levels = append(b.levels, res)
		}
		t.Logf("searched at %d clients (load %s)", c, loadAvg())
	}
	rep.loads = append(rep.loads, "searched "+loadAvg())

	// Where a Weaviate search's time goes: per query, a minimal GraphQL
	// call, the store's GraphQL call sent directly (HTTP, then decode) and
	// the store's Search, interleaved, one client.
	for _, b := range bks[1:] {
		if err := breakdown(ctx, b, queries[:min(len(queries), 200)]); err != nil {
			t.Fatalf("%s: breakdown: %v", b.name, err)
		}
	}
	// And a CPU profile of the 1-node cluster while 8 clients run the
	// store's Search, its samples grouped by what they were doing.
	prof, top, err := profileSearches(ctx, pprofAddr, bks[1], queries, 10*time.Second)
	if err != nil {
		t.Logf("no profile: %v", err)
	}
	rep.profile, rep.profileTop = prof, top

	// Memory and disk.
	runtime.GC()
	runtime.ReadMemStats(&mem)
	bks[0].heap = int64(mem.HeapAlloc) - int64(heapBefore)
	// The bench's own copy of the vectors counted in heapBefore: it must
	// still be live here, or its release hides the store's growth.
	runtime.KeepAlive(all)
	for _, b := range bks[1:] {
		for _, n := range b.cl.Nodes {
			b.rss += procRSS(n.PID())
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	bks[0].disk = dirSize(embDir, "")

	// The demo model end to end, on the same clusters (namespace Demo).
	rep.demo = demoEndToEnd(t, cfg, dir, clusters)
	rep.loads = append(rep.loads, "demo done "+loadAvg())

	// Stopping flushes each node's memtables; then the Bench classes'
	// folders are measured.
	for i, b := range bks[1:] {
		if err := clusters[i].Stop(); err != nil {
			t.Fatal(err)
		}
		for _, n := range b.cl.Nodes {
			b.disk += dirSize(n.DataDir(), "bench_")
			b.diskAll += dirSize(n.DataDir(), "")
		}
	}
	rep.backends = bks
	rep.loads = append(rep.loads, "end "+loadAvg())
	md := rep.markdown()
	t.Log("\n" + md)
	if out := os.Getenv("IMGLISH_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const benchSpace = "images:annbench"

type clusterBenchConfig struct {
	n, nq, scenes, rf, chunk int
}

// benchBackend is one store under test and what was measured on it.
type benchBackend struct {
	name       string
	st         vstore.Store
	cl         *wvcluster.Cluster // nil: embedded
	rf         int
	replicated bool
	class      string // the bench space's Weaviate class

	insert, insertClient, insertNodes time.Duration
	firstChunk, rawFirstChunk         time.Duration
	levels                            []levelResult
	bd                                breakdownResult
	heap, rss, rssBase                int64
	memAt                             []memPoint // heap (embedded) or RSS of all nodes during the inserts
	disk, diskAll                     int64
}

// nodeCPU is the user+system CPU time of every running node so far.
func (b *benchBackend) nodeCPU() time.Duration {
	if b.cl == nil {
		return 0
	}
	var d time.Duration
	for _, n := range b.cl.Nodes {
		d += procCPU(n.PID())
	}
	return d
}

// memPoint is the memory measured with n photos inserted.
type memPoint struct {
	n     int
	bytes int64
}

// marginal is the memory per photo and replica between the first and the
// last memPoint (0 without two).
func (b *benchBackend) marginal() float64 {
	if len(b.memAt) < 2 {
		return 0
	}
	f, l := b.memAt[0], b.memAt[len(b.memAt)-1]
	return float64(l.bytes-f.bytes) / float64((l.n-f.n)*max(b.rf, 1))
}

type levelResult struct {
	clients            int
	lat                []time.Duration
	wall               time.Duration
	ids                [][]string
	recall             float64
	clientCPU, nodeCPU time.Duration
}

func (r levelResult) pct(p float64) time.Duration {
	s := slices.Clone(r.lat)
	slices.Sort(s)
	return s[min(len(s)-1, int(math.Ceil(p*float64(len(s))))-1)]
}

func (r levelResult) qps() float64 { return float64(len(r.lat)) / r.wall.Seconds() }

// runLevel runs queries 0..n-1 once each on c concurrent clients.
func runLevel(ctx context.Context, c, n int, q func(context.Context, int) ([]string, error)) (levelResult, error) {
	res := levelResult{clients: c, lat: make([]time.Duration, n), ids: make([][]string, n)}
	var next atomic.Int64
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	start := time.Now()
	for range c {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				ids, err := q(ctx, i)
				res.lat[i] = time.Since(t0)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				res.ids[i] = ids
			}
		})
	}
	wg.Wait()
	res.wall = time.Since(start)
	return res, first
}

func recallAt10(got [][]string, want func(int) []string) float64 {
	var hit, all int
	for i, g := range got {
		w := want(i)
		for _, id := range w {
			if slices.Contains(g, id) {
				hit++
			}
		}
		all += len(w)
	}
	return float64(hit) / float64(max(all, 1))
}

func idsOf(ix []int) []string {
	out := make([]string, len(ix))
	for i, x := range ix {
		out[i] = benchID(x)
	}
	return out
}

// benchID is the item id of vector i (an id shaped like a content hash).
func benchID(i int) string { return fmt.Sprintf("v%07d", i) }

// insertRange puts items lo..hi-1 with their vectors, 500 per Apply, as
// the indexer batches them.
func insertRange(ctx context.Context, st vstore.Store, data [][]float32, lo, hi int) error {
	const batch = 500
	for s := lo; s < hi; s += batch {
		var b vstore.Batch
		for i := s; i < min(s+batch, hi); i++ {
			id := benchID(i)
			b.PutItem(vstore.Item{ID: id, Hash: id, Files: []vstore.File{{Path: "/bench/" + id + ".jpg", Size: 100000,
				ModTime: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}}, Meta: vstore.Meta{MediaType: "image/jpeg", Width: 640, Height: 480}, Model: "annbench"})
			b.PutVector(benchSpace, id, data[i])
		}
		if err := st.Apply(ctx, &b); err != nil {
			return err
		}
	}
	return nil
}

// wvSpaceClass is vstore/weaviate's class name of a space (its
// spaceClass): the namespace, "_S" and 16 hex digits of the name's
// SHA-256. A mismatch shows as a 4xx from the direct calls.
func wvSpaceClass(ns, space string) string {
	h := sha256.Sum256([]byte(space))
	return ns + "_S" + hex.EncodeToString(h[:8])
}

var benchHTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 5 * time.Minute}

// post sends body as JSON and returns the answer's bytes (error on non-2xx).
func post(ctx context.Context, url string, body any) ([]byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := benchHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	ans, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("POST %s: %d %.300s", url, resp.StatusCode, ans)
	}
	return ans, nil
}

// rawInsert writes vectors (ids and vectors only) into a fresh class with
// the bench space's index settings, replication and sharding, 500 per
// batch request, timing it; the class is dropped afterwards.
func rawInsert(ctx context.Context, b *benchBackend, vecs [][]float32) error {
	base := b.cl.Nodes[0].URL()
	const class = "BenchRaw"
	if _, err := post(ctx, base+"/v1/schema", map[string]any{
		"class": class, "vectorizer": "none", "vectorIndexType": "hnsw",
		"vectorIndexConfig": map[string]any{"distance": "cosine", "maxConnections": annM, "efConstruction": annEfC},
		"replicationConfig": map[string]any{"factor": b.rf}, "shardingConfig": map[string]any{"desiredCount": len(b.cl.Nodes)},
		"properties": []map[string]any{{"name": "n", "dataType": []string{"int"}}},
	}); err != nil {
		return err
	}
	start := time.Now()
	for lo := 0; lo < len(vecs); lo += 500 {
		objs := make([]map[string]any, 0, 500)
		for i := lo; i < min(lo+500, len(vecs)); i++ {
			objs = append(objs, map[string]any{"class": class, "id": fmt.Sprintf("00000000-0000-4000-8000-%012d", i), "vector": vecs[i]})
		}
		ans, err := post(ctx, base+"/v1/batch/objects?consistency_level=QUORUM", map[string]any{"objects": objs})
		if err != nil {
			return err
		}
		if bytes.Contains(ans, []byte(`"errors"`)) && !bytes.Contains(ans, []byte(`"errors":null`)) {
			return fmt.Errorf("batch: %.300s", ans)
		}
	}
	b.rawFirstChunk = time.Since(start)
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, base+"/v1/schema/"+class, nil)
	if err != nil {
		return err
	}
	resp, err := benchHTTP.Do(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// breakdownResult splits one-client search latency on a cluster.
type breakdownResult struct {
	minimal, shaped, decode, store time.Duration // medians
	clientCPU, nodeCPU             time.Duration // per store Search
	shapedBytes                    int
}

// breakdown times, per query and interleaved: a minimal GraphQL
// nearVector (limit 10, ids only); the GraphQL query the store sends for
// a first page of k=10 (limit 2k+16, item JSON and distance, the
// consistency level) sent
// directly, then its decoding; and the store's Search.
func breakdown(ctx context.Context, b *benchBackend, queries [][]float32) error {
	base := b.cl.Nodes[0].URL() + "/v1/graphql"
	var minimal, shaped, decode, st []time.Duration
	var stClient, stNodes time.Duration
	var bytesTotal int
	for _, q := range queries {
		vec, err := json.Marshal(q)
		if err != nil {
			return err
		}
		t0 := time.Now()
		if _, err := post(ctx, base, map[string]string{"query": fmt.Sprintf(
			"{ Get { %s(nearVector: {vector: %s}, limit: 10) { _additional { id } } } }", b.class, vec)}); err != nil {
			return err
		}
		minimal = append(minimal, time.Since(t0))
		cl := ""
		if b.replicated {
			cl = ", consistencyLevel: QUORUM"
		}
		t0 = time.Now()
		ans, err := post(ctx, base, map[string]string{"query": fmt.Sprintf(
			"{ Get { %s(limit: 36, nearVector: {vector: %s}%s) { itemId data _additional { id distance } } } }", b.class, vec, cl)})
		if err != nil {
			return err
		}
		shaped = append(shaped, time.Since(t0))
		bytesTotal += len(ans)
		t0 = time.Now()
		var out struct {
			Data struct {
				Get map[string][]struct {
					ItemID     string `json:"itemId"`
					Data       string `json:"data"`
					Additional struct {
						ID       string  `json:"id"`
						Distance float32 `json:"distance"`
					} `json:"_additional"`
				} `json:"Get"`
			} `json:"data"`
		}
		if err := json.Unmarshal(ans, &out); err != nil {
			return err
		}
		for _, o := range out.Data.Get[b.class] {
			var it vstore.Item
			if err := json.Unmarshal([]byte(o.Data), &it); err != nil {
				return err
			}
		}
		decode = append(decode, time.Since(t0))
		c0, n0 := selfCPU(), b.nodeCPU()
		t0 = time.Now()
		if _, err := b.st.Search(ctx, benchSpace, q, 10, vstore.SearchOptions{}); err != nil {
			return err
		}
		st = append(st, time.Since(t0))
		stClient += selfCPU() - c0
		stNodes += b.nodeCPU() - n0
	}
	n := time.Duration(len(queries))
	b.bd = breakdownResult{minimal: median(minimal), shaped: median(shaped), decode: median(decode), store: median(st),
		clientCPU: stClient / n, nodeCPU: stNodes / n, shapedBytes: bytesTotal / len(queries)}
	return nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// exactTop10 is the exact top-10 (by dot product: the vectors are unit)
// of every query, on all cores.
func exactTop10(data, queries [][]float32) [][]int {
	out := make([][]int, len(queries))
	var wg sync.WaitGroup
	var next atomic.Int64
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				qi := int(next.Add(1)) - 1
				if qi >= len(queries) {
					return
				}
				out[qi] = exactTopK(data, queries[qi], 10)
			}
		})
	}
	wg.Wait()
	return out
}

func exactTopK(data [][]float32, q []float32, k int) []int {
	type sc struct {
		s float32
		i int
	}
	best := make([]sc, 0, k+1)
	for i, v := range data {
		s := vek32.Dot(q, v)
		if len(best) == k && s <= best[k-1].s {
			continue
		}
		j := sort.Search(len(best), func(j int) bool { return best[j].s < s })
		best = slices.Insert(best, j, sc{s, i})
		if len(best) > k {
			best = best[:k]
		}
	}
	ids := make([]int, len(best))
	for j, b := range best {
		ids[j] = b.i
	}
	return ids
}

// demoResult is the demo model's end-to-end run on one backend.
type demoResult struct {
	name   string
	rate   float64 // images/s through imglish index
	recall float64
	levels []levelResult
}

// demoEndToEnd indexes demo scenes through `imglish index` into the
// embedded store and both clusters, serves each with `imglish serve`, and
// times text searches over the HTTP API; recall@10 is against an exact
// scan of the embedded store's vectors with the query texts embedded by
// the same model.
func demoEndToEnd(t *testing.T, cfg clusterBenchConfig, dir string, clusters []*wvcluster.Cluster) []demoResult {
	ctx := t.Context()
	modelDir, scenesDir := filepath.Join(dir, "demo-model"), filepath.Join(dir, "demo-scenes")
	photos := filepath.Join(scenesDir, scene.ImagesDir)
	gen, err := scene.New(scene.Options{Seed: 5, Split: scene.Test})
	if err != nil {
		t.Fatal(err)
	}
	if err := scene.WriteDataset(ctx, scenesDir, gen, scene.DatasetOptions{N: cfg.scenes}); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(ctx, t, "convert", "--checkpoint", "../../testdata/models/demo/demo.pth",
		"--tokenizer", "../../testdata/models/demo/demo.model", "--out", modelDir); err != nil {
		t.Fatal(err)
	}
	nt := min(cfg.nq, 200)
	texts := make([]string, nt)
	for i := range texts {
		texts[i] = gen.Scene(cfg.scenes + i).Captions[0] // scenes not indexed
	}
	embData := filepath.Join(dir, "demo-embedded")
	args := [][]string{
		{"--data", embData, "--model", modelDir},
		{"--data", filepath.Join(dir, "demo-wv1"), "--model", modelDir, "--backend", "weaviate",
			"--weaviate", strings.Join(clusters[0].URLs(), ","), "--weaviate-grpc", strings.Join(clusters[0].GRPCAddrs(), ","), "--weaviate-namespace", "Demo", "--replicas", "1"},
		{"--data", filepath.Join(dir, "demo-wv3"), "--model", modelDir, "--backend", "weaviate",
			"--weaviate", strings.Join(clusters[1].URLs(), ","), "--weaviate-grpc", strings.Join(clusters[1].GRPCAddrs(), ","), "--weaviate-namespace", "Demo", "--replicas", strconv.Itoa(cfg.rf)},
	}
	names := []string{"embedded", "Weaviate 1 node", fmt.Sprintf("Weaviate 3 nodes (%d replicas)", cfg.rf)}
	res := make([]demoResult, len(args))
	for i, a := range args {
		start := time.Now()
		out, err := runCLI(ctx, t, append(slices.Clone(a), "index", "-q", photos)...)
		if err != nil || !strings.Contains(out, fmt.Sprintf("%d embedded", cfg.scenes)) {
			t.Fatalf("index %s: %q, %v", names[i], out, err)
		}
		res[i] = demoResult{name: names[i], rate: float64(cfg.scenes) / time.Since(start).Seconds()}
	}

	// The exact answers: the embedded store's vectors, the texts embedded
	// by the model.
	m, err := model.Open(ctx, modelDir, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	qv, err := m.EmbedTexts(ctx, texts)
	m.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, embData, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var space string
	for _, s := range db.Spaces() {
		if s.Kind == vstore.KindImages {
			space = s.Name
		}
	}
	var ids []string
	var vecs [][]float32
	if err := db.Items(ctx, nil, func(it vstore.Item) bool {
		if v, err := db.Vector(space, it.ID); err == nil {
			ids, vecs = append(ids, it.ID), append(vecs, v)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	want := make([][]string, nt)
	for i, q := range qv {
		for _, x := range exactTopK(vecs, q, 10) {
			want[i] = append(want[i], ids[x])
		}
	}

	urls := make([]string, len(args))
	for i, a := range args {
		urls[i] = serveNoAuth(t, a...)
	}
	for li, c := range benchLevels {
		for j := range res {
			i := (j + li) % len(res)
			r, err := runLevel(ctx, c, nt, func(ctx context.Context, qi int) ([]string, error) {
				ans, err := post(ctx, urls[i]+"/v1/search", map[string]any{"text": texts[qi], "k": 10})
				if err != nil {
					return nil, err
				}
				var sr struct {
					Hits []struct {
						ID string `json:"id"`
					} `json:"hits"`
				}
				if err := json.Unmarshal(ans, &sr); err != nil {
					return nil, err
				}
				out := make([]string, len(sr.Hits))
				for k, h := range sr.Hits {
					out[k] = h.ID
				}
				return out, nil
			})
			if err != nil {
				t.Fatalf("demo search %s at %d clients: %v", names[i], c, err)
			}
			r.recall = recallAt10(r.ids, func(qi int) []string { return want[qi] })
			res[i].levels = append(res[i].levels, r)
		}
	}
	for i := range res {
		res[i].recall = res[i].levels[0].recall
	}
	return res
}

// clusterBenchReport gathers the run for the markdown section.
type clusterBenchReport struct {
	cfg        clusterBenchConfig
	date       string
	loads      []string
	backends   []*benchBackend
	demo       []demoResult
	profile    []profileShare
	profileTop []string
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }

func (r *clusterBenchReport) markdown() string {
	var w strings.Builder
	c := r.cfg
	p := func(format string, a ...any) { fmt.Fprintf(&w, format, a...) }
	p("## Cluster: embedded vs 1-node vs 3-node Weaviate\n\n")
	p("`make bench-cluster` (cmd/imglish TestClusterBench), %s, %s, Weaviate %s, every process on this machine's %d CPUs (loopback).\n",
		r.date, search.Kernel(), wvcluster.Version, runtime.NumCPU())
	p("Load average (1/5/15 min): %s.\n\n", strings.Join(r.loads, "; "))
	p("### %d × %d-d vectors (search/annbench's data), %d queries, k = 10\n\n", c.n, annDim, c.nq)
	p("Items and vectors through vstore.Store.Apply, 500 per batch, in %d-vector chunks rotating which backend goes first; "+
		"M = %d, efConstruction = %d on every backend, default ef (embedded: 64; Weaviate: its dynamic ef for the store's limit of 2k+16 = 36 neighbours); "+
		"Weaviate at QUORUM. Recall@10 against an exact scan. Latency: every query once per client count, backends rotating.\n\n",
		c.chunk, annM, annEfC)
	p("| backend | insert items/s | client CPU ms/item | node CPU ms/item | recall@10 |")
	for _, l := range benchLevels {
		p(" p50 / p99 ms, QPS @%d |", l)
	}
	p("\n|---|---|---|---|---|%s\n", strings.Repeat("---|", len(benchLevels)))
	for _, b := range r.backends {
		n := float64(c.n)
		p("| %s | %.0f | %.3f | %.3f | %.3f |", b.name, n/b.insert.Seconds(), float64(b.insertClient)/1e6/n, float64(b.insertNodes)/1e6/n, b.levels[0].recall)
		for _, l := range b.levels {
			p(" %s / %s, %.0f |", ms(l.pct(0.5)), ms(l.pct(0.99)), l.qps())
		}
		p("\n")
	}
	p("\nEmbedded: the client CPU column is all the work (store, Badger and HNSW run in the process).\n\n")

	p("### Where a cluster's time goes\n\n")
	p("Search, one client, %d queries interleaved per query (medians): a minimal GraphQL nearVector (limit 10, ids only), "+
		"the GraphQL query the store sends for a first page of k = 10 (limit 36, item JSON and distance per hit, consistency level) sent directly, "+
		"decoding its answer, and the store's Search; CPU per store Search of this process (client: JSON, HTTP, scoring) and of all nodes. "+
		"The store sends every request to the first URL it was given until that node fails, so node1 coordinates every 3-node search.\n\n",
		min(c.nq, 200))
	p("| backend | minimal GraphQL ms | store's query direct ms | answer bytes | decode ms | store Search ms | client CPU ms/q | nodes CPU ms/q | CPU ms/q @8 clients (client + nodes) |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, b := range r.backends[1:] {
		l8 := b.levels[1]
		nq := time.Duration(len(l8.lat))
		p("| %s | %s | %s | %d | %s | %s | %s | %s | %s + %s |\n", b.name, ms(b.bd.minimal), ms(b.bd.shaped), b.bd.shapedBytes, ms(b.bd.decode), ms(b.bd.store),
			ms(b.bd.clientCPU), ms(b.bd.nodeCPU), ms(l8.clientCPU/nq), ms(l8.nodeCPU/nq))
	}
	p("\nInsert, first %d vectors into empty classes: the store's Apply (an item object and a vector object with the item's properties per photo) "+
		"against a direct batch of the bare vectors (ids and vectors only) into a class with the same index, replication and sharding.\n\n", c.chunk)
	p("| backend | store items/s | direct vectors/s | store / direct |\n|---|---|---|---|\n")
	for _, b := range r.backends[1:] {
		s, d := float64(c.chunk)/b.firstChunk.Seconds(), float64(c.chunk)/b.rawFirstChunk.Seconds()
		p("| %s | %.0f | %.0f | %.2f |\n", b.name, s, d, s/d)
	}

	p("\n### Bytes per object\n\n")
	p("Embedded: the store folder on disk after Close (allocated blocks) and the Go heap after GC. "+
		"Weaviate: each node's PERSISTENCE_DATA_PATH, the Bench classes' folders only, after a clean stop (memtables flushed), and the nodes' RSS. "+
		"Per photo and replica (photos × replication factor). Memory is given two ways: all of it (after the searches, less the heap before the "+
		"store opened or the nodes' RSS at start) and the marginal cost (between about %d and %d photos inserted), which leaves out fixed costs "+
		"(memtables, caches, the Go runtime) and is what the projection scales.\n\n", c.n/2, c.n)
	p("| backend | disk bytes/photo/replica | memory bytes/photo/replica, all | marginal | total disk (all classes, every node) | RSS at start → after searches |\n|---|---|---|---|---|---|\n")
	for _, b := range r.backends {
		copies := float64(c.n * max(b.rf, 1))
		if b.cl == nil {
			p("| %s | %.0f | %.0f (heap) | %.0f | %s | — |\n", b.name, float64(b.disk)/copies, float64(b.heap)/copies, b.marginal(), mib(b.disk))
			continue
		}
		p("| %s | %.0f | %.0f (RSS) | %.0f | %s | %s → %s |\n", b.name, float64(b.disk)/copies, float64(b.rss-b.rssBase)/copies, b.marginal(),
			mib(b.diskAll), mib(b.rssBase), mib(b.rss))
	}
	wv := r.backends[len(r.backends)-1]
	perCopy := wv.marginal()
	if perCopy <= 0 {
		perCopy = float64(wv.rss-wv.rssBase) / float64(c.n*wv.rf)
	}
	diskCopy := float64(wv.disk) / float64(c.n*wv.rf)
	p("\nProjection from the 3-node row (%.0f bytes of RSS and %.0f bytes of disk per photo and replica). "+
		"Assumptions: one 768-d float32 vector per photo and the item's properties as here, no vector compression (PQ/BQ would cut the "+
		"vector part), Weaviate may use 75%% of a node's RAM (the rest: OS, page cache, GC headroom), the marginal memory per photo stays "+
		"as measured (HNSW links grow slowly with N), every replica in RAM, at least as many nodes as replicas.\n\n",
		perCopy, diskCopy)
	p("| photos | replicas | nodes at 24 GB | nodes at 64 GB | disk per node at 64 GB |\n|---|---|---|---|---|\n")
	for _, photos := range []float64{10e6, 100e6} {
		for _, rf := range []int{2, 3} {
			need := photos * float64(rf) * perCopy
			n24, n64 := max(math.Ceil(need/(0.75*24*(1<<30))), float64(rf)), max(math.Ceil(need/(0.75*64*(1<<30))), float64(rf))
			p("| %.0f M | %d | %.0f | %.0f | %.1f GiB |\n", photos/1e6, rf, n24, n64, photos*float64(rf)*diskCopy/n64/(1<<30))
		}
	}
	if emb := r.backends[0]; emb.marginal() > 0 {
		p("\nEmbedded, for comparison: %.0f marginal heap bytes per photo put one 24 GB machine (75%% usable) at about %.1f M photos, one copy.\n",
			emb.marginal(), 0.75*24*(1<<30)/emb.marginal()/1e6)
	}
	if len(r.profile) > 0 {
		p("\n### CPU profile of the 1-node cluster's searches\n\n")
		p("Go's pprof CPU profile of the node for 10 s while 8 clients ran the store's Search on it, flat samples grouped by package " +
			"(the first group that matches a function's name wins):\n\n| share | what |\n|---|---|\n")
		for _, ps := range r.profile {
			p("| %.1f%% | %s |\n", ps.pct, ps.what)
		}
		p("\nThe functions with the most flat samples:\n\n```\n%s\n```\n", strings.Join(r.profileTop, "\n"))
	}

	p("\n### Demo model end to end (%d demo scenes)\n\n", c.scenes)
	p("`imglish index` of the scenes into each backend (images/s: decode, encode, store), then `imglish serve` on each and "+
		"POST /v1/search with %d captions of scenes not indexed (the text is encoded per request), every text once per client count; "+
		"recall@10 against an exact scan of the embedded store's vectors. M and ef: each backend's default.\n\n", min(c.nq, 200))
	p("| backend | index images/s | recall@10 |")
	for _, l := range benchLevels {
		p(" p50 / p99 ms @%d |", l)
	}
	p("\n|---|---|---|%s\n", strings.Repeat("---|", len(benchLevels)))
	for _, d := range r.demo {
		p("| %s | %.1f | %.3f |", d.name, d.rate, d.recall)
		for _, l := range d.levels {
			p(" %s / %s |", ms(l.pct(0.5)), ms(l.pct(0.99)))
		}
		p("\n")
	}
	return w.String()
}

func mib(b int64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB" }

func benchEnvInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is a process's user+system CPU time from /proc/PID/stat (in
// clock ticks of 1/100 s, Linux's USER_HZ); 0 when unreadable.
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}

// procRSS is a process's resident set in bytes (VmRSS); 0 when unreadable.
func procRSS(pid int) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// dirSize sums the allocated blocks of the files under dir whose first
// path element below dir starts with prefix ("" = all).
func dirSize(dir, prefix string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		if prefix != "" && !strings.HasPrefix(strings.ToLower(rel), prefix) {
			return nil
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				total += st.Blocks * 512
			}
		}
		return nil
	})
	return total
}

// profileShare is one group of a CPU profile's flat samples.
type profileShare struct {
	what string
	pct  float64
}

// profileGroups classify a profile's functions; the first match wins.
var profileGroups = []struct {
	re   *regexp.Regexp
	what string
}{
	{regexp.MustCompile(`/vector/|distancer|hnsw`), "HNSW search and distances"},
	{regexp.MustCompile(`lsmkv|roaring|/inverted/|storobj|bufferpool`), "object storage: LSM reads, object decoding"},
	{regexp.MustCompile(`encoding/json|jsoniter|strconv|go-openapi|easyjson`), "JSON encoding, number formatting (the answer)"},
	{regexp.MustCompile(`graphql`), "GraphQL parsing and resolution"},
	{regexp.MustCompile(`^runtime\.(gc|scan|mark|greyobject|findObject|heapBits|sweep|bgsweep|wbBuf|bulkBarrier|spanOf|typePointers|mallocgc|memclr|nextFreeFast|growslice|makeslice|newobject|tryDefer|getMCache|\(\*(mspan|gcWork|mcache|mcentral|mheap|gcBits|spanInlineMarkBits)\)|.*[Aa]lloc)|^gcWriteBarrier`), "Go allocation and garbage collection"},
	{regexp.MustCompile(`net/http|^net\.|syscall|internal/poll|bufio|^runtime\.(netpoll|futex|epoll)|crypto/`), "HTTP, sockets, syscalls"},
	{regexp.MustCompile(`^runtime\.`), "Go scheduler and other runtime"},
	{regexp.MustCompile(`sync|atomic`), "locks"},
	{regexp.MustCompile(`.`), "other"},
}

// profileSearches runs the store's Search on 8 clients against b while it
// takes a CPU profile of d from the node's pprof endpoint, and groups the
// flat samples (go tool pprof -top) by profileGroups.
func profileSearches(ctx context.Context, pprofAddr string, b *benchBackend, queries [][]float32, d time.Duration) ([]profileShare, []string, error) {
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		wg.Go(func() {
			for lctx.Err() == nil {
				q := queries[int(next.Add(1))%len(queries)]
				_, _ = b.st.Search(lctx, benchSpace, q, 10, vstore.SearchOptions{})
			}
		})
	}
	defer wg.Wait()
	defer stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, int(d.Seconds())), nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := benchHTTP.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("get profile: %d %w", resp.StatusCode, err)
	}
	stop()
	f, err := os.CreateTemp("", "wvprofile")
	if err != nil {
		return nil, nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := f.Close(); err != nil {
		return nil, nil, err
	}
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=1000000", "-nodefraction=0", "-edgefraction=0", f.Name()).Output()
	if err != nil {
		return nil, nil, fmt.Errorf("go tool pprof: %w", err)
	}
	sums := map[string]float64{}
	var top []string
	for line := range strings.Lines(string(out)) {
		fl := strings.Fields(line)
		if len(fl) < 6 || !strings.HasSuffix(fl[1], "%") || fl[1] == "flat%" {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(fl[1], "%"), 64)
		if err != nil {
			continue
		}
		name := strings.Join(fl[5:], " ")
		if len(top) < 15 {
			top = append(top, fmt.Sprintf("%5.1f%%  %s", pct, name))
		}
		for _, g := range profileGroups {
			if g.re.MatchString(name) {
				sums[g.what] += pct
				break
			}
		}
	}
	var shares []profileShare
	for what, pct := range sums {
		shares = append(shares, profileShare{what, pct})
	}
	slices.SortFunc(shares, func(a, b profileShare) int { return cmp.Compare(b.pct, a.pct) })
	return shares, top, nil
}
