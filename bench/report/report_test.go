package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	md, _ := render(dir)
	for _, want := range []string{
		fmt.Sprintf("| imglish fp32 | 1 | %.3f | ", 1/cpu),
		fmt.Sprintf("| %.3f | 100%% |", cpu),
		"**The machine was busy while the peak was measured**: 2 threads reached only 0.25× one core's rate",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}
