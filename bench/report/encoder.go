package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// stat is a value over the rounds: its median and range.
type stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"rounds"`
}

func stats(v []float64) stat {
	if len(v) == 0 {
		return stat{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// format writes the median and, over more than one round, the range, each
// with the verb f (e.g. "%.2f").
func (s stat) format(f string) string {
	switch s.N {
	case 0:
		return "—"
	case 1:
		return fmt.Sprintf(f, s.Median)
	}
	return fmt.Sprintf(f+" ("+f+"–"+f+")", s.Median, s.Min, s.Max)
}

// engine is one row group of the encoder tables.
type engine struct {
	key, label string
}

// torchLabel names a PyTorch row by the OpenBLAS kernels it ran, as the
// reference process itself reported them.
func torchLabel(e encResult) string {
	core := e.OpenBLASCore
	if core == "" {
		core = "not OpenBLAS"
	}
	switch {
	case e.OpenBLASCoreType == "":
		return fmt.Sprintf("PyTorch %s (OpenBLAS default: %s)", e.Torch, core)
	case strings.EqualFold(e.OpenBLASCoreType, core):
		return fmt.Sprintf("PyTorch %s (OpenBLAS core %s, set for the reference)", e.Torch, core)
	}
	return fmt.Sprintf("PyTorch %s (OPENBLAS_CORETYPE=%s set for the reference, but OpenBLAS ran %s)", e.Torch, e.OpenBLASCoreType, core)
}

// results gives an engine's result per round; the torch-default engine
// runs in round 1 only and counts as one round.
func results(rounds []round, key string) []encResult {
	var out []encResult
	for _, r := range rounds {
		if e, ok := r.Engines[key]; ok {
			out = append(out, e)
		}
	}
	return out
}

func imageAt(e encResult, batch int) (imageRow, bool) {
	i := slices.IndexFunc(e.Image, func(r imageRow) bool { return r.Batch == batch })
	if i < 0 {
		return imageRow{}, false
	}
	return e.Image[i], true
}

func textAt(e encResult, batch int) (textRow, bool) {
	i := slices.IndexFunc(e.Text, func(r textRow) bool { return r.Batch == batch })
	if i < 0 {
		return textRow{}, false
	}
	return e.Text[i], true
}

// comparison holds the encoder rounds and which PyTorch row the ratios are
// taken against: the one with fewer CPU-seconds per image at the smallest
// batch (median over its rounds), so imglish is compared with the better
// of the reference's two OpenBLAS configurations.
type comparison struct {
	rounds  []round
	ref     string
	batches []int
	texts   []int
}

// refFor is the reference's result for round i: its own run in that round,
// or its one run when it ran in a single round.
func (c comparison) refFor(i int) (encResult, bool) {
	if e, ok := c.rounds[i].Engines[c.ref]; ok {
		return e, true
	}
	rs := results(c.rounds, c.ref)
	if len(rs) == 1 {
		return rs[0], true
	}
	return encResult{}, false
}

// imageStats gives, for engine key at batch b over the rounds: images/s,
// CPU-s per image, and the ratios to the reference in the same round
// (CPU-s: reference / engine; wall: engine / reference).
func (c comparison) imageStats(key string, b int) (ips, cpu, rCPU, rWall stat) {
	var v, w, x, y []float64
	for i, r := range c.rounds {
		e, ok := r.Engines[key]
		if !ok {
			continue
		}
		row, ok := imageAt(e, b)
		if !ok || row.ImagesPerS <= 0 || row.CPUPerImage <= 0 {
			continue
		}
		v, w = append(v, row.ImagesPerS), append(w, row.CPUPerImage)
		if ref, ok := c.refFor(i); ok {
			if t, ok := imageAt(ref, b); ok && t.CPUPerImage > 0 && t.ImagesPerS > 0 {
				x, y = append(x, t.CPUPerImage/row.CPUPerImage), append(y, row.ImagesPerS/t.ImagesPerS)
			}
		}
	}
	return stats(v), stats(w), stats(x), stats(y)
}

// textStats is imageStats for text: p50, p90, CPU-ms per text and the p50
// ratio (reference / engine).
func (c comparison) textStats(key string, b int) (p50, p90, cpu, ratio stat) {
	var v, w, x, y []float64
	for i, r := range c.rounds {
		e, ok := r.Engines[key]
		if !ok {
			continue
		}
		row, ok := textAt(e, b)
		if !ok || row.P50 <= 0 {
			continue
		}
		v, w = append(v, row.P50), append(w, row.P90)
		if row.CPUPerText > 0 {
			x = append(x, row.CPUPerText)
		}
		if ref, ok := c.refFor(i); ok {
			if t, ok := textAt(ref, b); ok && t.P50 > 0 {
				y = append(y, t.P50/row.P50)
			}
		}
	}
	return stats(v), stats(w), stats(x), stats(y)
}

func encoderSection(md, summary *strings.Builder, js map[string]any, dir string, rounds []round, cmds map[string]string) {
	fmt.Fprintf(md, "## Encoder: BEiT-3 base 384, random weights, imglish vs PyTorch\n\n")
	probe := coreSection(md, js, dir, cmds, readMeta(filepath.Join(dir, "meta.txt"))["openblas_coretype_forced"])
	if len(rounds) == 0 {
		fmt.Fprintf(md, "_no encoder results_\n\n")
		return
	}
	c := comparison{rounds: rounds, ref: engTorch}
	var engines []engine
	for _, k := range []string{engFP32, engInt8, engTorch, engTorchDefault} {
		rs := results(rounds, k)
		if len(rs) == 0 {
			continue
		}
		label := map[string]string{engFP32: "imglish ORT fp32", engInt8: "imglish ORT int8"}[k]
		if label == "" {
			label = torchLabel(rs[0])
		}
		engines = append(engines, engine{k, label})
		for _, r := range rs[0].Image {
			if !slices.Contains(c.batches, r.Batch) {
				c.batches = append(c.batches, r.Batch)
			}
		}
		for _, r := range rs[0].Text {
			if !slices.Contains(c.texts, r.Batch) {
				c.texts = append(c.texts, r.Batch)
			}
		}
	}
	slices.Sort(c.batches)
	slices.Sort(c.texts)
	// The better PyTorch row is the reference.
	if len(c.batches) > 0 && len(results(rounds, engTorchDefault)) > 0 {
		_, a, _, _ := c.imageStats(engTorch, c.batches[0])
		_, d, _, _ := c.imageStats(engTorchDefault, c.batches[0])
		if d.N > 0 && (a.N == 0 || d.Median < a.Median) {
			c.ref = engTorchDefault
		}
	}
	refLabel := ""
	for _, e := range engines {
		if e.key == c.ref {
			refLabel = e.label
		}
	}

	fmt.Fprintf(md, "### Rounds\n\n")
	fmt.Fprintf(md, "The engines ran one after another in each round, always in this order, each once: %s. ", engineOrder(engines, false))
	if len(results(rounds, engTorchDefault)) > 0 {
		fmt.Fprintf(md, "PyTorch with OpenBLAS's default kernels ran once more, at the end of round 1 only (a labelled second row, not the reference: it is the slower configuration). ")
	}
	faster := ""
	if len(results(rounds, engTorchDefault)) > 0 {
		faster = ", the faster of the two PyTorch rows (fewer CPU-s per image at the smallest batch, median)"
	}
	fmt.Fprintf(md, "Each engine's rows below give the median over the rounds and the range (min–max); each ratio is taken within a round, against the reference's run of that round (or its one run), and likewise given as median (range). The reference is **%s**%s.\n\n", refLabel, faster)
	fmt.Fprintf(md, "| round | UTC | load average at start | at end |\n|---|---|---|---|\n")
	for _, r := range rounds {
		fmt.Fprintf(md, "| %d | %s–%s | %s | %s |\n", r.N, r.Start, r.End, r.LoadStart, r.LoadEnd)
	}
	fmt.Fprintln(md)
	produced(md, cmds, "encoder-fp32", "encoder-int8", "torch", "torch-default")
	fmt.Fprintf(md, "(those are round 1's; round N writes to bench/out/rounds/rN.)\n\n")

	fmt.Fprintf(md, "### Images\n\nBatch is images per call. imglish runs them with its defaults (encoder.Options.ImageBatch): one image per ORT run for both base-384 models. Ratios: CPU-s = reference CPU-s per image / this row's; wall = this row's images/s / the reference's.\n\n")
	fmt.Fprintf(md, "| implementation | batch | rounds | images/s (wall) | CPU-s / image | × reference (CPU-s) | × reference (wall) |\n|---|---|---|---|---|---|---|\n")
	enc := map[string]any{"reference": refLabel}
	for _, e := range engines {
		for _, b := range c.batches {
			ips, cpu, rc, rw := c.imageStats(e.key, b)
			if ips.N == 0 {
				continue
			}
			rcs, rws := rc.format("%.2f×"), rw.format("%.2f×")
			if e.key == c.ref {
				rcs, rws = "reference", "reference"
			}
			fmt.Fprintf(md, "| %s | %d | %d | %s | %s | %s | %s |\n", e.label, b, ips.N, ips.format("%.3f"), cpu.format("%.3f"), rcs, rws)
			enc[fmt.Sprintf("%s_image_b%d", e.key, b)] = map[string]stat{"images_per_s": ips, "cpu_s_per_image": cpu, "ratio_cpu": rc, "ratio_wall": rw}
			if (e.key == engFP32 || e.key == engInt8) && rc.N > 0 {
				fmt.Fprintf(summary, "- %s vs %s, images at batch %d: %s in CPU-s per image, %s in wall images/s, over %d rounds\n", e.label, refLabel, b, rc.format("%.2f×"), rw.format("%.2f×"), rc.N)
			}
		}
	}
	fmt.Fprintf(md, "\n### Text\n\nA 16-token query, after warm-up. Ratio = the reference's p50 / this row's.\n\n")
	fmt.Fprintf(md, "| implementation | texts per call | rounds | p50 ms | p90 ms | CPU-ms / text | × reference (p50) |\n|---|---|---|---|---|---|---|\n")
	for _, e := range engines {
		for _, b := range c.texts {
			p50, p90, cpu, r := c.textStats(e.key, b)
			if p50.N == 0 {
				continue
			}
			rs := r.format("%.2f×")
			if e.key == c.ref {
				rs = "reference"
			}
			fmt.Fprintf(md, "| %s | %d | %d | %s | %s | %s | %s |\n", e.label, b, p50.N, p50.format("%.1f"), p90.format("%.1f"), cpu.format("%.1f"), rs)
			enc[fmt.Sprintf("%s_text_b%d", e.key, b)] = map[string]stat{"p50_ms": p50, "p90_ms": p90, "cpu_ms_per_text": cpu, "ratio_p50": r}
			if (e.key == engFP32 || e.key == engInt8) && b == c.texts[0] && r.N > 0 {
				fmt.Fprintf(summary, "- %s vs %s, text (%d per call) p50: %s, over %d rounds\n", e.label, refLabel, b, r.format("%.2f×"), r.N)
			}
		}
	}
	fmt.Fprintln(md)
	if probe != nil && probe.Chosen != "" && len(c.batches) > 0 {
		_, _, rc, _ := c.imageStats(engTorchDefault, c.batches[0])
		if c.ref == engTorch && rc.N > 0 {
			fmt.Fprintf(summary, "- PyTorch with OpenBLAS's default core (%s) vs with %s, images at batch %d: %s in CPU-s per image (one run, round 1)\n", probe.Default, probe.Chosen, c.batches[0], rc.format("%.2f×"))
		}
	}
	js["encoder"] = enc

	var m manifest
	if !readJSON(filepath.Join(dir, "models", "base-fp32", "model.json"), &m) {
		return
	}
	lin, other := flops(m)
	ceilingSection(md, js, dir, cmds, c, lin, other)
	peakSection(md, summary, js, dir, cmds, c, lin, other)
	profileSection(md, summary, js, dir, cmds)
	if b, err := readText(filepath.Join(dir, "int8-drift.txt")); err == nil {
		fmt.Fprintf(md, "### int8 drift\n\nint8 vs fp32, same checkpoint and inputs, cosine per item:\n\n```\n%s\n```\n\n", b)
		produced(md, cmds, "int8-drift")
	}
	int8RankSection(md, js, dir, cmds)
}

// engineOrder lists the engines of a round in run order.
func engineOrder(engines []engine, withDefault bool) string {
	var s []string
	for _, e := range engines {
		if e.key != engTorchDefault || withDefault {
			s = append(s, e.label)
		}
	}
	return strings.Join(s, ", ")
}

// coreSection reports which OpenBLAS kernels the PyTorch reference got by
// default and which it was given (bench_torch.py --probe-cores).
func coreSection(md *strings.Builder, js map[string]any, dir string, cmds map[string]string, forced string) *coreProbe {
	var p coreProbe
	if !readJSON(filepath.Join(dir, "torch-cores.json"), &p) {
		return nil
	}
	js["openblas_cores"] = p
	fmt.Fprintf(md, "### OpenBLAS kernels for the PyTorch reference\n\n")
	def := p.Default
	if def == "" {
		def = "none (torch did not load OpenBLAS)"
	}
	fmt.Fprintf(md, "Debian's torch %s multiplies float32 matrices with OpenBLAS, which picks its kernels by CPU model when it loads. Here it chose **%s**; the CPU's widest vectors are %s. A %d×%d float32 matmul in torch on %d threads, each setting in a fresh process, %d interleaved passes, each the best of 8 runs; the choice goes by GFLOP per CPU-second (all the process's threads), which the neighbours' load moves far less than the wall rate:\n\n",
		p.Torch, def, p.CPULevel, p.N, p.N, p.Threads, p.Passes)
	fmt.Fprintf(md, "| OPENBLAS_CORETYPE | core OpenBLAS ran | GFLOP per CPU-s, per pass | best | GFLOP/s (wall), per pass | best |\n|---|---|---|---|---|---|\n")
	for _, c := range p.CoreTypes {
		ct := c.CoreType
		if ct == "" {
			ct = "(unset: default)"
		}
		list := func(v []float64) string {
			var s []string
			for _, g := range v {
				s = append(s, fmt.Sprintf("%.1f", g))
			}
			if c.Error != "" {
				s = append(s, "failed: "+c.Error)
			}
			return strings.Join(s, ", ")
		}
		fmt.Fprintf(md, "| %s | %s | %s | %.1f | %s | %.1f |\n", ct, c.Core, list(c.PerCPU), c.BestCPU, list(c.GFLOPS), c.Best)
	}
	switch {
	case forced != "":
		fmt.Fprintf(md, "\nThe reference runs with **OPENBLAS_CORETYPE=%s, forced by BENCH_OPENBLAS_CORETYPE** (the probe's own verdict: %s), set for the PyTorch process only; its default-kernel run is the second PyTorch row.\n\n", forced, p.Why)
		p.Chosen = forced
	case p.Chosen != "":
		fmt.Fprintf(md, "\nThe reference runs with **OPENBLAS_CORETYPE=%s** (%s), set for the PyTorch process only; its default-kernel run is the second PyTorch row.\n\n", p.Chosen, p.Why)
	default:
		fmt.Fprintf(md, "\nThe reference runs with OpenBLAS's default core: %s.\n\n", p.Why)
	}
	produced(md, cmds, "torch-cores")
	return &p
}

// ceilingSection compares the encoders with ORT's own GEMM, measured in
// this run just before the rounds.
func ceilingSection(md *strings.Builder, js map[string]any, dir string, cmds map[string]string, c comparison, lin, other float64) {
	var g gemmFile
	if !readJSON(filepath.Join(dir, "gemm.json"), &g) {
		return
	}
	var gf, gi float64
	var shapes []string
	for _, x := range g.Gemm {
		if x.Op != "" {
			continue // the GEMM alone: profileSection's
		}
		if x.Int8 {
			gi = max(gi, x.GFLOPPerCPUSecond)
		} else {
			gf = max(gf, x.GFLOPPerCPUSecond)
			shapes = append(shapes, fmt.Sprintf("%d×%d×%d", x.M, x.K, x.N))
		}
	}
	if gf <= 0 || gi <= 0 {
		return
	}
	ceilF := imageSeconds(lin, other, gf, gf)
	ceilI := imageSeconds(lin, other, gi, gf)
	fmt.Fprintf(md, "### Distance to ORT's GEMM\n\n")
	fmt.Fprintf(md, "One image is %.1f GFLOP as the graph computes it (%.1f in linear layers, %.1f in attention, patch embedding and head). ORT's own GEMM (best of %s) gave %.0f GFLOP per CPU-second in fp32 and %.0f GOP per CPU-second with int8 DynamicQuantizeMatMul in this run, so a graph running every FLOP at those rates would take %.3f CPU-s per image in fp32 and %.3f in int8 (linear layers int8, the rest fp32). A single MatMul is not a hard ceiling (the fused graph can beat it: shares over 100%% say so); the silicon peak below is.\n\n",
		total(lin, other), lin/1e9, other/1e9, strings.Join(shapes, ", "), gf, gi, ceilF, ceilI)
	fmt.Fprintf(md, "| model | batch | CPU-s / image | GEMM-rate CPU-s / image | share |\n|---|---|---|---|---|\n")
	eff := map[string]stat{}
	for _, x := range []struct {
		name, key string
		ceil      float64
	}{{"fp32", engFP32, ceilF}, {"int8", engInt8, ceilI}} {
		for _, b := range c.batches {
			var v []float64
			for _, r := range c.rounds {
				if row, ok := imageAt(r.Engines[x.key], b); ok && row.CPUPerImage > 0 {
					v = append(v, 100*x.ceil/row.CPUPerImage)
				}
			}
			if len(v) == 0 {
				continue
			}
			_, cpu, _, _ := c.imageStats(x.key, b)
			st := stats(v)
			eff[fmt.Sprintf("%s_b%d", x.name, b)] = st
			fmt.Fprintf(md, "| imglish %s | %d | %s | %.3f | %s |\n", x.name, b, cpu.format("%.3f"), x.ceil, st.format("%.0f%%"))
		}
	}
	fmt.Fprintln(md)
	produced(md, cmds, "gemm")
	js["gemm_ceiling"] = map[string]any{"gflop_per_image": total(lin, other), "linear_gflop": lin / 1e9, "gemm_fp32_gflop_per_cpu_s": gf,
		"gemm_int8_gop_per_cpu_s": gi, "cpu_s_per_image_fp32": ceilF, "cpu_s_per_image_int8": ceilI, "share_percent": eff}
}

func total(lin, other float64) float64 { return (lin + other) / 1e9 }

// imageSeconds is the time one image takes when its linear layers (lin
// FLOP) run at linRate and the rest (other FLOP) at otherRate, both in
// G(FL)OP per second.
func imageSeconds(lin, other, linRate, otherRate float64) float64 {
	return lin/1e9/linRate + other/1e9/otherRate
}

// peakRow is one line of bench/cpupeak's JSON.
type peakRow struct {
	Kernel     string  `json:"kernel"`
	Threads    int     `json:"threads"`
	Rate       float64 `json:"rate"`
	RatePerCPU float64 `json:"rate_per_cpu_s"`
}

// peakSection compares the encoders' rates in each round with this CPU's
// multiply-add peak (bench/cpupeak, same run): wall images/s against the
// peak on all the benchmark's threads, CPU-seconds against one core's peak
// per CPU-second (its wall rate on one thread where cpupeak gave none).
func peakSection(md, summary *strings.Builder, js map[string]any, dir string, cmds map[string]string, c comparison, lin, other float64) {
	var rows []peakRow
	if !readJSON(filepath.Join(dir, "peak.json"), &rows) {
		return
	}
	var pf, pi, pf1, pi1 float64
	threads := 0
	for _, r := range rows {
		switch r.Kernel {
		case "fp32":
			pf1 = max(pf1, r.RatePerCPU)
		case "int8":
			pi1 = max(pi1, r.RatePerCPU)
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
	perCPU := pf1 > 0 && pi1 > 0
	for _, r := range rows {
		switch {
		case perCPU || r.Threads != 1:
		case r.Kernel == "fp32":
			pf1 = r.Rate
		case r.Kernel == "int8":
			pi1 = r.Rate
		}
	}
	if pf <= 0 || pi <= 0 || pf1 <= 0 || pi1 <= 0 {
		return
	}
	tf, ti := imageSeconds(lin, other, pf, pf), imageSeconds(lin, other, pi, pf)
	cf, ci := imageSeconds(lin, other, pf1, pf1), imageSeconds(lin, other, pi1, pf1)
	one := "per CPU-second of the measuring threads (one core's peak, which neighbours' load does not lower)"
	if !perCPU {
		one = "on one thread (wall)"
	}
	fmt.Fprintf(md, "### Distance to the silicon peak\n\n")
	fmt.Fprintf(md, "This CPU's multiply-add peak, measured in this run before the rounds (12 independent 512-bit FMA or VNNI chains per thread): **%.0f GFLOP/s fp32** (VFMADD231PS) and **%.0f GOP/s int8** (VPDPBUSD) on %d threads (wall), %.0f and %.0f %s. At the %d-thread wall rate an image takes %.3f s in fp32 and %.3f s in int8 (linear layers int8, the rest fp32): at most %.2f and %.2f images/s. The wall share compares images/s with that bound (it moves with the machine's load); the CPU share compares CPU-seconds per image with %.3f and %.3f CPU-s, what an image takes at one core's peak. Median (range) over the rounds.\n\n",
		pf, pi, threads, pf1, pi1, one, threads, tf, ti, 1/tf, 1/ti, cf, ci)
	if s := min(pf/pf1, pi/pi1); threads > 1 && s < 0.9*float64(threads) {
		fmt.Fprintf(md, "**The machine was busy while the peak was measured**: %d threads reached only %.2f× one core's rate (%d× on an idle machine), so the wall bound is low and wall shares are inflated (they can pass 100%%)", threads, s, threads)
		if perCPU {
			fmt.Fprintf(md, "; the CPU shares are not affected")
		}
		fmt.Fprintf(md, ".\n\n")
	}
	fmt.Fprintf(md, "| model | batch | images/s (wall) | share of the peak (wall) | CPU-s / image | share of the peak (CPU) |\n|---|---|---|---|---|---|\n")
	share := map[string]any{}
	for _, x := range []struct {
		name, key string
		t, ct     float64
	}{{"fp32", engFP32, tf, cf}, {"int8", engInt8, ti, ci}} {
		for _, b := range c.batches {
			var w, u []float64
			for _, r := range c.rounds {
				if row, ok := imageAt(r.Engines[x.key], b); ok && row.ImagesPerS > 0 && row.CPUPerImage > 0 {
					w = append(w, 100*row.ImagesPerS*x.t)
					u = append(u, 100*x.ct/row.CPUPerImage)
				}
			}
			if len(w) == 0 {
				continue
			}
			ips, cpu, _, _ := c.imageStats(x.key, b)
			sw, su := stats(w), stats(u)
			share[fmt.Sprintf("%s_b%d_wall", x.name, b)] = sw
			share[fmt.Sprintf("%s_b%d_cpu", x.name, b)] = su
			fmt.Fprintf(md, "| imglish %s | %d | %s | %s | %s | %s |\n", x.name, b, ips.format("%.3f"), sw.format("%.0f%%"), cpu.format("%.3f"), su.format("%.0f%%"))
			if b == c.batches[0] {
				fmt.Fprintf(summary, "- imglish %s at batch %d, share of this CPU's measured %s peak: %s wall, %s per CPU-second\n", x.name, b, x.name, sw.format("%.0f%%"), su.format("%.0f%%"))
			}
		}
	}
	fmt.Fprintln(md)
	produced(md, cmds, "peak")
	js["silicon_peak"] = map[string]any{"threads": threads, "fp32_gflops": pf, "int8_gops": pi,
		"fp32_gflops_one_core": pf1, "int8_gops_one_core": pi1, "one_core_per_cpu_s": perCPU, "peak_s_per_image_fp32": tf,
		"peak_s_per_image_int8": ti, "share_percent": share}
}

// int8RankSection reports bench/int8rank, run in this run on the trained
// demo model.
func int8RankSection(md *strings.Builder, js map[string]any, dir string, cmds map[string]string) {
	var rank struct {
		Scenes int                `json:"scenes"`
		K      int                `json:"k"`
		T2I    float64            `json:"text_to_image_overlap"`
		I2T    float64            `json:"image_to_text_overlap"`
		MinCos float64            `json:"min_cosine_int8_fp32"`
		FP32   map[string]float64 `json:"fp32"`
		Int8   map[string]float64 `json:"int8"`
	}
	if !readJSON(filepath.Join(dir, "int8rank.json"), &rank) {
		return
	}
	js["int8_ranking"] = rank
	fmt.Fprintf(md, "### int8 ranking agreement\n\nOn the trained demo model (testdata/models/demo, %d multi-object test scenes and their captions): mean top-%d overlap int8 vs fp32 %.1f%% text→image and %.1f%% image→text; min cosine %.5f.\n\n",
		rank.Scenes, rank.K, 100*rank.T2I, 100*rank.I2T, rank.MinCos)
	fmt.Fprintf(md, "| demo.Evaluate | TR@1 | TR@5 | TR@10 | IR@1 | IR@5 | IR@10 | zero-shot top-1 |\n|---|---|---|---|---|---|---|---|\n")
	for _, x := range []struct {
		n string
		m map[string]float64
	}{{"fp32", rank.FP32}, {"int8", rank.Int8}} {
		fmt.Fprintf(md, "| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", x.n, x.m["tr@1"], x.m["tr@5"], x.m["tr@10"], x.m["ir@1"], x.m["ir@5"], x.m["ir@10"], x.m["zero_shot_acc"])
	}
	fmt.Fprintln(md)
	produced(md, cmds, "int8rank")
}
