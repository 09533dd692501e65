//go:build bench

package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"imglish/search"
	"imglish/search/synth"
	"imglish/vstore/vstoretest"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestOpenLarge measures opening a store of IMGLISH_OPEN_N (default 1M)
// vectors of IMGLISH_OPEN_DIM (768) dimensions without rebuilding. The
// records are written directly (a real HNSW build of 1M vectors takes
// hours on 2 cores); the graph is random but valid (32 links per node on
// layer 0, as a full layer-0 list), so Open reads and validates exactly
// what it would read for a real one. IMGLISH_OPEN_QUANT=1 opens it with
// Options.Quantize (trained at the first open, from the record after).
// Run: make bench-open.
func TestOpenLarge(t *testing.T) {
	n := envInt("IMGLISH_OPEN_N", 1_000_000)
	dim := envInt("IMGLISH_OPEN_DIM", 768)
	dir := os.Getenv("IMGLISH_OPEN_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err == nil {
		t.Logf("reusing the store in %s (IMGLISH_OPEN_DIR)", dir)
		openTrials(t, dir, n, dim)
		return
	}
	writeOpenStore(t, dir, n, dim)
	openTrials(t, dir, n, dim)
}

// writeOpenStore writes n synthetic items with random vectors and a random
// valid layer-0 graph straight into Badger.
func writeOpenStore(t *testing.T, dir string, n, dim int) {
	const name = "images:bench"
	bdb, err := badger.Open(badgerOptions(dir, Options{NoSync: true}, discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	wb := bdb.NewWriteBatch()
	set := func(k, v []byte) {
		if err := wb.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	set([]byte(keySchema), binary.BigEndian.AppendUint32(nil, SchemaVersion))
	rec, _ := json.Marshal(spaceRecord{Space: Space{Name: name, Kind: KindImages, Model: "bench", Dim: dim, M: 16, EfConstruction: 128}, Entry: 0, Top: 0})
	set(spaceKey(name), seal(rec))
	r := rand.New(rand.NewPCG(1, 2))
	t0 := time.Now()
	mtime := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%064x", i)
		it := Item{ID: id, Hash: id, Files: []File{{Path: fmt.Sprintf("/photos/%03d/img%07d.jpg", i%1000, i), Size: 3 << 20, ModTime: mtime}},
			Meta: Meta{Size: 3 << 20, MediaType: "image/jpeg", Width: 4000, Height: 3000}, Model: "bench", AddedAt: mtime}
		set([]byte(prefixItem+id), encodeItem(&it))
		links := make([]uint32, 32)
		for j := range links {
			for {
				links[j] = uint32(r.IntN(n))
				if links[j] != uint32(i) {
					break
				}
			}
		}
		set(nodeKey(prefixNode, name, uint32(i)), encodeNode(search.Node{Key: id, Level: 0, Links: [][]uint32{links}}))
		v := make([]byte, 0, 4*dim+4)
		for j := 0; j < dim; j++ {
			v = binary.LittleEndian.AppendUint32(v, math.Float32bits(r.Float32()-0.5))
		}
		set(nodeKey(prefixVec, name, uint32(i)), seal(v))
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d records of %d-d in %.1fs", n, dim, time.Since(t0).Seconds())
}

// openTrials opens the store in dir IMGLISH_OPEN_TRIALS times (default 2:
// the first open after the write, then a warm one) and logs time and heap.
func openTrials(t *testing.T, dir string, n, dim int) {
	for trial := 0; trial < envInt("IMGLISH_OPEN_TRIALS", 2); trial++ {
		runtime.GC()
		prof := os.Getenv("IMGLISH_OPEN_PROF")
		if prof != "" && trial == 1 {
			f, err := os.Create(prof)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				t.Fatal(err)
			}
		}
		var ru0, ru1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		t0 := time.Now()
		db, err := Open(t.Context(), dir, Options{Logger: benchLogger(t), Quantize: os.Getenv("IMGLISH_OPEN_QUANT") != ""})
		if err != nil {
			t.Fatal(err)
		}
		dt := time.Since(t0)
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		if prof != "" && trial == 1 {
			pprof.StopCPUProfile()
		}
		cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
		load, _ := os.ReadFile("/proc/loadavg")
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		t.Logf("open %d vectors × %d: %.2fs (target ≤ 5 s), CPU %.2fs, heap %d MiB; loadavg %s",
			n, dim, dt.Seconds(), cpu.Seconds(), ms.HeapAlloc>>20, strings.TrimSpace(string(load)))
		if db.Spaces()[0].Count != n {
			t.Fatalf("count %d", db.Spaces()[0].Count)
		}
		db.Close()
	}
}

// benchLogger logs the store's debug messages (load phase timings) to t
// when IMGLISH_OPEN_DEBUG is set.
func benchLogger(t *testing.T) *slog.Logger {
	if os.Getenv("IMGLISH_OPEN_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestCrashSoak is the conformance suite's Crash subtest with many more
// kill-and-reopen trials (IMGLISH_CRASH_TRIALS, default 60). Run: make
// bench-store.
func TestCrashSoak(t *testing.T) {
	vstoretest.RunCrash(t, crashTarget(t, t.TempDir(), false), envInt("IMGLISH_CRASH_TRIALS", 60))
}

// TestQuantBench (make bench-quant) builds the same store twice through
// Apply — floats, and Options.Quantize (codes from QuantizeAfter on) — on
// the ANN bench's clustered data (IMGLISH_QUANT_N, default 100,000 ×
// IMGLISH_QUANT_DIM 768, 500 centres, σ 0.8) and compares, per ef: recall@10
// against an exact scan of 200 queries and queries per CPU-second on one
// goroutine, the two stores' queries interleaved ef by ef in
// IMGLISH_QUANT_ROUNDS (3) rounds; and the index heap per vector, the
// insert rate, the open time and the heap an open adds of each. A
// quantised search re-ranks the walk's ef best candidates (Options.Rerank
// 0; IMGLISH_QUANT_RERANK sets it) with full vectors read from the space's
// mapped vector file, so its QPS includes those reads (from the page
// cache: the file was just written). IMGLISH_QUANT_EF lists the ef values
// (default 16,24,32,48,64,96,128; a million vectors need more for recall
// 0.95).
func TestQuantBench(t *testing.T) {
	n := envInt("IMGLISH_QUANT_N", 100_000)
	dim := envInt("IMGLISH_QUANT_DIM", 768)
	rounds := envInt("IMGLISH_QUANT_ROUNDS", 3)
	const nq, name = 200, "images:bench"
	all := synth.Clustered(n+nq, dim, 500, 0.8, 20240601)
	data, queries := all[:n], all[n:]
	gt := make([][]int, nq)
	for i, q := range queries {
		gt[i] = exactTop(data, q, 10)
	}
	type variant struct {
		label  string
		opts   Options
		dir    string
		db     *DB
		build  time.Duration
		open   time.Duration
		bytes  int64
		heap   uint64 // heap the open added
		file   int64  // vector file bytes on disk
		qps    map[int][]float64
		recall map[int]float64
	}
	rerank, rlabel := 0, "4·k"
	if r, err := strconv.Atoi(os.Getenv("IMGLISH_QUANT_RERANK")); err == nil {
		rerank, rlabel = r, strconv.Itoa(r)
		if r == search.RerankAll {
			rlabel = "all ef"
		}
	}
	vs := []*variant{
		{label: "float", opts: Options{NoSync: true}},
		{label: "quantised (int8 codes, re-rank " + rlabel + " from the vector file)", opts: Options{NoSync: true, Quantize: true, Rerank: rerank}},
	}
	ctx := t.Context()
	// IMGLISH_QUANT_DIR keeps the two stores (float/, quant/) for a later
	// run of the same n and dim, which then skips the builds.
	keep := os.Getenv("IMGLISH_QUANT_DIR")
	for i, v := range vs {
		v.dir = t.TempDir()
		if keep != "" {
			v.dir = filepath.Join(keep, []string{"float", "quant"}[i])
			if _, err := os.Stat(filepath.Join(v.dir, "MANIFEST")); err == nil {
				t.Logf("%s: reusing the store in %s (IMGLISH_QUANT_DIR)", v.label, v.dir)
				continue
			}
		}
		db, err := Open(ctx, v.dir, v.opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateSpace(ctx, Space{Name: name, Kind: KindImages, Model: "bench", Dim: dim}); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		for lo := 0; lo < n; lo += 500 {
			var b Batch
			for i := lo; i < min(lo+500, n); i++ {
				id := fmt.Sprintf("v%07d", i)
				b.PutItem(Item{ID: id, Files: []File{{Path: "/b/" + id + ".jpg"}}})
				b.PutVector(name, id, data[i])
			}
			if err := db.Apply(ctx, &b); err != nil {
				t.Fatal(err)
			}
		}
		v.build = time.Since(t0)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: built %d in %.1fs (load %s)", v.label, n, v.build.Seconds(), loadavg())
	}
	// Both built and closed: open them one after the other, each open's
	// heap growth measured after a full collection.
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for _, v := range vs {
		h0 := heap()
		t0 := time.Now()
		var err error
		if v.db, err = Open(ctx, v.dir, v.opts); err != nil {
			t.Fatal(err)
		}
		defer v.db.Close()
		v.open = time.Since(t0)
		h1 := heap()
		v.heap = h1 - min(h0, h1)
		sp, _ := v.db.space(name)
		v.bytes = sp.idx.MemoryBytes()
		if st, err := os.Stat(filepath.Join(v.dir, vecDir, vecFileName(name))); err == nil {
			v.file = st.Size()
		}
		v.qps, v.recall = map[int][]float64{}, map[int]float64{}
	}
	efs := []int{16, 24, 32, 48, 64, 96, 128}
	if e := os.Getenv("IMGLISH_QUANT_EF"); e != "" {
		efs = nil
		for _, f := range strings.Split(e, ",") {
			ef, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || ef < 1 {
				t.Fatalf("IMGLISH_QUANT_EF: %q", e)
			}
			efs = append(efs, ef)
		}
	}
	for r := range rounds {
		for _, ef := range efs {
			for j := range vs {
				v := vs[(j+r)%len(vs)]
				var ru0, ru1 syscall.Rusage
				syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
				found := 0
				for i, q := range queries {
					hits, err := v.db.Search(ctx, name, q, 10, SearchOptions{Ef: ef})
					if err != nil {
						t.Fatal(err)
					}
					for _, h := range hits {
						var id int
						fmt.Sscanf(h.ID, "v%d", &id)
						if slices.Contains(gt[i], id) {
							found++
						}
					}
				}
				syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
				cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
				v.qps[ef] = append(v.qps[ef], float64(nq)/cpu.Seconds())
				v.recall[ef] = float64(found) / float64(10*nq)
			}
		}
		t.Logf("round %d done (load %s)", r+1, loadavg())
	}
	var md strings.Builder
	fmt.Fprintf(&md, "## Quantised store (`make bench-quant`)\n\n%d × %d-d clustered vectors built through Apply, %d queries, %d rounds interleaved; load at the end %s.\n\n", n, dim, nq, rounds, loadavg())
	fmt.Fprintf(&md, "| store | index heap B/vector | heap the open added, MiB (items, Badger's tables and memtable too) | vector file on disk B/vector | build vectors/s | open s |\n|---|---|---|---|---|---|\n")
	for _, v := range vs {
		rate := "reused"
		if v.build > 0 {
			rate = fmt.Sprintf("%.0f", float64(n)/v.build.Seconds())
		}
		fmt.Fprintf(&md, "| %s | %d | %d | %d | %s | %.2f |\n", v.label, v.bytes/int64(n), v.heap>>20, v.file/int64(n), rate, v.open.Seconds())
	}
	fmt.Fprintf(&md, "\nProjection for 10 M vectors from the index heap per vector: float %.1f GB, quantised %.1f GB, against a 24 GB machine (items and Badger come on top, the same for both); the quantised store's vector file (%.1f GB at 10 M) is read through the page cache, so what of it does not fit is read from disk at re-rank.\n",
		float64(vs[0].bytes)/float64(n)*1e7/1e9, float64(vs[1].bytes)/float64(n)*1e7/1e9, float64(vs[1].file)/float64(n)*1e7/1e9)
	fmt.Fprintf(&md, "\n| ef | float recall@10 | quantised recall@10 | float QPS/CPU-s | quantised QPS/CPU-s | quantised/float per round, median (min–max) |\n|---|---|---|---|---|---|\n")
	for _, ef := range efs {
		var ratios []float64
		for r := range rounds {
			ratios = append(ratios, vs[1].qps[ef][r]/vs[0].qps[ef][r])
		}
		slices.Sort(ratios)
		fmt.Fprintf(&md, "| %d | %.4f | %.4f | %.0f | %.0f | %.2f× (%.2f–%.2f) |\n", ef, vs[0].recall[ef], vs[1].recall[ef],
			medianF(vs[0].qps[ef]), medianF(vs[1].qps[ef]), ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1])
	}
	runtime.KeepAlive(all) // the queries and the data stay live throughout, so they are in no heap delta
	t.Log("\n" + md.String())
	if out := os.Getenv("IMGLISH_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(md.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func medianF(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
