package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"golang.org/x/sync/semaphore"

	"imglish/indexer"
	"imglish/model"
	"imglish/store"
	"imglish/vstore"
)

// Config is what Open needs to assemble an App: where the model and the store
// are, and how to run them. The zero value of every field but ModelDir and
// DataDir (or Store) means the default.
type Config struct {
	// ModelDir is the converted model's folder (the one holding model.json).
	ModelDir string
	// Model configures the encoder (threads, device, ORT library).
	Model model.Options
	// DataDir is the store's folder; Open opens the embedded Badger store
	// there (store.Open with Store options) unless Store is given. Label sets
	// an older version kept as files under it move into the store.
	DataDir string
	// StoreOptions are passed to store.Open (its Logger and ReadOnly are
	// Config's).
	StoreOptions store.Options
	// Store, when set, is the vector store to use instead of opening one at
	// DataDir; the caller keeps it and closes it after Close.
	Store vstore.Store
	// LocalDir, with a Store that several hosts share (Weaviate), is this
	// host's data folder: the indexer keeps the host's file catalog under
	// it (OpenLocalCatalog). Empty: every indexer lookup asks Store.
	LocalDir string
	// ReadOnly opens the store read-only: the App searches and classifies,
	// but has no indexer and runs no auto-tags (another process may hold the
	// store for writing only when the store allows it; Badger does not).
	ReadOnly bool
	// AutoTags names stored label sets to run on every newly indexed image
	// besides those stored with "auto_tag": true; AutoTagMinProb is the
	// threshold for sets without their own min_prob (default
	// DefaultAutoTagMinProb).
	AutoTags       []string
	AutoTagMinProb float64
	// Logger receives the store's and the indexer's logs (default: none).
	Logger *slog.Logger
	// Options tune searches (roots for relative path prefixes, batching).
	Options Options
}

// App is one imglish: a model, a vector store, the indexer that fills it
// and the catalog that serves it, opened together from one Config. It is
// safe for concurrent use. Close releases what Open opened.
type App struct {
	model  *model.Model // Open's, closed by Close
	enc    Encoder
	db     vstore.Store
	ownDB  bool
	local  vstore.Store // this host's file records beside a shared store; nil when none
	ix     Indexer      // nil interface when read-only
	tagger *AutoTagger
	cat    Catalog
	log    *slog.Logger
	opts   Options
	texts  *Coalescer[string, []float32]
	images *Coalescer[[]float32, []float32]
	// decodes holds Options.DecodeBudget pixels (prepareImage).
	decodes *semaphore.Weighted
	jobs    *jobTable
	// uploads holds a lock by content id: one upload of a content at a time.
	uploads keyLock

	closeOnce sync.Once
	closeErr  error
}

