package indexer

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"imglish/encoder"
	"imglish/encoder/preprocess"
	"imglish/store"
)

// benchImages is the collection size of BenchmarkIndexVsEncoder
// (IMGLISH_BENCH_IMAGES, default 1000).
func benchImages() int {
	if n, err := strconv.Atoi(os.Getenv("IMGLISH_BENCH_IMAGES")); err == nil && n > 0 {
		return n
	}
	return 1000
}

// BenchmarkIndexVsEncoder compares indexing a fresh collection end to end
// (walk, read, hash, decode, embed, commit) with the encoder alone on the
// same images already preprocessed, in the same batch size. It reports
// img/s for both and their ratio (target ≥ 0.9), and the preprocessing rate
// of one goroutine (decode-img/s/core): when Workers × that rate is below the
// encoder's, the pipeline is decode-bound and the ratio cannot reach 0.9. Models: the tiny fixture and
// the base-shaped fixture (testdata/reference), converted on the fly; the
// demo model when IMGLISH_BENCH_MODEL names a model folder.
func BenchmarkIndexVsEncoder(b *testing.B) {
	n := benchImages()
	root := b.TempDir()
	for i := range n {
		ext := ".jpg"
		if i%4 == 0 {
			ext = ".png"
		}
		// Photo-like sizes would measure the JPEG decoder; these are the
		// sizes of a thumbnail folder (320–640 px).
		genImage(b, filepath.Join(root, strconv.Itoa(i%10), strconv.Itoa(i)+ext), uint64(i)+1, 320+i%7*53, 240+i%5*67)
	}
	models := map[string]string{"tiny": modelDir}
	base := filepath.Join(b.TempDir(), "base")
	if _, err := convertBench(base); err != nil {
		b.Fatal(err)
	}
	models["base-shaped"] = base
	if d := os.Getenv("IMGLISH_BENCH_MODEL"); d != "" {
		models["custom"] = d
	}
	for name, dir := range models {
		b.Run(name, func(b *testing.B) {
			enc, err := encoder.Open(b.Context(), dir, encoder.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer enc.Close()
			man := enc.Manifest()
			size := enc.ImageSize()
			// Encoder only: tensors prepared beforehand, batches of 16.
			var files []string
			_ = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
				if err == nil && info.Mode().IsRegular() {
					files = append(files, p)
				}
				return nil
			})
			per := 3 * size * size
			pixels := make([]float32, 0, len(files)*per)
			// Timed: read + decode + resize on one goroutine, the work the
			// pipeline's workers do per image before the encoder.
			start := time.Now()
			for _, f := range files {
				t, _, err := preprocess.File(b.Context(), f, preprocess.Options{Size: size, Mean: man.Image.Mean, Std: man.Image.Std})
				if err != nil {
					b.Fatal(err)
				}
				pixels = append(pixels, t...)
			}
			decRate := float64(len(files)) / time.Since(start).Seconds()
			var encRate, ixRate float64
			for b.Loop() {
				start = time.Now()
				for i := 0; i < len(files); i += 16 {
					k := min(16, len(files)-i)
					if _, err := enc.EmbedImages(b.Context(), pixels[i*per:(i+k)*per], k); err != nil {
						b.Fatal(err)
					}
				}
				encRate = float64(len(files)) / time.Since(start).Seconds()

				db, err := store.Open(b.Context(), b.TempDir(), store.Options{})
				if err != nil {
					b.Fatal(err)
				}
				ix, err := New(Options{Store: db, Encoder: enc})
				if err != nil {
					b.Fatal(err)
				}
				start = time.Now()
				sum, err := ix.Run(b.Context(), root)
				if err != nil {
					b.Fatal(err)
				}
				ixRate = float64(sum.Embedded) / time.Since(start).Seconds()
				if sum.Embedded != int64(len(files)) {
					b.Fatalf("embedded %d of %d", sum.Embedded, len(files))
				}
				db.Close()
			}
			b.ReportMetric(encRate, "encoder-img/s")
			b.ReportMetric(ixRate, "index-img/s")
			b.ReportMetric(ixRate/encRate, "ratio")
			b.ReportMetric(decRate, "decode-img/s/core")
		})
	}
}

func convertBench(dir string) (any, error) {
	return convertModelFrom(context.Background(), repoPath("testdata/reference/base_shaped.pth"), dir)
}

// BenchmarkRerunUnchanged times a run over an already indexed, unchanged
// collection of 10,000 files (target ≤ 2 s; no file content is read).
func BenchmarkRerunUnchanged(b *testing.B) {
	n := 10000
	if s := os.Getenv("IMGLISH_BENCH_FILES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	root := b.TempDir()
	for i := range n {
		genImage(b, filepath.Join(root, strconv.Itoa(i%100), strconv.Itoa(i)+".png"), uint64(i)+1, 16, 16)
	}
	e := newEnv(b, Options{BatchSize: 64})
	if _, err := e.ix.Run(b.Context(), root); err != nil {
		b.Fatal(err)
	}
	var last Summary
	for b.Loop() {
		sum, err := e.ix.Run(b.Context(), root)
		if err != nil {
			b.Fatal(err)
		}
		if sum.Bytes != 0 || sum.Skipped != int64(n) {
			b.Fatalf("re-run read %d bytes, skipped %d of %d", sum.Bytes, sum.Skipped, n)
		}
		last = sum
	}
	b.ReportMetric(last.Elapsed, "s/run")
}
