package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"imglish/app"
	"imglish/store"
	"imglish/vstore"
	"imglish/vstore/weaviate"
)

// Backends --backend accepts.
const (
	backendEmbedded = "embedded"
	backendWeaviate = "weaviate"
)

// errBackend is a --backend / --weaviate setting that cannot work.
var errBackend = errors.New("bad backend setting")

// backendFlags are the global flags that choose the vector store: the
// embedded Badger store at --data (the default) or a Weaviate cluster.
//
// With Weaviate the items — their paths with size and mtime — live in the
// cluster with the vectors, so a hit carries its path and folder filters run
// in Weaviate. The paths are the indexing host's; --data stays local and
// holds what is the host's alone (uploads, thumbnails, pulled models, and
// the file catalog a rescan compares files with: app.OpenLocalCatalog).
type backendFlags struct {
	backend     string
	urls        string
	grpc        string
	apiKey      string
	namespace   string
	replicas    int
	shards      int
	consistency string
}

func (b *backendFlags) register(pf *pflag.FlagSet) {
	pf.StringVar(&b.backend, "backend", envOr("IMGLISH_BACKEND", backendEmbedded),
		"vector store: embedded (Badger at --data) or weaviate (a cluster at --weaviate); env IMGLISH_BACKEND")
	pf.StringVar(&b.urls, "weaviate", os.Getenv("IMGLISH_WEAVIATE"),
		"Weaviate node URLs, comma-separated (http://127.0.0.1:8080,...); env IMGLISH_WEAVIATE")
	pf.StringVar(&b.grpc, "weaviate-grpc", os.Getenv("IMGLISH_WEAVIATE_GRPC"),
		"the nodes' gRPC addresses (host:port, one per --weaviate URL, same order): batches of vectors go over gRPC; env IMGLISH_WEAVIATE_GRPC")
	pf.StringVar(&b.apiKey, "weaviate-key", os.Getenv("IMGLISH_WEAVIATE_KEY"), "Weaviate API key (bearer token); env IMGLISH_WEAVIATE_KEY")
	pf.StringVar(&b.namespace, "weaviate-namespace", os.Getenv("IMGLISH_WEAVIATE_NAMESPACE"),
		"prefix of imglish's Weaviate collections (default Imglish); env IMGLISH_WEAVIATE_NAMESPACE")
	pf.IntVar(&b.replicas, "replicas", envInt("IMGLISH_REPLICAS"), "replication factor of the Weaviate collections imglish creates (default min(3, nodes)); env IMGLISH_REPLICAS")
	pf.IntVar(&b.shards, "shards", envInt("IMGLISH_SHARDS"), "shards of the Weaviate collections imglish creates (default: one per node); env IMGLISH_SHARDS")
	pf.StringVar(&b.consistency, "consistency", envOr("IMGLISH_CONSISTENCY", weaviate.ConsistencyQuorum),
		"Weaviate consistency level of reads and writes: ONE, QUORUM or ALL; env IMGLISH_CONSISTENCY")
}

// envInt is the integer in the environment variable, 0 when unset or not a number.
func envInt(name string) int {
	n, _ := strconv.Atoi(os.Getenv(name))
	return n
}

// weaviate reports whether the Weaviate backend is chosen; an unknown
// backend is an error.
func (b *backendFlags) weaviate() (bool, error) {
	switch strings.ToLower(b.backend) {
	case backendEmbedded, "":
		return false, nil
	case backendWeaviate:
		return true, nil
	}
	return false, fmt.Errorf("%w: --backend %q: embedded or weaviate", errBackend, b.backend)
}

// weaviateOptions are the weaviate.Options of the flags.
func (g *globals) weaviateOptions() (weaviate.Options, error) {
	urls, addrs := commaList(g.backend.urls), commaList(g.backend.grpc)
	if len(urls) == 0 {
		return weaviate.Options{}, fmt.Errorf("%w: --backend weaviate needs --weaviate URL[,URL...] (or $IMGLISH_WEAVIATE)", errBackend)
	}
	if len(addrs) > 0 && len(addrs) != len(urls) {
		return weaviate.Options{}, fmt.Errorf("%w: --weaviate-grpc lists %d addresses for %d --weaviate URLs (one per node, same order)", errBackend, len(addrs), len(urls))
	}
	return weaviate.Options{
		URLs: urls, GRPC: addrs, APIKey: g.backend.apiKey, Namespace: g.backend.namespace,
		Replicas: g.backend.replicas, Shards: g.backend.shards,
		Consistency: strings.ToUpper(g.backend.consistency), Logger: g.logger,
	}, nil
}

