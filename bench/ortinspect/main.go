// Command ortinspect shows what ONNX Runtime makes of a converted graph: it
// saves ORT's optimised model and counts its operators (which fusions were
// applied), and optionally runs it with ORT's profiler on and sums kernel time
// per operator type (where the time goes).
//
//	go run ./bench/ortinspect -model /tmp/base/vision.onnx -save /tmp/opt.onnx -runs 3 -batch 1 -profile /tmp/prof
//	go run ./bench/ortinspect -model /tmp/base/vision.onnx -runs 10 -nospin -profile /tmp/p/int8 -profile-json /tmp/int8.json
//
// It is a development tool for the encoder's graph shape, not part of the product.
package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"imglish/bench/ortprofile"
	"imglish/encoder"
	"imglish/encoder/convert"
	"imglish/encoder/convert/onnxpb"
)

func main() {
	model := flag.String("model", "", "vision.onnx or text.onnx")
	save := flag.String("save", "", "write ORT's optimised model here and count its operators")
	profile := flag.String("profile", "", "profile file prefix: run with ORT's profiler and sum kernel time per operator")
	runs := flag.Int("runs", 0, "timed runs (after one warm-up)")
	batch := flag.Int("batch", 1, "batch size")
	tokens := flag.Int("tokens", 16, "text length")
	size := flag.Int("size", 384, "image side")
	threads := flag.Int("threads", 2, "intra-op threads")
	lib := flag.String("ort-lib", "", "ONNX Runtime library")
	noSpin := flag.Bool("nospin", false, "stop ORT's worker threads spinning between jobs (CPU seconds then count only work)")
	level := flag.Int("opt", 99, "graph optimisation level: 0, 1, 2 or 99")
	gemm := flag.String("gemm", "", "M,K,N[;M,K,N…]: time one fp32 MatMul, one int8 DynamicQuantizeMatMul and one MatMulInteger on uint8 input (the int8 GEMM alone) per shape instead")
	jsonOut := flag.String("json", "", "-gemm: write the result here")
	profileJSON := flag.String("profile-json", "", "-profile: also write the time per operator and input shapes, the warm-up run excluded, with each matrix operator's arithmetic, as JSON here")
	flag.Parse()
	if *model == "" && *gemm == "" && *attention == "" {
		log.Fatal("-model is required")
	}
	path, err := encoder.LibraryPath(*lib)
	if err != nil {
		log.Fatal(err)
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		log.Fatal(err)
	}
	defer func() { _ = ort.DestroyEnvironment() }()
	so, err := ort.NewSessionOptions()
	if err != nil {
		log.Fatal(err)
	}
	must(so.SetIntraOpNumThreads(*threads))
	must(so.SetInterOpNumThreads(1))
	must(so.SetGraphOptimizationLevel(ort.GraphOptimizationLevel(*level)))
	if *noSpin {
		must(so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"))
	}
	if *save != "" {
		must(so.SetOptimizedModelFilePath(*save))
	}
	if *profile != "" {
		must(so.EnableProfiling(*profile))
	}
	if *attention != "" {
		var t, d, h int
		if _, err := fmt.Sscanf(*attention, "%d,%d,%d", &t, &d, &h); err != nil || t <= 0 || d <= 0 || h <= 0 || d%h != 0 {
			log.Fatalf("-attention %q: want T,D,H with H dividing D", *attention)
		}
		timeAttention(so, t, d, h, max(*runs, 3))
		return
	}
	if *gemm != "" {
		var res []gemmResult
		for _, shape := range strings.Split(*gemm, ";") {
			var m, k, n int
			if _, err := fmt.Sscanf(shape, "%d,%d,%d", &m, &k, &n); err != nil {
				log.Fatalf("-gemm %q: %v", shape, err)
			}
			res = append(res, calibrate(so, m, k, n, max(*runs, 3))...)
		}
		if *jsonOut != "" {
			b, _ := json.MarshalIndent(map[string]any{"threads": *threads, "spin": !*noSpin, "gemm": res}, "", " ")
			must(os.WriteFile(*jsonOut, append(b, '\n'), 0o644))
		}
		return
	}
	text := strings.Contains(*model, "text")
	in, out := []string{convert.InputPixels}, []string{convert.OutputImage}
	if text {
		in, out = []string{convert.InputIDs, convert.InputMask}, []string{convert.OutputText}
	}
	t0 := time.Now()
	s, err := ort.NewDynamicAdvancedSession(*model, in, out, so)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("load: %v\n", time.Since(t0).Round(time.Millisecond))
	var cpuPerRun time.Duration // process CPU time per timed run, all threads
	if *runs > 0 {
		var inputs []ort.Value
		if text {
			ids := make([]int64, *batch**tokens)
			for i := range ids {
				ids[i] = int64(4 + i*17%1000)
			}
			idT, err := ort.NewTensor(ort.NewShape(int64(*batch), int64(*tokens)), ids)
			must(err)
			maskT, err := ort.NewTensor(ort.NewShape(int64(*batch), int64(*tokens)), make([]int64, len(ids)))
			must(err)
			inputs = []ort.Value{idT, maskT}
		} else {
			px := make([]float32, *batch*3**size**size)
			for i := range px {
				px[i] = float32(i*7919%255)/127.5 - 1
			}
			t, err := ort.NewTensor(ort.NewShape(int64(*batch), 3, int64(*size), int64(*size)), px)
			must(err)
			inputs = []ort.Value{t}
		}
		outputs := []ort.Value{nil}
		must(s.Run(inputs, outputs))
		outputs[0].Destroy()
		var best time.Duration
		t0, c0 := time.Now(), cpuTime()
		for i := 0; i < *runs; i++ {
			t := time.Now()
			outputs[0] = nil
			must(s.Run(inputs, outputs))
			outputs[0].Destroy()
			if d := time.Since(t); best == 0 || d < best {
				best = d
			}
		}
		el, cpu := time.Since(t0), cpuTime()-c0
		cpuPerRun = cpu / time.Duration(*runs)
		fmt.Printf("runs: %d × batch %d: mean %v/run, best %v/run, %.3f items/s (mean), %.3f cpu-s/item\n", *runs, *batch,
			(el / time.Duration(*runs)).Round(time.Microsecond), best.Round(time.Microsecond),
			float64(*runs**batch)/el.Seconds(), cpu.Seconds()/float64(*runs**batch))
	}
	must(s.Destroy())
	must(so.Destroy())
	if *save != "" {
		countOps(*save)
	}
	if *profile != "" {
		var found []string
		dir, prefix := ".", *profile
		if i := strings.LastIndex(*profile, "/"); i >= 0 {
			dir = (*profile)[:i]
		}
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			p := f.Name()
			if dir != "." {
				p = dir + "/" + p
			}
			// ORT names the file PREFIX_<date>.json.
			if (strings.HasPrefix(p, prefix+"_") || strings.HasPrefix("./"+p, prefix+"_")) && strings.HasSuffix(p, ".json") {
				found = append(found, p)
			}
		}
		for _, p := range found {
			summarise(p)
		}
		if *profileJSON != "" {
			if len(found) != 1 {
				log.Fatalf("-profile-json: %d profiles start with %s, want one (use a fresh prefix)", len(found), *profile)
			}
			p, err := ortprofile.Read(found[0], *model, *threads, *batch)
			must(err)
			p.Spin = !*noSpin
			p.CPUMsPerRun = float64(cpuPerRun) / 1e6
			b, _ := json.MarshalIndent(p, "", " ")
			must(os.WriteFile(*profileJSON, append(b, '\n'), 0o644))
		}
	}
}

