// Command report turns the files bench/run.sh leaves in bench/out into
// REPORT.md and report.json: the machine, the encoder table (imglish fp32 and
// int8 vs the PyTorch reference, with the GEMM-bound ceilings measured in the
// same run), the ANN benchmark, indexing throughput and HTTP latency.
//
//	go run ./bench/report -dir bench/out
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

type imageRow struct {
	Batch       int     `json:"batch"`
	Images      int     `json:"images"`
	ImagesPerS  float64 `json:"images_per_s"`
	CPUPerImage float64 `json:"cpu_s_per_image"`
}

type textRow struct {
	Batch      int     `json:"batch"`
	Tokens     int     `json:"tokens"`
	P50        float64 `json:"p50_ms"`
	P90        float64 `json:"p90_ms"`
	CPUPerText float64 `json:"cpu_ms_per_text"`
}

type encResult struct {
	Impl      string     `json:"impl"`
	Precision string     `json:"precision"`
	Dtype     string     `json:"dtype"`
	Torch     string     `json:"torch"`
	Image     []imageRow `json:"image"`
	Text      []textRow  `json:"text"`
}

type gemmFile struct {
	Gemm []struct {
		M, K, N           int
		Int8              bool    `json:"int8"`
		GFLOPSWall        float64 `json:"gflops_wall"`
		GFLOPPerCPUSecond float64 `json:"gflop_per_cpu_s"`
	} `json:"gemm"`
}

type manifest struct {
	Architecture struct {
		Dim, Layers, Heads int
		FFNDim             int `json:"ffn_dim"`
		PatchSize          int `json:"patch_size"`
	} `json:"architecture"`
	Image struct {
		Size int `json:"size"`
	} `json:"image"`
}

// Idle-machine GEMM rates from the issue (2 threads, ORT 1.30, this machine
// type): used only to project wall-clock ceilings, labelled as such.
const (
	idleFP32GFLOPS = 380.0
	idleInt8GOPS   = 1280.0
)

func main() {
	dir := flag.String("dir", "bench/out", "bench output folder")
	flag.Parse()
	var md strings.Builder
	js := map[string]any{}
	meta := readMeta(filepath.Join(*dir, "meta.txt"))
	js["meta"] = meta
	cpu := cpuInfo()
	js["machine"] = cpu

	fmt.Fprintf(&md, "# imglish benchmark report\n\n")
	if meta["quick"] == "1" {
		fmt.Fprintf(&md, "**Quick run (BENCH_QUICK=1): reduced sizes, for checking the pipeline; not for the record.**\n\n")
	}
	fmt.Fprintf(&md, "Made by `make bench` (bench/run.sh, bench/report) on %s, commit %s, %s.\n\n", meta["date"], meta["commit"], meta["go"])
	fmt.Fprintf(&md, "## Machine\n\n- CPU: %s, %v logical CPUs (Go sees %d)\n- flags: %s\n- load average at start %s, at end %s. The machine is shared: wall-clock rates depend on the neighbours; **CPU seconds per item** (all threads of the process) and ratios measured in the same run are the comparison.\n\n",
		cpu["model"], cpu["logical_cpus"], runtime.NumCPU(), cpu["flags"], meta["load_start"], meta["load_end"])

	encoderSection(&md, js, *dir)
	annSection(&md, js, *dir)
	indexerSection(&md, js, *dir)
	httpSection(&md, js, *dir)

	if err := os.WriteFile(filepath.Join(*dir, "REPORT.md"), []byte(md.String()), 0o644); err != nil {
		log.Fatal(err)
	}
	b, _ := json.MarshalIndent(js, "", " ")
	if err := os.WriteFile(filepath.Join(*dir, "report.json"), append(b, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Print(md.String())
}

func readJSON(path string, v any) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	if err := json.Unmarshal(b, v); err != nil {
		log.Printf("%s: %v", path, err)
		return false
	}
	return true
}

func readMeta(path string) map[string]string {
	m := map[string]string{}
	b, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func cpuInfo() map[string]any {
	info := map[string]any{"model": "unknown", "logical_cpus": 0}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return info
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			n++
		case "model name":
			info["model"] = v
		case "flags":
			if _, done := info["flags"]; done {
				continue
			}
			var keep []string
			for _, fl := range strings.Fields(v) {
				if strings.HasPrefix(fl, "avx") || strings.HasPrefix(fl, "amx") || fl == "fma" || fl == "f16c" || fl == "sse4_2" {
					keep = append(keep, fl)
				}
			}
			slices.Sort(keep)
			info["flags"] = strings.Join(keep, " ")
		}
	}
	info["logical_cpus"] = n
	return info
}

