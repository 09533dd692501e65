package app

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"golang.org/x/sync/semaphore"

	"imglish/encoder/preprocess"
	"imglish/internal/fspath"
	"imglish/vstore"
)

// MaxTextLen bounds a query text, a label or an entry of a text collection
// (bytes).
const MaxTextLen = 2000

// Options tune the query side of an App; the zero value means the defaults.
type Options struct {
	// MaxPixels refuses query images with more pixels before decoding them
	// (default 50 megapixels).
	MaxPixels int64
	// DecodeBudget caps the pixels of query and uploaded images being
	// decoded at once, summed over all callers (default 64 Mi, as the
	// indexer's PixelBudget): each decode takes its image's pixel count,
	// read from the header before any pixel, and waits for room with its
	// context, so that concurrent large images cannot add up to gigabytes.
	DecodeBudget int64
	// Roots are the canonical folders a relative path prefix of a search
	// filter resolves against (PathPrefixes), outermost first; none: "/".
	Roots []string
	// TextBatch and ImageBatch configure the coalescers that merge
	// concurrent query embeddings into encoder batches (see CoalescerOptions;
	// server passes its batch metrics through their Observe and Queue).
	TextBatch, ImageBatch CoalescerOptions
	// IndexRoots is the allow-list of folders StartIndexJob may index
	// (made canonical by New and Open); none: no index jobs.
	IndexRoots []string
	// AutoTags names the configured auto-tag label sets in their order
	// (Config.AutoTags when empty, for an App of Open): DefaultLabelSet
	// falls back to the first (see App.LabelSet).
	AutoTags []string
	// UploadDir is the folder Upload writes uploaded images to (named by
	// content) and DeleteItem removes their copies from; made canonical by
	// New and Open, which defaults it to <DataDir>/uploads. None: Upload is
	// unavailable.
	UploadDir string
	// Logger receives the App's own warnings (default: Config.Logger for an
	// App of Open, else none).
	Logger *slog.Logger
}

// defaultMaxPixels is Options.MaxPixels' default (server's own default too).
const defaultMaxPixels = 50_000_000

// defaultDecodeBudget is Options.DecodeBudget's default.
const defaultDecodeBudget = 64 << 20

// Parts are what New builds an App on; the caller keeps and closes them.
// Encoder is required; Catalog is needed by Search (ErrUnavailable
// without); Indexer and AutoTagger are optional.
type Parts struct {
	Encoder    Encoder
	Catalog    Catalog
	Indexer    Indexer
	AutoTagger *AutoTagger
}

// New builds an App on parts someone else opened (server does, over the
// parts its caller gives it). Its Close stops only what New started (the
// query coalescers).
func New(p Parts, opts Options) (*App, error) {
	if p.Encoder == nil {
		return nil, fmt.Errorf("%w: an App needs an encoder", ErrConfig)
	}
	a := &App{enc: p.Encoder, cat: p.Catalog, ix: p.Indexer, tagger: p.AutoTagger}
	if err := a.start(opts); err != nil {
		return nil, err
	}
	return a, nil
}