// cpuTime is the process's user+system CPU time, all threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// countOps prints the operator histogram of an ONNX file.
func countOps(path string) {
	b, err := os.ReadFile(path)
	must(err)
	var m onnxpb.ModelProto
	must(proto.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, &m))
	counts := map[string]int{}
	for _, n := range m.GetGraph().GetNode() {
		k := n.GetOpType()
		if d := n.GetDomain(); d != "" {
			k = d + "." + k
		}
		counts[k]++
	}
	fmt.Printf("optimised graph %s: %d nodes\n", path, len(m.GetGraph().GetNode()))
	printSorted(counts, func(v int) string { return fmt.Sprint(v) })
}

func printSorted[V cmp.Ordered](m map[string]V, f func(V) string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(m[b], m[a]) })
	for _, k := range keys {
		fmt.Printf("  %-40s %s\n", k, f(m[k]))
	}
}

var byShape = flag.Bool("by-shape", false, "profile: split operators by input shapes")

// summarise sums an ORT profile's kernel time per operator type.
func summarise(path string) {
	b, err := os.ReadFile(path)
	must(err)
	var events []struct {
		Cat  string `json:"cat"`
		Name string `json:"name"`
		Dur  int64  `json:"dur"`
		Args struct {
			OpName string            `json:"op_name"`
			Shapes []json.RawMessage `json:"input_type_shape"`
		} `json:"args"`
	}
	must(json.Unmarshal(b, &events))
	per := map[string]int64{}
	var total, runs int64
	for _, e := range events {
		if e.Cat == "Node" && strings.HasSuffix(e.Name, "_kernel_time") {
			k := e.Args.OpName
			if *byShape && len(e.Args.Shapes) > 0 {
				var parts []string
				for _, sh := range e.Args.Shapes {
					parts = append(parts, strings.NewReplacer("{", "", "}", "", `"float"`, "", `"int8"`, "i8", `"uint8"`, "u8", `"int64"`, "i64", ":", "").Replace(string(sh)))
				}
				k += " " + strings.Join(parts, " ")
			}
			per[k] += e.Dur
			total += e.Dur
		}
		if e.Cat == "Session" && e.Name == "model_run" {
			runs++
		}
	}
	fmt.Printf("profile %s: %d runs (incl. warm-up), kernel time %.1f ms\n", path, runs, float64(total)/1e3)
	printSorted(per, func(v int64) string {
		return fmt.Sprintf("%8.1f ms  %5.1f%%", float64(v)/1e3, 100*float64(v)/float64(total))
	})
}
