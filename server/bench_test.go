//go:build bench

package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"imglish/app"
	"imglish/demo/scene"
	"imglish/encoder/convert"
	"imglish/model"
	"imglish/store"
)

// benchMode is one request-path configuration of TestServeLatency.
type benchMode struct {
	name  string
	batch CoalescerOptions
}

// benchModes are the modes TestServeLatency compares: the server's default
// (zero Options.Batch, whatever the default is now); "old", the default
// before the wait was bounded by the run time and batches split by length
// (batches of 16, a fixed 3 ms wait for mates, one worker); the old wait
// with the split by length; no wait at all (batches form only while the
// worker is busy); and unbatched (--max-batch 1: every request its own
// encoder run, concurrently).
var benchModes = []benchMode{
	{"default", CoalescerOptions{}},
	{"old", CoalescerOptions{MaxBatch: 16, MaxWait: 3 * time.Millisecond, Workers: 1, WaitShare: -1, MaxPad: -1}},
	{"wait3ms-split", CoalescerOptions{MaxBatch: 16, MaxWait: 3 * time.Millisecond, Workers: 1, WaitShare: -1}},
	{"nowait-1w", CoalescerOptions{MaxBatch: 16, MaxWait: -1, Workers: 1}},
	{"unbatched", CoalescerOptions{MaxBatch: 1}},
}

// benchExtraModes run only when IMGLISH_BENCH_MODES names them: the old
// default with MaxBatch at the server's in-flight cap on 2 CPUs (8), so that
// its batches fill and leave without waiting out the timer, which tells the
// fixed wait's cost apart from the batching's.
var benchExtraModes = []benchMode{
	{"old-max8", CoalescerOptions{MaxBatch: 8, MaxWait: 3 * time.Millisecond, Workers: 1, WaitShare: -1, MaxPad: -1}},
}

// benchModel is a model TestServeLatency serves, with its own store.
type benchModel struct {
	name string
	m    *Model
	data string
	cat  Catalog
}

