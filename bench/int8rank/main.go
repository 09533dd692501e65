// Command int8rank measures what int8 quantisation does to rankings on the
// trained demo model (testdata/models/demo): it converts demo.pth to fp32 and
// int8, embeds the demo evaluation's 1,000 multi-object test scenes and their
// captions with both, and reports the mean top-10 overlap of every query's
// ranking (text→image and image→text) and demo.Evaluate's recall figures for
// each precision.
//
//	go run ./bench/int8rank [-scenes 1000]
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

	"imglish/demo"
	"imglish/demo/scene"
	"imglish/encoder"
	"imglish/encoder/convert"
	"imglish/encoder/preprocess"
	"imglish/model"
)

func main() {
	dir := flag.String("demo", "testdata/models/demo", "demo model folder (demo.pth, demo.model)")
	n := flag.Int("scenes", 1000, "test scenes")
	k := flag.Int("k", 10, "top-k for the overlap")
	out := flag.String("json", "", "write the result here")
	flag.Parse()
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "int8rank")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	gen, err := scene.New(scene.Options{Seed: 1, Split: scene.Test, MinObjects: 2})
	if err != nil {
		log.Fatal(err)
	}
	scenes := make([]scene.Scene, *n)
	captions := make([]string, *n)
	for i := range scenes {
		scenes[i] = gen.Scene(i)
		captions[i] = scenes[i].Caption()
	}
	type result struct {
		iv, tv [][]float32
		rep    demo.Report
	}
	res := map[string]result{}
	for _, prec := range []string{convert.PrecisionFP32, convert.PrecisionInt8} {
		mdir := filepath.Join(tmp, prec)
		if _, err := convert.Convert(ctx, convert.Options{Checkpoint: filepath.Join(*dir, "demo.pth"), OutDir: mdir, Precision: prec}); err != nil {
			log.Fatal(err)
		}
		m, err := model.Open(ctx, mdir, model.Options{Encoder: encoder.Options{Threads: 2}, Tokenizer: filepath.Join(*dir, "demo.model")})
		if err != nil {
			log.Fatal(err)
		}
		size := m.ImageSize()
		const render = 128
		px := make([]float32, len(scenes)*3*size*size)
		for i, s := range scenes {
			img, err := s.Render(render)
			if err != nil {
				log.Fatal(err)
			}
			rgb := preprocess.NewRGB(render, render)
			for p := range render * render {
				copy(rgb.Pix[3*p:3*p+3], img.Pix[4*p:4*p+3])
			}
			m.PrepareRGB(rgb, px[i*3*size*size:(i+1)*3*size*size])
		}
		iv, err := m.EmbedImages(ctx, px, len(scenes))
		if err != nil {
			log.Fatal(err)
		}
		tv, err := m.EmbedTexts(ctx, captions)
		if err != nil {
			log.Fatal(err)
		}
		rep, err := demo.Evaluate(ctx, m, demo.EvalOptions{Seed: 1, Scenes: *n})
		if err != nil {
			log.Fatal(err)
		}
		res[prec] = result{iv, tv, rep}
		if err := m.Close(); err != nil {
			log.Fatal(err)
		}
	}
	f, q := res[convert.PrecisionFP32], res[convert.PrecisionInt8]
	t2i := overlap(f.tv, f.iv, q.tv, q.iv, *k)
	i2t := overlap(f.iv, f.tv, q.iv, q.tv, *k)
	var minCos = 1.0
	for i := range f.iv {
		minCos = min(minCos, dot(f.iv[i], q.iv[i]), dot(f.tv[i], q.tv[i]))
	}
	r := map[string]any{"scenes": *n, "k": *k, "text_to_image_overlap": t2i, "image_to_text_overlap": i2t,
		"min_cosine_int8_fp32": minCos, "fp32": f.rep, "int8": q.rep}
	b, _ := json.MarshalIndent(r, "", " ")
	fmt.Println(string(b))
	if *out != "" {
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// topK returns the indices of the k candidates scoring highest against q.
func topK(q []float32, cands [][]float32, k int) []int {
	idx := make([]int, len(cands))
	sc := make([]float64, len(cands))
	for i, c := range cands {
		idx[i], sc[i] = i, dot(q, c)
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case sc[a] > sc[b]:
			return -1
		case sc[a] < sc[b]:
			return 1
		}
		return 0
	})
	return idx[:min(k, len(idx))]
}

// overlap is the mean |top-k(fp32) ∩ top-k(int8)| / k over all queries.
func overlap(qf, cf, qi, ci [][]float32, k int) float64 {
	total := 0.0
	for i := range qf {
		a, b := topK(qf[i], cf, k), topK(qi[i], ci, k)
		hit := 0
		for _, x := range a {
			if slices.Contains(b, x) {
				hit++
			}
		}
		total += float64(hit) / float64(len(a))
	}
	return total / float64(len(qf))
}
