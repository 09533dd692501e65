package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"imglish/bench/ortprofile"
)

// profileRows is how many operator rows a profile table shows before it
// sums the rest into one.
const profileRows = 12

// profileSection shows where a base-384 image's time goes, per operator, in
// fp32 and int8 (bench/ortinspect with ORT's profiler, same run): each
// matrix operator's rate against this run's peak of its arithmetic on the
// same threads, the time in operators without multiply-adds (which the
// peak bound counts as free), and the time the calling thread waited for
// the pool's other threads. It is the measured answer to "which kernel
// caps the encoder": the operator with the most time over its peak, all
// its shapes together.
func profileSection(md, summary *strings.Builder, js map[string]any, dir string, cmds map[string]string) {
	var peaks []peakRow
	if !readJSON(filepath.Join(dir, "peak.json"), &peaks) {
		return
	}
	out := map[string]any{}
	for _, prec := range []string{"fp32", "int8"} {
		var p ortprofile.Profile
		if !readJSON(filepath.Join(dir, "profile-"+prec+".json"), &p) || p.Runs == 0 || p.KernelMs <= 0 {
			continue
		}
		peak := map[string]float64{}
		for _, r := range peaks {
			if r.Threads == p.Threads {
				peak[r.Kernel] = r.Rate
			}
		}
		if peak["fp32"] <= 0 || peak["int8"] <= 0 {
			continue
		}
		if len(out) == 0 {
			fmt.Fprintf(md, "### Where an image's time goes\n\n")
			fmt.Fprintf(md, "ORT's profiler on the base-384 vision tower, batch %d, %d threads, spinning off (as the rounds above), %d timed runs after a warm-up; times per image. *Waiting* is the time the calling thread spent waiting for the pool's other threads to finish their share (one core idle). Each matrix operator's rate is its multiply-adds over its kernel time, against this run's %d-thread peak of the same arithmetic (int8 for DynamicQuantizeMatMul, fp32 for the rest); *over the peak* is its time minus the time at that peak. Operators without multiply-adds (normalisation, activation, copies) count whole as over the peak, since the peak bound above counts them as free.\n\n",
				p.Batch, p.Threads, p.Runs, p.Threads)
		}
		var matrixMs, matrixPeakMs, plainMs, waitMs float64
		overByOp := map[string]float64{}
		fmt.Fprintf(md, "**%s**: %.1f ms per run, %.1f ms of it in kernels.\n\n", prec, p.RunMs, p.KernelMs)
		fmt.Fprintf(md, "| operator | inputs | calls | ms | share of kernel time | waiting ms | GOP/s | share of the peak | over the peak, ms |\n|---|---|---|---|---|---|---|---|---|\n")
		var rest struct{ n, calls, ms, wait, over float64 }
		for i, r := range p.Rows {
			over, rate, share := r.MsPerRun, "—", "—"
			if r.Kind != "" && r.GOPPerRun > 0 && r.MsPerRun > 0 {
				g := r.GOPPerRun / (r.MsPerRun / 1e3)
				atPeak := 1e3 * r.GOPPerRun / peak[r.Kind]
				over = r.MsPerRun - atPeak
				rate, share = fmt.Sprintf("%.0f", g), fmt.Sprintf("%.0f%% (%s)", 100*g/peak[r.Kind], r.Kind)
				matrixMs += r.MsPerRun
				matrixPeakMs += atPeak
			} else {
				plainMs += r.MsPerRun
			}
			waitMs += r.WaitMsPerRun
			overByOp[r.Op] += over
			if i >= profileRows {
				rest.n++
				rest.calls += r.CallsPerRun
				rest.ms += r.MsPerRun
				rest.wait += r.WaitMsPerRun
				rest.over += over
				continue
			}
			fmt.Fprintf(md, "| %s | %s | %.0f | %.2f | %.1f%% | %.2f | %s | %s | %.2f |\n", r.Op, r.Inputs, r.CallsPerRun, r.MsPerRun,
				100*r.MsPerRun/p.KernelMs, r.WaitMsPerRun, rate, share, over)
		}
		if rest.n > 0 {
			fmt.Fprintf(md, "| %.0f more | | %.0f | %.2f | %.1f%% | %.2f | | | %.2f |\n", rest.n, rest.calls, rest.ms, 100*rest.ms/p.KernelMs, rest.wait, rest.over)
		}
		worst, worstOver := "", 0.0
		for op, v := range overByOp {
			if v > worstOver || v == worstOver && op < worst {
				worst, worstOver = op, v
			}
		}
		fmt.Fprintf(md, "\nMatrix operators: %.1f ms (%.0f%% of kernel time) at %.0f%% of their peak; operators without multiply-adds: %.1f ms (%.0f%%); the calling thread waited %.1f ms (%.0f%%). Most time over the peak, all shapes of one operator together: **%s**, %.1f ms (%.0f%% of kernel time).\n\n",
			matrixMs, 100*matrixMs/p.KernelMs, 100*matrixPeakMs/matrixMs, plainMs, 100*plainMs/p.KernelMs, waitMs, 100*waitMs/p.KernelMs,
			worst, worstOver, 100*worstOver/p.KernelMs)
		ceiling := kernelCeiling(md, summary, dir, prec, p, peak)
		spin := spinLine(md, dir, prec, p)
		fmt.Fprintf(summary, "- where an %s image's time goes (batch %d, ORT's profiler): matrix operators %.0f%% of kernel time at %.0f%% of their peak, operators without multiply-adds %.0f%%, waiting on the other thread %.0f%%; most over the peak: %s (%.0f%% of kernel time)\n",
			prec, p.Batch, 100*matrixMs/p.KernelMs, 100*matrixPeakMs/matrixMs, 100*plainMs/p.KernelMs, 100*waitMs/p.KernelMs, worst, 100*worstOver/p.KernelMs)
		out[prec] = map[string]any{"run_ms": p.RunMs, "kernel_ms": p.KernelMs, "cpu_ms_per_run": p.CPUMsPerRun, "matrix_ms": matrixMs,
			"matrix_at_peak_ms": matrixPeakMs, "plain_ms": plainMs, "wait_ms": waitMs, "most_over_peak": worst, "most_over_peak_ms": worstOver}
		if spin != nil {
			out[prec+"_spin"] = spin
		}
		if ceiling != nil {
			out[prec+"_ceiling"] = ceiling
		}
	}
	if len(out) > 0 {
		gemmParts(md, out, dir, peaks)
		produced(md, cmds, "profile-fp32", "profile-int8", "profile-fp32-spin", "profile-int8-spin", "gemm")
		js["profile"] = out
	}
}

