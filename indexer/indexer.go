package indexer

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"imglish/encoder/modelfile"
	"imglish/encoder/preprocess"
	"imglish/vstore"
)

// Embedder turns a batch of preprocessed images into unit vectors. The
// application's *model.Model satisfies it, as does *encoder.Encoder; tests
// wrap them to count calls.
type Embedder interface {
	// EmbedImages embeds n images laid out as n consecutive CHW float32 tensors
	// of side ImageSize and returns n vectors.
	EmbedImages(ctx context.Context, pixels []float32, n int) ([][]float32, error)
	// ImageSize is the square input side the model expects.
	ImageSize() int
	// Dim is the vector dimension.
	Dim() int
}

// manifester is implemented by *encoder.Encoder and *model.Model: the model's
// id and input normalisation come from its manifest.
type manifester interface{ Manifest() *modelfile.Manifest }

// imageOptioner is implemented by *model.Model: the preprocessing settings
// its queries use (size, mean, std, ExactJPEG), so the index cannot differ.
type imageOptioner interface{ ImageOptions() preprocess.Options }

// Options configure an Indexer. The zero value of every field but Store and
// Encoder means its default.
type Options struct {
	// Store receives items, vectors and error records: the embedded
	// *store.DB or any other vstore.Store. Required; the caller opens and
	// closes it.
	Store vstore.Store
	// Local, when set, also keeps this host's file records (path, size,
	// mtime → content hash, per model) for a Store that several hosts
	// share (a Weaviate cluster): a rescan decides "unchanged" from Local
	// instead of asking Store about every path. Store stays the truth;
	// Local is written only after Store acknowledged (see localCatalog).
	// Typically an embedded store in the host's data folder; nil: every
	// lookup asks Store. The caller opens and closes it.
	Local vstore.Store
	// Encoder embeds images. Required.
	Encoder Embedder
	// Model is the id stamped on every vector (the vectors live in the store
	// space vstore.ImageSpace(Model)); default: the encoder manifest's ID.
	Model string
	// Preprocess configures decoding (pixel and byte limits, orientation).
	// Size, Mean and Std are taken from the encoder's manifest; with a
	// *model.Model encoder, Exact is its ImageOptions' too.
	Preprocess preprocess.Options
	// Workers is how many files are read, hashed and decoded at once
	// (default: the number of CPUs).
	Workers int
	// BatchSize is the most images per encoder call (default 16).
	BatchSize int
	// Encoders is how many batches are embedded at once. The default, 0,
	// starts with one and adds a second once a batch of at least 4 images
	// took under 2 ms per image: with a model that small (the demo model:
	// ~0.5 ms) ORT's intra-op threads spend much of each run handing tiny
	// operators to each other, and two runs at once keep both cores busier
	// (indexer BenchmarkIndexVsEncoder, doc.go "Throughput"). A large model
	// keeps one: two concurrent runs there only add activation memory and
	// oversubscribe the cores.
	Encoders int
	// MaxWait is how long a partial batch waits for more images before it is
	// embedded anyway, and how long an embedded batch waits for others to
	// share its store transaction (default 250 ms). The end of a run flushes
	// both at once.
	MaxWait time.Duration
	// PixelBudget caps the pixels being decoded at once, summed over workers
	// (default 64 megapixels); one image larger than the budget decodes alone.
	PixelBudget int64
	// MaxFileBytes is the largest file read (default 256 MiB); bigger files are
	// recorded as ErrFileTooLarge without being read.
	MaxFileBytes int64
	// Ignore lists path.Match globs to skip below each root; a glob without "/"
	// matches any file or folder name, one with "/" the path relative to the root.
	Ignore []string
	// Debounce is how long Watch waits for a burst of events to settle
	// (default 500 ms); Reconcile is the period of Watch's full rescan
	// (default 10 minutes).
	Debounce, Reconcile time.Duration
	// Logger receives warnings and per-run summaries (default: discard).
	Logger *slog.Logger
	// Clock returns the current time (default time.Now); tests fake it.
	Clock func() time.Time
	// Tagger, when set, names auto-tags for each newly embedded image from its
	// vector. The tags are stored as AutoTagPrefix+tag in the item's Tags, in
	// the same transaction as the item and its vector (replacing the item's
	// previous auto-tags, keeping every other tag), so no concurrent write is
	// lost. Content already embedded in this space (a copy, a move) is not
	// tagged again; Retag re-tags the whole space. A Tagger error is logged and
	// the image is committed without new auto-tags.
	Tagger Tagger
}

// AutoTagPrefix marks the tags an Options.Tagger chose, keeping them apart
// from tags set by people: a filter on "auto:red" finds images tagged "red"
// by the tagger.
const AutoTagPrefix = "auto:"

// Tagger chooses auto-tags for an image from its unit vector (in the
// Indexer's model space). Implementations must be safe for concurrent use;
// the indexer calls Tags from its single committer.
type Tagger interface {
	Tags(ctx context.Context, vec []float32) ([]string, error)
}

// TaggerFunc adapts a function to Tagger.
type TaggerFunc func(ctx context.Context, vec []float32) ([]string, error)

// Tags calls f.
func (f TaggerFunc) Tags(ctx context.Context, vec []float32) ([]string, error) { return f(ctx, vec) }

