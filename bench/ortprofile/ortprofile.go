// Package ortprofile reads ONNX Runtime's profiler output (Chrome trace
// format) into where one model run's time goes: per operator and input
// shapes, the warm-up run left out, with each matrix operator's
// multiply-adds from its shapes. bench/ortinspect writes it as JSON and
// bench/report reads that JSON back, both through these types.
package ortprofile

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// profileEvent is one event of ORT's profile (Chrome trace format).
type profileEvent struct {
	Cat  string `json:"cat"`
	Name string `json:"name"`
	Ts   int64  `json:"ts"`
	Dur  int64  `json:"dur"`
	Args struct {
		OpName  string                     `json:"op_name"`
		Inputs  []map[string][]int64       `json:"input_type_shape"`
		Outputs []map[string][]int64       `json:"output_type_shape"`
		Sched   map[string]json.RawMessage `json:"thread_scheduling_stats"`
	} `json:"args"`
}

// Row is one operator with one set of input shapes, summed over a
// run's calls and averaged over the timed runs.
type Row struct {
	Op     string `json:"op"`
	Inputs string `json:"inputs"`
	// Kind is the arithmetic the operator's multiply-adds run in: "int8",
	// "fp32", or "" for operators that only move or transform data.
	Kind        string  `json:"kind"`
	CallsPerRun float64 `json:"calls_per_run"`
	MsPerRun    float64 `json:"ms_per_run"`
	// WaitMsPerRun is the time the calling thread spent waiting for the
	// pool's other threads to finish their share (ORT's scheduling stats):
	// one core idle while the other works.
	WaitMsPerRun float64 `json:"wait_ms_per_run"`
	// GOPPerRun is 2 × the multiply-adds the operator computes per run.
	GOPPerRun float64 `json:"gop_per_run"`
}

// Profile is where one model run's time goes (bench/ortinspect -profile-json).
type Profile struct {
	Model    string  `json:"model"`
	Threads  int     `json:"threads"`
	Batch    int     `json:"batch"`
	Runs     int     `json:"runs"`      // timed runs (the warm-up excluded)
	RunMs    float64 `json:"run_ms"`    // mean wall time of a timed run
	KernelMs float64 `json:"kernel_ms"` // mean sum of kernel times per run
	Rows     []Row   `json:"rows"`      // by time, largest first
	// Spin says whether ORT's pool threads spun between jobs; CPUMsPerRun
	// is the process's CPU time per timed run (all threads; the profiler's
	// own overhead included), which spinning raises where threads idle.
	Spin        bool    `json:"spin"`
	CPUMsPerRun float64 `json:"cpu_ms_per_run"`
}

// Read sums an ORT profile per operator and input shapes over the
// runs after the first (the warm-up).
func Read(path, model string, threads, batch int) (Profile, error) {
	p := Profile{Model: model, Threads: threads, Batch: batch}
	b, err := os.ReadFile(path)
	if err != nil {
		return p, err
	}
	var events []profileEvent
	if err := json.Unmarshal(b, &events); err != nil {
		return p, fmt.Errorf("%s: %w", path, err)
	}
	var runs []profileEvent
	for _, e := range events {
		if e.Cat == "Session" && e.Name == "model_run" {
			runs = append(runs, e)
		}
	}
	if len(runs) < 2 {
		return p, fmt.Errorf("%s: %d runs, want a warm-up and at least one more", path, len(runs))
	}
	slices.SortFunc(runs, func(a, b profileEvent) int { return cmp.Compare(a.Ts, b.Ts) })
	start := runs[1].Ts
	p.Runs = len(runs) - 1
	for _, r := range runs[1:] {
		p.RunMs += float64(r.Dur) / 1e3
	}
	p.RunMs /= float64(p.Runs)
	rows := map[string]*Row{}
	for _, e := range events {
		if e.Cat != "Node" || !strings.HasSuffix(e.Name, "_kernel_time") || e.Ts < start {
			continue
		}
		in := shapes(e.Args.Inputs)
		key := e.Args.OpName + " " + in
		r := rows[key]
		if r == nil {
			r = &Row{Op: e.Args.OpName, Inputs: in}
			r.Kind, r.GOPPerRun = arithmetic(e.Args.OpName, e.Args.Inputs, e.Args.Outputs)
			rows[key] = r
		}
		r.CallsPerRun++
		r.MsPerRun += float64(e.Dur) / 1e3
		r.WaitMsPerRun += float64(mainWait(e.Args.Sched)) / 1e3
		p.KernelMs += float64(e.Dur) / 1e3
	}
	n := float64(p.Runs)
	p.KernelMs /= n
	for _, r := range rows {
		g := r.GOPPerRun // per call so far
		r.CallsPerRun /= n
		r.MsPerRun /= n
		r.WaitMsPerRun /= n
		r.GOPPerRun = g * r.CallsPerRun
		p.Rows = append(p.Rows, *r)
	}
	slices.SortFunc(p.Rows, func(a, b Row) int {
		return cmp.Or(cmp.Compare(b.MsPerRun, a.MsPerRun), cmp.Compare(a.Op+a.Inputs, b.Op+b.Inputs))
	})
	return p, nil
}

