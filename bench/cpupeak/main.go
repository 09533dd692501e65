// Command cpupeak measures this CPU's multiply-add peak — the most any GEMM
// can reach — so that bench/REPORT.md can say how far the encoder and ORT's
// own GEMM are from the silicon, not only from each other: fp32 FMA and
// int8 VNNI (VPDPBUSD) on 512-bit registers, on 1 thread and on -threads
// (default: every CPU), each thread locked to its OS thread and running 12
// independent chains. It exits with status 1 on a CPU without AVX-512.
//
//	go run ./bench/cpupeak [-json FILE] [-seconds S] [-threads N]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"
)

// kernel is one peak loop: run(n) performs n iterations of opsPerIter
// operations, counted in unit.
type kernel struct {
	name, unit string
	opsPerIter float64
	run        func(n int)
}

// result is one kernel at one thread count: the best of the repeats.
type result struct {
	Kernel  string  `json:"kernel"`
	Unit    string  `json:"unit"`
	Threads int     `json:"threads"`
	Rate    float64 `json:"rate"` // Unit, all threads together
	// RatePerCPU is Unit per CPU-second of the measuring threads: one
	// core's peak even when neighbours take part of the cores (then Rate
	// drops and this does not); 0 when threads' CPU time is not read.
	RatePerCPU float64 `json:"rate_per_cpu_s,omitempty"`
}

func main() {
	out := flag.String("json", "", "write the results here")
	secs := flag.Float64("seconds", 0.5, "time per measurement (best of 3)")
	nthreads := flag.Int("threads", runtime.NumCPU(), "threads for the all-threads figure (as the encoders use)")
	flag.Parse()
	if *secs <= 0 || *nthreads < 1 {
		slog.Error("cpupeak: -seconds and -threads must be positive")
		os.Exit(2)
	}
	ks := kernels()
	if len(ks) == 0 {
		slog.Error("cpupeak: no AVX-512 kernel for this CPU")
		os.Exit(1)
	}
	var res []result
	for _, k := range ks {
		for _, threads := range []int{1, *nthreads} {
			best, bestCPU := 0.0, 0.0
			for range 3 {
				wall, cpu := measure(k, threads, *secs)
				best, bestCPU = max(best, wall), max(bestCPU, cpu)
			}
			res = append(res, result{Kernel: k.name, Unit: k.unit, Threads: threads, Rate: best / 1e9, RatePerCPU: bestCPU / 1e9})
			fmt.Printf("%s %d thread(s): %.0f %s, %.0f per CPU-second\n", k.name, threads, best/1e9, k.unit, bestCPU/1e9)
			if threads == *nthreads {
				break
			}
		}
	}
	if *out != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err == nil {
			err = os.WriteFile(*out, b, 0o644)
		}
		if err != nil {
			slog.Error("cpupeak: write result", "err", err)
			os.Exit(1)
		}
	}
}

// measure runs k on threads OS threads for about secs seconds and returns
// the operations per second of all of them together, and per CPU-second
// of those threads (0 when their CPU time is not read).
func measure(k kernel, threads int, secs float64) (wall, perCPU float64) {
	// Calibrate: iterations for ~secs on one thread.
	n := 1 << 16
	for {
		start := time.Now()
		k.run(n)
		if d := time.Since(start).Seconds(); d > 0.05 {
			n = max(1, int(float64(n)*secs/d))
			break
		}
		n *= 4
	}
	var wg sync.WaitGroup
	cpu := make([]time.Duration, threads)
	start := time.Now()
	for i := range threads {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			c := threadCPU()
			k.run(n)
			cpu[i] = threadCPU() - c
		})
	}
	wg.Wait()
	ops := float64(threads) * float64(n) * k.opsPerIter
	var used time.Duration
	for _, c := range cpu {
		used += c
	}
	if used > 0 {
		perCPU = ops / used.Seconds()
	}
	return ops / time.Since(start).Seconds(), perCPU
}
