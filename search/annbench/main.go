// Command annbench compares imglish's HNSW (package search) with hnswlib
// compiled for this CPU, on the same deterministic clustered data, one
// search thread, and writes a markdown table and JSON.
//
// It lives under search/ (not cmd/) because it is a measuring tool for this
// package, not a product binary; it is the only importer of coder/hnsw.
//
//	go run ./search/annbench -out bench/out/ann        # full: 100k×768, 1,000 queries
//	go run ./search/annbench -n 20000 -skip-python     # quick
//
// The reference is hnswlib 0.6.2 from Debian's libhnswlib-dev headers,
// compiled here at run time with g++ -O3 -march=native
// (bench/hnswlib/hnswbench.cpp), as hnswlib's own build does; Debian's
// python3-hnswlib is a generic x86-64 build (128-bit SSE only), so it is
// only a labelled second row. The two engines run interleaved on one
// thread: each round builds both indexes, then runs one pass over the
// queries per ef for each engine in turn (the order flips every round), so
// both see the same machine; ratios at equal recall (0.95, 0.98, 0.99,
// interpolated on each engine's recall/QPS curve over ef) are taken per
// round and reported as a range over rounds.
//
// The data file (vectors, queries, exact top-k) is written once to a temp
// dir and read by the C++ driver and by tools/bench_ann/bench.py (Debian
// /usr/bin/python3 with python3-hnswlib), so every side measures the same
// data.
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	coder "github.com/coder/hnsw"
	"github.com/viterin/vek/vek32"

	"imglish/search"
	"imglish/search/synth"
)

// Engine names in the report.
const (
	imglishName = "imglish"
	nativeName  = "hnswlib 0.6.2 native (g++ -O3 -march=native)"
	pythonName  = "hnswlib 0.6.2 Debian python3-hnswlib (generic x86-64 build)"
)

// targetRecalls are the recalls at which the QPS ratio is read off both
// curves.
var targetRecalls = []float64{0.95, 0.98, 0.99}

type run struct {
	Ef     int     `json:"ef"`
	Recall float64 `json:"recall"`
	QPS    float64 `json:"qps"`     // queries per wall second
	QPSCPU float64 `json:"qps_cpu"` // queries per CPU second of the process
}

type build struct {
	S              float64 `json:"build_s"`
	CPUS           float64 `json:"build_cpu_s"`
	BytesPerVector float64 `json:"bytes_per_vector,omitempty"`
}

type engine struct {
	Name           string  `json:"name"`
	N              int     `json:"n"`
	BuildS         float64 `json:"build_s,omitempty"`
	InsertsPerS    float64 `json:"inserts_per_s,omitempty"`
	InsertsPerCPUS float64 `json:"inserts_per_cpu_s,omitempty"`
	BytesPerVector float64 `json:"bytes_per_vector,omitempty"`
	BuildThreads   int     `json:"build_threads,omitempty"`
	Runs           []run   `json:"runs"`
	Note           string  `json:"note,omitempty"`
}

// round is one interleaved round: both builds, then one pass per ef and
// engine.
type round struct {
	Round     int                `json:"round"`
	First     string             `json:"first"`
	LoadStart string             `json:"loadavg_start"`
	LoadEnd   string             `json:"loadavg_end"`
	Builds    map[string]build   `json:"builds"`
	Runs      map[string][]run   `json:"runs"`
	Ratios    map[string]float64 `json:"ratios"` // imglish / native, per CPU-second
}

// scaling is one engine's passes on one and on two search threads in a
// round. The speedup is in wall-clock QPS (CPU time cannot show
// parallelism); Cores2 is the CPU-seconds per wall second the two-thread
// pass got, which caps that speedup on a shared machine, and Efficiency
// its QPS per CPU-second over the one-thread pass's (1 = no cost from
// running beside the other thread).
type scaling struct {
	Recall     float64 `json:"recall"`
	QPS1       float64 `json:"qps_1"`
	QPS2       float64 `json:"qps_2"`
	Speedup    float64 `json:"speedup"`
	Cores2     float64 `json:"cores_2"`
	Efficiency float64 `json:"efficiency"`
}

// scalingOf compares a two-thread run with a one-thread run.
func scalingOf(one, two run) scaling {
	return scaling{Recall: two.Recall, QPS1: one.QPS, QPS2: two.QPS, Speedup: two.QPS / one.QPS,
		Cores2: two.QPS / two.QPSCPU, Efficiency: two.QPSCPU / one.QPSCPU}
}

// threads is one interleaved round of one- and two-thread passes: imglish's
// float index (the fields at the top level); its int8-quantised index,
// which reads a quarter of the bytes per scored vector; native hnswlib's
// over the same queries, the anchor for what this machine's cores and
// memory give an optimised C++ HNSW; and the walk's memory pattern alone
// (chase.go) over the float vectors, over quarter-width ones, and over the
// float vectors in one batch a query.
type threads struct {
	Ef int `json:"ef"`
	scaling
	Quant        *scaling `json:"int8,omitempty"`
	Native       *scaling `json:"native,omitempty"`
	Chase        *scaling `json:"chase_float,omitempty"`
	ChaseQuarter *scaling `json:"chase_quarter,omitempty"`
	ChaseBulk    *scaling `json:"chase_float_bulk,omitempty"`
	Load         string   `json:"loadavg"`
}

