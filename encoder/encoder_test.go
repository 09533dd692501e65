package encoder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"imglish/encoder/convert"
	"imglish/encoder/modelfile"
)

func TestOpenErrors(t *testing.T) {
	good := convertFixture(t, "tiny", 32, convert.PrecisionFP32, 0)
	noText := t.TempDir()
	for _, f := range []string{modelfile.Name, "vision.onnx"} {
		b, err := os.ReadFile(filepath.Join(good, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(noText, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tampered := convertFixture(t, "tiny", 32, convert.PrecisionFP32, 0)
	if err := os.WriteFile(filepath.Join(tampered, "text.onnx"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dir  string
		opts Options
		want error
	}{
		{"no manifest", t.TempDir(), Options{}, modelfile.ErrNoManifest},
		{"missing graph file", noText, Options{}, modelfile.ErrInvalid},
		{"tampered file, verified", tampered, Options{Verify: true}, modelfile.ErrChecksum},
		{"cuda not wired", good, Options{Provider: "cuda"}, ErrProvider},
		{"unknown provider", good, Options{Provider: "tpu"}, ErrProvider},
		{"bad optimisation level", good, Options{OptLevel: 42}, ErrInput},
		{"negative threads", good, Options{Threads: -1}, ErrInput},
		{"missing library", good, Options{Library: "/nonexistent/libonnxruntime.so"}, ErrRuntimeMissing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Open(t.Context(), tc.dir, tc.opts)
			if err == nil {
				_ = e.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open: got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestEmbedInputErrors(t *testing.T) {
	e := openTest(t, convertFixture(t, "tiny", 32, convert.PrecisionFP32, 0))
	per := 3 * 32 * 32
	long := make([]int64, e.MaxTokens()+1)
	tests := []struct {
		name   string
		pixels []float32
		n      int
		ids    [][]int64
	}{
		{"no images", nil, 0, nil},
		{"short pixel buffer", make([]float32, per-1), 1, nil},
		{"pixel count for two, n one", make([]float32, 2*per), 1, nil},
		{"no texts", nil, -1, [][]int64{}},
		{"empty text", nil, -1, [][]int64{{0, 5, 2}, {}}},
		{"id at vocab rows", nil, -1, [][]int64{{0, 1000, 2}}},
		{"negative id", nil, -1, [][]int64{{0, -4, 2}}},
		{"too long", nil, -1, [][]int64{long}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.n >= 0 {
				_, err = e.EmbedImages(t.Context(), tc.pixels, tc.n)
			} else {
				_, err = e.EmbedTexts(t.Context(), tc.ids)
			}
			if !errors.Is(err, ErrInput) {
				t.Fatalf("got %v, want ErrInput", err)
			}
		})
	}
}

// TestBatchInvariance: a text's vector must not depend on its batch mates'
// lengths (padding with the key mask), and an image's not on the others.
func TestBatchInvariance(t *testing.T) {
	e := openTest(t, convertFixture(t, "tiny", 32, convert.PrecisionFP32, 0))
	ctx := t.Context()
	texts := [][]int64{{0, 7, 2}, {0, 11, 12, 13, 14, 15, 16, 17, 18, 2}, {0, 9, 9, 2}, {0, 999, 3, 2}}
	mixed, err := e.EmbedTexts(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, ids := range texts {
		alone, err := e.EmbedTexts(ctx, [][]int64{ids})
		if err != nil {
			t.Fatal(err)
		}
		// float32 rounding of different-size GEMMs only; a missing mask moves
		// components by ~1e-2 (spec §8).
		if _, d := compare(mixed[i], alone[0]); d > 1e-6 {
			t.Errorf("text %d: max |Δ| %.3g between batched and alone", i, d)
		}
	}
	pixels := make([]float32, 3*3*32*32)
	for i := range pixels {
		pixels[i] = float32((i*7919)%255)/127.5 - 1
	}
	all, err := e.EmbedImages(ctx, pixels, 3)
	if err != nil {
		t.Fatal(err)
	}
	one, err := e.EmbedImages(ctx, pixels[2*3*32*32:], 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, d := compare(all[2], one[0]); d > 1e-6 {
		t.Errorf("image: max |Δ| %.3g between batched and alone", d)
	}
	var norm float64
	for _, v := range one[0] {
		norm += float64(v) * float64(v)
	}
	if norm < 0.9999 || norm > 1.0001 {
		t.Errorf("image vector squared norm %v, want 1", norm)
	}
}

func TestConcurrentUseAndClose(t *testing.T) {
	e := openTest(t, convertFixture(t, "tiny", 32, convert.PrecisionFP32, 0))
	want, err := e.EmbedTexts(t.Context(), [][]int64{{0, 5, 6, 2}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				got, err := e.EmbedTexts(context.Background(), [][]int64{{0, 5, 6, 2}, {0, int64(g + 10), 2}})
				if err != nil {
					errs <- err
					return
				}
				if _, d := compare(got[0], want[0]); d > 1e-6 {
					errs <- fmt.Errorf("concurrent run differs by %g", d)
					return
				}
				if _, err := e.EmbedImages(context.Background(), make([]float32, 3*32*32), 1); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := e.EmbedTexts(t.Context(), [][]int64{{0, 2}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: got %v, want ErrClosed", err)
	}
}

func TestCancelledContext(t *testing.T) {
	e := openTest(t, convertFixture(t, "tiny", 32, convert.PrecisionFP32, 0))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := e.EmbedImages(ctx, make([]float32, 3*32*32), 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("images: got %v, want context.Canceled", err)
	}
	if _, err := e.EmbedTexts(ctx, [][]int64{{0, 2}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("texts: got %v, want context.Canceled", err)
	}
}

func TestAccessors(t *testing.T) {
	e := openTest(t, convertFixture(t, "tiny224", 384, convert.PrecisionFP32, 0))
	if e.Dim() != 64 || e.ImageSize() != 384 || e.MaxTokens() != 1022 {
		t.Fatalf("dim %d, image size %d, max tokens %d", e.Dim(), e.ImageSize(), e.MaxTokens())
	}
	m := e.Manifest()
	m.Files["x"] = "y"
	if _, ok := e.Manifest().Files["x"]; ok {
		t.Fatal("Manifest returned the encoder's own map")
	}
}

// TestCPUImageBatch: fp32 graphs with a large per-image activation (base and
// large at 384) run one image per ORT call on the CPU, everything else 8.
func TestCPUImageBatch(t *testing.T) {
	man := func(prec string, dim, ffn, size int) *modelfile.Manifest {
		m := &modelfile.Manifest{Precision: prec}
		m.Architecture.Dim, m.Architecture.FFNDim, m.Architecture.PatchSize = dim, ffn, 16
		m.Image.Size = size
		return m
	}
	tests := []struct {
		name string
		m    *modelfile.Manifest
		want int
	}{
		{"base-384 fp32", man(convert.PrecisionFP32, 768, 3072, 384), 1},
		{"large-384 fp32", man(convert.PrecisionFP32, 1024, 4096, 384), 1},
		{"base-384 without precision (fp32)", man("", 768, 3072, 384), 1},
		{"base-384 int8", man(convert.PrecisionInt8, 768, 3072, 384), 8},
		{"base-224 fp32", man(convert.PrecisionFP32, 768, 3072, 224), 8},
		{"demo fp32", man(convert.PrecisionFP32, 128, 512, 80), 8},
		{"no patch size", func() *modelfile.Manifest {
			m := man(convert.PrecisionFP32, 768, 3072, 384)
			m.Architecture.PatchSize = 0
			return m
		}(), 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cpuImageBatch(tc.m); got != tc.want {
				t.Errorf("cpuImageBatch = %d, want %d", got, tc.want)
			}
		})
	}
}