// start applies opts and starts the job table and the coalescers.
func (a *App) start(opts Options) error {
	roots := make([]string, 0, len(opts.IndexRoots))
	for _, r := range opts.IndexRoots {
		c, err := fspath.Canonical(r)
		if err != nil {
			return fmt.Errorf("%w: index root %q: %w", ErrConfig, r, err)
		}
		roots = append(roots, c)
	}
	opts.IndexRoots = roots
	if opts.UploadDir != "" {
		c, err := fspath.Canonical(opts.UploadDir)
		if err != nil {
			return fmt.Errorf("%w: upload dir: %w", ErrConfig, err)
		}
		opts.UploadDir = c
	}
	if opts.MaxPixels <= 0 {
		opts.MaxPixels = defaultMaxPixels
	}
	if opts.DecodeBudget <= 0 {
		opts.DecodeBudget = defaultDecodeBudget
	}
	a.decodes = semaphore.NewWeighted(opts.DecodeBudget)
	if len(opts.Roots) == 0 {
		opts.Roots = []string{"/"}
	}
	if opts.Logger != nil {
		a.log = opts.Logger
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	opts.AutoTags = slices.Clone(opts.AutoTags)
	a.opts = opts
	enc := a.enc
	a.texts = NewCoalescer(SplitBySize(func(ctx context.Context, in []string) ([][]float32, error) {
		return enc.EmbedTexts(ctx, in)
	}, textSize, opts.TextBatch.MaxPad), opts.TextBatch)
	a.images = NewCoalescer(func(ctx context.Context, in [][]float32) ([][]float32, error) {
		return enc.EmbedImages(ctx, in)
	}, opts.ImageBatch)
	a.jobs = &jobTable{byID: map[string]*Job{}}
	return nil
}

// textSize estimates a text's token count from its bytes (SentencePiece
// pieces of English average about four bytes, plus the two special tokens)
// for SplitBySize, without tokenising twice.
func textSize(s string) int { return len(s)/4 + 2 }

// ready reports whether the App can search.
func (a *App) ready() error {
	if a.cat == nil {
		return fmt.Errorf("%w: no catalog", ErrUnavailable)
	}
	return nil
}

// EmbedText embeds one text, merged with concurrent calls into one encoder
// batch. It is safe for concurrent use.
func (a *App) EmbedText(ctx context.Context, text string) ([]float32, error) {
	// A text the encoder refuses is refused here, alone: in a coalesced
	// batch it would fail its batch mates' requests too.
	if tc, ok := a.enc.(textChecker); ok {
		if err := tc.CheckText(text); err != nil {
			return nil, err
		}
	}
	return a.texts.Do(ctx, text)
}

// EmbedImage decodes and preprocesses one image in the caller's goroutine
// (refusing more than Options.MaxPixels) and embeds it, merged with
// concurrent calls into one encoder batch. It is safe for concurrent use.
func (a *App) EmbedImage(ctx context.Context, data []byte) ([]float32, error) {
	px, err := a.prepareImage(ctx, data)
	if err != nil {
		return nil, err
	}
	return a.images.Do(ctx, px)
}

// prepareImage is the Encoder's PrepareImage (refusing more than
// Options.MaxPixels) within Options.DecodeBudget. An image whose header
// does not read takes nothing: its decode fails at once with the typed
// error.
func (a *App) prepareImage(ctx context.Context, data []byte) ([]float32, error) {
	if info, err := preprocess.ProbeBytes(data, preprocess.Options{MaxPixels: a.opts.MaxPixels, MaxBytes: int64(len(data)) + 1}); err == nil {
		weight := max(1, min(int64(info.StoredWidth)*int64(info.StoredHeight), a.opts.DecodeBudget))
		if err := a.decodes.Acquire(ctx, weight); err != nil {
			return nil, err
		}
		defer a.decodes.Release(weight)
	}
	return a.enc.PrepareImage(ctx, data, a.opts.MaxPixels)
}

// EmbedTexts embeds many texts in encoder-sized chunks, bypassing the
// coalescer (bulk work is a batch of its own).
func (a *App) EmbedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	return EmbedTexts(ctx, a.enc, texts)
}

// storeFilter is the one mapping from the API's Filter to the store's:
// After and Before bound the item date (vstore.Item.Date) as From and To,
// and the path prefix is resolved against the roots and made canonical
// (PathPrefixes), which only the App knows; the other fields are the
// store's own. The result shares no slice with f.
func (a *App) storeFilter(f Filter) *vstore.Filter {
	sf := &vstore.Filter{
		From: f.After, To: f.Before, Camera: f.Camera,
		Tags: slices.Clone(f.Tags), IDs: slices.Clone(f.IDs),
	}
	if f.PathPrefix != "" {
		sf.PathPrefixes = PathPrefixes(f.PathPrefix, a.opts.Roots)
	}
	return sf
}

// DecodeBase64 decodes an image given as base64 (standard or URL alphabet,
// padded or not) or as a data: URL; an error wrapping ErrInvalid otherwise.
func DecodeBase64(s string) ([]byte, error) {
	if i := strings.Index(s, ";base64,"); strings.HasPrefix(s, "data:") && i >= 0 {
		s = s[i+len(";base64,"):]
	}
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: image is not valid base64", ErrInvalid)
}
