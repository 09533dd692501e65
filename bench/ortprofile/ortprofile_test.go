package ortprofile

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// TestReadProfile reads a trace in ORT's profile format: the warm-up run's
// kernels are left out, calls and times are per timed run, the calling
// thread's wait comes from the scheduling stats, and matrix operators get
// their multiply-adds from their shapes.
func TestRead(t *testing.T) {
	type m = map[string]any
	shape := func(typ string, d ...int) m { return m{typ: d} }
	kernel := func(name, op string, ts, dur, wait int, in []m, out m) m {
		args := m{"op_name": op, "input_type_shape": in, "output_type_shape": []m{out}}
		if wait >= 0 {
			args["thread_scheduling_stats"] = m{"main_thread": m{"Run": dur - wait, "Wait": wait}, "sub_threads": m{}}
		}
		return m{"cat": "Node", "name": name + "_kernel_time", "ts": ts, "dur": dur, "ph": "X", "args": args}
	}
	run := func(ts, dur int) m { return m{"cat": "Session", "name": "model_run", "ts": ts, "dur": dur, "ph": "X"} }
	dq := []m{shape("float", 1, 577, 768), shape("float", 3072)}
	mha := []m{shape("float", 1, 577, 768), shape("float", 1, 577, 768), shape("float", 1, 577, 768), shape("float", 2304)}
	conv := []m{shape("float", 1, 3, 384, 384), shape("float", 768, 3, 16, 16)}
	var events []m
	for i, start := range []int{0, 1000, 2000} {
		events = append(events, run(start, 900+i*10))
		scale := 1
		if i == 0 {
			scale = 100 // the warm-up: slow, and left out
		}
		events = append(events,
			kernel("DQ_1", "DynamicQuantizeMatMul", start+10, 200*scale, 20, dq, shape("float", 1, 577, 3072)),
			kernel("DQ_2", "DynamicQuantizeMatMul", start+300, 100*scale, 10, dq, shape("float", 1, 577, 3072)),
			kernel("MHA_1", "MultiHeadAttention", start+500, 300*scale, 30, mha, shape("float", 1, 577, 768)),
			kernel("Conv_1_nchwc", "Conv", start+800, 50*scale, -1, conv, shape("float", 1, 768, 24, 24)),
			kernel("LN_1", "LayerNormalization", start+850, 40*scale, -1, []m{shape("float", 1, 577, 768)}, shape("float", 1, 577, 768)))
	}
	b, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Read(path, "vision.onnx", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9*max(1, math.Abs(want)) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	if p.Runs != 2 {
		t.Fatalf("runs = %d, want 2 (the warm-up left out)", p.Runs)
	}
	near("run ms", p.RunMs, (0.910+0.920)/2)
	near("kernel ms", p.KernelMs, 0.690)
	if len(p.Rows) != 4 {
		t.Fatalf("%d rows, want 4: %+v", len(p.Rows), p.Rows)
	}
	byOp := map[string]Row{}
	for _, r := range p.Rows {
		byOp[r.Op] = r
	}
	if p.Rows[0].Op != "DynamicQuantizeMatMul" || p.Rows[1].Op != "MultiHeadAttention" {
		t.Errorf("rows not by time: %+v", p.Rows)
	}
	d := byOp["DynamicQuantizeMatMul"]
	if d.Kind != "int8" || d.Inputs != "f32[1,577,768] f32[3072]" {
		t.Errorf("DynamicQuantizeMatMul: %+v", d)
	}
	near("DQ calls", d.CallsPerRun, 2)
	near("DQ ms", d.MsPerRun, 0.3)
	near("DQ wait", d.WaitMsPerRun, 0.03)
	near("DQ GOP", d.GOPPerRun, 2*2*577*768*3072/1e9)
	a := byOp["MultiHeadAttention"]
	near("MHA GOP", a.GOPPerRun, 2*577*577*(768+768)/1e9)
	if a.Kind != "fp32" {
		t.Errorf("MHA kind %q", a.Kind)
	}
	near("Conv GOP", byOp["Conv"].GOPPerRun, 2*768*24*24*(3*16*16)/1e9)
	if ln := byOp["LayerNormalization"]; ln.Kind != "" || ln.GOPPerRun != 0 || ln.WaitMsPerRun != 0 {
		t.Errorf("LayerNormalization: %+v", ln)
	}
}
