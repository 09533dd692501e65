// Command report turns what bench/run.sh leaves in bench/out into
// REPORT.md and report.json, whole, from that one run on that one machine:
// the CPU (model, family/model, flags) and its multiply-add peak measured in
// the run, the OpenBLAS kernels the PyTorch reference got and the ones it was
// given, the encoder comparison (imglish fp32 and int8 vs PyTorch) over the
// run's interleaved rounds with each ratio as its median and range over the
// rounds and the load average around each round, the distance to ORT's own
// GEMM and to the silicon peak, the ANN benchmark (its own interleaved
// rounds), indexing throughput and HTTP latency; each section names the
// command that produced it (bench/out/commands.tsv). -publish also writes
// the report there (bench/run.sh: bench/REPORT.md, except for quick runs).
//
//	go run ./bench/report -dir bench/out [-publish bench/REPORT.md]
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

// encResult is one engine's run: bench/encbench's or bench_torch.py's JSON.
type encResult struct {
	Impl             string     `json:"impl"`
	Precision        string     `json:"precision"`
	Dtype            string     `json:"dtype"`
	Torch            string     `json:"torch"`
	OpenBLASCore     string     `json:"openblas_core"`
	OpenBLASCoreType string     `json:"openblas_coretype"`
	Image            []imageRow `json:"image"`
	Text             []textRow  `json:"text"`
}

