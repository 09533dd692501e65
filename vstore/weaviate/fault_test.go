// The fault tests run in make test (-short skips them) and alone with
// make test-faults, whose -v output shows the figures each run logs.

package weaviate_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"imglish/encoder"
	"imglish/encoder/convert"
	"imglish/indexer"
	"imglish/internal/testenv"
	"imglish/internal/wvcluster"
	"imglish/internal/wvcluster/wvtest"
	"imglish/store"
	"imglish/vstore"
	"imglish/vstore/weaviate"
)

// The fault tests share one 3-node cluster and one converted model, made
// on first use and removed by TestMain, so the package pays the cluster's
// start once. Each test writes in a namespace of its own and leaves every
// node running.
//
// Replication: every class is 3 shards × 3 replicas, written and read at
// QUORUM. A shard then lives on every node and QUORUM is 2 of 3, so with
// one node down every shard still has a write quorum and a read quorum,
// and the two quorums overlap: a read sees every acknowledged write. With
// 2 replicas QUORUM is 2 of 2, so a down node blocks writes to the two
// shards it holds; writing at ONE instead acknowledges a write only one
// node holds, which a read at ONE from the other replica may miss (or a
// second failure lose).
var shared struct {
	mu    sync.Mutex
	dir   string
	cl    *wvcluster.Cluster
	model string
}

// faultChildEnv marks the child process of TestIndexerKilledResumes.
const faultChildEnv = "IMGLISH_WVFAULT_CHILD"

// keepLogsEnv, when set, keeps the shared cluster's folder (node data and
// logs) after a passing run too; a failing run always keeps it.
const keepLogsEnv = "IMGLISH_WVFAULT_KEEP"

func TestMain(m *testing.M) {
	code := m.Run()
	shared.mu.Lock()
	if shared.cl != nil {
		if err := shared.cl.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop weaviate cluster:", err)
			code = max(code, 1)
		}
	}
	if shared.dir != "" {
		if code == 0 && os.Getenv(keepLogsEnv) == "" {
			_ = os.RemoveAll(shared.dir)
		} else {
			fmt.Fprintln(os.Stderr, "fault tests: cluster data and node logs kept in", shared.dir)
		}
	}
	shared.mu.Unlock()
	os.Exit(code)
}

// sharedDir is the folder of the shared cluster and model.
func sharedDir(t *testing.T) string {
	t.Helper()
	if shared.dir == "" {
		d, err := os.MkdirTemp("", "imglish-wvfault-")
		if err != nil {
			t.Fatal(err)
		}
		shared.dir = d
	}
	return shared.dir
}

// faultCluster returns the shared 3-node cluster with every node ready.
// Async replication runs every second and propagates at once, so a node
// back from an outage catches up within seconds (Weaviate's defaults
// wait tens of seconds).
func faultCluster(t *testing.T) *wvcluster.Cluster {
	t.Helper()
	bin := wvtest.Binary(t)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.cl == nil {
		cl, err := wvcluster.Start(context.Background(), wvcluster.Options{
			Bin: bin, Nodes: 3, Dir: filepath.Join(sharedDir(t), "cluster"),
			Env: []string{
				"ASYNC_REPLICATION_FREQUENCY=1s",
				"ASYNC_REPLICATION_FREQUENCY_WHILE_PROPAGATING=100ms",
				"ASYNC_REPLICATION_ALIVE_NODES_CHECKING_FREQUENCY=1s",
				"ASYNC_REPLICATION_PROPAGATION_DELAY=0s",
				// Failed hashbeats reach the node logs (warning) at once.
				"ASYNC_REPLICATION_LOGGING_FREQUENCY=1s",
				"LOG_LEVEL=info",
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		shared.cl = cl
	}
	for _, n := range shared.cl.Nodes {
		if !n.Running() {
			t.Fatalf("%s of the shared cluster is down (an earlier test left it so)", n.Name)
		}
	}
	cl := shared.cl
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range cl.Nodes {
				t.Logf("%s (running %v) log %s ends:\n%s", n.Name, n.Running(), n.LogPath(), logTail(n.LogPath(), 6000))
			}
		}
	})
	if err := shared.cl.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	return shared.cl
}

// logTail returns the last n bytes of a file.
func logTail(path string, n int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return string(b)
}