// Indexer indexes folders (and single uploaded images, AddImage) into one
// model's space of a store. It is safe for concurrent use; runs are
// serialised, commits too.
type Indexer struct {
	opts  Options
	cat   catalog
	codec imageCodec
	rules rules

	runMu sync.Mutex // serialises runs and watch syncs
	// commitMu (a one-slot semaphore, so a waiter can give up with its
	// context) serialises every read-modify-write of items: the committer
	// of a run, pruning, Retag and AddImage, which does not take runMu.
	commitMu chan struct{}
	prog     counters

	// cheap is the encoder time per image under which Options.Encoders'
	// default adds a second encoder (cheapImage; tests move it).
	cheap time.Duration
	// open opens a file for a run to read (openFile; tests inject read
	// faults that root, which ignores permissions, cannot cause).
	open func(name string) (fs.File, error)
}

// New validates opts and returns an Indexer writing into opts.Store with
// opts.Encoder. The model's image space is created on the first run.
func New(opts Options) (*Indexer, error) {
	if opts.Store == nil {
		return nil, fmt.Errorf("%w: no store", ErrOptions)
	}
	if opts.Encoder == nil {
		return nil, fmt.Errorf("%w: no encoder", ErrOptions)
	}
	pre := opts.Preprocess
	if m, ok := opts.Encoder.(manifester); ok && m.Manifest() != nil {
		man := m.Manifest()
		if opts.Model == "" {
			opts.Model = man.ID
		}
		pre.Mean, pre.Std = man.Image.Mean, man.Image.Std
	}
	if m, ok := opts.Encoder.(imageOptioner); ok {
		o := m.ImageOptions()
		pre.Mean, pre.Std, pre.Exact = o.Mean, o.Std, o.Exact
	}
	pre.Size = opts.Encoder.ImageSize()
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	sc := &storeCatalog{db: opts.Store, model: opts.Model, space: vstore.ImageSpace(opts.Model), clock: clock}
	var cat catalog = sc
	if opts.Local != nil {
		log := opts.Logger
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		cat = newLocalCatalog(sc, opts.Local, log.Warn)
	}
	return newIndexer(opts, cat, pixelCodec{opts: pre})
}

// newIndexer validates opts and builds an Indexer over cat and codec.
func newIndexer(opts Options, cat catalog, codec imageCodec) (*Indexer, error) {
	if opts.Encoder == nil {
		return nil, fmt.Errorf("%w: no encoder", ErrOptions)
	}
	if opts.Encoder.ImageSize() <= 0 || opts.Encoder.Dim() <= 0 {
		return nil, fmt.Errorf("%w: encoder image size %d, dim %d", ErrOptions, opts.Encoder.ImageSize(), opts.Encoder.Dim())
	}
	if opts.Model == "" {
		return nil, fmt.Errorf("%w: no model id", ErrOptions)
	}
	for _, n := range []int64{int64(opts.Workers), int64(opts.BatchSize), int64(opts.Encoders), int64(opts.MaxWait),
		opts.PixelBudget, opts.MaxFileBytes, int64(opts.Debounce), int64(opts.Reconcile)} {
		if n < 0 {
			return nil, fmt.Errorf("%w: negative value %d", ErrOptions, n)
		}
	}
	if opts.Workers == 0 {
		opts.Workers = defaultWorkers()
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = 16
	}
	if opts.MaxWait == 0 {
		opts.MaxWait = 250 * time.Millisecond
	}
	if opts.PixelBudget == 0 {
		opts.PixelBudget = 64 << 20
	}
	if opts.MaxFileBytes == 0 {
		opts.MaxFileBytes = 256 << 20
	}
	if opts.Debounce == 0 {
		opts.Debounce = 500 * time.Millisecond
	}
	if opts.Reconcile == 0 {
		opts.Reconcile = 10 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	r, err := newRules(opts.Ignore)
	if err != nil {
		return nil, err
	}
	return &Indexer{opts: opts, cat: cat, codec: codec, rules: r, commitMu: make(chan struct{}, 1), cheap: cheapImage, open: openFile}, nil
}

// openFile is Indexer.open's default: os.Open.
func openFile(name string) (fs.File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err // not a typed nil *os.File in the interface
	}
	return f, nil
}

// defaultWorkers is Options.Workers' default: one per CPU.
func defaultWorkers() int { return runtime.NumCPU() }

// Model returns the model id this Indexer writes.
func (ix *Indexer) Model() string { return ix.opts.Model }

// Space returns the store space holding this Indexer's vectors.
func (ix *Indexer) Space() string { return vstore.ImageSpace(ix.opts.Model) }

// Progress returns a snapshot of the current or last run. Safe for concurrent use.
func (ix *Indexer) Progress() Progress { return ix.prog.snapshot(ix.opts.Clock()) }

// Errors lists the files recorded as not indexable, sorted by path (see
// ListErrors).
func (ix *Indexer) Errors(ctx context.Context) ([]FileError, error) {
	var out []FileError
	err := ix.cat.rangeFiles(ctx, "/", func(r fileRecord) error {
		if r.Err != "" {
			out = append(out, FileError{Path: r.Path, Op: "index", Size: r.Size, ModTime: r.ModTime, Reason: r.Err})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list errors: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// ListErrors lists the files recorded in db as not indexable (not images,
// corrupt, too large, unreadable), sorted by path, without needing an
// encoder. Error records are shared by all models. Safe for concurrent use.
func ListErrors(ctx context.Context, db vstore.Store) ([]FileError, error) {
	var out []FileError
	err := db.ScanValues(ctx, errValuePrefix, func(key string, val []byte) bool {
		var ev errorValue
		_ = json.Unmarshal(val, &ev)
		out = append(out, FileError{Path: strings.TrimPrefix(key, errValuePrefix), Op: "index",
			Size: ev.Size, ModTime: ev.ModTime, Reason: ev.Reason})
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("list errors: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
