package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"imglish/search"
)

// quantRun is one engine's pass at one ef in the -quant comparison.
type quantRun struct {
	Engine string  `json:"engine"`
	Round  int     `json:"round"`
	Ef     int     `json:"ef"`
	Recall float64 `json:"recall"`
	QPS    float64 `json:"qps"`
	QPSCPU float64 `json:"qps_cpu"`
	Reads  float64 `json:"source_reads_per_query,omitempty"`
}

type quantReport struct {
	Date      string            `json:"date"`
	CPU       string            `json:"cpu"`
	Kernel    string            `json:"kernel"`
	KernelI8  string            `json:"kernel_i8"`
	N         int               `json:"n"`
	Queries   int               `json:"queries"`
	Dim       int               `json:"dim"`
	M         int               `json:"m"`
	EfC       int               `json:"ef_construction"`
	Train     int               `json:"quantizer_sample"`
	Builds    map[string]build  `json:"builds"`
	Memory    map[string]int64  `json:"memory_bytes_estimate"`
	Runs      []quantRun        `json:"runs"`
	Load      map[string]string `json:"loadavg"`
	Projected string            `json:"projection_10m_24gb"`
}

// quantBench compares the float index with the quantised one (int8 codes
// in RAM, exact re-rank through a source) on the same data: each builds
// once (heap growth over the build is its bytes per vector), then every
// round runs one pass per ef for each, the first engine alternating. The
// source serves the full vectors from the benchmark's own slice, which is
// allocated before either build, so it is not in either heap delta (a
// store serves them from its mapped value log).
func (b *bench) quantBench() error {
	rep := quantReport{Date: time.Now().UTC().Format(time.RFC3339), CPU: cpuName(), Kernel: search.Kernel(), KernelI8: search.KernelI8(),
		N: b.n, Queries: b.nq, Dim: b.dim, M: b.m, EfC: b.efc, Builds: map[string]build{}, Memory: map[string]int64{},
		Load: map[string]string{"start": loadAvg()}}
	rep.Train = min(b.n, 10000)
	z, err := search.TrainQuantizer(b.data[:rep.Train])
	if err != nil {
		return err
	}
	var reads int64
	src := func(_ uint32, key string, dst []float32) ([]float32, error) {
		i, err := strconv.Atoi(key)
		if err != nil {
			return nil, err
		}
		reads++
		return b.data[i], nil // as a store returns a slice of its mapped log
	}
	idx := map[string]*search.Index{}
	for _, e := range []struct {
		name string
		opts search.Options
	}{
		{"float", search.Options{Dim: b.dim, M: b.m, EfConstruction: b.efc, ExactBelow: 1}},
		{"int8", search.Options{Dim: b.dim, M: b.m, EfConstruction: b.efc, ExactBelow: 1, Quantizer: z, Source: src}},
	} {
		logf("building %s index of %d (load %s)", e.name, b.n, loadAvg())
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		x, err := search.New(e.opts)
		if err != nil {
			return err
		}
		t0, c0 := time.Now(), cpuSeconds()
		for i, v := range b.data {
			if err := x.Add(b.keys[i], v); err != nil {
				return err
			}
		}
		bd := build{S: time.Since(t0).Seconds(), CPUS: cpuSeconds() - c0}
		runtime.GC()
		runtime.ReadMemStats(&ms1)
		bd.BytesPerVector = float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc)) / float64(b.n)
		rep.Builds[e.name] = bd
		rep.Memory[e.name] = x.MemoryBytes()
		idx[e.name] = x
		logf("%s: %.0f bytes/vector, %.1f s (%.1f CPU-s)", e.name, bd.BytesPerVector, bd.S, bd.CPUS)
	}
	order := []string{"float", "int8"}
	for r := range b.rounds {
		if r%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, ef := range b.efs {
			for _, name := range order {
				r0 := reads
				ru := b.passImglish(idx[name], ef)
				qr := quantRun{Engine: name, Round: r + 1, Ef: ef, Recall: ru.Recall, QPS: ru.QPS, QPSCPU: ru.QPSCPU}
				if name == "int8" {
					qr.Reads = float64(reads-r0) / float64(b.nq)
				}
				rep.Runs = append(rep.Runs, qr)
			}
		}
		logf("round %d done (load %s)", r+1, loadAvg())
	}
	rep.Load["end"] = loadAvg()
	// The 10M projection: heap bytes per vector measured here, times 10M,
	// against a 24 GB machine.
	var proj []string
	for _, name := range []string{"float", "int8"} {
		gb := rep.Builds[name].BytesPerVector * 10e6 / 1e9
		proj = append(proj, fmt.Sprintf("%s %.1f GB (%s)", name, gb, map[bool]string{true: "fits 24 GB", false: "does not fit 24 GB"}[gb < 24]))
	}
	rep.Projected = strings.Join(proj, "; ")
	if err := os.MkdirAll(b.out, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.out, "quant.json"), js, 0o644); err != nil {
		return err
	}
	var s strings.Builder
	fmt.Fprintf(&s, "quantised vs float, %d×%d clustered, M=%d efC=%d, %s / %s kernels, load %s → %s\n\n", b.n, b.dim, b.m, b.efc, rep.Kernel, rep.KernelI8, rep.Load["start"], rep.Load["end"])
	fmt.Fprintf(&s, "| engine | bytes/vector (heap) | MemoryBytes/vector | build inserts/CPU-s |\n|---|---|---|---|\n")
	for _, name := range []string{"float", "int8"} {
		bd := rep.Builds[name]
		fmt.Fprintf(&s, "| %s | %.0f | %.0f | %.0f |\n", name, bd.BytesPerVector, float64(rep.Memory[name])/float64(b.n), float64(b.n)/bd.CPUS)
	}
	fmt.Fprintf(&s, "\n| round | ef | engine | recall@%d | QPS per CPU-s | wall QPS | source reads/query |\n|---|---|---|---|---|---|---|\n", b.k)
	for _, r := range rep.Runs {
		fmt.Fprintf(&s, "| %d | %d | %s | %.4f | %.0f | %.0f | %.1f |\n", r.Round, r.Ef, r.Engine, r.Recall, r.QPSCPU, r.QPS, r.Reads)
	}
	fmt.Fprintf(&s, "\n10M projection: %s\n", rep.Projected)
	fmt.Print(s.String())
	return os.WriteFile(filepath.Join(b.out, "quant.md"), []byte(s.String()), 0o644)
}
