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
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"imglish/search"
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
// what it would read for a real one. Run: make bench-open.
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
		db, err := Open(t.Context(), dir, Options{Logger: benchLogger(t)})
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
	vstoretest.RunCrash(t, crashTarget(t, t.TempDir()), envInt("IMGLISH_CRASH_TRIALS", 60))
}
