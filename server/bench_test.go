//go:build bench

package server

import (
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
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"imglish/app"
	"imglish/demo/scene"
	"imglish/model"
	"imglish/store"
)

// TestServeLatency is the server benchmark (make bench): a store of 100k
// vectors, text search over loopback HTTP from 1, 8 and 32 concurrent clients,
// with and without request coalescing. Run:
//
//	go test -tags bench -run TestServeLatency -v -timeout 60m ./server
//
// IMGLISH_BENCH_N (vectors, default 100000) and IMGLISH_BENCH_SECONDS (per
// cell, default 10) size it.
func TestServeLatency(t *testing.T) {
	n := envInt("IMGLISH_BENCH_N", 100_000)
	secs := envInt("IMGLISH_BENCH_SECONDS", 10)
	ctx := context.Background()
	mdir, trained := testModel(t, false)
	core, err := model.Open(ctx, mdir, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
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
	defer db.Close()
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

	// Encoder reference: texts/s one at a time and in batches of 32.
	gen, _ := scene.New(scene.Options{Seed: 99, Split: scene.Test})
	var queries []string
	for i := range 512 {
		queries = append(queries, gen.Scene(i).Caption())
	}
	single, batched := encoderRate(t, m, queries)

	report := &bytes.Buffer{}
	host, _ := os.Hostname()
	fmt.Fprintf(report, "imglish server latency — %s, %d CPUs, model %s (dim %d, trained demo: %v)\n", host, runtimeCPUs(), info.ID, info.Dim, trained)
	fmt.Fprintf(report, "store: %d vectors loaded in %.1fs; HNSW recall@10 self-check %.3f\n", n, load.Seconds(), recall)
	fmt.Fprintf(report, "encoder alone: %.0f texts/s one per call, %.0f texts/s in batches of 32\n\n", single, batched)
	fmt.Fprintf(report, "%-14s %7s %9s %9s %9s %9s %10s\n", "mode", "clients", "p50 ms", "p90 ms", "p99 ms", "p99/p50", "req/s")
	for _, mode := range []struct {
		name     string
		batch    CoalescerOptions
		inFlight int
	}{
		{"coalesced", CoalescerOptions{MaxBatch: 32, MaxWait: 2 * time.Millisecond}, 0},
		{"coal.,noqueue", CoalescerOptions{MaxBatch: 32, MaxWait: 2 * time.Millisecond}, -1},
		{"unbatched", CoalescerOptions{MaxBatch: 1}, -1},
	} {
		srv, err := New(Deps{DataDir: data, Encoder: m, Catalog: cat}, Options{
			NoAuth: true, Addr: "127.0.0.1:0", RateLimit: -1, Batch: mode.batch, MaxInFlight: mode.inFlight, Logger: slog.New(slog.DiscardHandler)})
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
		url := "http://" + ln.Addr().String() + "/v1/search"
		for _, clients := range []int{1, 8, 32} {
			lat, reqs := drive(t, url, queries, clients, time.Duration(secs)*time.Second)
			p50, p90, p99 := pct(lat, .5), pct(lat, .9), pct(lat, .99)
			fmt.Fprintf(report, "%-14s %7d %9.2f %9.2f %9.2f %9.2f %10.1f\n", mode.name, clients, ms(p50), ms(p90), ms(p99), float64(p99)/float64(p50), reqs)
		}
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	fmt.Print(report.String())
	if out := os.Getenv("IMGLISH_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, report.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func runtimeCPUs() int { return runtime.NumCPU() }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pct(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	return lat[min(len(lat)-1, int(p*float64(len(lat))))]
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

func encoderRate(t *testing.T, m *Model, texts []string) (single, batched float64) {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	for _, tx := range texts[:128] {
		if _, err := m.EmbedTexts(ctx, []string{tx}); err != nil {
			t.Fatal(err)
		}
	}
	single = 128 / time.Since(start).Seconds()
	start = time.Now()
	for i := 0; i < len(texts); i += 32 {
		if _, err := m.EmbedTexts(ctx, texts[i:i+32]); err != nil {
			t.Fatal(err)
		}
	}
	batched = float64(len(texts)) / time.Since(start).Seconds()
	return single, batched
}

// drive runs clients closed-loop for d and returns the sorted latencies and req/s.
func drive(t *testing.T, url string, queries []string, clients int, d time.Duration) ([]time.Duration, float64) {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: clients * 2, MaxConnsPerHost: clients * 2}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	// Warm up the connections and the encoder.
	for i := range clients {
		if err := searchOnce(client, url, queries[i%len(queries)]); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu   sync.Mutex
		all  []time.Duration
		wg   sync.WaitGroup
		errs = make(chan error, clients)
	)
	deadline := time.Now().Add(d)
	start := time.Now()
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
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	slices.Sort(all)
	return all, float64(len(all)) / elapsed.Seconds()
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