// TestServeLatency is the server benchmark (make bench-server): text search
// over loopback HTTP from 1, 8 and 32 concurrent clients, for each mode of
// benchModes, on two models: the demo model (128-d) on a store of
// IMGLISH_BENCH_N vectors (default 100k), and, when
// IMGLISH_BENCH_BASE_CHECKPOINT names a BEiT-3 base checkpoint (768 wide,
// 12 layers; tools/reference/make_checkpoint.py --size base writes a random
// one), that model converted to fp32 with the demo tokenizer on a store of
// IMGLISH_BENCH_BASE_N vectors (default 20k: the encoder, not the index, is
// what the base model measures). Run:
//
//	go test -tags bench -run TestServeLatency -v -timeout 60m ./server
//
// The load generator is a separate process (this test binary re-run as
// TestServeLoadClient), so the server's CPU time (getrusage of this process,
// ORT's threads included) and the clients' (theirs, over the same window) are
// measured apart: the table gives the server's CPU-ms per request and the
// clients' share of all CPU time used. Modes are interleaved round by round
// (IMGLISH_BENCH_ROUNDS, default 3; the mode order rotates each round), and
// within a round they take turns at each client count (every mode's server
// up at once), so that noise from other processes hits all of them alike;
// every figure is given as its range over the rounds, with the load average
// at the start and end of each round. IMGLISH_BENCH_SECONDS (per cell, default 10) sizes
// a cell; IMGLISH_BENCH_MODES (comma-separated names) picks modes. Queries are demo scene captions; one in four is three captions in
// one, so a batch holds texts of different lengths as a real one would.
func TestServeLatency(t *testing.T) {
	secs := envInt("IMGLISH_BENCH_SECONDS", 10)
	rounds := envInt("IMGLISH_BENCH_ROUNDS", 3)
	ctx := context.Background()

	gen, _ := scene.New(scene.Options{Seed: 99, Split: scene.Test})
	var queries []string
	for i := range 512 {
		q := gen.Scene(i).Caption()
		if i%4 == 3 {
			q += " " + gen.Scene(i+1000).Caption() + " " + gen.Scene(i+2000).Caption()
		}
		queries = append(queries, q)
	}
	qfile := filepath.Join(t.TempDir(), "queries.json")
	if b, err := json.Marshal(queries); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(qfile, b, 0o644); err != nil {
		t.Fatal(err)
	}

	report := &bytes.Buffer{}
	host, _ := os.Hostname()
	fmt.Fprintf(report, "imglish server latency — %s, %d CPUs, %d rounds of %d s per cell, load generator in its own process\n", host, runtime.NumCPU(), rounds, secs)

	demoDir, trained := testModel(t, false)
	models := []*benchModel{openBenchModel(t, "demo", demoDir, envInt("IMGLISH_BENCH_N", 100_000), queries, report)}
	if ck := os.Getenv("IMGLISH_BENCH_BASE_CHECKPOINT"); ck != "" {
		dir := filepath.Join(t.TempDir(), "base")
		if _, err := convert.Convert(ctx, convert.Options{Checkpoint: ck, OutDir: dir,
			Tokenizer: filepath.Join(repoRoot(t), "testdata", "models", "demo", "demo.model")}); err != nil {
			t.Fatalf("convert %s: %v", ck, err)
		}
		models = append(models, openBenchModel(t, "base", dir, envInt("IMGLISH_BENCH_BASE_N", 20_000), queries, report))
	} else {
		fmt.Fprintln(report, "base: skipped (IMGLISH_BENCH_BASE_CHECKPOINT unset)")
	}
	fmt.Fprintf(report, "demo model trained: %v\n\n", trained)

	type key struct {
		model, mode string
		clients     int
	}
	results := map[key][]cellResult{}
	modes := benchModes
	if sel := os.Getenv("IMGLISH_BENCH_MODES"); sel != "" {
		modes = slices.DeleteFunc(slices.Concat(modes, benchExtraModes), func(m benchMode) bool { return !slices.Contains(strings.Split(sel, ","), m.name) })
	}
	fmt.Fprintf(report, "%-5s %-6s %-14s %7s %9s %9s %9s %10s %7s %8s %8s\n",
		"round", "model", "mode", "clients", "p50 ms", "p99 ms", "req/s", "srv cpu ms", "cli cpu", "batch", "load1")
	for r := range rounds {
		startLoad := loadAvg()
		for _, bm := range models {
			order := slices.Clone(modes)
			// Rotate so no mode always runs first (or last) in a round.
			if len(order) > 0 {
				k := r % len(order)
				order = append(order[k:], order[:k]...)
			}
			// Every mode's server is up for the whole round, and the modes
			// take turns at each client count, so the cells compared with
			// each other (one client count, all modes) run back to back
			// rather than a mode's three cells apart.
			bases := map[string]string{}
			var stops []func()
			for _, mode := range order {
				srv, err := New(Deps{DataDir: bm.data, Encoder: bm.m, Catalog: bm.cat}, Options{
					NoAuth: true, Addr: "127.0.0.1:0", RateLimit: -1, Batch: mode.batch, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					t.Fatal(err)
				}
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				sctx, stop := context.WithCancel(ctx)
				done := make(chan error, 1)
				go func() { done <- srv.Serve(sctx, ln, nil) }()
				bases[mode.name] = "http://" + ln.Addr().String()
				stops = append(stops, func() {
					stop()
					if err := <-done; err != nil {
						t.Fatal(err)
					}
				})
			}
			for _, clients := range []int{1, 8, 32} {
				for _, mode := range order {
					res := driveProcess(t, bases[mode.name], qfile, clients, time.Duration(secs)*time.Second)
					results[key{bm.name, mode.name, clients}] = append(results[key{bm.name, mode.name, clients}], res)
					fmt.Fprintf(report, "%-5d %-6s %-14s %7d %9.2f %9.2f %9.1f %10.2f %6.0f%% %8.2f %8.2f\n", r+1, bm.name, mode.name, clients,
						ms(res.p50), ms(res.p99), res.rate, res.srvCPUms, 100*res.cliShare, res.batch, res.load1)
					fmt.Print(report.String()[strings.LastIndex(strings.TrimSuffix(report.String(), "\n"), "\n")+1:])
				}
			}
			for _, stop := range stops {
				stop()
			}
		}
		fmt.Fprintf(report, "round %d load average: start %s, end %s\n", r+1, startLoad, loadAvg())
	}

	fmt.Fprintf(report, "\nranges over %d rounds (min–max); srv cpu = server CPU-ms per request (ORT included), cli cpu = load generator's share of all CPU used, batch = mean text batch size\n", rounds)
	fmt.Fprintf(report, "%-6s %-14s %7s %15s %15s %17s %13s %11s %11s\n", "model", "mode", "clients", "req/s", "p50 ms", "p99 ms", "srv cpu ms", "cli cpu %", "batch")
	for _, bm := range models {
		for _, clients := range []int{1, 8, 32} {
			for _, mode := range modes {
				rs := results[key{bm.name, mode.name, clients}]
				fmt.Fprintf(report, "%-6s %-14s %7d %15s %15s %17s %13s %11s %11s\n", bm.name, mode.name, clients,
					span(rs, "%.0f", func(c cellResult) float64 { return c.rate }),
					span(rs, "%.2f", func(c cellResult) float64 { return ms(c.p50) }),
					span(rs, "%.2f", func(c cellResult) float64 { return ms(c.p99) }),
					span(rs, "%.2f", func(c cellResult) float64 { return c.srvCPUms }),
					span(rs, "%.0f", func(c cellResult) float64 { return 100 * c.cliShare }),
					span(rs, "%.1f", func(c cellResult) float64 { return c.batch }))
			}
		}
	}
	fmt.Print(report.String())
	if out := os.Getenv("IMGLISH_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, report.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// openBenchModel opens the model in dir with a store of n clustered vectors
// and writes its encoder reference (texts/s one at a time and in batches of
// 16) to report.
func openBenchModel(t *testing.T, name, dir string, n int, queries []string, report io.Writer) *benchModel {
	t.Helper()
	ctx := context.Background()
	core, err := model.Open(ctx, dir, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { core.Close() })
	m, err := app.NewModel(core)
	if err != nil {
		t.Fatal(err)
	}
	info := m.Info()
	data := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(data, "store"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	start := time.Now()
	loadVectors(t, db, info, n)
	load := time.Since(start)
	cat, err := app.NewCatalog(db, nil, info.ID, info.Dim)
	if err != nil {
		t.Fatal(err)
	}
	recall, err := cat.RecallCheck(ctx, 200)
	if err != nil {
		t.Fatal(err)
	}
	single, mixed, similar := encoderRate(t, m, queries)
	fmt.Fprintf(report, "%s: model %s (dim %d, width %d, %d layers); store %d vectors loaded in %.1fs, HNSW recall@10 self-check %.3f\n",
		name, info.ID, info.Dim, core.Manifest().Architecture.Dim, core.Manifest().Architecture.Layers, n, load.Seconds(), recall)
	var toks []int
	for _, q := range queries {
		ids, err := core.Tokenize(q)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, len(ids))
	}
	slices.Sort(toks)
	fmt.Fprintf(report, "%s encoder alone (queries of %d/%d/%d tokens min/median/max): %.0f texts/s one per call, %.0f in batches of 16 of mixed lengths, %.0f in batches of 16 of similar length\n",
		name, toks[0], toks[len(toks)/2], toks[len(toks)-1], single, mixed, similar)
	return &benchModel{name: name, m: m, data: data, cat: cat}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pct(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	return lat[min(len(lat)-1, int(p*float64(len(lat))))]
}

func span(rs []cellResult, f string, v func(cellResult) float64) string {
	if len(rs) == 0 {
		return "-"
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rs {
		lo, hi = min(lo, v(r)), max(hi, v(r))
	}
	return fmt.Sprintf(f+"–"+f, lo, hi)
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func load1() float64 {
	v, _ := strconv.ParseFloat(strings.Fields(loadAvg() + " 0")[0], 64)
	return v
}

// cpuTime is this process's user+system CPU time, all threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadVectors writes n clustered unit vectors (500 centres, σ=0.8/√dim per
// component, like the index benchmark) as items with paths and dates.
func loadVectors(t *testing.T, db *store.DB, info ModelInfo, n int) {
	t.Helper()
	ctx := context.Background()
	space := store.ImageSpace(info.ID)
	if err := db.CreateSpace(ctx, store.Space{Name: space, Kind: store.KindImages, Model: info.ID, Dim: info.Dim}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(42, 1))
	centres := make([][]float32, 500)
	for i := range centres {
		centres[i] = unit(r, info.Dim, nil, 0)
	}
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var b store.Batch
	for i := range n {
		id := fmt.Sprintf("%032x", i)
		mt := base.Add(time.Duration(i) * time.Minute)
		b.PutItem(store.Item{ID: id, Hash: id, Model: info.ID, Meta: store.Meta{Width: 640, Height: 480},
			Files: []store.File{{Path: fmt.Sprintf("/bench/%03d/img-%06d.jpg", i%1000, i), Size: 100_000, ModTime: mt}}})
		b.PutVector(space, id, unit(r, info.Dim, centres[r.IntN(len(centres))], 0.8/math.Sqrt(float64(info.Dim))))
		if b.Len() >= 2000 {
			if err := db.Apply(ctx, &b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
	if b.Len() > 0 {
		if err := db.Apply(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
}

func unit(r *rand.Rand, dim int, centre []float32, sigma float64) []float32 {
	v := make([]float32, dim)
	var ss float64
	for i := range v {
		x := r.NormFloat64()
		if centre != nil {
			x = float64(centre[i]) + sigma*x
		}
		v[i] = float32(x)
		ss += x * x
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(ss))
	}
	return v
}

// encoderRate measures the encoder alone on texts: one per call, in batches
// of 16 as they come (lengths mixed, padded to the longest), and in batches
// of 16 of similar length (the texts sorted by length first), ~2 s each.
func encoderRate(t *testing.T, m *Model, texts []string) (single, mixed, similar float64) {
	t.Helper()
	ctx := context.Background()
	rate := func(step int, texts []string) float64 {
		start := time.Now()
		n := 0
		for i := 0; i+step <= len(texts); i += step {
			if _, err := m.EmbedTexts(ctx, texts[i:i+step]); err != nil {
				t.Fatal(err)
			}
			n += step
			if time.Since(start) > 2*time.Second {
				break
			}
		}
		return float64(n) / time.Since(start).Seconds()
	}
	sorted := slices.Clone(texts)
	slices.SortStableFunc(sorted, func(a, b string) int { return len(a) - len(b) })
	// Similar lengths, from the middle of the range of lengths.
	mid := sorted[len(sorted)/4:]
	return rate(1, texts), rate(16, texts), rate(16, mid)
}

// cellResult is one cell of TestServeLatency: one model, mode and client
// count, one round.
type cellResult struct {
	p50, p99 time.Duration
	rate     float64 // requests/s
	srvCPUms float64 // server CPU-ms per request
	cliShare float64 // load generator CPU / (server + load generator CPU)
	batch    float64 // mean text batch size
	load1    float64
}

// clientReport is what TestServeLoadClient prints when its window ends.
type clientReport struct {
	Latencies []time.Duration `json:"latencies"`
	Elapsed   time.Duration   `json:"elapsed"`
	CPU       time.Duration   `json:"cpu"`
	Err       string          `json:"err,omitempty"`
}

// driveProcess runs the load generator as a child process for d and
// measures this process's CPU time over the same window.
func driveProcess(t *testing.T, base, qfile string, clients int, d time.Duration) cellResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeLoadClient$", "-test.count=1")
	cmd.Env = append(os.Environ(), "IMGLISH_BENCH_CLIENT_URL="+base+"/v1/search", "IMGLISH_BENCH_CLIENT_QUERIES="+qfile,
		"IMGLISH_BENCH_CLIENT_N="+strconv.Itoa(clients), "IMGLISH_BENCH_CLIENT_DURATION="+d.String())
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 64<<20)
	var (
		cpu0        time.Duration
		size0, cnt0 float64
		rep         *clientReport
	)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "imglish-bench-start":
			size0, cnt0 = batchMetrics(t, base)
			cpu0 = cpuTime()
		case strings.HasPrefix(line, "imglish-bench-report "):
			srvCPU := cpuTime() - cpu0
			rep = &clientReport{}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "imglish-bench-report ")), rep); err != nil {
				t.Fatal(err)
			}
			if rep.Err != "" {
				t.Fatalf("load generator: %s", rep.Err)
			}
			size1, cnt1 := batchMetrics(t, base)
			lat := rep.Latencies
			slices.Sort(lat)
			res := cellResult{p50: pct(lat, .5), p99: pct(lat, .99), rate: float64(len(lat)) / rep.Elapsed.Seconds(),
				srvCPUms: float64(srvCPU.Microseconds()) / 1000 / float64(len(lat)),
				cliShare: rep.CPU.Seconds() / (rep.CPU.Seconds() + srvCPU.Seconds()), load1: load1()}
			if cnt1 > cnt0 {
				res.batch = (size1 - size0) / (cnt1 - cnt0)
			}
			_, _ = io.Copy(io.Discard, stdout)
			if err := cmd.Wait(); err != nil {
				t.Fatal(err)
			}
			return res
		}
	}
	err = cmd.Wait()
	t.Fatalf("load generator ended without a report: %v", err)
	return cellResult{}
}

var textBatchRe = regexp.MustCompile(`(?m)^imglish_encoder_batch_size_(sum|count)\{tower="text"\} (\S+)$`)

// batchMetrics reads the server's text batch size histogram (sum, count).
func batchMetrics(t *testing.T, base string) (sum, count float64) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, m := range textBatchRe.FindAllStringSubmatch(string(b), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		if m[1] == "sum" {
			sum = v
		} else {
			count = v
		}
	}
	return sum, count
}

// TestServeLoadClient is TestServeLatency's load generator, run by it as a
// child process (skipped otherwise): IMGLISH_BENCH_CLIENT_N closed-loop
// clients search IMGLISH_BENCH_CLIENT_URL for IMGLISH_BENCH_CLIENT_DURATION
// after one warm-up request each. It prints a start line when the measured
// window opens and a JSON report (latencies, elapsed time, its own CPU time
// over the window) when it closes.
func TestServeLoadClient(t *testing.T) {
	url := os.Getenv("IMGLISH_BENCH_CLIENT_URL")
	if url == "" {
		t.Skip("run by TestServeLatency")
	}
	clients := envInt("IMGLISH_BENCH_CLIENT_N", 1)
	d, _ := time.ParseDuration(os.Getenv("IMGLISH_BENCH_CLIENT_DURATION"))
	var queries []string
	b, err := os.ReadFile(os.Getenv("IMGLISH_BENCH_CLIENT_QUERIES"))
	if err == nil {
		err = json.Unmarshal(b, &queries)
	}
	report := func(r clientReport) {
		out, _ := json.Marshal(r)
		fmt.Printf("imglish-bench-report %s\n", out)
	}
	if err != nil {
		report(clientReport{Err: err.Error()})
		return
	}
	tr := &http.Transport{MaxIdleConnsPerHost: clients * 2, MaxConnsPerHost: clients * 2}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			if err := searchOnce(client, url, queries[i%len(queries)]); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		report(clientReport{Err: err.Error()})
		return
	default:
	}
	fmt.Println("imglish-bench-start")
	var (
		mu  sync.Mutex
		all []time.Duration
	)
	cpu0 := cpuTime()
	start := time.Now()
	deadline := start.Add(d)
	for c := range clients {
		wg.Go(func() {
			var mine []time.Duration
			for i := c; time.Now().Before(deadline); i += clients {
				t0 := time.Now()
				if err := searchOnce(client, url, queries[i%len(queries)]); err != nil {
					errs <- err
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	rep := clientReport{Latencies: all, Elapsed: time.Since(start), CPU: cpuTime() - cpu0}
	select {
	case err := <-errs:
		rep.Err = err.Error()
	default:
	}
	report(rep)
}

func searchOnce(c *http.Client, url, text string) error {
	body, _ := json.Marshal(map[string]any{"text": text, "k": 10})
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var sr SearchResponse
	if err := json.NewDecoder(resp.Body).Decode(&sr); err != nil {
		return err
	}
	if resp.StatusCode != 200 || len(sr.Hits) != 10 {
		return fmt.Errorf("search: %d, %d hits", resp.StatusCode, len(sr.Hits))
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}
