package indexer

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"imglish/encoder"
	"imglish/encoder/convert"
	"imglish/encoder/modelfile"
	"imglish/encoder/preprocess"
	"imglish/store"
)

// childEnv marks a child process of the kill-and-resume test.
const childEnv = "IMGLISH_INDEXER_CHILD"

// modelDir is the tiny fixture model converted once per test binary.
var modelDir string

func TestMain(m *testing.M) {
	code := func() int {
		if os.Getenv(childEnv) != "" {
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "imglish-indexer-model-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		modelDir = filepath.Join(dir, "tiny")
		if _, err := convertModel(context.Background(), modelDir, 0); err != nil {
			fmt.Fprintln(os.Stderr, "convert tiny model:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// repoPath resolves a path relative to the repository root (tests run in indexer/).
func repoPath(rel string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", rel)
}

// errInjected is countingEncoder's failure on call failAt.
var errInjected = errors.New("injected encoder failure")

// countingEncoder is the real encoder with a count of the images it embedded.
type countingEncoder struct {
	*encoder.Encoder
	calls, images atomic.Int64
	mu            sync.Mutex
	onEmbed       func(tensor []float32) // called per image before returning
	// inflight counts calls running now, peak the most at once; before, when
	// set, runs at the start of each call with its 1-based number.
	inflight, peak atomic.Int64
	before         func(ctx context.Context, call int64, n int)
	failAt         int64 // when set, that call (1-based) fails with errInjected
	started        atomic.Int64
}

func (c *countingEncoder) EmbedImages(ctx context.Context, pixels []float32, n int) ([][]float32, error) {
	now := c.inflight.Add(1)
	defer c.inflight.Add(-1)
	for p := c.peak.Load(); now > p && !c.peak.CompareAndSwap(p, now); p = c.peak.Load() {
	}
	call := c.started.Add(1)
	if c.before != nil {
		c.before(ctx, call, n)
	}
	if c.failAt > 0 && call == c.failAt {
		return nil, errInjected
	}
	vecs, err := c.Encoder.EmbedImages(ctx, pixels, n)
	if err != nil {
		return nil, err
	}
	c.calls.Add(1)
	c.images.Add(int64(n))
	if c.onEmbed != nil {
		per := len(pixels) / n
		c.mu.Lock()
		for i := range n {
			c.onEmbed(pixels[i*per : (i+1)*per])
		}
		c.mu.Unlock()
	}
	return vecs, nil
}

// convertModel converts the tiny fixture checkpoint into dir at image size
// (0: the checkpoint's own).
func convertModel(ctx context.Context, dir string, size int) (*modelfile.Manifest, error) {
	return convert.Convert(ctx, convert.Options{
		Checkpoint: repoPath("testdata/reference/tiny.pth"), OutDir: dir, ImageSize: size,
	})
}

// convertModelFrom converts checkpoint into dir.
func convertModelFrom(ctx context.Context, checkpoint, dir string) (*modelfile.Manifest, error) {
	return convert.Convert(ctx, convert.Options{Checkpoint: checkpoint, OutDir: dir})
}

// openEncoder opens the tiny model on one ORT thread (the machine is shared).
func openEncoder(t testing.TB) *countingEncoder { return openEncoderAt(t, modelDir) }

func openEncoderAt(t testing.TB, dir string) *countingEncoder {
	t.Helper()
	enc, err := encoder.Open(t.Context(), dir, encoder.Options{Threads: 1})
	if err != nil {
		t.Fatalf("open encoder: %v", err)
	}
	t.Cleanup(func() { _ = enc.Close() })
	return &countingEncoder{Encoder: enc}
}

// env is an indexer over a real store on disk and the real tiny model.
type env struct {
	t     testing.TB
	dir   string // the store
	db    *store.DB
	enc   *countingEncoder
	ix    *Indexer
	model string
}

func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), enc: openEncoder(t)}
	e.model = e.enc.Manifest().ID
	e.open(opts)
	return e
}

// open opens the store (closed at cleanup) and an indexer on it.
func (e *env) open(opts Options) {
	e.t.Helper()
	db, err := store.Open(context.Background(), e.dir, store.Options{MemTableSize: 8 << 20})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = db.Close() })
	e.db = db
	e.ix = e.indexer(e.enc, opts)
}

// indexer returns an indexer on e's store with enc.
func (e *env) indexer(enc *countingEncoder, opts Options) *Indexer {
	e.t.Helper()
	opts.Store = e.db
	opts.Encoder = enc
	if opts.Workers == 0 {
		opts.Workers = 2
	}
	if opts.MaxWait == 0 {
		opts.MaxWait = 20 * time.Millisecond
	}
	ix, err := New(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return ix
}

// records returns path → record for everything in the store.
func (e *env) records() map[string]fileRecord {
	e.t.Helper()
	out := map[string]fileRecord{}
	if err := e.ix.cat.rangeFiles(context.Background(), "/", func(r fileRecord) error {
		out[r.Path] = r
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// genImage writes a structured test image (gradient, rectangles, noise seeded
// by seed) of w×h as PNG or JPEG by the file's extension.
func genImage(t testing.TB, path string, seed uint64, w, h int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r0, g0, b0 := rng.IntN(256), rng.IntN(256), rng.IntN(256)
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(r0 + x*255/w), uint8(g0 + y*255/h), uint8(b0 + (x^y)&31), 255})
		}
	}
	for range 3 + rng.IntN(4) {
		x0, y0 := rng.IntN(w), rng.IntN(h)
		x1, y1 := x0+1+rng.IntN(w/2+1), y0+1+rng.IntN(h/2+1)
		c := color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
		for y := y0; y < min(y1, h); y++ {
			for x := x0; x < min(x1, w); x++ {
				img.Set(x, y, c)
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Ext(path) == ".jpg" {
		err = jpeg.Encode(f, img, &jpeg.Options{Quality: 90})
	} else {
		err = png.Encode(f, img)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// tensorKey identifies an image by its preprocessed tensor, which is what the
// encoder sees; the kill-and-resume test uses it to tell which files a child
// process embedded.
func tensorKey(tensor []float32) string {
	var h uint64 = 1469598103934665603
	for _, v := range tensor {
		h ^= uint64(int64(v * 1e6))
		h *= 1099511628211
	}
	return fmt.Sprintf("%016x", h)
}

// fileTensorKey preprocesses path as the indexer does and returns its tensorKey.
func fileTensorKey(t testing.TB, path string, size int) string {
	t.Helper()
	tensor, _, err := preprocess.File(t.Context(), path, preprocess.Options{Size: size})
	if err != nil {
		t.Fatal(err)
	}
	return tensorKey(tensor)
}