type report struct {
	Date      string             `json:"date"`
	CPU       string             `json:"cpu"`
	Kernel    string             `json:"kernel"`
	Compiler  string             `json:"native_compiler,omitempty"`
	N         int                `json:"n"`
	Queries   int                `json:"queries"`
	Dim       int                `json:"dim"`
	K         int                `json:"k"`
	M         int                `json:"m"`
	EfC       int                `json:"ef_construction"`
	Rounds    []round            `json:"rounds"`
	Threads   []threads          `json:"threads,omitempty"`
	Engines   []engine           `json:"engines"`
	Delete    map[string]float64 `json:"delete_10pct"`
	Summary   []string           `json:"summary"`
	LoadStart string             `json:"loadavg_start"`
	LoadEnd   string             `json:"loadavg_end"`
}

type config struct {
	n, nq, dim, centres int
	sigma               float64
	k, m, efc           int
	efs                 []int
	rounds              int
	threadsEf           int
	threadRounds        int
	out, py, cxx        string
	skipPy, skipNative  bool
	coderN              int
	quant               bool
}

func main() {
	var c config
	flag.IntVar(&c.n, "n", 100000, "indexed vectors")
	flag.IntVar(&c.nq, "q", 1000, "held-out queries")
	flag.IntVar(&c.dim, "dim", 768, "dimension")
	flag.IntVar(&c.centres, "centres", 500, "cluster centres")
	flag.Float64Var(&c.sigma, "sigma", 0.8, "noise: N(0, sigma²/dim) per component")
	flag.IntVar(&c.k, "k", 10, "recall@k")
	flag.IntVar(&c.m, "m", 16, "HNSW M")
	flag.IntVar(&c.efc, "efc", 128, "efConstruction")
	efList := flag.String("ef", "16,24,32,40,48,64,96,128", "search ef values")
	flag.IntVar(&c.rounds, "rounds", 3, "interleaved rounds of imglish and native hnswlib (each builds both)")
	flag.IntVar(&c.threadsEf, "threads-ef", 32, "ef of the one- vs two-thread search rounds (0 = skip)")
	flag.IntVar(&c.threadRounds, "thread-rounds", 5, "one- vs two-thread rounds (each: every index, both thread counts)")
	flag.StringVar(&c.out, "out", "bench/out/ann", "output folder (report.md, report.json)")
	flag.StringVar(&c.cxx, "cxx", "g++", "C++ compiler for native hnswlib")
	flag.BoolVar(&c.skipNative, "skip-native", false, "skip native hnswlib")
	flag.StringVar(&c.py, "python", "/usr/bin/python3", "python with Debian's hnswlib")
	flag.BoolVar(&c.skipPy, "skip-python", false, "skip Debian's Python hnswlib")
	flag.IntVar(&c.coderN, "coder-n", 0, "vectors for coder/hnsw (0 = all, -1 = skip)")
	flag.BoolVar(&c.quant, "quant", false, "compare the float index with the int8-quantised one (exact re-rank) instead; writes quant.md/json")
	flag.Parse()
	for _, s := range strings.Split(*efList, ",") {
		e, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			fmt.Fprintln(os.Stderr, "annbench: parse -ef:", err)
			os.Exit(2)
		}
		c.efs = append(c.efs, e)
	}
	if c.rounds < 1 {
		fmt.Fprintln(os.Stderr, "annbench: -rounds must be at least 1")
		os.Exit(2)
	}
	if err := mainErr(c); err != nil {
		fmt.Fprintln(os.Stderr, "annbench:", err)
		os.Exit(1)
	}
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

// bench holds what every phase needs.
type bench struct {
	config
	ctx     context.Context
	data    [][]float32
	queries [][]float32
	gt      [][]int
	keys    []string
}

