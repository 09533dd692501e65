// Command encbench is imglish's side of `make bench`'s encoder table: image
// throughput and text latency of a converted model folder through package
// encoder, in the JSON shape of tools/reference/bench_torch.py, plus CPU
// seconds per item (robust on a shared machine) and the GEMM ceiling measured
// in the same process right before (see bench/ortinspect).
//
//	go run ./bench/encbench -model /tmp/base-fp32 -batch 1,8 -json bench/out/imglish-fp32.json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"imglish/encoder"
)

type imageResult struct {
	Batch       int     `json:"batch"`
	Images      int     `json:"images"`
	Seconds     float64 `json:"seconds"`
	ImagesPerS  float64 `json:"images_per_s"`
	CPUPerImage float64 `json:"cpu_s_per_image"`
	MsPerBatch  float64 `json:"ms_per_batch_p50"`
}

type textResult struct {
	Batch      int     `json:"batch"`
	Tokens     int     `json:"tokens"`
	Reps       int     `json:"reps"`
	P50        float64 `json:"p50_ms"`
	P90        float64 `json:"p90_ms"`
	TextsPerS  float64 `json:"texts_per_s"`
	CPUPerText float64 `json:"cpu_ms_per_text"`
}

type result struct {
	Impl      string        `json:"impl"`
	Model     string        `json:"model"`
	Precision string        `json:"precision"`
	Provider  string        `json:"provider,omitempty"`
	Threads   int           `json:"threads"`
	Spin      bool          `json:"spin"`
	LoadS     float64       `json:"load_s"`
	Image     []imageResult `json:"image"`
	Text      []textResult  `json:"text"`
}

func main() {
	dir := flag.String("model", "", "converted model folder")
	threads := flag.Int("threads", 2, "intra-op threads")
	batches := flag.String("batch", "1,8", "comma-separated batch sizes")
	minImages := flag.Int("min-images", 8, "images timed per batch size (whole batches)")
	reps := flag.Int("text-reps", 40, "timed text calls per batch size")
	tokens := flag.Int("text-tokens", 16, "text length in tokens, <s> and </s> included")
	spin := flag.Bool("spin", false, "let ORT threads spin (encoder.Options.Spin)")
	provider := flag.String("provider", "", "execution provider: cpu (default) or cuda")
	imageBatch := flag.Int("image-batch", 0, "most images per ORT run (encoder.Options.ImageBatch; 0: default)")
	skipImages := flag.Bool("skip-images", false, "text only")
	out := flag.String("json", "", "write the result here")
	compare := flag.String("compare", "", "instead: embed the same inputs with -model and this model folder (e.g. fp32 vs int8) and print their cosines")
	flag.Parse()
	if *dir == "" {
		log.Fatal("-model is required")
	}
	var bs []int
	for _, f := range strings.Split(*batches, ",") {
		b, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || b < 1 {
			log.Fatalf("bad batch %q", f)
		}
		bs = append(bs, b)
	}
	ctx := context.Background()
	if *compare != "" {
		compareModels(ctx, *dir, *compare, *threads)
		return
	}
	t0 := time.Now()
	e, err := encoder.Open(ctx, *dir, encoder.Options{Threads: *threads, Spin: *spin, Provider: *provider, ImageBatch: *imageBatch})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	m := e.Manifest()
	res := result{Impl: "imglish-onnxruntime", Model: fmt.Sprintf("beit3-d%d-L%d-%d", m.Architecture.Dim, m.Architecture.Layers, m.Image.Size),
		Precision: m.Precision, Provider: *provider, Threads: *threads, Spin: *spin, LoadS: round(time.Since(t0).Seconds(), 2)}

	if !*skipImages {
		s := e.ImageSize()
		px := make([]float32, slices.Max(bs)*3*s*s)
		for i := range px {
			px[i] = float32((i*7919)%255)/127.5 - 1
		}
		if _, err := e.EmbedImages(ctx, px[:3*s*s], 1); err != nil { // warm-up
			log.Fatal(err)
		}
		for _, b := range bs {
			runs := max(1, (*minImages+b-1)/b)
			var times []float64
			c0 := cpuTime()
			for range runs {
				t := time.Now()
				if _, err := e.EmbedImages(ctx, px[:b*3*s*s], b); err != nil {
					log.Fatal(err)
				}
				times = append(times, time.Since(t).Seconds())
			}
			cpu := (cpuTime() - c0).Seconds()
			total := sum(times)
			r := imageResult{Batch: b, Images: b * runs, Seconds: round(total, 3), ImagesPerS: round(float64(b*runs)/total, 4),
				CPUPerImage: round(cpu/float64(b*runs), 4), MsPerBatch: round(1000*percentile(times, 0.5), 2)}
			res.Image = append(res.Image, r)
			fmt.Fprintf(os.Stderr, "image batch %d: %.3f images/s, %.3f cpu-s/image (%d × %d)\n", b, r.ImagesPerS, r.CPUPerImage, runs, b)
		}
	}

	n := *tokens
	seq := make([]int64, n)
	for j := range seq {
		seq[j] = int64(4 + (j*7919)%int(min(60000, m.Architecture.VocabRows-4)))
	}
	seq[0], seq[n-1] = 0, 2
	for _, b := range bs {
		ids := make([][]int64, b)
		for i := range ids {
			ids[i] = seq
		}
		for range 3 {
			if _, err := e.EmbedTexts(ctx, ids); err != nil {
				log.Fatal(err)
			}
		}
		var times []float64
		c0 := cpuTime()
		for range *reps {
			t := time.Now()
			if _, err := e.EmbedTexts(ctx, ids); err != nil {
				log.Fatal(err)
			}
			times = append(times, 1000*time.Since(t).Seconds())
		}
		cpu := (cpuTime() - c0).Seconds()
		p50 := percentile(times, 0.5)
		r := textResult{Batch: b, Tokens: n, Reps: *reps, P50: round(p50, 2), P90: round(percentile(times, 0.9), 2),
			TextsPerS: round(1000*float64(b)/p50, 2), CPUPerText: round(1000*cpu/float64(b**reps), 2)}
		res.Text = append(res.Text, r)
		fmt.Fprintf(os.Stderr, "text batch %d (%d tokens): p50 %.1f ms, p90 %.1f ms, %.1f cpu-ms/text\n", b, n, r.P50, r.P90, r.CPUPerText)
	}
	b, _ := json.MarshalIndent(res, "", " ")
	if *out != "" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(string(b))
}