// retryLog is a slog handler that counts a store's warnings (each retry
// logs one) and keeps the first few, so a test can report how many
// retries a fault cost and show what they were.
type retryLog struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (h *retryLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *retryLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return nil
	}
	var b strings.Builder
	b.WriteString(r.Time.Format("15:04:05.000 ") + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	if len(h.first) < 8 {
		h.first = append(h.first, b.String())
	}
	return nil
}

func (h *retryLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *retryLog) WithGroup(string) slog.Handler      { return h }

// summary is the count and the first warnings.
func (h *retryLog) summary() (int, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n, strings.Join(h.first, "\n")
}

// faultModel converts the tiny reference checkpoint at 32 px once.
func faultModel(t *testing.T) string {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.model == "" {
		dir := filepath.Join(sharedDir(t), "model")
		if _, err := convert.Convert(context.Background(), convert.Options{
			Checkpoint: testenv.Path(t, "testdata", "reference", "tiny.pth"), OutDir: dir, ImageSize: 32,
		}); err != nil {
			t.Fatalf("convert tiny model: %v", err)
		}
		shared.model = dir
	}
	return shared.model
}

func openEncoder(t *testing.T, dir string) *encoder.Encoder {
	t.Helper()
	enc, err := encoder.Open(context.Background(), dir, encoder.Options{Threads: 1})
	if err != nil {
		t.Fatalf("open encoder: %v", err)
	}
	t.Cleanup(func() { _ = enc.Close() })
	return enc
}