func mainErr(c config) error {
	runtime.GOMAXPROCS(1) // single thread, like the references
	b := &bench{config: c, ctx: context.Background()}
	logf("generating %d+%d clustered %d-d vectors (%d centres, sigma %.2f)", c.n, c.nq, c.dim, c.centres, c.sigma)
	all := synth.Clustered(c.n+c.nq, c.dim, c.centres, c.sigma, 20240601)
	b.data, b.queries = all[:c.n], all[c.n:]
	logf("exact top-%d", c.k)
	b.gt = exactTopK(b.data, b.queries, c.k, nil)
	b.keys = make([]string, c.n)
	for i := range b.keys {
		b.keys[i] = strconv.Itoa(i)
	}
	if c.quant {
		return b.quantBench()
	}
	tmp, err := os.MkdirTemp("", "annbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dataFile := filepath.Join(tmp, "data.bin")
	if err := writeData(dataFile, b.data, b.queries, b.gt, c.k); err != nil {
		return err
	}
	rep := report{LoadStart: loadAvg(), Date: time.Now().UTC().Format(time.RFC3339), CPU: cpuName(), Kernel: search.Kernel(),
		N: c.n, Queries: c.nq, Dim: c.dim, K: c.k, M: c.m, EfC: c.efc}

	var nat *native
	if !c.skipNative {
		bin, version, err := buildNative(c.cxx, tmp)
		switch {
		case errors.Is(err, errNoNative):
			logf("skipping native hnswlib: %v", err)
		case err != nil:
			return err
		default:
			rep.Compiler = version
			if nat, err = startNative(bin, dataFile, c.m, c.efc); err != nil {
				return err
			}
			defer nat.close()
		}
	}

	// Interleaved rounds. The last round's imglish index stays for the
	// thread, exact-scan and delete measurements.
	var idx *search.Index
	for r := range c.rounds {
		idx = nil
		runtime.GC()
		rd, ix, err := b.round(r, nat, r == 0)
		if err != nil {
			return err
		}
		idx = ix
		rep.Rounds = append(rep.Rounds, rd)
	}
	if c.threadsEf > 0 {
		qidx, err := b.buildQuant()
		if err != nil {
			return err
		}
		ch := newChase(b.data, c.m)
		for r := range c.threadRounds {
			t, err := b.threads(idx, qidx, nat, ch, c.threadsEf, r)
			if err != nil {
				return err
			}
			logf("threads ef=%d: imglish 1 thread %.0f QPS, 2 threads %.0f QPS (%.2f×, on %.2f cores, QPS per CPU-s %.2f× one thread's), load %s",
				t.Ef, t.QPS1, t.QPS2, t.Speedup, t.Cores2, t.Efficiency, t.Load)
			if q := t.Quant; q != nil {
				logf("threads ef=%d: imglish int8 1 thread %.0f QPS, 2 threads %.0f QPS (%.2f×, on %.2f cores, QPS per CPU-s %.2f× one thread's)",
					t.Ef, q.QPS1, q.QPS2, q.Speedup, q.Cores2, q.Efficiency)
			}
			if n := t.Native; n != nil {
				logf("threads ef=%d: native 1 thread %.0f QPS, 2 threads %.0f QPS (%.2f×, on %.2f cores, QPS per CPU-s %.2f× one thread's)",
					t.Ef, n.QPS1, n.QPS2, n.Speedup, n.Cores2, n.Efficiency)
			}
			for _, p := range []struct {
				name string
				s    *scaling
			}{{"float vectors", t.Chase}, {"quarter-width vectors", t.ChaseQuarter}, {"float vectors, one batch a query", t.ChaseBulk}} {
				logf("threads: chase over %s: 1 thread %.0f/s, 2 threads %.0f/s (%.2f×, on %.2f cores, per CPU-s %.2f× one thread's)",
					p.name, p.s.QPS1, p.s.QPS2, p.s.Speedup, p.s.Cores2, p.s.Efficiency)
			}
			rep.Threads = append(rep.Threads, t)
		}
		qidx, ch = nil, nil
	}
	rep.Engines = append(rep.Engines, medianEngine(imglishName, c.n, rep.Rounds, b.imglishNote(idx)))
	if nat != nil {
		rep.Engines = append(rep.Engines, medianEngine(nativeName, c.n, rep.Rounds, "interleaved with imglish"))
	}

	// exact
	ex := engine{Name: "exact scan (imglish)", N: c.n}
	ex.Runs = append(ex.Runs, measure(min(len(b.queries), 200), func(i int) []int {
		hs, err := idx.Search(b.ctx, b.queries[i], c.k, search.SearchOptions{Exact: true})
		if err != nil {
			panic(err)
		}
		return hitIDs(hs)
	}, b.gt, 0))
	rep.Engines = append(rep.Engines, ex)

	// Delete 10%, then recall against exact over the survivors.
	logf("imglish: deleting 10%%")
	var del []string
	for i := 0; i < c.n; i += 10 {
		del = append(del, b.keys[i])
	}
	t0 := time.Now()
	for i := 0; i < len(del); i += 1000 {
		idx.Delete(del[i:min(i+1000, len(del))]...)
	}
	delS := time.Since(t0).Seconds()
	if err := idx.Check(); err != nil {
		return fmt.Errorf("graph after deletes: %w", err)
	}
	alive := func(i int) bool { return i%10 != 0 }
	gt2 := exactTopK(b.data, b.queries, c.k, alive)
	rep.Delete = map[string]float64{"deleted": float64(len(del)), "delete_s": delS}
	for _, ef := range []int{32, 64} {
		r := measure(len(b.queries), func(i int) []int {
			hs, _ := idx.Search(b.ctx, b.queries[i], c.k, search.SearchOptions{Ef: ef})
			return hitIDs(hs)
		}, gt2, ef)
		rep.Delete[fmt.Sprintf("recall_ef%d", ef)] = r.Recall
		rep.Delete[fmt.Sprintf("qps_ef%d", ef)] = r.QPS
		logf("after delete ef=%d recall %.4f", ef, r.Recall)
	}
	idx = nil
	runtime.GC()

	// coder/hnsw v0.6.1
	if c.coderN >= 0 {
		cn := c.n
		if c.coderN > 0 {
			cn = min(c.coderN, c.n)
		}
		logf("coder/hnsw: building %d", cn)
		rep.Engines = append(rep.Engines, benchCoder(b.data[:cn], b.queries, c.k, c.m, c.efc, c.efs))
	}

	// Debian's Python hnswlib: a generic x86-64 build, not interleaved.
	if !c.skipPy {
		logf("python: Debian hnswlib")
		cmd := exec.Command(c.py, "tools/bench_ann/bench.py", "--data", dataFile, "--ef", joinInts(c.efs),
			"--m", strconv.Itoa(c.m), "--efc", strconv.Itoa(c.efc), "--skip-faiss")
		cmd.Stderr = os.Stderr
		cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("run bench.py: %w", err)
		}
		var py map[string]engine
		if err := json.Unmarshal(out, &py); err != nil {
			return fmt.Errorf("parse bench.py output: %w", err)
		}
		if e, ok := py["hnswlib"]; ok {
			e.Name = pythonName
			e.Note = "one run after the rounds, best of 3 passes per ef; not interleaved"
			rep.Engines = append(rep.Engines, e)
		}
	}
	rep.LoadEnd = loadAvg()
	rep.Summary = summarise(rep)
	return writeReport(c.out, rep)
}