type gemmFile struct {
	Threads int `json:"threads"`
	Gemm    []struct {
		M, K, N           int
		Int8              bool    `json:"int8"`
		Op                string  `json:"op"` // "MatMulInteger": the int8 GEMM alone, not the graph's operator
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

// coreProbe is bench_torch.py --probe-cores: a matmul's rate under
// OpenBLAS's default core and each stronger one, and the one chosen.
type coreProbe struct {
	N         int    `json:"n"`
	Threads   int    `json:"threads"`
	Passes    int    `json:"passes"`
	CPULevel  string `json:"cpu_level"`
	Default   string `json:"default_core"`
	Chosen    string `json:"chosen"`
	Why       string `json:"why"`
	Torch     string `json:"torch"`
	CoreTypes []struct {
		CoreType string    `json:"coretype"`
		Core     string    `json:"core"`
		GFLOPS   []float64 `json:"gflops"`
		PerCPU   []float64 `json:"gflop_per_cpu_s"`
		Best     float64   `json:"best_gflops"`
		BestCPU  float64   `json:"best_gflop_per_cpu_s"`
		Error    string    `json:"error"`
	} `json:"cores"`
}

// Engines of a round, by the file name bench/run.sh gives their JSON.
const (
	engFP32         = "imglish-fp32"
	engInt8         = "imglish-int8"
	engTorch        = "torch"         // the reference, every round (with OPENBLAS_CORETYPE when set)
	engTorchDefault = "torch-default" // OpenBLAS's default core, round 1 only, when a core was set
)

// round is one interleaved round of the encoder comparison.
type round struct {
	N         int                  `json:"round"`
	Start     string               `json:"start"`
	End       string               `json:"end"`
	LoadStart string               `json:"loadavg_start"`
	LoadEnd   string               `json:"loadavg_end"`
	Engines   map[string]encResult `json:"engines"`
}

func main() {
	dir := flag.String("dir", "bench/out", "bench output folder")
	publish := flag.String("publish", "", "also write the report here (e.g. bench/REPORT.md)")
	flag.Parse()
	text, js := render(*dir)
	paths := []string{filepath.Join(*dir, "REPORT.md")}
	if *publish != "" {
		paths = append(paths, *publish)
	}
	for _, p := range paths {
		if err := writeFile(p, []byte(text)); err != nil {
			log.Fatal(err)
		}
	}
	b, _ := json.MarshalIndent(js, "", " ")
	if err := writeFile(filepath.Join(*dir, "report.json"), append(b, '\n')); err != nil {
		log.Fatal(err)
	}
	fmt.Print(text)
}

// render makes the report (markdown and its JSON) from a bench output
// folder.
func render(dir string) (string, map[string]any) {
	var md strings.Builder
	js := map[string]any{}
	meta := readMeta(filepath.Join(dir, "meta.txt"))
	js["meta"] = meta
	cpu := cpuInfo()
	js["machine"] = cpu
	cmds := readCommands(filepath.Join(dir, "commands.tsv"))
	js["commands"] = cmds
	rounds := readRounds(dir)
	js["rounds"] = rounds

	fmt.Fprintf(&md, "# imglish benchmark report\n\n")
	if meta["quick"] == "1" {
		fmt.Fprintf(&md, "**Quick run (BENCH_QUICK=1): reduced sizes and rounds, for checking the pipeline; not for the record.**\n\n")
	}
	fmt.Fprintf(&md, "Written whole by one `make bench` (bench/run.sh, then bench/report) on one machine, started %s, commit %s, %s. Dated runs of other days are in bench/HISTORY.md, not here.\n\n", meta["date"], meta["commit"], meta["go"])
	fmt.Fprintf(&md, "## Machine\n\n- CPU: %s (family %s, model %s, stepping %s), %v logical CPUs (Go sees %d); the benchmarks use %s threads\n- flags: %s\n- OpenBLAS (Debian libopenblas0-pthread) %s, for the PyTorch reference; OPENBLAS_* variables of the caller's environment, cleared for the run: %s\n- load average at the start %s, at the end %s; the encoder ran in %s interleaved rounds (load per round below), the ANN benchmark in its own. Wall-clock rates depend on what else runs; **CPU seconds per item** (all threads of the process) and ratios within a round are the comparison.\n\n",
		cpu["model"], cpu["family"], cpu["model_number"], cpu["stepping"], cpu["logical_cpus"], runtime.NumCPU(), meta["threads"], cpu["flags"], meta["openblas"], or(meta["openblas_env_cleared"], "none"), meta["load_start"], meta["load_end"], meta["rounds"])

	summary := &strings.Builder{}
	var body strings.Builder
	encoderSection(&body, summary, js, dir, rounds, cmds)
	annSection(&body, summary, js, dir, cmds)
	mdSection(&body, js, dir, cmds, "quant", "More photos per GB: the quantised store", "store TestQuantBench")
	indexerSection(&body, js, dir, cmds)
	httpSection(&body, js, dir, cmds)
	mdSection(&body, js, dir, cmds, "cluster", "Beyond one machine: Weaviate", "cmd/imglish TestClusterBench")
	mdSection(&body, js, dir, cmds, "transport", "Weaviate batches: REST vs gRPC", "cmd/imglish TestBatchTransportBench")
	if summary.Len() > 0 {
		fmt.Fprintf(&md, "## Summary\n\nRatios are imglish / reference, as the median over the rounds and their range (min–max); details and the commands below.\n\n%s\n", summary.String())
	}
	md.WriteString(body.String())
	return md.String(), js
}

// writeFile replaces path with b through a temp file and a rename, so a
// failed run never leaves half a report.
func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// readCommands reads bench/run.sh's commands.tsv: a step's key, a tab, the
// command line it ran.
func readCommands(path string) map[string]string {
	m := map[string]string{}
	b, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "\t"); ok {
			m[k] = v
		}
	}
	return m
}

