package server

import (
	"context"
	"time"

	"github.com/gin-gonic/gin"

	"imglish/app"
)

// Deps are the parts the server builds on. The server never opens or closes
// them; `imglish serve` (or a test) opens them, passes them in and closes them
// after Run returns. Encoder and Catalog are required for the /v1 search routes
// (readyz reports 503 until both are set); Indexer is optional.
type Deps struct {
	// DataDir is the store's folder; uploads and thumbnails default to
	// sub-folders. New makes it canonical (see Options.IndexRoots).
	DataDir string
	Encoder Encoder
	Catalog Catalog
	Indexer Indexer
	// AutoTagger, when set, is the tagger the Indexer runs (its Options.Tagger);
	// the server reloads it when a label set is stored.
	AutoTagger *AutoTagger
}

// The core's types, under the names server has always used for them.
type (
	ModelInfo  = app.ModelInfo
	Encoder    = app.Encoder
	Item       = app.Item
	Filter     = app.Filter
	Hit        = app.Hit
	TextEntry  = app.TextEntry
	TextHit    = app.TextHit
	SearchPage = app.SearchPage
	Catalog    = app.Catalog
	Indexer    = app.Indexer
	LabelSet   = app.LabelSet
	Model      = app.Model
	AutoTagger = app.AutoTagger

	BatchFunc[In, Out any] = app.BatchFunc[In, Out]
	CoalescerOptions       = app.CoalescerOptions
	Coalescer[In, Out any] = app.Coalescer[In, Out]
)

// initDeps builds the core over deps (when there is an encoder): the App
// that composes and pages searches and coalesces query embeddings, with
// this server's limits, roots and batch metrics.
func (s *Server) initDeps() error {
	if s.deps.Encoder == nil {
		return nil
	}
	a, err := app.New(app.Parts{Encoder: s.deps.Encoder, Catalog: s.deps.Catalog, Indexer: s.deps.Indexer, AutoTagger: s.deps.AutoTagger},
		app.Options{MaxPixels: s.opts.MaxPixels, DecodeBudget: s.opts.DecodeBudget, Roots: s.rootDirs, TextBatch: s.batchOpts("text"), ImageBatch: s.batchOpts("image"),
			IndexRoots: s.opts.IndexRoots, UploadDir: s.opts.UploadDir, AutoTags: s.opts.AutoTags, Logger: s.log})
	if err != nil {
		return err
	}
	s.app = a
	return nil
}

func (s *Server) batchOpts(tower string) CoalescerOptions {
	o := s.opts.Batch
	size, secs, depth := s.m.batchSize.WithLabelValues(tower), s.m.batchSecs.WithLabelValues(tower), s.m.queueDepth.WithLabelValues(tower)
	o.Observe = func(n int, d time.Duration, _ error) {
		size.Observe(float64(n))
		secs.Observe(d.Seconds())
	}
	o.Queue = func(n int) { depth.Set(float64(n)) }
	return o
}

// ready reports whether the model and store are there and the server takes work.
func (s *Server) ready() error { return s.readyFor(nil) }

// readyFor is ready for the work request c (nil: any request). One whose
// headers came before draining began (admit marks it) is in flight and runs
// to the end, even when the rest of its body came after.
func (s *Server) readyFor(c *gin.Context) error {
	switch {
	case s.draining.Load() && (c == nil || !c.GetBool(ctxArrived)):
		return ErrShuttingDown
	case s.deps.Encoder == nil:
		return ErrUnavailable
	case s.deps.Catalog == nil:
		return ErrUnavailable
	}
	return nil
}

// refreshGauges updates the index size and recall self-check before a scrape.
func (s *Server) refreshGauges() {
	if s.deps.Catalog == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n, err := s.deps.Catalog.Count(ctx); err == nil {
		s.m.indexSize.WithLabelValues("images").Set(float64(n))
	}
	if s.app != nil {
		s.m.jobs.Set(float64(s.app.RunningJobs()))
	}
}