// flops splits one image's FLOPs as the vision graph computes them (the last
// layer runs only the CLS row past q/k/v): linear layers (int8 in int8
// graphs) and the rest (attention, patch conv, head: always float32).
func flops(m manifest) (linear, other float64) {
	a := m.Architecture
	d, f := float64(a.Dim), float64(a.FFNDim)
	g := float64(m.Image.Size / a.PatchSize)
	t := g*g + 1
	for l := 0; l < a.Layers; l++ {
		rows := t
		if l == a.Layers-1 {
			rows = 1
		}
		linear += 2*t*3*d*d + 2*rows*(d*d+2*d*f)
		other += 2 * 2 * rows * t * d
	}
	other += 2*(g*g)*d*3*float64(a.PatchSize*a.PatchSize) + 2*d*d
	return linear, other
}

func find[T any](rows []T, pick func(T) bool) (T, bool) {
	for _, r := range rows {
		if pick(r) {
			return r, true
		}
	}
	var zero T
	return zero, false
}

func encoderSection(md *strings.Builder, js map[string]any, dir string) {
	fmt.Fprintf(md, "## Encoder: BEiT-3 base 384, random weights, 2 threads\n\n")
	fmt.Fprintf(md, "Batch is images per call. imglish runs them with its defaults (encoder.Options.ImageBatch): one image per ORT run for both base-384 models (int8 always, since its activations are quantised per tensor; fp32 because it measured faster).\n\n")
	var fp32, int8, torch encResult
	okF := readJSON(filepath.Join(dir, "imglish-fp32.json"), &fp32)
	okI := readJSON(filepath.Join(dir, "imglish-int8.json"), &int8)
	okT := readJSON(filepath.Join(dir, "torch.json"), &torch)
	js["encoder"] = map[string]any{"imglish_fp32": fp32, "imglish_int8": int8, "pytorch": torch}
	if !okF && !okI && !okT {
		fmt.Fprintf(md, "_no encoder results_\n\n")
		return
	}
	type col struct {
		name string
		r    encResult
		ok   bool
	}
	cols := []col{{"PyTorch " + torch.Torch + " eager fp32 (reference)", torch, okT}, {"imglish ORT fp32", fp32, okF}, {"imglish ORT int8", int8, okI}}
	ref := func(b int) (imageRow, bool) {
		return find(torch.Image, func(r imageRow) bool { return r.Batch == b })
	}
	refT := func(b int) (textRow, bool) {
		return find(torch.Text, func(r textRow) bool { return r.Batch == b })
	}
	fmt.Fprintf(md, "| implementation | batch | images/s (wall) | CPU-s / image | speed-up vs PyTorch (CPU-s) | speed-up (wall) |\n|---|---|---|---|---|---|\n")
	for _, c := range cols {
		if !c.ok {
			continue
		}
		for _, r := range c.r.Image {
			up, upW := "—", "—"
			if t, ok := ref(r.Batch); ok && r.CPUPerImage > 0 && t.CPUPerImage > 0 {
				up = fmt.Sprintf("%.2f×", t.CPUPerImage/r.CPUPerImage)
			}
			if t, ok := ref(r.Batch); ok && t.ImagesPerS > 0 {
				upW = fmt.Sprintf("%.2f×", r.ImagesPerS/t.ImagesPerS)
			}
			fmt.Fprintf(md, "| %s | %d | %.3f | %.3f | %s | %s |\n", c.name, r.Batch, r.ImagesPerS, r.CPUPerImage, up, upW)
		}
	}
	fmt.Fprintf(md, "\n| implementation | texts per call (16 tokens) | p50 ms | p90 ms | CPU-ms / text | speed-up vs PyTorch (p50) |\n|---|---|---|---|---|---|\n")
	for _, c := range cols {
		if !c.ok {
			continue
		}
		for _, r := range c.r.Text {
			up := "—"
			if t, ok := refT(r.Batch); ok && r.P50 > 0 {
				up = fmt.Sprintf("%.2f×", t.P50/r.P50)
			}
			cpu := "—"
			if r.CPUPerText > 0 {
				cpu = fmt.Sprintf("%.1f", r.CPUPerText)
			}
			fmt.Fprintf(md, "| %s | %d | %.1f | %.1f | %s | %s |\n", c.name, r.Batch, r.P50, r.P90, cpu, up)
		}
	}
	fmt.Fprintln(md)

	var g gemmFile
	var m manifest
	if !readJSON(filepath.Join(dir, "gemm.json"), &g) || !readJSON(filepath.Join(dir, "models", "base-fp32", "model.json"), &m) {
		return
	}
	var gf, gi float64
	var shapes []string
	for _, x := range g.Gemm {
		if x.Int8 {
			gi = max(gi, x.GFLOPPerCPUSecond)
		} else {
			gf = max(gf, x.GFLOPPerCPUSecond)
			shapes = append(shapes, fmt.Sprintf("%d×%d×%d", x.M, x.K, x.N))
		}
	}
	lin, other := flops(m)
	total := lin + other
	ceilF := imageSeconds(lin, other, gf, gf)
	ceilI := imageSeconds(lin, other, gi, gf)
	fmt.Fprintf(md, "### Distance to the GEMM-bound ceiling\n\n")
	fmt.Fprintf(md, "One image is %.1f GFLOP as the graph computes it (%.1f in linear layers, %.1f in attention, patch embedding and head). ORT's own GEMM (best of %s, 2 threads, measured in this run just before the encoders) gave %.0f GFLOP per CPU-second in fp32 and %.0f GOP per CPU-second with int8 DynamicQuantizeMatMul, so the GEMM-bound ceiling is %.3f CPU-s per image in fp32 and %.3f in int8 (linear layers int8, the rest fp32).\n\n",
		total/1e9, lin/1e9, other/1e9, strings.Join(shapes, ", "), gf, gi, ceilF, ceilI)
	fmt.Fprintf(md, "| model | batch | CPU-s / image | ceiling CPU-s / image | share of ceiling | projected images/s on 2 idle cores* |\n|---|---|---|---|---|---|\n")
	idleF := 1 / imageSeconds(lin, other, idleFP32GFLOPS, idleFP32GFLOPS)
	idleI := 1 / imageSeconds(lin, other, idleInt8GOPS, idleFP32GFLOPS)
	eff := map[string]any{}
	for _, c := range []struct {
		name      string
		r         encResult
		ceil, idl float64
	}{{"fp32", fp32, ceilF, idleF}, {"int8", int8, ceilI, idleI}} {
		for _, r := range c.r.Image {
			if r.CPUPerImage <= 0 {
				continue
			}
			share := c.ceil / r.CPUPerImage
			eff[fmt.Sprintf("%s_b%d", c.name, r.Batch)] = share
			fmt.Fprintf(md, "| imglish %s | %d | %.3f | %.3f | %.0f%% | %.2f (ceiling %.2f) |\n", c.name, r.Batch, r.CPUPerImage, c.ceil, 100*share, share*c.idl, c.idl)
		}
	}
	js["ceiling"] = map[string]any{"gflop_per_image": total / 1e9, "linear_gflop": lin / 1e9, "gemm_fp32_gflop_per_cpu_s": gf,
		"gemm_int8_gop_per_cpu_s": gi, "ceiling_cpu_s_fp32": ceilF, "ceiling_cpu_s_int8": ceilI, "share_of_ceiling": eff}
	fmt.Fprintf(md, "\n\\* projection, not a measurement: share of ceiling × the idle-machine ceiling from ORT's GEMM at %.0f GFLOP/s fp32 and %.0f GOP/s int8 on 2 threads (issue 8's calibration of this machine type).\n\n", idleFP32GFLOPS, idleInt8GOPS)
	peakSection(md, js, dir, lin, other, fp32, int8)
	if b, err := os.ReadFile(filepath.Join(dir, "int8-drift.txt")); err == nil {
		fmt.Fprintf(md, "### int8 drift\n\nint8 vs fp32, same checkpoint and inputs (bench/encbench -compare), cosine per item:\n\n```\n%s\n```\n\n", strings.TrimSpace(string(b)))
	}
	var rank struct {
		Scenes int                `json:"scenes"`
		K      int                `json:"k"`
		T2I    float64            `json:"text_to_image_overlap"`
		I2T    float64            `json:"image_to_text_overlap"`
		MinCos float64            `json:"min_cosine_int8_fp32"`
		FP32   map[string]float64 `json:"fp32"`
		Int8   map[string]float64 `json:"int8"`
	}
	if readJSON(filepath.Join(dir, "int8rank.json"), &rank) {
		js["int8_ranking"] = rank
		when := ""
		if st, err := os.Stat(filepath.Join(dir, "int8rank.json")); err == nil {
			when = ", " + st.ModTime().UTC().Format("2006-01-02T15:04Z")
		}
		fmt.Fprintf(md, "Ranking agreement on the trained demo model (testdata/models/demo, %d multi-object test scenes and their captions, bench/int8rank%s): mean top-%d overlap int8 vs fp32 %.1f%% text→image and %.1f%% image→text; min cosine %.5f.\n\n",
			rank.Scenes, when, rank.K, 100*rank.T2I, 100*rank.I2T, rank.MinCos)
		fmt.Fprintf(md, "| demo.Evaluate | TR@1 | TR@5 | TR@10 | IR@1 | IR@5 | IR@10 | zero-shot top-1 |\n|---|---|---|---|---|---|---|---|\n")
		for _, x := range []struct {
			n string
			m map[string]float64
		}{{"fp32", rank.FP32}, {"int8", rank.Int8}} {
			fmt.Fprintf(md, "| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", x.n, x.m["tr@1"], x.m["tr@5"], x.m["tr@10"], x.m["ir@1"], x.m["ir@5"], x.m["ir@10"], x.m["zero_shot_acc"])
		}
		fmt.Fprintln(md)
	}
}