// shareTargets are issue 18's targets for an image at batch 1: the share of
// the CPU's measured peak, in percent.
var shareTargets = map[string]float64{"fp32": 75, "int8": 60}

// linearOps are the operators of the linear layers, by arithmetic, and
// gemmAlone the gemm.json row that times their GEMM by itself: ORT's MatMul;
// MatMulInteger, the int8 GEMM inside DynamicQuantizeMatMul.
var (
	linearOps = map[string]string{"fp32": "MatMul", "int8": "DynamicQuantizeMatMul"}
	gemmAlone = map[string]struct {
		int8 bool
		op   string
	}{"fp32": {false, ""}, "int8": {true, "MatMulInteger"}}
)

// kernelCeiling answers whether ORT's kernels, as this run measured them,
// allow the share targets at all: the share of the peak an image would
// reach if every operator without multiply-adds took no time, the linear
// layers ran at the rate ORT's GEMM reached by itself (gemm.json, its best
// shape; a row already faster keeps its own time) and every other matrix
// operator (attention, the patch embedding) at its profiled rate. A
// ceiling under the target names what caps it: the operator with the most
// time over the peak in that best case.
func kernelCeiling(md, summary *strings.Builder, dir, prec string, p ortprofile.Profile, peak map[string]float64) map[string]any {
	var g gemmFile
	if !readJSON(filepath.Join(dir, "gemm.json"), &g) || g.Threads != p.Threads {
		return nil
	}
	rate := 0.0
	want := gemmAlone[prec]
	for _, x := range g.Gemm {
		if x.Int8 == want.int8 && x.Op == want.op {
			rate = max(rate, x.GFLOPSWall)
		}
	}
	if rate <= 0 {
		return nil
	}
	var atPeak, best float64
	over := map[string]float64{}
	for _, r := range p.Rows {
		if r.Kind == "" || r.GOPPerRun <= 0 || r.MsPerRun <= 0 {
			continue
		}
		ms := r.MsPerRun
		if r.Op == linearOps[prec] {
			ms = min(ms, 1e3*r.GOPPerRun/rate)
		}
		pk := 1e3 * r.GOPPerRun / peak[r.Kind]
		atPeak += pk
		best += ms
		over[r.Op] += ms - pk
	}
	if best <= 0 {
		return nil
	}
	worst, worstOver := "", 0.0
	for op, v := range over {
		if v > worstOver || v == worstOver && op < worst {
			worst, worstOver = op, v
		}
	}
	ceiling := 100 * atPeak / best
	target := shareTargets[prec]
	verdict := fmt.Sprintf("at or over the %.0f%% target: ORT's kernels allow it, and the rest is the time outside them", target)
	if ceiling < target {
		verdict = fmt.Sprintf("under the %.0f%% target: even with the other operators free, ORT's kernels at these rates do not reach it; **%s** takes %.1f of the %.1f ms (%.0f%%) over the peak", target, worst, worstOver, best-atPeak, 100*worstOver/(best-atPeak))
	}
	fmt.Fprintf(md, "Ceiling with ORT's kernels as measured: with every operator without multiply-adds free, the linear layers at ORT's %s rate by itself (%.0f GOP/s = %.0f%% of the %s peak, its best shape before the rounds) and every other matrix operator at its profiled rate above, an image would take %.1f ms against %.1f at the peak: **%.0f%% of the peak**, %s.\n\n",
		map[string]string{"fp32": "MatMul", "int8": "MatMulInteger (the GEMM alone)"}[prec], rate, 100*rate/peak[prec], prec, best, atPeak, ceiling, verdict)
	fmt.Fprintf(summary, "- %s image, ceiling with ORT's kernels as measured (operators without multiply-adds free, linear layers at the GEMM's own rate): %.0f%% of the peak (target %.0f%%); most over the peak there: %s\n", prec, ceiling, target, worst)
	return map[string]any{"gemm_gops": rate, "best_ms": best, "at_peak_ms": atPeak, "share_percent": ceiling, "target_percent": target, "most_over_peak": worst, "most_over_peak_ms": worstOver}
}