// mainWait is the calling thread's "Wait" from ORT's scheduling stats (µs),
// 0 where the operator did not use the pool.
func mainWait(sched map[string]json.RawMessage) int64 {
	var m struct {
		Wait int64 `json:"Wait"`
	}
	if raw, ok := sched["main_thread"]; ok && json.Unmarshal(raw, &m) == nil {
		return m.Wait
	}
	return 0
}

// shapes formats input shapes as "f32[1,577,768] f32[768]".
func shapes(ts []map[string][]int64) string {
	var s []string
	for _, t := range ts {
		for typ, dims := range t {
			d := make([]string, len(dims))
			for i, v := range dims {
				d[i] = fmt.Sprint(v)
			}
			s = append(s, short(typ)+"["+strings.Join(d, ",")+"]")
		}
	}
	return strings.Join(s, " ")
}

func short(typ string) string {
	switch typ {
	case "float":
		return "f32"
	case "float16":
		return "f16"
	case "int8":
		return "i8"
	case "uint8":
		return "u8"
	case "int64":
		return "i64"
	case "int32":
		return "i32"
	}
	return typ
}

// dims returns the i-th tensor's shape, or nil.
func dims(ts []map[string][]int64, i int) []int64 {
	if i >= len(ts) {
		return nil
	}
	for _, d := range ts[i] {
		return d
	}
	return nil
}

func prod(d []int64) float64 {
	p := 1.0
	for _, v := range d {
		p *= float64(v)
	}
	return p
}

// arithmetic returns the kind and GOP (2 × multiply-adds) of one call of a
// matrix operator, from its input and output shapes; ("", 0) for the rest.
func arithmetic(op string, in, out []map[string][]int64) (string, float64) {
	x, y := dims(in, 0), dims(out, 0)
	switch op {
	case "DynamicQuantizeMatMul", "MatMulInteger", "MatMulIntegerToFloat", "QGemm":
		if len(x) > 0 && len(y) > 0 {
			return "int8", 2 * prod(y) * float64(x[len(x)-1]) / 1e9
		}
	case "MatMul", "FusedMatMul", "Gemm":
		if len(x) > 0 && len(y) > 0 {
			return "fp32", 2 * prod(y) * float64(x[len(x)-1]) / 1e9
		}
	case "MultiHeadAttention", "Attention":
		// q [B,S,D], k [B,L,D], v [B,L,Dv]: Q·Kᵀ then P·V.
		k, v := dims(in, 1), dims(in, 2)
		if len(x) == 3 && len(k) == 3 && len(v) == 3 {
			return "fp32", 2 * float64(x[0]*x[1]*k[1]) * float64(x[2]+v[2]) / 1e9
		}
	case "Conv":
		w := dims(in, 1)
		if len(w) >= 3 && len(y) > 0 {
			return "fp32", 2 * prod(y) * prod(w[1:]) / 1e9
		}
	}
	return "", 0
}