func annSection(md *strings.Builder, js map[string]any, dir string) {
	fmt.Fprintf(md, "## Search: imglish HNSW vs hnswlib (native build, interleaved; Debian Python build), coder/hnsw and exact scan\n\n")
	b, err := os.ReadFile(filepath.Join(dir, "ann", "report.md"))
	if err != nil {
		fmt.Fprintf(md, "_no ANN results (%v)_\n\n", errors.Unwrap(err))
		return
	}
	var raw any
	if readJSON(filepath.Join(dir, "ann", "report.json"), &raw) {
		js["ann"] = raw
	}
	// Demote the ANN report's own heading one level.
	s := strings.TrimSpace(string(b))
	s = regexp.MustCompile(`(?m)^(#+) `).ReplaceAllString(s, "$1## ")
	fmt.Fprintf(md, "%s\n\n", s)
}

var benchLine = regexp.MustCompile(`^BenchmarkIndexVsEncoder/(\S+?)(?:-\d+)?\s+\d+\s+\d+ ns/op(.*)$`)

func indexerSection(md *strings.Builder, js map[string]any, dir string) {
	fmt.Fprintf(md, "## Indexing throughput (generated JPEG/PNG collection, indexer BenchmarkIndexVsEncoder)\n\n")
	b, err := os.ReadFile(filepath.Join(dir, "indexer.txt"))
	if err != nil {
		fmt.Fprintf(md, "_no indexer results_\n\n")
		return
	}
	rows := []map[string]any{}
	fmt.Fprintf(md, "Whole pipeline (walk, hash, decode, preprocess, encode, store) vs the encoder alone on the same preprocessed tensors (encoder), and vs files→vectors: read, decode, preprocess and encode the same files with the same workers and threads, but no walker, hashing or store (the floor the pipeline cannot go under). Models: `demo` (the trained demo model) and `base-shaped` (test fixture), `custom` = the base-384 int8 model above; collections: `scenes` (128 px PNG demo scenes) and `photos` (320–640 px JPEG/PNG).\n\n| model/collection | encoder images/s | files→vectors images/s | index images/s | index / encoder | index / files→vectors |\n|---|---|---|---|---|---|\n")
	for _, line := range strings.Split(string(b), "\n") {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		metrics := map[string]float64{}
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				metrics[f[i+1]] = v
			}
		}
		rows = append(rows, map[string]any{"model": m[1], "metrics": metrics})
		fmt.Fprintf(md, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f |\n", m[1], metrics["encoder-img/s"], metrics["files2vec-img/s"],
			metrics["index-img/s"], metrics["ratio-enc"], metrics["ratio-f2v"])
	}
	js["indexer"] = rows
	fmt.Fprintln(md)
}