// commaList splits a comma-separated list, dropping blanks.
func commaList(s string) []string {
	var out []string
	for e := range strings.SplitSeq(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// openRemote opens the Weaviate store when --backend weaviate is chosen, and
// returns nil (no error) for the embedded backend, which app.Open (or
// openStore) opens at --data itself. The caller closes what it returns.
func openRemote(ctx context.Context, g *globals) (vstore.Store, error) {
	wv, err := g.backend.weaviate()
	if err != nil || !wv {
		return nil, err
	}
	opts, err := g.weaviateOptions()
	if err != nil {
		return nil, err
	}
	db, err := weaviate.Open(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("--backend weaviate (%s): %w", strings.Join(opts.URLs, ","), err)
	}
	return recallStore{db}, nil
}

// recallStore is the Weaviate store with the recall self-check the server
// and doctor run (vstore.RecallChecker): Weaviate's HNSW search against the
// store's exact scan, on stored vectors as queries.
type recallStore struct{ *weaviate.Store }

// RecallCheck measures recall@k on up to sample stored vectors; ef is
// Weaviate's own (the store does not set it per query).
func (r recallStore) RecallCheck(ctx context.Context, space string, sample, k, _ int) (float64, error) {
	v, _, err := recallCheck(ctx, r.Store, space, sample, k)
	return v, err
}

var _ vstore.RecallChecker = recallStore{}

// openAnyStore opens the chosen backend's store for a command that works on
// the store directly (index): Weaviate, or the embedded store at --data
// through openStore (instead: how to reach the holder of a locked store).
func openAnyStore(ctx context.Context, g *globals, opts store.Options, instead string) (vstore.Store, error) {
	db, err := openRemote(ctx, g)
	if err != nil || db != nil {
		return db, err
	}
	return openStore(ctx, g, opts, instead)
}

// checkModelSpace makes sure the store's image space for the model holds
// vectors of this model and dimension before anything is indexed or
// searched: it creates the space when write is set (the store refuses one
// of another configuration with vstore.ErrExists), else compares with the
// space listed. A mismatch is an error wrapping vstore.ErrExists that says
// what the store holds and what to do.
func checkModelSpace(ctx context.Context, db vstore.Store, modelID string, dim int, write bool) error {
	name := vstore.ImageSpace(modelID)
	want := vstore.Space{Name: name, Kind: vstore.KindImages, Model: modelID, Dim: dim}
	var err error
	if write {
		err = db.CreateSpace(ctx, want)
	} else {
		for _, sp := range db.Spaces() {
			if sp.Name == name && (sp.Kind != want.Kind || sp.Model != want.Model || sp.Dim != want.Dim) {
				err = fmt.Errorf("space %s: %w with %s %d-d vectors of model %s", name, vstore.ErrExists, sp.Kind, sp.Dim, sp.Model)
			}
		}
	}
	if errors.Is(err, vstore.ErrExists) {
		return fmt.Errorf("the store already holds a collection for model %q that does not fit this model (%d-d): %w; "+
			"use the model it was indexed with, or another store (--weaviate-namespace, --data)", modelID, dim, err)
	}
	return err
}

// storeDesc names the store for messages: the data folder or the cluster.
func (g *globals) storeDesc() string {
	if wv, _ := g.backend.weaviate(); wv {
		return "weaviate " + g.backend.urls
	}
	return "data " + g.data
}

// remoteApp is an App on a store it does not own: Close closes the App,
// then the store.
type remoteApp struct {
	*app.App
	db vstore.Store
}

func (r remoteApp) Close() error { return errors.Join(r.App.Close(), r.db.Close()) }

// appCloser is an *app.App, or one on a Weaviate store that Close also
// closes.
type appCloser interface {
	Close() error
	Info() app.ModelInfo
	Encoder() app.Encoder
	Catalog() app.Catalog
	Indexer() app.Indexer
	AutoTagger() *app.AutoTagger
	Search(ctx context.Context, req app.SearchRequest) (app.SearchResponse, error)
	Store() vstore.Store
}

// openApp is app.Open on the chosen backend: the embedded store at
// cfg.DataDir, or the Weaviate cluster, whose image space for the model is
// checked first (a collection of another model or dimension refuses to
// start). instead is openStore's hint for a locked embedded store.
func openApp(ctx context.Context, g *globals, cfg app.Config, instead string) (appCloser, error) {
	db, err := openRemote(ctx, g)
	if err != nil {
		return nil, err
	}
	if db == nil {
		cfg.StoreOptions.Quantize = g.quantize
		a, err := app.Open(ctx, cfg)
		if err != nil {
			return nil, explainStoreError(err, instead)
		}
		return a, nil
	}
	// Label set files of older versions stay with their data folder; the
	// cluster's label sets are its own.
	cfg.Store, cfg.LocalDir, cfg.DataDir = db, cfg.DataDir, ""
	a, err := app.Open(ctx, cfg)
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	r := remoteApp{App: a, db: db}
	info := a.Info()
	if err := checkModelSpace(ctx, db, info.ID, info.Dim, !cfg.ReadOnly); err != nil {
		return nil, errors.Join(err, r.Close())
	}
	return r, nil
}