// gemmParts splits the int8 GEMM's distance to the peak (gemm.json, this
// run): ORT's MatMulInteger on input already quantised to uint8 is the
// GEMM kernel alone; DynamicQuantizeMatMul, the graph's operator, adds
// quantising the activations and scaling the result.
func gemmParts(md *strings.Builder, out map[string]any, dir string, peaks []peakRow) {
	var g gemmFile
	if !readJSON(filepath.Join(dir, "gemm.json"), &g) {
		return
	}
	peak := 0.0
	for _, r := range peaks {
		if r.Kernel == "int8" && r.Threads == g.Threads {
			peak = r.Rate
		}
	}
	if peak <= 0 {
		return
	}
	type pair struct{ dq, mi float64 }
	by := map[string]*pair{}
	var order []string
	for _, x := range g.Gemm {
		if !x.Int8 {
			continue
		}
		k := fmt.Sprintf("%d×%d×%d", x.M, x.K, x.N)
		if by[k] == nil {
			by[k] = &pair{}
			order = append(order, k)
		}
		switch x.Op {
		case "":
			by[k].dq = x.GFLOPSWall
		case "MatMulInteger":
			by[k].mi = x.GFLOPSWall
		}
	}
	var parts []string
	var rows []map[string]any
	for _, k := range order {
		p := by[k]
		if p.dq <= 0 || p.mi <= 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: the GEMM alone (MatMulInteger, uint8 in, int32 out) %.0f GOP/s = %.0f%% of the peak; DynamicQuantizeMatMul %.0f GOP/s = %.0f%%",
			k, p.mi, 100*p.mi/peak, p.dq, 100*p.dq/peak))
		rows = append(rows, map[string]any{"shape": k, "matmulinteger_gops": p.mi, "dynamicquantizematmul_gops": p.dq, "int8_peak_gops": peak})
	}
	if len(parts) == 0 {
		return
	}
	fmt.Fprintf(md, "ORT's int8 GEMM by itself, %d threads, wall, measured before the rounds: %s. The first is the kernel's own reach; the second adds quantising the activations and scaling the result, so it should be the slower, and where it is not, the two timings differ by the machine's noise more than by that work.\n\n", g.Threads, strings.Join(parts, "; "))
	out["int8_gemm"] = rows
}

// spinLine compares the profile with one run of the same model with ORT's
// pool threads spinning between jobs (profile-PREC-spin.json, same run):
// spinning trades idle CPU for shorter hand-offs between operators.
func spinLine(md *strings.Builder, dir, prec string, off ortprofile.Profile) map[string]any {
	var on ortprofile.Profile
	if !readJSON(filepath.Join(dir, "profile-"+prec+"-spin.json"), &on) || !on.Spin || on.Runs == 0 || off.Spin || off.CPUMsPerRun <= 0 || on.CPUMsPerRun <= 0 {
		return nil
	}
	wait := func(p ortprofile.Profile) float64 {
		w := 0.0
		for _, r := range p.Rows {
			w += r.WaitMsPerRun
		}
		return w
	}
	fmt.Fprintf(md, "With the pool's threads spinning between operators (`encoder.Options.Spin`, one more profiled run of the same model): %.1f ms per run against %.1f without (%.2f×), %.0f CPU-ms per run against %.0f (%.2f×); the calling thread waited %.1f ms against %.1f.\n\n",
		on.RunMs, off.RunMs, on.RunMs/off.RunMs, on.CPUMsPerRun, off.CPUMsPerRun, on.CPUMsPerRun/off.CPUMsPerRun, wait(on), wait(off))
	return map[string]any{"run_ms": on.RunMs, "cpu_ms_per_run": on.CPUMsPerRun, "wait_ms": wait(on)}
}