// round builds both indexes and runs one pass per ef for each, in turn;
// odd rounds start with native hnswlib. It returns imglish's index.
func (b *bench) round(r int, nat *native, first bool) (round, *search.Index, error) {
	rd := round{Round: r + 1, LoadStart: loadAvg(), Builds: map[string]build{}, Runs: map[string][]run{}, Ratios: map[string]float64{}}
	order := []string{imglishName, nativeName}
	if nat == nil {
		order = order[:1]
	} else if r%2 == 1 {
		order = []string{nativeName, imglishName}
	}
	rd.First = order[0]
	var idx *search.Index
	for _, e := range order {
		logf("round %d: %s build", r+1, e)
		if e == imglishName {
			bd, ix, err := b.buildImglish(first)
			if err != nil {
				return rd, nil, err
			}
			rd.Builds[e], idx = bd, ix
			continue
		}
		bd, err := nat.build()
		if err != nil {
			return rd, nil, err
		}
		if !first {
			bd.BytesPerVector = 0 // the allocator reuses the freed index
		}
		rd.Builds[e] = bd
	}
	for _, ef := range b.efs {
		for _, e := range order {
			var rn run
			if e == imglishName {
				rn = b.passImglish(idx, ef)
			} else {
				var err error
				if rn, err = nat.search(ef, len(b.queries)); err != nil {
					return rd, nil, err
				}
			}
			rd.Runs[e] = append(rd.Runs[e], rn)
		}
		logf("round %d ef=%d: %s", r+1, ef, passLine(rd.Runs, order))
	}
	rd.LoadEnd = loadAvg()
	if nat != nil {
		ib, nb := rd.Builds[imglishName], rd.Builds[nativeName]
		rd.Ratios["build"] = nb.CPUS / ib.CPUS
		rd.Ratios["build_wall"] = nb.S / ib.S
		for _, t := range targetRecalls {
			qi, qn := qpsAtRecall(rd.Runs[imglishName], t, true), qpsAtRecall(rd.Runs[nativeName], t, true)
			wi, wn := qpsAtRecall(rd.Runs[imglishName], t, false), qpsAtRecall(rd.Runs[nativeName], t, false)
			if qi > 0 && qn > 0 {
				rd.Ratios[fmt.Sprintf("qps@%.2f", t)] = qi / qn
				rd.Ratios[fmt.Sprintf("qps_wall@%.2f", t)] = wi / wn
			}
		}
		logf("round %d ratios (imglish/native, per CPU-s): %v", r+1, rd.Ratios)
	}
	return rd, idx, nil
}

func passLine(runs map[string][]run, order []string) string {
	var s []string
	for _, e := range order {
		r := runs[e][len(runs[e])-1]
		s = append(s, fmt.Sprintf("%s recall %.4f %.0f QPS/CPU-s", strings.Fields(e)[0], r.Recall, r.QPSCPU))
	}
	return strings.Join(s, ", ")
}

// buildImglish builds a fresh index; mem reports the heap it took.
func (b *bench) buildImglish(mem bool) (build, *search.Index, error) {
	var ms0, ms1 runtime.MemStats
	if mem {
		runtime.GC()
		runtime.ReadMemStats(&ms0)
	}
	idx, err := search.New(search.Options{Dim: b.dim, M: b.m, EfConstruction: b.efc, ExactBelow: 1})
	if err != nil {
		return build{}, nil, err
	}
	t0, c0 := time.Now(), cpuSeconds()
	for i, v := range b.data {
		if err := idx.Add(b.keys[i], v); err != nil {
			return build{}, nil, err
		}
	}
	bd := build{S: time.Since(t0).Seconds(), CPUS: cpuSeconds() - c0}
	if mem {
		runtime.GC()
		runtime.ReadMemStats(&ms1)
		bd.BytesPerVector = float64(ms1.HeapAlloc-ms0.HeapAlloc) / float64(b.n)
	}
	return bd, idx, nil
}

// passImglish runs the queries once at ef, one thread.
func (b *bench) passImglish(idx *search.Index, ef int) run {
	found := make([][]int, len(b.queries))
	t0, c0 := time.Now(), cpuSeconds()
	for i, q := range b.queries {
		hs, err := idx.Search(b.ctx, q, b.k, search.SearchOptions{Ef: ef})
		if err != nil {
			panic(err)
		}
		found[i] = hitIDs(hs)
	}
	dt, dc := time.Since(t0).Seconds(), cpuSeconds()-c0
	return run{Ef: ef, Recall: recallOf(found, b.gt), QPS: float64(len(b.queries)) / dt, QPSCPU: float64(len(b.queries)) / dc}
}

// threadReps is how many times a thread pass runs the query set: one pass
// over 1,000 queries at 100k lasts about a tenth of a second, short enough
// for its start, its last query and a moment's noise from the machine's
// neighbours to show in the ratio; ten make it about a second.
const threadReps = 10