func httpSection(md *strings.Builder, js map[string]any, dir string) {
	fmt.Fprintf(md, "## HTTP query latency\n\n")
	b, err := os.ReadFile(filepath.Join(dir, "http.md"))
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(md, "_not run: the server benchmark (server/bench_test.go, TestServeLatency) was absent or failed (bench/out/http.log)_\n\n")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	js["http_report"] = s
	if strings.Contains(s, "|") {
		fmt.Fprintf(md, "%s\n\n", regexp.MustCompile(`(?m)^(#+) `).ReplaceAllString(s, "$1## "))
	} else {
		fmt.Fprintf(md, "Server TestServeLatency (loopback HTTP text search):\n\n```\n%s\n```\n\n", s)
	}
}

// imageSeconds is the time one image takes when its linear layers (lin
// FLOP) run at linRate and the rest (other FLOP) at otherRate, both in
// G(FL)OP per second.
func imageSeconds(lin, other, linRate, otherRate float64) float64 {
	return lin/1e9/linRate + other/1e9/otherRate
}

// peakRow is one line of bench/cpupeak's JSON.
type peakRow struct {
	Kernel  string  `json:"kernel"`
	Threads int     `json:"threads"`
	Rate    float64 `json:"rate"`
}

// peakSection compares the encoders' wall rates with this CPU's
// multiply-add peak on all its threads (bench/cpupeak, same run), and says
// what share of that peak issue 8's targets would need.
func peakSection(md *strings.Builder, js map[string]any, dir string, lin, other float64, fp32, int8 encResult) {
	var rows []peakRow
	if !readJSON(filepath.Join(dir, "peak.json"), &rows) {
		return
	}
	// Peaks on all threads (wall rates) and on one (per CPU-second).
	var pf, pi, pf1, pi1 float64
	threads := 0
	for _, r := range rows {
		switch {
		case r.Threads == 1 && r.Kernel == "fp32":
			pf1 = r.Rate
		case r.Threads == 1 && r.Kernel == "int8":
			pi1 = r.Rate
		}
		if r.Threads < threads {
			continue
		}
		threads = r.Threads
		switch r.Kernel {
		case "fp32":
			pf = r.Rate
		case "int8":
			pi = r.Rate
		}
	}
	if pf <= 0 || pi <= 0 || pf1 <= 0 || pi1 <= 0 {
		return
	}
	// Seconds per image if every multiply-add ran at the peak: wall on all
	// threads, and CPU-seconds on one.
	tf, ti := imageSeconds(lin, other, pf, pf), imageSeconds(lin, other, pi, pf)
	cf, ci := imageSeconds(lin, other, pf1, pf1), imageSeconds(lin, other, pi1, pf1)
	fmt.Fprintf(md, "### Distance to the silicon peak\n\n")
	fmt.Fprintf(md, "This CPU's multiply-add peak, measured in this run by bench/cpupeak (12 independent 512-bit FMA or VNNI chains per thread): **%.0f GFLOP/s fp32** (VFMADD231PS) and **%.0f GOP/s int8** (VPDPBUSD) on %d threads, %.0f and %.0f on one. At that peak an image takes %.3f s in fp32 and %.3f s in int8 (linear layers int8, the rest fp32) on %d threads: at most %.2f and %.2f images/s, a bound no implementation can pass. The wall share compares images/s with that bound (it moves with the machine's load); the CPU share compares CPU-seconds per image with the one-thread peak's %.3f and %.3f CPU-s.\n\n",
		pf, pi, threads, pf1, pi1, tf, ti, threads, 1/tf, 1/ti, cf, ci)
	fmt.Fprintf(md, "| model | batch | images/s (wall) | share of the peak (wall) | CPU-s / image | share of the peak (CPU) |\n|---|---|---|---|---|---|\n")
	share := map[string]any{}
	for _, c := range []struct {
		name  string
		r     encResult
		t, ct float64
	}{{"fp32", fp32, tf, cf}, {"int8", int8, ti, ci}} {
		for _, r := range c.r.Image {
			if r.ImagesPerS <= 0 || r.CPUPerImage <= 0 {
				continue
			}
			share[fmt.Sprintf("%s_b%d_wall", c.name, r.Batch)] = r.ImagesPerS * c.t
			share[fmt.Sprintf("%s_b%d_cpu", c.name, r.Batch)] = c.ct / r.CPUPerImage
			fmt.Fprintf(md, "| imglish %s | %d | %.3f | %.0f%% | %.3f | %.0f%% |\n", c.name, r.Batch, r.ImagesPerS, 100*r.ImagesPerS*c.t, r.CPUPerImage, 100*c.ct/r.CPUPerImage)
		}
	}
	fmt.Fprintf(md, "\nIssue 8's targets on this CPU: fp32 2.0 images/s is %.0f%% of the silicon peak and int8 5.5 images/s is %.0f%%; its calibration (%.0f GFLOP/s fp32, %.0f GOP/s int8 from ORT's GEMM on 2 threads) is %.2f× and %.2f× this CPU's peak on %d threads",
		100*2.0*tf, 100*5.5*ti, idleFP32GFLOPS, idleInt8GOPS, idleFP32GFLOPS/pf, idleInt8GOPS/pi, threads)
	if idleFP32GFLOPS > pf || idleInt8GOPS > pi {
		fmt.Fprintf(md, ", so it came from a faster machine")
	}
	fmt.Fprintf(md, ".\n\n")
	js["silicon_peak"] = map[string]any{"threads": threads, "fp32_gflops": pf, "int8_gops": pi,
		"fp32_gflops_1thread": pf1, "int8_gops_1thread": pi1, "peak_s_per_image_fp32": tf,
		"peak_s_per_image_int8": ti, "share": share}
}