// Open opens the model at cfg.ModelDir and the store at cfg.DataDir (or takes
// cfg.Store), moves label set files of older versions into the store, loads
// the auto-tag label sets and builds the indexer and the catalog: what
// `imglish serve` runs on. On error everything opened so far is closed again
// and no App is returned. A store held by another process is an error
// wrapping store.ErrLocked (a *store.LockedError names the holder).
func Open(ctx context.Context, cfg Config) (_ *App, err error) {
	if cfg.ModelDir == "" || (cfg.DataDir == "" && cfg.Store == nil) {
		return nil, fmt.Errorf("%w: open needs a model folder and a data folder or a store", ErrConfig)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &App{db: cfg.Store, log: log}
	defer func() {
		if err != nil {
			err = errors.Join(err, a.Close())
		}
	}()
	if a.model, err = model.Open(ctx, cfg.ModelDir, cfg.Model); err != nil {
		return nil, err
	}
	enc, err := NewModel(a.model)
	if err != nil {
		return nil, err
	}
	a.enc = enc
	if a.db == nil {
		so := cfg.StoreOptions
		so.Logger, so.ReadOnly = log, cfg.ReadOnly
		db, err := store.Open(ctx, cfg.DataDir, so)
		if err != nil {
			return nil, err
		}
		a.db, a.ownDB = db, true
	}
	if !cfg.ReadOnly {
		if cfg.DataDir != "" {
			if _, err := MigrateLabelSets(ctx, a.db, cfg.DataDir, log); err != nil {
				return nil, err
			}
		}
		a.tagger, err = NewAutoTagger(ctx, AutoTagOptions{
			Encoder: a.enc, Store: a.db, Sets: cfg.AutoTags, MinProb: cfg.AutoTagMinProb, Logger: log})
		if err != nil {
			return nil, err
		}
		io := indexer.Options{Store: a.db, Encoder: a.model, Logger: log, Tagger: a.tagger}
		if !a.ownDB && cfg.LocalDir != "" {
			// A shared store (Weaviate): this host's file records stay here.
			if a.local, err = OpenLocalCatalog(ctx, cfg.LocalDir, log); err != nil {
				return nil, err
			}
			if a.local != nil {
				io.Local = a.local
			}
		}
		ix, err := indexer.New(io)
		if err != nil {
			return nil, err
		}
		a.ix = ix
	}
	info := a.enc.Info()
	if a.cat, err = NewCatalog(a.db, a.ix, info.ID, info.Dim); err != nil {
		return nil, err
	}
	opts := cfg.Options
	if opts.UploadDir == "" && cfg.DataDir != "" {
		opts.UploadDir = filepath.Join(cfg.DataDir, "uploads")
	}
	if len(opts.AutoTags) == 0 {
		opts.AutoTags = cfg.AutoTags
	}
	if err := a.start(opts); err != nil {
		return nil, err
	}
	return a, nil
}

// closeLocal closes the local file catalog, if open.
func (a *App) closeLocal() error {
	if a.local == nil {
		return nil
	}
	err := a.local.Close()
	a.local = nil
	if err != nil {
		return fmt.Errorf("close local file catalog: %w", err)
	}
	return nil
}

// Close cancels the App's jobs and waits for them to end, stops the query
// coalescers, then closes the store (when Open opened
// it) and the model, the reverse of opening, and joins their errors; an App
// of New stops only its jobs and coalescers. It is idempotent: later calls
// return the first call's result. Call it after every user of the App
// (a server, index runs) has stopped.
func (a *App) Close() error {
	a.closeOnce.Do(func() {
		var errs []error
		if a.jobs != nil {
			a.jobs.close()
		}
		if a.texts != nil {
			a.texts.Close()
			a.images.Close()
		}
		if err := a.closeLocal(); err != nil {
			errs = append(errs, err)
		}
		if a.ownDB && a.db != nil {
			if err := a.db.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close store: %w", err))
			}
		}
		if a.model != nil { // Open's: New takes an Encoder it does not own
			if err := a.model.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close model: %w", err))
			}
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}

// Encoder is the model as the core's Encoder (texts, images, ModelInfo);
// for an App of Open, a *Model.
func (a *App) Encoder() Encoder { return a.enc }

// Catalog is the store's image space and text collections for the model.
func (a *App) Catalog() Catalog { return a.cat }

// Indexer indexes folders and uploads into the store (an *indexer.Indexer;
// nil when read-only).
func (a *App) Indexer() Indexer { return a.ix }

// AutoTagger runs the auto-tag label sets in the indexer's commits (nil
// when read-only).
func (a *App) AutoTagger() *AutoTagger { return a.tagger }

// Store is the vector store.
func (a *App) Store() vstore.Store { return a.db }

// pinger is a store (or a catalog over one) that can be asked whether it
// answers.
type pinger interface{ Ping(context.Context) error }

// Ping reports whether the store answers: a remote store (one with a
// Ping method, as the Weaviate backend has) is asked within ctx; the
// embedded store, in this process, always answers. A store that did not
// answer (ctx ended included) gives an error wrapping vstore.ErrUnavailable
// (KindStoreUnavailable); a closed one, vstore.ErrClosed.
func (a *App) Ping(ctx context.Context) error {
	// An App built by New has no store of its own: its catalog's is asked.
	var p pinger
	if q, ok := a.db.(pinger); ok {
		p = q
	} else if q, ok := a.cat.(pinger); ok {
		p = q
	} else {
		return nil
	}
	err := p.Ping(ctx)
	if err != nil && !errors.Is(err, vstore.ErrUnavailable) && !errors.Is(err, vstore.ErrClosed) {
		// Out of time (ctx) or any other failure: the store did not answer.
		err = fmt.Errorf("%w: %w", vstore.ErrUnavailable, err)
	}
	return err
}

// Info describes the model.
func (a *App) Info() ModelInfo { return a.enc.Info() }