// threads runs, for imglish's float index, its quantised one (qidx, may be
// nil), native hnswlib (nat, may be nil) and the three chases, one pass at
// ef on one thread and one on two; round r reverses the engines' order and
// which thread count goes first. A pass runs the query set threadReps times; the threads
// take the next query from a shared counter, so neither idles while the
// other finishes a share that happened to be slower.
func (b *bench) threads(idx, qidx *search.Index, nat *native, ch *chase, ef, r int) (threads, error) {
	t := threads{Ef: ef, Load: loadAvg()}
	found := make([][]int, len(b.queries))
	total := threadReps * len(b.queries)
	imglishPass := func(idx *search.Index, workers int) (run, error) {
		runtime.GOMAXPROCS(workers)
		defer runtime.GOMAXPROCS(1)
		var wg sync.WaitGroup
		var next atomic.Int64
		t0, c0 := time.Now(), cpuSeconds()
		for range workers {
			wg.Go(func() {
				for j := int(next.Add(1) - 1); j < total; j = int(next.Add(1) - 1) {
					i := j % len(b.queries)
					hs, err := idx.Search(b.ctx, b.queries[i], b.k, search.SearchOptions{Ef: ef})
					if err != nil {
						panic(err)
					}
					if j >= total-len(b.queries) { // the last repetition: each query once
						found[i] = hitIDs(hs)
					}
				}
			})
		}
		wg.Wait()
		s, c := time.Since(t0).Seconds(), cpuSeconds()-c0
		return run{Ef: ef, Recall: recallOf(found, b.gt), QPS: float64(total) / s, QPSCPU: float64(total) / c}, nil
	}
	nativePass := func(workers int) (run, error) { return nat.threads(ef, workers, threadReps, len(b.queries)) }
	pair := func(pass func(int) (run, error)) (scaling, error) {
		counts := []int{1, 2}
		if r%2 == 1 {
			counts = []int{2, 1}
		}
		var runs [3]run
		for _, w := range counts {
			rn, err := pass(w)
			if err != nil {
				return scaling{}, err
			}
			runs[w] = rn
		}
		return scalingOf(runs[1], runs[2]), nil
	}
	type engine struct {
		pass func(int) (run, error)
		set  func(scaling)
	}
	engines := []engine{{func(w int) (run, error) { return imglishPass(idx, w) }, func(s scaling) { t.scaling = s }}}
	if qidx != nil {
		engines = append(engines, engine{func(w int) (run, error) { return imglishPass(qidx, w) }, func(s scaling) { t.Quant = &s }})
	}
	if nat != nil {
		engines = append(engines, engine{nativePass, func(s scaling) { t.Native = &s }})
	}
	for _, c := range []struct {
		vecs [][]float32
		bulk bool
		set  func(scaling)
	}{
		{ch.full, false, func(s scaling) { t.Chase = &s }},
		{ch.quarter, false, func(s scaling) { t.ChaseQuarter = &s }},
		{ch.full, true, func(s scaling) { t.ChaseBulk = &s }},
	} {
		engines = append(engines, engine{func(w int) (run, error) { return ch.pass(c.vecs, b.queries, w, total, c.bulk), nil }, c.set})
	}
	if r%2 == 1 {
		slices.Reverse(engines)
	}
	for _, e := range engines {
		sc, err := pair(e.pass)
		if err != nil {
			return t, err
		}
		e.set(sc)
	}
	return t, nil
}

// buildQuant builds the int8-quantised index over the same data for the
// thread rounds; it re-ranks from the benchmark's own slice (node n is the
// n-th vector added: no deletes), as a store re-ranks from its mapped file.
func (b *bench) buildQuant() (*search.Index, error) {
	z, err := search.TrainQuantizer(b.data[:min(len(b.data), 10000)])
	if err != nil {
		return nil, err
	}
	src := func(n uint32, _ string, _ []float32) ([]float32, error) { return b.data[n], nil }
	x, err := search.New(search.Options{Dim: b.dim, M: b.m, EfConstruction: b.efc, ExactBelow: 1, Quantizer: z, Source: src})
	if err != nil {
		return nil, err
	}
	logf("imglish int8: building %d for the thread rounds", len(b.data))
	for i, v := range b.data {
		if err := x.Add(b.keys[i], v); err != nil {
			return nil, err
		}
	}
	return x, nil
}

func (b *bench) imglishNote(idx *search.Index) string {
	return fmt.Sprintf("kernel %s; bytes/vector = heap delta (index estimate %.0f B; vector+links %d B); interleaved with native hnswlib",
		search.Kernel(), float64(idx.MemoryBytes())/float64(b.n), 4*b.dim+4*2*b.m)
}

// medianEngine summarises an interleaved engine over the rounds: median
// build rate and, per ef, median QPS (recall is the same every round; its
// mean is shown).
func medianEngine(name string, n int, rounds []round, note string) engine {
	e := engine{Name: name, N: n, Note: note}
	var bs, bc []float64
	for _, r := range rounds {
		bs = append(bs, r.Builds[name].S)
		bc = append(bc, r.Builds[name].CPUS)
		if v := r.Builds[name].BytesPerVector; v > 0 {
			e.BytesPerVector = v
		}
	}
	e.BuildS = median(bs)
	e.InsertsPerS = float64(n) / median(bs)
	e.InsertsPerCPUS = float64(n) / median(bc)
	for i, r0 := range rounds[0].Runs[name] {
		var rec float64
		var q, qc []float64
		for _, r := range rounds {
			x := r.Runs[name][i]
			rec += x.Recall
			q = append(q, x.QPS)
			qc = append(qc, x.QPSCPU)
		}
		e.Runs = append(e.Runs, run{Ef: r0.Ef, Recall: rec / float64(len(rounds)), QPS: median(q), QPSCPU: median(qc)})
	}
	return e
}