// openFaultStore opens a store of 3 shards × 3 replicas at QUORUM on nodes
// (tried in that order; batches over gRPC), with short backoffs: a killed
// node costs a refused connection, then the next node.
func openFaultStore(t *testing.T, nodes []*wvcluster.Node, ns string, log *retryLog) *weaviate.Store {
	t.Helper()
	var logger *slog.Logger
	if log != nil {
		logger = slog.New(log)
	}
	var urls, addrs []string
	for _, n := range nodes {
		urls, addrs = append(urls, n.URL()), append(addrs, n.GRPCAddr())
	}
	s, err := weaviate.Open(t.Context(), weaviate.Options{
		URLs: urls, GRPC: addrs, Namespace: ns, Replicas: 3, Shards: 3, Consistency: weaviate.ConsistencyQuorum,
		Backoff: 100 * time.Millisecond, Retries: 8, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// writeImages writes n distinct structured 32×32 PNGs under root (spread
// over 10 folders) and copies of the first dups of them, and returns
// every path and the number of distinct contents.
func writeImages(t *testing.T, root string, n, dups int, seed uint64) (paths []string, distinct int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, 32, 32))
		r0, g0, b0 := rng.IntN(256), rng.IntN(256), rng.IntN(256)
		for y := range 32 {
			for x := range 32 {
				img.Set(x, y, color.RGBA{uint8(r0 + x*8), uint8(g0 + y*8), uint8(b0 + (x^y)&31), 255})
			}
		}
		for range 2 + rng.IntN(3) {
			x0, y0 := rng.IntN(32), rng.IntN(32)
			c := color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
			for y := y0; y < min(y0+1+rng.IntN(16), 32); y++ {
				for x := x0; x < min(x0+1+rng.IntN(16), 32); x++ {
					img.Set(x, y, c)
				}
			}
		}
		// The index in the corner makes every content distinct.
		img.Set(0, 0, color.RGBA{uint8(i), uint8(i >> 8), 7, 255})
		p := filepath.Join(root, fmt.Sprintf("d%d", i%10), fmt.Sprintf("img%04d.png", i))
		writePNG(t, p, img)
		paths = append(paths, p)
	}
	for i := range dups {
		data, err := os.ReadFile(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, "copies", fmt.Sprintf("copy%04d.png", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths, n
}

func writePNG(t *testing.T, p string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	err = png.Encode(f, img)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// allItems reads every item of the store, by path (failing on a path two
// items claim or one item lists twice).
func allItems(t *testing.T, s vstore.Store) (byPath map[string]vstore.Item, n int) {
	t.Helper()
	byPath = map[string]vstore.Item{}
	err := s.Items(t.Context(), nil, func(it vstore.Item) bool {
		n++
		for _, f := range it.Files {
			if prev, ok := byPath[f.Path]; ok {
				t.Errorf("path %s is claimed by items %s and %s", f.Path, prev.ID, it.ID)
			}
			byPath[f.Path] = it
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return byPath, n
}

// checkIndexed asserts that every path is in an item whose id is the
// file's content hash and that has a vector in space, and that the store
// holds exactly distinct items and distinct vectors.
func checkIndexed(t *testing.T, s vstore.Store, space string, paths []string, distinct int) {
	t.Helper()
	byPath, n := allItems(t, s)
	missing := 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		it, ok := byPath[p]
		if !ok || it.ID != indexer.ContentHash(data).String() {
			if missing++; missing <= 5 {
				t.Errorf("file %s: item %q (found %v), want %s", p, it.ID, ok, indexer.ContentHash(data))
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d files are not indexed", missing, len(paths))
	}
	if n != distinct {
		t.Errorf("store holds %d items, want %d distinct contents", n, distinct)
	}
	for _, sp := range s.Spaces() {
		if sp.Name == space && sp.Count != distinct {
			t.Errorf("space %s holds %d vectors, want %d", space, sp.Count, distinct)
		}
	}
}

// contentIDs are the item ids of the files' distinct contents (their
// content hashes): what the store must hold after indexing them.
func contentIDs(t *testing.T, paths []string) []string {
	t.Helper()
	seen := map[string]bool{}
	var ids []string
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if id := indexer.ContentHash(data).String(); !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// classIDs lists the ids of every object of a class (a cursor scan from
// base).
func classIDs(t *testing.T, base, class string) []string {
	t.Helper()
	var ids []string
	after := ""
	for {
		u := base + "/v1/objects?class=" + class + "&limit=1000"
		if after != "" {
			u += "&after=" + after
		}
		var out struct {
			Objects []struct {
				ID string `json:"id"`
			} `json:"objects"`
		}
		wvtest.Call(t, http.MethodGet, u, nil, &out)
		for _, o := range out.Objects {
			ids = append(ids, o.ID)
		}
		if len(out.Objects) < 1000 {
			return ids
		}
		after = out.Objects[len(out.Objects)-1].ID
	}
}

// onNode reports whether node holds the object: a read that node alone
// answers (node_name), not a replicated one.
func onNode(ctx context.Context, base, class, id, node string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/objects/"+class+"/"+id+"?node_name="+node, nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	default:
		return false, fmt.Errorf("GET %s/%s on %s: status %d", class, id, node, resp.StatusCode)
	}
}

// waitNodesHold waits until every node holds the object of every item id
// in each class, asking each node for each object by id (a read that node
// alone answers, which no read repair answers for it), and then checks
// that a cursor scan through each node lists exactly those objects.
// Weaviate's per-node objectCount (/v1/nodes?output=verbose) leaves out
// objects still in memtables, so it cannot be compared; and a scan alone
// cannot tell which node it read. An error answer (a restarted node still
// loading a shard) counts as not yet held. Node first (the restarted
// one) is checked first, until it holds everything (its catch-up time,
// which this returns), then the others; every round is logged. It fails
// the test when the nodes do not agree within limit.
func waitNodesHold(t *testing.T, cl *wvcluster.Cluster, first *wvcluster.Node, classes, itemIDs []string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	want := map[string]bool{}
	for _, id := range itemIDs {
		want[weaviate.ItemUUID(id)] = true
	}
	others := slices.DeleteFunc(slices.Clone(cl.Nodes), func(n *wvcluster.Node) bool { return n == first })
	waitHeld(ctx, t, cl, []*wvcluster.Node{first}, classes, want, limit)
	took := time.Since(start)
	waitHeld(ctx, t, cl, others, classes, want, limit)
	for _, class := range classes {
		for _, n := range cl.Nodes {
			ids := classIDs(t, n.URL(), class)
			extra := 0
			for _, id := range ids {
				if !want[id] {
					extra++
				}
			}
			if len(ids) != len(want) || extra > 0 {
				t.Errorf("a scan of %s through %s lists %d objects (%d unexpected), want %d", class, n.Name, len(ids), extra, len(want))
			}
		}
	}
	return took
}

// waitHeld is waitNodesHold's wait for some nodes.
func waitHeld(ctx context.Context, t *testing.T, cl *wvcluster.Cluster, nodes []*wvcluster.Node, classes []string, want map[string]bool, limit time.Duration) {
	t.Helper()
	type obj struct{ class, id, node string }
	var missing []obj
	for _, class := range classes {
		for id := range want {
			for _, n := range nodes {
				missing = append(missing, obj{class, id, n.Name})
			}
		}
	}
	var lastErr error
	for round := 0; ; round++ {
		t0 := time.Now()
		var (
			mu   sync.Mutex
			left []obj
		)
		var g errgroup.Group
		g.SetLimit(8)
		for i, o := range missing {
			base := cl.Nodes[(i+round)%len(cl.Nodes)].URL()
			g.Go(func() error {
				ok, err := onNode(ctx, base, o.class, o.id, o.node)
				if !ok {
					mu.Lock()
					left = append(left, o)
					if err != nil {
						lastErr = err
					}
					mu.Unlock()
				}
				return nil
			})
		}
		_ = g.Wait()
		perNode := map[string]int{}
		for _, o := range left {
			perNode[o.node]++
		}
		t.Logf("round %d: %d objects checked in %v, missing per node: %v", round, len(missing), time.Since(t0).Round(time.Millisecond), perNode)
		if len(left) == 0 {
			return
		}
		missing = left
		select {
		case <-ctx.Done():
			t.Fatalf("after %v, objects are still missing (or unreadable) per node: %v, e.g. %+v (last error: %v)", limit, perNode, missing[0], lastErr)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// spaceClass is the class of a space (the store's naming rule, repeated
// here to read per-node counts).
func spaceClass(t *testing.T, base, ns, space string) string {
	t.Helper()
	var schema struct {
		Classes []struct {
			Class       string `json:"class"`
			Description string `json:"description"`
		} `json:"classes"`
	}
	wvtest.Call(t, http.MethodGet, base+"/v1/schema", nil, &schema)
	for _, c := range schema.Classes {
		var d struct {
			Name string `json:"name"`
		}
		if strings.HasPrefix(c.Class, ns+"_S") && json.Unmarshal([]byte(c.Description), &d) == nil && d.Name == space {
			return c.Class
		}
	}
	t.Fatalf("no class for space %s in namespace %s", space, ns)
	return ""
}

// searchResult is one search made during an outage.
type searchResult struct {
	hits int
	err  error
	took time.Duration
}

// TestNodeKilledWhileIndexing indexes 2,000 images (and 20 copies) into
// the cluster and SIGKILLs a node once a third is committed: the node the
// indexer's store sends its requests to first; node3, then node1 (the node
// the others joined through, which restarts by joining them). The run
// completes (the store retries on the other nodes), searches from a
// second store answer all through the outage, every file is indexed once
// the run returns with the node still down, and after the node restarts
// every node holds one object per distinct content.
func TestNodeKilledWhileIndexing(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	tests := []struct {
		name   string
		victim int // index in the cluster's nodes
		ns     string
	}{
		{"node3", 2, "FaultKill"},
		{"node1", 0, "FaultKillJoin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { nodeKilledWhileIndexing(t, tc.victim, tc.ns) })
	}
}

func nodeKilledWhileIndexing(t *testing.T, victimAt int, ns string) {
	cl := faultCluster(t)
	enc := openEncoder(t, faultModel(t))
	root := t.TempDir()
	paths, distinct := writeImages(t, root, 2000, 20, 1)

	victim := cl.Nodes[victimAt]
	nodes := []*wvcluster.Node{victim}
	for _, n := range cl.Nodes {
		if n != victim {
			nodes = append(nodes, n)
		}
	}
	wlog, rlog := &retryLog{}, &retryLog{}
	s := openFaultStore(t, nodes, ns, wlog)
	ix, err := indexer.New(indexer.Options{Store: s, Encoder: enc, Workers: 2, BatchSize: 32, MaxWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	type runResult struct {
		sum indexer.Summary
		err error
	}
	done := make(chan runResult, 1)
	start := time.Now()
	go func() {
		sum, err := ix.Run(context.Background(), root)
		done <- runResult{sum, err}
	}()

	// Kill the node once a third of the files are committed.
	var atKill indexer.Progress
	for atKill = ix.Progress(); atKill.Done() < int64(len(paths)/3); atKill = ix.Progress() {
		select {
		case r := <-done:
			t.Fatalf("run ended before the kill: %+v, %v", r.sum.Progress, r.err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	// Searches come from another store (another client).
	ss := openFaultStore(t, cl.Nodes, ns, rlog)
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	space := ix.Space()
	q := make([]float32, enc.Dim())
	rng := rand.New(rand.NewPCG(3, 4))
	stop := make(chan struct{})
	results := make(chan []searchResult, 1)
	go func() {
		var rs []searchResult
		defer func() { results <- rs }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for i := range q {
				q[i] = float32(rng.NormFloat64())
			}
			t0 := time.Now()
			hits, err := ss.Search(context.Background(), space, q, 10, vstore.SearchOptions{})
			rs = append(rs, searchResult{len(hits), err, time.Since(t0)})
		}
	}()

	r := <-done
	indexed := time.Since(start)
	wretries, wfirst := wlog.summary()
	t.Logf("indexer store: %d retries; the first:\n%s", wretries, wfirst)
	if r.err != nil {
		close(stop)
		<-results
		t.Fatalf("run with %s killed: %v", victim.Name, r.err)
	}
	if got := r.sum.Embedded + r.sum.Linked; got != int64(len(paths)) || r.sum.Embedded != int64(distinct) {
		t.Errorf("run embedded %d and linked %d, want %d and %d", r.sum.Embedded, r.sum.Linked, distinct, len(paths)-distinct)
	}
	// Still down: a store opened now works, and finds every file, read at
	// QUORUM from the other two nodes.
	checkIndexed(t, openFaultStore(t, cl.Nodes, ns, nil), space, paths, distinct)
	close(stop)
	rs := <-results
	var failed int
	var slowest time.Duration
	for _, sr := range rs {
		slowest = max(slowest, sr.took)
		if sr.err != nil || sr.hits != 10 {
			if failed++; failed <= 3 {
				t.Errorf("search during the outage: %d hits, %v", sr.hits, sr.err)
			}
		}
	}
	if len(rs) == 0 || failed > 0 {
		t.Errorf("%d of %d searches during the outage failed", failed, len(rs))
	}
	sretries, sfirst := rlog.summary()
	t.Logf("search store: %d retries; the first:\n%s", sretries, sfirst)

	if err := victim.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := cl.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	outage := time.Since(killed)
	catchUp := waitNodesHold(t, cl, victim, []string{ns + "_Items", spaceClass(t, cl.Nodes[0].URL(), ns, space)}, contentIDs(t, paths), 2*time.Minute)
	t.Logf("%d files (%d distinct) indexed in %v (%.0f files/s), %s killed after %d committed; %d acknowledged, "+
		"%d write retries; outage %v; %d searches answered during it (slowest %v, %d retries); every node holds %d items and vectors %v after the restart",
		len(paths), distinct, indexed.Round(time.Millisecond), float64(len(paths))/indexed.Seconds(), victim.Name, atKill.Done(),
		r.sum.Embedded+r.sum.Linked, wretries, outage.Round(time.Millisecond), len(rs), slowest.Round(time.Millisecond), sretries,
		distinct, catchUp.Round(time.Millisecond))
}

// TestIndexerKilledResumesChild is the child process of
// TestIndexerKilledResumes: it indexes ROOT into the cluster and prints
// how many files are committed, until the parent kills it.
func TestIndexerKilledResumesChild(t *testing.T) {
	if os.Getenv(faultChildEnv) == "" {
		t.Skip("child process of TestIndexerKilledResumes")
	}
	enc := openEncoder(t, os.Getenv("MODEL"))
	s, err := weaviate.Open(context.Background(), weaviate.Options{
		URLs: strings.Split(os.Getenv("URLS"), ","), GRPC: strings.Split(os.Getenv("GRPC"), ","), Namespace: os.Getenv("NS"), Replicas: 3, Shards: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	// This host's file records, as `imglish index` keeps them in --data.
	local, err := store.Open(context.Background(), os.Getenv("LOCAL"), store.Options{MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ix, err := indexer.New(indexer.Options{Store: s, Local: local, Encoder: enc, Workers: 2, BatchSize: 8, MaxWait: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			fmt.Printf("DONE %d\n", ix.Progress().Done())
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if _, err := ix.Run(context.Background(), os.Getenv("ROOT")); err != nil {
		t.Fatal(err)
	}
	fmt.Println("FINISHED")
}

// TestIndexerKilledResumes SIGKILLs a child indexer writing into the
// cluster once a third of the files are committed, then runs again in
// this process on the same local file catalog (indexer Options.Local, which
// the child wrote only after Weaviate acknowledged): the second run skips
// every file whose content has its vector (the truth is the store: each
// item lists its paths, and a path counts as done when its item has a
// vector in the model's space; a record the child acknowledged but did not
// write locally is asked of the store), embeds exactly the rest, and the store ends with one item and
// one vector per distinct content, each vector equal to a clean run's.
func TestIndexerKilledResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	cl := faultCluster(t)
	model := faultModel(t)
	enc := openEncoder(t, model)
	root := t.TempDir()
	paths, distinct := writeImages(t, root, 400, 10, 2)

	// A clean run, in a namespace of its own.
	clean := openFaultStore(t, cl.Nodes, "FaultClean", nil)
	cix, err := indexer.New(indexer.Options{Store: clean, Encoder: enc, Workers: 2, BatchSize: 8, MaxWait: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cix.Run(t.Context(), root); err != nil {
		t.Fatal(err)
	}

	const ns = "FaultResume"
	localDir := filepath.Join(t.TempDir(), "catalog")
	cmd := exec.Command(os.Args[0], "-test.run=^TestIndexerKilledResumesChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), faultChildEnv+"=1", "MODEL="+model, "URLS="+strings.Join(cl.URLs(), ","), "GRPC="+strings.Join(cl.GRPCAddrs(), ","),
		"NS="+ns, "ROOT="+root, "LOCAL="+localDir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var lines []string
	var atKill int
	for sc.Scan() {
		var n int
		if _, err := fmt.Sscanf(sc.Text(), "DONE %d", &n); err == nil {
			if n >= len(paths)/3 {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				atKill = n
				break
			}
			continue
		}
		lines = append(lines, sc.Text())
	}
	_, _ = io.Copy(io.Discard, out)
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("child was not killed (%v):\n%s", err, strings.Join(lines, "\n"))
	}

	s := openFaultStore(t, cl.Nodes, ns, nil)
	local, err := store.Open(t.Context(), localDir, store.Options{MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = local.Close() })
	held := 0
	if err := local.ScanValues(t.Context(), "indexer/file:", func(string, []byte) bool { held++; return true }); err != nil {
		t.Fatal(err)
	}
	if held == 0 {
		t.Error("the killed child left no record in its local file catalog")
	}
	t.Logf("the killed child's local file catalog holds %d records", held)
	ix, err := indexer.New(indexer.Options{Store: s, Local: local, Encoder: enc, Workers: 2, BatchSize: 8, MaxWait: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	space := ix.Space()
	// What the child committed: contents with their vector. A batch the
	// child sent just before it died still lands in Weaviate, so read
	// until two reads half a second apart agree (within a bound).
	readCommitted := func() map[string]bool {
		byPath, _ := allItems(t, s)
		committed := map[string]bool{}
		for _, it := range byPath {
			if _, err := s.Vector(space, it.ID); err == nil {
				committed[it.ID] = true
			}
		}
		return committed
	}
	committed := readCommitted()
	for settle := time.Now(); ; {
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(500 * time.Millisecond):
		}
		again := readCommitted()
		if maps.Equal(again, committed) {
			break
		}
		if time.Since(settle) > 30*time.Second {
			t.Fatalf("the store kept changing for 30 s after the child was killed: %d, then %d vectors", len(committed), len(again))
		}
		committed = again
	}
	if len(committed) < atKill/2 {
		t.Errorf("the child reported %d files done, the store has %d vectors", atKill, len(committed))
	}
	sum, err := ix.Run(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(distinct - len(committed)); sum.Embedded != want {
		t.Errorf("resumed run embedded %d images, want %d (%d distinct, %d committed by the child)",
			sum.Embedded, want, distinct, len(committed))
	}
	checkIndexed(t, s, space, paths, distinct)

	// Every vector equals the clean run's.
	cleanByPath, _ := allItems(t, clean)
	diff := 0
	for _, p := range paths {
		id := cleanByPath[p].ID
		a, err1 := clean.Vector(space, id)
		b, err2 := s.Vector(space, id)
		if err1 != nil || err2 != nil {
			t.Fatalf("vector of %s: %v, %v", p, err1, err2)
		}
		for i := range a {
			if math.Abs(float64(a[i]-b[i])) > 1e-6 {
				if diff++; diff <= 3 {
					t.Errorf("vector of %s differs from the clean run's at %d: %v vs %v", p, i, b[i], a[i])
				}
				break
			}
		}
	}
	waitNodesHold(t, cl, cl.Nodes[0], []string{ns + "_Items", spaceClass(t, cl.Nodes[0].URL(), ns, space)}, contentIDs(t, paths), time.Minute)
	t.Logf("%d files (%d distinct): child killed after %d done, %d vectors committed; resume skipped %d, embedded %d, linked %d",
		len(paths), distinct, atKill, len(committed), sum.Skipped, sum.Embedded, sum.Linked)
}