func sum(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t
}

func percentile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	k := float64(len(s)-1) * q
	lo := int(k)
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(k-float64(lo))
}

func round(x float64, d int) float64 {
	p := 1.0
	for range d {
		p *= 10
	}
	return float64(int64(x*p+0.5)) / p
}

// cpuTime is the process's user+system CPU time, all threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// compareModels embeds 4 images (smooth gradients with noise) and 4 texts with
// two model folders of the same checkpoint and prints the cosine of each pair.
func compareModels(ctx context.Context, a, b string, threads int) {
	var encs []*encoder.Encoder
	for _, d := range []string{a, b} {
		e, err := encoder.Open(ctx, d, encoder.Options{Threads: threads})
		if err != nil {
			log.Fatal(err)
		}
		defer e.Close()
		encs = append(encs, e)
	}
	s := encs[0].ImageSize()
	const n = 4
	px := make([]float32, n*3*s*s)
	seed := uint32(1)
	for i := range px {
		seed = seed*1664525 + 1013904223
		img, pos := i/(3*s*s), i%(s*s)
		y, x := pos/s, pos%s
		px[i] = float32(x+y*(img+1))/float32(2*s*(img+1)) - 0.5 + float32(seed>>24)/1024
	}
	var texts [][]int64
	for t := 0; t < n; t++ {
		seq := []int64{0}
		for j := 0; j < 6+3*t; j++ {
			seq = append(seq, int64(100+(t*977+j*7919)%30000))
		}
		texts = append(texts, append(seq, 2))
	}
	var img, txt [2][][]float32
	for k, e := range encs {
		var err error
		if img[k], err = e.EmbedImages(ctx, px, n); err != nil {
			log.Fatal(err)
		}
		if txt[k], err = e.EmbedTexts(ctx, texts); err != nil {
			log.Fatal(err)
		}
	}
	cos := func(u, v []float32) float64 {
		var s float64
		for i := range u {
			s += float64(u[i]) * float64(v[i])
		}
		return s
	}
	for i := 0; i < n; i++ {
		fmt.Printf("image %d: cosine %.5f\n", i, cos(img[0][i], img[1][i]))
	}
	for i := 0; i < n; i++ {
		fmt.Printf("text %d (%d tokens): cosine %.5f\n", i, len(texts[i]), cos(txt[0][i], txt[1][i]))
	}
}
