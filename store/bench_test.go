//go:build bench

package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"imglish/search"
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
	dir := t.TempDir()
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
			Size: 3 << 20, MediaType: "image/jpeg", Width: 4000, Height: 3000, Model: "bench", AddedAt: mtime}
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
	for trial := 0; trial < 2; trial++ {
		runtime.GC()
		if p := os.Getenv("IMGLISH_OPEN_PROF"); p != "" && trial == 1 {
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
		t0 = time.Now()
		db, err := Open(t.Context(), dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		dt := time.Since(t0)
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		t.Logf("open %d vectors × %d: %.2fs (target ≤ 5 s), heap %d MiB", n, dim, dt.Seconds(), ms.HeapAlloc>>20)
		if db.Spaces()[0].Count != n {
			t.Fatalf("count %d", db.Spaces()[0].Count)
		}
		db.Close()
	}
}

// TestCrashSoak is TestCrashRecovery with many more kill-and-reopen trials
// (IMGLISH_CRASH_TRIALS, default 60). Run: make bench-store.
func TestCrashSoak(t *testing.T) {
	runCrashTrials(t, envInt("IMGLISH_CRASH_TRIALS", 60))
}