// produced says which of bench/run.sh's commands made a section.
func produced(md *strings.Builder, cmds map[string]string, keys ...string) {
	var parts []string
	for _, k := range keys {
		if c, ok := cmds[k]; ok {
			parts = append(parts, "`"+c+"`")
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(md, "Produced by: %s.\n\n", strings.Join(parts, "; "))
	}
}

// readRounds reads bench/out/rounds/rN (N = 1, 2, …, in order).
func readRounds(dir string) []round {
	var rs []round
	for n := 1; ; n++ {
		d := filepath.Join(dir, "rounds", fmt.Sprintf("r%d", n))
		if _, err := os.Stat(d); err != nil {
			return rs
		}
		l := readMeta(filepath.Join(d, "load.txt"))
		r := round{N: n, Start: l["start"], End: l["end"], LoadStart: l["load_start"], LoadEnd: l["load_end"], Engines: map[string]encResult{}}
		for _, e := range []string{engFP32, engInt8, engTorch, engTorchDefault} {
			var x encResult
			if readJSON(filepath.Join(d, e+".json"), &x) {
				r.Engines[e] = x
			}
		}
		rs = append(rs, r)
	}
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

// or is s, or def when s is empty.
func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

var heading = regexp.MustCompile(`(?m)^(#+) `)

// demote shifts an included report's headings so that its top ones become
// level 3, under this report's section heading.
func demote(s string) string {
	top := 0
	for _, m := range heading.FindAllStringSubmatch(s, -1) {
		if top == 0 || len(m[1]) < top {
			top = len(m[1])
		}
	}
	if top == 0 {
		return s
	}
	return heading.ReplaceAllStringFunc(s, func(h string) string {
		return strings.Repeat("#", len(h)-1-top+3) + " "
	})
}

// readText is a file's text, trimmed.
func readText(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
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
	info := map[string]any{"model": "unknown", "family": "?", "model_number": "?", "stepping": "?", "logical_cpus": 0}
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
		case "cpu family", "model", "stepping":
			key := map[string]string{"cpu family": "family", "model": "model_number", "stepping": "stepping"}[k]
			if n == 1 {
				info[key] = v
			}
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

func annSection(md, summary *strings.Builder, js map[string]any, dir string, cmds map[string]string) {
	fmt.Fprintf(md, "## Search: imglish HNSW vs hnswlib (native build, interleaved; Debian Python build), coder/hnsw and exact scan\n\n")
	produced(md, cmds, "ann")
	b, err := os.ReadFile(filepath.Join(dir, "ann", "report.md"))
	if err != nil {
		fmt.Fprintf(md, "_no ANN results (%v)_\n\n", errors.Unwrap(err))
		return
	}
	var raw any
	if readJSON(filepath.Join(dir, "ann", "report.json"), &raw) {
		js["ann"] = raw
	}
	// The ANN benchmark's own interleaved rounds: its ranges, as it gives them.
	var sum struct {
		Summary []string `json:"summary"`
	}
	if readJSON(filepath.Join(dir, "ann", "report.json"), &sum) {
		for _, line := range sum.Summary {
			fmt.Fprintf(summary, "- ANN: %s\n", line)
		}
	}
	s := demote(strings.TrimSpace(string(b)))
	fmt.Fprintf(md, "%s\n\n", s)
}

var benchLine = regexp.MustCompile(`^BenchmarkIndexVsEncoder/(\S+?)(?:-\d+)?\s+\d+\s+\d+ ns/op(.*)$`)

func indexerSection(md *strings.Builder, js map[string]any, dir string, cmds map[string]string) {
	fmt.Fprintf(md, "## Indexing throughput (generated JPEG/PNG collection, indexer BenchmarkIndexVsEncoder)\n\n")
	produced(md, cmds, "indexer")
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

// mdSection includes KEY.md, a benchmark's own markdown (its headings one
// level down), under title; a missing file says the benchmark (what) did not
// run or failed, with its log.
func mdSection(md *strings.Builder, js map[string]any, dir string, cmds map[string]string, key, title, what string) {
	fmt.Fprintf(md, "## %s\n\n", title)
	produced(md, cmds, key)
	b, err := os.ReadFile(filepath.Join(dir, key+".md"))
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(md, "_not run: %s failed or was not run (bench/out/%s.log)_\n\n", what, key)
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	js[key+"_report"] = s
	fmt.Fprintf(md, "%s\n\n", demote(s))
}

func httpSection(md *strings.Builder, js map[string]any, dir string, cmds map[string]string) {
	fmt.Fprintf(md, "## HTTP query latency\n\n")
	produced(md, cmds, "http")
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
		fmt.Fprintf(md, "%s\n\n", demote(s))
	} else {
		fmt.Fprintf(md, "Server TestServeLatency (loopback HTTP text search):\n\n```\n%s\n```\n\n", s)
	}
}