func median(a []float64) float64 {
	s := slices.Clone(a)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func joinInts(a []int) string {
	s := make([]string, len(a))
	for i, v := range a {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func recallOf(found, gt [][]int) float64 {
	var hit, tot int
	for i := range found {
		for _, g := range gt[i] {
			tot++
			if slices.Contains(found[i], g) {
				hit++
			}
		}
	}
	return float64(hit) / float64(tot)
}

func hitIDs(hs []search.Hit) []int {
	out := make([]int, len(hs))
	for i, h := range hs {
		out[i], _ = strconv.Atoi(h.ID)
	}
	return out
}

// measure runs the queries three times and keeps the fastest pass (for the
// engines that are not interleaved: exact scan, coder/hnsw).
func measure(nq int, q func(i int) []int, gt [][]int, ef int) run {
	found := make([][]int, nq)
	dt, dc := math.Inf(1), math.Inf(1)
	for rep := 0; rep < 3; rep++ {
		t0, c0 := time.Now(), cpuSeconds()
		for i := 0; i < nq; i++ {
			found[i] = q(i)
		}
		dt = min(dt, time.Since(t0).Seconds())
		dc = min(dc, cpuSeconds()-c0)
	}
	return run{Ef: ef, Recall: recallOf(found, gt[:nq]), QPS: float64(nq) / dt, QPSCPU: float64(nq) / dc}
}

func benchCoder(data, queries [][]float32, k, m, efc int, efs []int) (e engine) {
	e = engine{Name: "coder/hnsw v0.6.1", N: len(data)}
	defer func() {
		if r := recover(); r != nil {
			e.Note = fmt.Sprintf("panicked: %v", r)
		}
	}()
	g := coder.NewGraph[int]()
	g.M = m
	g.Ml = 1 / math.Log(float64(m))
	g.EfSearch = efc
	g.Distance = func(a, b []float32) float32 { return 1 - vek32.Dot(a, b) }
	t0, c0 := time.Now(), cpuSeconds()
	for i, v := range data {
		g.Add(coder.MakeNode(i, v))
		if i%10000 == 9999 {
			logf("coder/hnsw: %d inserted", i+1)
		}
	}
	e.BuildS = time.Since(t0).Seconds()
	e.InsertsPerS = float64(len(data)) / e.BuildS
	e.InsertsPerCPUS = float64(len(data)) / (cpuSeconds() - c0)
	gt := gtFor(data, queries, k)
	for _, ef := range efs {
		g.EfSearch = ef
		e.Runs = append(e.Runs, measure(len(queries), func(i int) []int {
			ns := g.Search(queries[i], k)
			out := make([]int, len(ns))
			for j, nd := range ns {
				out[j] = nd.Key
			}
			return out
		}, gt, ef))
		logf("coder ef=%d recall %.4f", ef, e.Runs[len(e.Runs)-1].Recall)
	}
	return e
}

func gtFor(data, queries [][]float32, k int) [][]int { return exactTopK(data, queries, k, nil) }

// exactTopK is the brute-force reference (ties by smaller id).
func exactTopK(data, queries [][]float32, k int, alive func(int) bool) [][]int {
	out := make([][]int, len(queries))
	type sc struct {
		s float32
		i int
	}
	for qi, q := range queries {
		best := make([]sc, 0, k+1)
		for i, v := range data {
			if alive != nil && !alive(i) {
				continue
			}
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
		out[qi] = ids
	}
	return out
}

func writeData(path string, data, queries [][]float32, gt [][]int, k int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("IMGANN01")
	for _, v := range []int{len(data), len(queries), len(data[0]), k} {
		binary.Write(w, binary.LittleEndian, uint32(v))
	}
	for _, set := range [][][]float32{data, queries} {
		for _, v := range set {
			binary.Write(w, binary.LittleEndian, v)
		}
	}
	for _, g := range gt {
		row := make([]uint32, k)
		for i, id := range g {
			row[i] = uint32(id)
		}
		binary.Write(w, binary.LittleEndian, row)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func cpuName() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if _, v, ok := strings.Cut(l, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}

// qpsAtRecall interpolates QPS (per CPU-second, or wall when cpu is false)
// at recall r on the recall/QPS curve of runs over ef, linearly between the
// two runs around r. It returns 0 when r is outside the measured recalls.
func qpsAtRecall(runs []run, r float64, cpu bool) float64 {
	runs = slices.Clone(runs)
	slices.SortFunc(runs, func(a, b run) int { return cmp.Compare(a.Recall, b.Recall) })
	q := func(x run) float64 {
		if cpu {
			return x.QPSCPU
		}
		return x.QPS
	}
	for i := 1; i < len(runs); i++ {
		a, b := runs[i-1], runs[i]
		if r >= a.Recall && r <= b.Recall {
			if b.Recall == a.Recall {
				return max(q(a), q(b))
			}
			t := (r - a.Recall) / (b.Recall - a.Recall)
			return q(a) + t*(q(b)-q(a))
		}
	}
	return 0
}

// span formats per-round values and their range.
func span(v []float64) string {
	if len(v) == 0 {
		return "n/a"
	}
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.2f", x)
	}
	return fmt.Sprintf("%s (range %.2f–%.2f)", strings.Join(s, ", "), slices.Min(v), slices.Max(v))
}

func summarise(rep report) []string {
	var s []string
	var ig, py *engine
	for i := range rep.Engines {
		switch rep.Engines[i].Name {
		case imglishName:
			ig = &rep.Engines[i]
		case pythonName:
			py = &rep.Engines[i]
		}
	}
	if ig == nil {
		return s
	}
	if len(rep.Rounds) > 0 && len(rep.Rounds[0].Ratios) > 0 {
		for _, t := range targetRecalls {
			var c, w []float64
			for _, r := range rep.Rounds {
				if v, ok := r.Ratios[fmt.Sprintf("qps@%.2f", t)]; ok {
					c = append(c, v)
					w = append(w, r.Ratios[fmt.Sprintf("qps_wall@%.2f", t)])
				}
			}
			s = append(s, fmt.Sprintf("search at recall@%d %.2f, imglish / native hnswlib QPS per CPU-s, by round: %s; wall: %s (target ≥ 1.0)", rep.K, t, span(c), span(w)))
		}
		var c, w []float64
		for _, r := range rep.Rounds {
			c = append(c, r.Ratios["build"])
			w = append(w, r.Ratios["build_wall"])
		}
		s = append(s, fmt.Sprintf("build, imglish / native hnswlib inserts per CPU-s, by round: %s; wall: %s (target ≥ 1.0)", span(c), span(w)))
	}
	if len(rep.Threads) > 0 {
		// col lists, round by round, f of the scaling get picks (rounds
		// without it skipped).
		col := func(get func(*threads) *scaling, f func(*scaling) float64) []float64 {
			var v []float64
			for i := range rep.Threads {
				if sc := get(&rep.Threads[i]); sc != nil {
					v = append(v, f(sc))
				}
			}
			return v
		}
		speedup := func(sc *scaling) float64 { return sc.Speedup }
		cores := func(sc *scaling) float64 { return sc.Cores2 }
		eff := func(sc *scaling) float64 { return sc.Efficiency }
		gb := float64(chaseSteps*chaseWidth*4*rep.Dim) / 1e9 // a float chase's bytes, in GB
		gb1 := func(sc *scaling) float64 { return sc.QPS1 * gb }
		gb2 := func(sc *scaling) float64 { return sc.QPS2 * gb }
		float := func(t *threads) *scaling { return &t.scaling }
		quant := func(t *threads) *scaling { return t.Quant }
		nat := func(t *threads) *scaling { return t.Native }
		chase := func(t *threads) *scaling { return t.Chase }
		quarter := func(t *threads) *scaling { return t.ChaseQuarter }
		bulk := func(t *threads) *scaling { return t.ChaseBulk }
		var loads []string
		for _, t := range rep.Threads {
			loads = append(loads, t.Load)
		}
		s = append(s, fmt.Sprintf("imglish two search threads / one (wall QPS, ef=%d, recall %.4f), by round: %s, the two-thread pass getting %s cores of the machine's %d at load %s (target ≥ 1.8); QPS per CPU-second, two threads / one: %s",
			rep.Threads[0].Ef, rep.Threads[0].Recall, span(col(float, speedup)), span(col(float, cores)), runtime.NumCPU(), strings.Join(loads, " / "), span(col(float, eff))))
		if rep.Threads[0].Quant != nil {
			s = append(s, fmt.Sprintf("imglish int8-quantised index (a quarter of the bytes per scored vector, default re-rank; recall %.4f): two threads / one %s on %s cores; QPS per CPU-second, two threads / one: %s",
				rep.Threads[0].Quant.Recall, span(col(quant, speedup)), span(col(quant, cores)), span(col(quant, eff))))
		}
		if rep.Threads[0].Native != nil {
			s = append(s, fmt.Sprintf("native hnswlib, the same passes interleaved with imglish's (recall %.4f): two threads / one %s on %s cores; QPS per CPU-second, two threads / one: %s — what this machine's cores and memory give an optimised C++ HNSW",
				rep.Threads[0].Native.Recall, span(col(nat, speedup)), span(col(nat, cores)), span(col(nat, eff))))
		}
		if rep.Threads[0].Chase != nil {
			gbs := func(v []float64) string { return fmt.Sprintf("%.0f–%.0f GB/s", slices.Min(v), slices.Max(v)) }
			s = append(s, fmt.Sprintf("the walk's memory pattern alone, no graph (%d dependent steps, each a random link row and the %d random vectors it names, scored with imglish's kernel; the best names the next row): two threads / one over the float vectors (%d B) %s, QPS per CPU-second %s, reading %s on one thread and %s on two; over quarter-width vectors (%d B, the int8 codes' size) %s, QPS per CPU-second %s",
				chaseSteps, chaseWidth, 4*rep.Dim, span(col(chase, speedup)), span(col(chase, eff)), gbs(col(chase, gb1)), gbs(col(chase, gb2)), rep.Dim, span(col(quarter, speedup)), span(col(quarter, eff))))
			s = append(s, fmt.Sprintf("the same float vectors scored in one batch per query, no wait between steps (as much memory traffic as one thread can make): two threads / one %s, QPS per CPU-second %s, reading %s on one thread and %s on two — the most this machine gave two threads for these reads at the time",
				span(col(bulk, speedup)), span(col(bulk, eff)), gbs(col(bulk, gb1)), gbs(col(bulk, gb2))))
		}
	}
	if py != nil {
		var parts []string
		for _, t := range targetRecalls {
			if a, b := qpsAtRecall(ig.Runs, t, true), qpsAtRecall(py.Runs, t, true); a > 0 && b > 0 {
				parts = append(parts, fmt.Sprintf("%.2f at %.2f", a/b, t))
			}
		}
		s = append(s, fmt.Sprintf("against Debian's generic python3-hnswlib (not interleaved; imglish's median rounds): %s", strings.Join(parts, ", ")))
	}
	ideal := float64(4*rep.Dim + 4*2*rep.M)
	s = append(s, fmt.Sprintf("memory: imglish %.0f B/vector (heap delta) vs vector+links %.0f B → %.2f× (target ≤ 1.3)", ig.BytesPerVector, ideal, ig.BytesPerVector/ideal))
	if rep.Delete != nil {
		s = append(s, fmt.Sprintf("after deleting 10%%: recall@%d %.4f at ef=64, %.4f at ef=32 (target ≥ 0.95)", rep.K, rep.Delete["recall_ef64"], rep.Delete["recall_ef32"]))
	}
	return s
}

func writeReport(dir string, rep report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### ANN benchmark: %d clustered %d-d unit vectors, %d queries, recall@%d, M=%d, efConstruction=%d, one search thread\n\n",
		rep.N, rep.Dim, rep.Queries, rep.K, rep.M, rep.EfC)
	fmt.Fprintf(&b, "CPU: %s (%d cores); imglish kernel %s; %s; Go %s", rep.CPU, runtime.NumCPU(), rep.Kernel, rep.Date, runtime.Version())
	if rep.Compiler != "" {
		fmt.Fprintf(&b, "; native hnswlib built with %s -O3 -march=native", rep.Compiler)
	}
	fmt.Fprintf(&b, "\n\nLoad average at start %s, at end %s. imglish and native hnswlib ran interleaved in %d rounds (each: both builds, then one pass per ef per engine, the first engine alternating); their rows give the median over rounds, and ratios are taken within each round. Rates per CPU-second of the process are the comparison (robust to other load); wall-clock rates are shown too.\n\n", rep.LoadStart, rep.LoadEnd, len(rep.Rounds))
	if len(rep.Rounds) > 0 && len(rep.Rounds[0].Ratios) > 0 {
		b.WriteString("| round | first | load at start → end | build ratio (CPU-s) |")
		for _, t := range targetRecalls {
			fmt.Fprintf(&b, " QPS ratio at recall %.2f |", t)
		}
		b.WriteString("\n|---|---|---|---|---|---|---|\n")
		for _, r := range rep.Rounds {
			fmt.Fprintf(&b, "| %d | %s | %s → %s | %.2f |", r.Round, strings.Fields(r.First)[0], r.LoadStart, r.LoadEnd, r.Ratios["build"])
			for _, t := range targetRecalls {
				if v, ok := r.Ratios[fmt.Sprintf("qps@%.2f", t)]; ok {
					fmt.Fprintf(&b, " %.2f |", v)
				} else {
					b.WriteString(" n/a |")
				}
			}
			b.WriteString("\n")
		}
		b.WriteString("\nRatios are imglish / native hnswlib; QPS at a recall is interpolated on each engine's own recall/QPS curve of that round.\n\n")
	}
	b.WriteString("| engine | vectors | build inserts/CPU-s (wall) | bytes/vector | ef | recall@10 | QPS per CPU-s | QPS wall |\n|---|---|---|---|---|---|---|---|\n")
	for _, e := range rep.Engines {
		build := "—"
		if e.InsertsPerS > 0 {
			build = fmt.Sprintf("%.0f (%.0f)", e.InsertsPerCPUS, e.InsertsPerS)
			if e.BuildThreads > 1 {
				build += fmt.Sprintf(" (%d threads)", e.BuildThreads)
			}
		}
		mem := "—"
		if e.BytesPerVector > 0 {
			mem = fmt.Sprintf("%.0f", e.BytesPerVector)
		}
		if len(e.Runs) == 0 {
			fmt.Fprintf(&b, "| %s | %d | %s | %s | — | — | — | — |\n", e.Name, e.N, build, mem)
		}
		for i, r := range e.Runs {
			name, nn, bb, mm := e.Name, strconv.Itoa(e.N), build, mem
			if i > 0 {
				name, nn, bb, mm = "", "", "", ""
			}
			ef := strconv.Itoa(r.Ef)
			if r.Ef == 0 {
				ef = "—"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.4f | %.0f | %.0f |\n", name, nn, bb, mm, ef, r.Recall, r.QPSCPU, r.QPS)
		}
		if e.Note != "" {
			fmt.Fprintf(&b, "| | | | | | *%s* | | |\n", e.Note)
		}
	}
	b.WriteString("\n")
	for _, s := range rep.Summary {
		fmt.Fprintf(&b, "- %s\n", s)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	j, _ := json.MarshalIndent(rep, "", " ")
	if err := os.WriteFile(filepath.Join(dir, "report.json"), j, 0o644); err != nil {
		return err
	}
	fmt.Print(b.String())
	return nil
}

// cpuSeconds is the CPU time (user+system) used by this process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
