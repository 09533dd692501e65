package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"imglish/bench/ortprofile"
)

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// benchOut lays out what bench/run.sh leaves for three rounds: imglish fp32
// at the given CPU-s per image per round, the reference with
// OPENBLAS_CORETYPE=SkylakeX at 2.0 CPU-s every round, and OpenBLAS's
// default (Prescott) once in round 1 at defaultCPU.
func benchOut(t *testing.T, fp32 []float64, defaultCPU float64) string {
	t.Helper()
	dir := t.TempDir()
	torch := func(cpu float64, coretype, core string) map[string]any {
		return map[string]any{"impl": "pytorch-eager-reference", "torch": "1.13", "openblas_core": core, "openblas_coretype": coretype,
			"image": []map[string]any{{"batch": 1, "images": 8, "images_per_s": 1 / cpu, "cpu_s_per_image": cpu}},
			"text":  []map[string]any{{"batch": 1, "tokens": 16, "p50_ms": 100 * cpu, "p90_ms": 110 * cpu}}}
	}
	for i, cpu := range fp32 {
		d := filepath.Join(dir, "rounds", fmt.Sprintf("r%d", i+1))
		writeJSON(t, filepath.Join(d, "imglish-fp32.json"), map[string]any{"impl": "imglish-onnxruntime",
			"image": []map[string]any{{"batch": 1, "images": 8, "images_per_s": 1 / cpu, "cpu_s_per_image": cpu}},
			"text":  []map[string]any{{"batch": 1, "tokens": 16, "p50_ms": 10 * cpu, "p90_ms": 11 * cpu}}})
		writeJSON(t, filepath.Join(d, "torch.json"), torch(2.0, "SkylakeX", "SkylakeX"))
		load := fmt.Sprintf("start=10:0%d:00\nload_start=%d.00 1.00 1.00\nload_end=%d.50 1.00 1.00\nend=10:0%d:30\n", i, i+1, i+1, i)
		if err := os.WriteFile(filepath.Join(d, "load.txt"), []byte(load), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeJSON(t, filepath.Join(dir, "rounds", "r1", "torch-default.json"), torch(defaultCPU, "", "Prescott"))
	writeJSON(t, filepath.Join(dir, "torch-cores.json"), map[string]any{"n": 2048, "threads": 2, "passes": 3, "cpu_level": "AVX-512",
		"default_core": "Prescott", "chosen": "SkylakeX", "why": "5.00x",
		"cores": []map[string]any{{"coretype": "", "core": "Prescott", "gflops": []float64{40}, "best_gflops": 40, "gflop_per_cpu_s": []float64{20}, "best_gflop_per_cpu_s": 20},
			{"coretype": "SkylakeX", "core": "SkylakeX", "gflops": []float64{200}, "best_gflops": 200, "gflop_per_cpu_s": []float64{100}, "best_gflop_per_cpu_s": 100}}})
	cmds := "encoder-fp32\tbench/out/encbench -model bench/out/models/base-fp32 -json bench/out/rounds/r1/imglish-fp32.json\n" +
		"torch-cores\t/usr/bin/python3 tools/reference/bench_torch.py --probe-cores\n"
	if err := os.WriteFile(filepath.Join(dir, "commands.tsv"), []byte(cmds), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "meta.txt"), []byte("rounds=3\nthreads=2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestEncoderRounds checks that ratios are taken per round against the
// better PyTorch row and reported as median (range), that both PyTorch rows
// say which OpenBLAS core they ran, that every round's load is there, and
// that each section names its command.
func TestEncoderRounds(t *testing.T) {
	for _, tc := range []struct {
		name       string
		defaultCPU float64 // CPU-s per image of PyTorch with OpenBLAS's default core
		refLabel   string
		ratio      string // imglish fp32, CPU-s ratio to the reference, median (range)
	}{
		{"set core is faster", 10.0, "**PyTorch 1.13 (OpenBLAS core SkylakeX, set for the reference)**", "| imglish ORT fp32 | 1 | 3 | 1.000 (0.800–1.250) | 1.000 (0.800–1.250) | 2.00× (1.60×–2.50×) |"},
		{"default is faster", 1.0, "**PyTorch 1.13 (OpenBLAS default: Prescott)**", "| imglish ORT fp32 | 1 | 3 | 1.000 (0.800–1.250) | 1.000 (0.800–1.250) | 1.00× (0.80×–1.25×) |"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md, _ := render(benchOut(t, []float64{1.25, 1.0, 0.8}, tc.defaultCPU))
			for _, want := range []string{
				"The reference is " + tc.refLabel,
				tc.ratio,
				"| PyTorch 1.13 (OpenBLAS default: Prescott) | 1 | 1 | ",
				"| PyTorch 1.13 (OpenBLAS core SkylakeX, set for the reference) | 1 | 3 | ",
				"| 1 | 10:00:00–10:00:30 | 1.00 1.00 1.00 | 1.50 1.00 1.00 |",
				"| 3 | 10:02:00–10:02:30 | 3.00 1.00 1.00 | 3.50 1.00 1.00 |",
				"Produced by: `bench/out/encbench -model bench/out/models/base-fp32 -json bench/out/rounds/r1/imglish-fp32.json`",
				"Produced by: `/usr/bin/python3 tools/reference/bench_torch.py --probe-cores`",
				"| SkylakeX | SkylakeX | 100.0 | 100.0 | 200.0 | 200.0 |",
			} {
				if !strings.Contains(md, want) {
					t.Errorf("report lacks %q:\n%s", want, md)
				}
			}
		})
	}
}

func TestStats(t *testing.T) {
	for _, tc := range []struct {
		v    []float64
		want string
	}{
		{nil, "—"},
		{[]float64{2}, "2.0"},
		{[]float64{3, 1, 2}, "2.0 (1.0–3.0)"},
		{[]float64{4, 1, 2, 3}, "2.5 (1.0–4.0)"},
	} {
		if got := stats(tc.v).format("%.1f"); got != tc.want {
			t.Errorf("stats(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestDemote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"no heading", "no heading"},
		{"# a\ntext\n## b", "### a\ntext\n#### b"},
		{"### a\n#### b", "### a\n#### b"},
		{"#### a\n##### b", "### a\n#### b"},
	} {
		if got := demote(tc.in); got != tc.want {
			t.Errorf("demote(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestPeakSharePerCPU checks that the CPU share is taken against one core's
// peak per CPU-second, not the wall rate a busy machine lowers, and that a
// busy peak measurement is flagged.
func TestPeakSharePerCPU(t *testing.T) {
	dir := t.TempDir()
	m := map[string]any{"architecture": map[string]any{"Dim": 768, "Layers": 12, "Heads": 12, "ffn_dim": 3072, "patch_size": 16},
		"image": map[string]any{"size": 384}}
	writeJSON(t, filepath.Join(dir, "models", "base-fp32", "model.json"), m)
	// Busy: wall rates a quarter of the per-CPU-second ones, 2 threads no faster than 1.
	writeJSON(t, filepath.Join(dir, "peak.json"), []map[string]any{
		{"kernel": "fp32", "threads": 1, "rate": 50, "rate_per_cpu_s": 200},
		{"kernel": "fp32", "threads": 2, "rate": 50, "rate_per_cpu_s": 200},
		{"kernel": "int8", "threads": 1, "rate": 200, "rate_per_cpu_s": 800},
		{"kernel": "int8", "threads": 2, "rate": 200, "rate_per_cpu_s": 800},
	})
	var man manifest
	if !readJSON(filepath.Join(dir, "models", "base-fp32", "model.json"), &man) {
		t.Fatal("model.json")
	}
	lin, other := flops(man)
	cpu := imageSeconds(lin, other, 200, 200) // exactly one core's peak
	writeJSON(t, filepath.Join(dir, "rounds", "r1", "imglish-fp32.json"), map[string]any{
		"image": []map[string]any{{"batch": 1, "images": 8, "images_per_s": 1 / cpu, "cpu_s_per_image": cpu}}})
	writeJSON(t, filepath.Join(dir, "rounds", "r1", "torch.json"), map[string]any{"torch": "1.13", "openblas_core": "Cooperlake",
		"image": []map[string]any{{"batch": 1, "images": 8, "images_per_s": 0.1, "cpu_s_per_image": 10}}})
	// The GEMM-rate ceiling takes the graph's int8 operator, never the bare
	// MatMulInteger row (faster: it skips quantising the activations).
	writeJSON(t, filepath.Join(dir, "gemm.json"), map[string]any{"threads": 2, "gemm": []map[string]any{
		{"m": 577, "k": 768, "n": 3072, "int8": false, "gflops_wall": 150, "gflop_per_cpu_s": 100},
		{"m": 577, "k": 768, "n": 3072, "int8": true, "gflops_wall": 400, "gflop_per_cpu_s": 300},
		{"m": 577, "k": 768, "n": 3072, "int8": true, "op": "MatMulInteger", "gflops_wall": 800, "gflop_per_cpu_s": 600},
	}})
	md, _ := render(dir)
	for _, want := range []string{
		"gave 100 GFLOP per CPU-second in fp32 and 300 GOP per CPU-second with int8 DynamicQuantizeMatMul",
		fmt.Sprintf("| imglish fp32 | 1 | %.3f | ", 1/cpu),
		fmt.Sprintf("| %.3f | 100%% |", cpu),
		"**The machine was busy while the peak was measured**: 2 threads reached only 0.25× one core's rate",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// TestProfileSection checks the per-operator table: a matrix operator's rate
// against the peak of its own arithmetic on the profile's threads, the time
// over that peak, operators without multiply-adds counted whole, and the
// operator with the most time over the peak named, its shapes summed.
func TestProfileSection(t *testing.T) {
	dir := t.TempDir()
	writeJSON(t, filepath.Join(dir, "peak.json"), []map[string]any{
		{"kernel": "fp32", "threads": 1, "rate": 100, "rate_per_cpu_s": 100},
		{"kernel": "fp32", "threads": 2, "rate": 200, "rate_per_cpu_s": 100},
		{"kernel": "int8", "threads": 1, "rate": 500, "rate_per_cpu_s": 500},
		{"kernel": "int8", "threads": 2, "rate": 1000, "rate_per_cpu_s": 500},
	})
	row := func(op, in, kind string, calls, ms, wait, gop float64) map[string]any {
		return map[string]any{"op": op, "inputs": in, "kind": kind, "calls_per_run": calls, "ms_per_run": ms, "wait_ms_per_run": wait, "gop_per_run": gop}
	}
	writeJSON(t, filepath.Join(dir, "profile-int8.json"), map[string]any{"model": "vision.onnx", "threads": 2, "batch": 1, "runs": 10,
		"run_ms": 45, "kernel_ms": 43, "cpu_ms_per_run": 80, "rows": []map[string]any{
			// 10 GOP in 20 ms: 500 GOP/s, half the 2-thread int8 peak; 10 ms over it.
			row("DynamicQuantizeMatMul", "f32[1,577,768] f32[3072]", "int8", 12, 20, 1, 10),
			// 1.2 GFLOP in 12 ms: 100 GFLOP/s, half the fp32 peak; 6 ms over.
			row("MultiHeadAttention", "f32[1,577,768]", "fp32", 12, 12, 2, 1.2),
			// No multiply-adds: all 6 ms over, and 5 more at another shape:
			// 11 ms, more than either matrix operator.
			row("LayerNormalization", "f32[1,577,768]", "", 25, 6, 0.5, 0),
			row("LayerNormalization", "f32[1,577,3072]", "", 11, 5, 0, 0),
		}})
	// The same model with the pool spinning: a little faster, more CPU.
	writeJSON(t, filepath.Join(dir, "profile-int8-spin.json"), map[string]any{"model": "vision.onnx", "threads": 2, "batch": 1, "runs": 10,
		"run_ms": 40.5, "kernel_ms": 39, "spin": true, "cpu_ms_per_run": 90, "rows": []map[string]any{
			row("DynamicQuantizeMatMul", "f32[1,577,768] f32[3072]", "int8", 12, 20, 0.25, 10),
			row("LayerNormalization", "f32[1,577,768]", "", 25, 6, 0.25, 0),
		}})
	writeJSON(t, filepath.Join(dir, "gemm.json"), map[string]any{"threads": 2, "gemm": []map[string]any{
		{"m": 577, "k": 768, "n": 3072, "int8": false, "gflops_wall": 150},
		{"m": 577, "k": 768, "n": 3072, "int8": true, "gflops_wall": 400},
		{"m": 577, "k": 768, "n": 3072, "int8": true, "op": "MatMulInteger", "gflops_wall": 800},
	}})
	if err := os.WriteFile(filepath.Join(dir, "commands.tsv"), []byte("profile-int8\tbench/out/ortinspect -profile x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var md, summary strings.Builder
	js := map[string]any{}
	profileSection(&md, &summary, js, dir, readCommands(filepath.Join(dir, "commands.tsv")))
	for _, want := range []string{
		"| DynamicQuantizeMatMul | f32[1,577,768] f32[3072] | 12 | 20.00 | 46.5% | 1.00 | 500 | 50% (int8) | 10.00 |",
		"| MultiHeadAttention | f32[1,577,768] | 12 | 12.00 | 27.9% | 2.00 | 100 | 50% (fp32) | 6.00 |",
		"| LayerNormalization | f32[1,577,768] | 25 | 6.00 | 14.0% | 0.50 | — | — | 6.00 |",
		"Matrix operators: 32.0 ms (74% of kernel time) at 50% of their peak; operators without multiply-adds: 11.0 ms (26%); the calling thread waited 3.5 ms (8%). Most time over the peak, all shapes of one operator together: **LayerNormalization**, 11.0 ms (26% of kernel time).",
		"577×768×3072: the GEMM alone (MatMulInteger, uint8 in, int32 out) 800 GOP/s = 80% of the peak; DynamicQuantizeMatMul 400 GOP/s = 40%.",
		"With the pool's threads spinning between operators (`encoder.Options.Spin`, one more profiled run of the same model): 40.5 ms per run against 45.0 without (0.90×), 90 CPU-ms per run against 80 (1.12×); the calling thread waited 0.5 ms against 3.5.",
		"Produced by: `bench/out/ortinspect -profile x`.",
		// The GEMM alone at 800 GOP/s: the linear layer 12.5 ms instead of
		// its 20, attention its own 12, the rest free: 24.5 ms against 16
		// at the peak, 65%.
		"an image would take 24.5 ms against 16.0 at the peak: **65% of the peak**, at or over the 60% target",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("section lacks %q:\n%s", want, md.String())
		}
	}
	if !strings.Contains(summary.String(), "most over the peak: LayerNormalization (26% of kernel time)") {
		t.Errorf("summary: %s", summary.String())
	}
	if !strings.Contains(summary.String(), "int8 image, ceiling with ORT's kernels as measured (operators without multiply-adds free, linear layers at the GEMM's own rate): 65% of the peak (target 60%); most over the peak there: MultiHeadAttention") {
		t.Errorf("summary lacks the ceiling: %s", summary.String())
	}
	// A slower GEMM: the linear layer keeps its profiled 20 ms (faster
	// than the GEMM's own rate would give), 32 ms in all: 50%, under the
	// target, with the linear layer most over the peak.
	writeJSON(t, filepath.Join(dir, "gemm.json"), map[string]any{"threads": 2, "gemm": []map[string]any{
		{"m": 577, "k": 768, "n": 3072, "int8": true, "op": "MatMulInteger", "gflops_wall": 400},
	}})
	var p ortprofile.Profile
	readJSON(filepath.Join(dir, "profile-int8.json"), &p)
	md.Reset()
	summary.Reset()
	c := kernelCeiling(&md, &summary, dir, "int8", p, map[string]float64{"fp32": 200, "int8": 1000})
	if want := "**50% of the peak**, under the 60% target: even with the other operators free, ORT's kernels at these rates do not reach it; **DynamicQuantizeMatMul** takes 10.0 of the 16.0 ms (62%) over the peak."; !strings.Contains(md.String(), want) || c["share_percent"] != 50.0 {
		t.Errorf("slower GEMM: %v\n%s\nwant %q", c, md.String(), want)
	}
	if strings.Contains(md.String(), "**fp32**") {
		t.Errorf("a section for fp32, which has no profile:\n%s", md.String())
	}
}
