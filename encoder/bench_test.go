package encoder

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"imglish/encoder/convert"
)

// benchModel converts the base-shaped reference checkpoint (12 heads, 384 px,
// 577 tokens, width 192, 2 layers), or uses the model folder named by
// IMGLISH_BENCH_MODEL (e.g. a converted full-size base 384) when set.
func benchModel(b *testing.B) *Encoder {
	b.Helper()
	dir := os.Getenv("IMGLISH_BENCH_MODEL")
	if dir == "" {
		dir = convertFixture(b, "base_shaped", 0, convert.PrecisionFP32, 0)
	}
	e, err := Open(context.Background(), dir, Options{Threads: 2})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	return e
}

func BenchmarkEmbedImages(b *testing.B) {
	e := benchModel(b)
	s := e.ImageSize()
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			px := make([]float32, batch*3*s*s)
			for i := range px {
				px[i] = float32((i*7919)%255)/127.5 - 1 // fixed pattern
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := e.EmbedImages(b.Context(), px, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "img/s")
			b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N*batch), "cpu-s/img")
		})
	}
}

func BenchmarkEmbedTexts(b *testing.B) {
	e := benchModel(b)
	vocab := int64(e.Manifest().Architecture.VocabRows)
	for _, bc := range []struct{ batch, tokens int }{{1, 16}, {1, 64}, {32, 16}} {
		b.Run(fmt.Sprintf("batch=%d/tokens=%d", bc.batch, bc.tokens), func(b *testing.B) {
			ids := make([][]int64, bc.batch)
			for i := range ids {
				ids[i] = make([]int64, bc.tokens)
				for j := range ids[i] {
					ids[i][j] = int64(4 + (i*31+j*17)%int(vocab-4))
				}
				ids[i][0], ids[i][bc.tokens-1] = 0, 2
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := e.EmbedTexts(b.Context(), ids); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*bc.batch)/b.Elapsed().Seconds(), "texts/s")
			b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N*bc.batch), "cpu-s/text")
		})
	}
}

// cpuTime is the process's user+system CPU time, all threads (ORT's included):
// on a shared machine, wall-clock img/s depends on the neighbours, CPU seconds
// per item much less.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
