package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"

	"imglish/indexer"
	"imglish/search"
	"imglish/store"
	"imglish/vstore"
)

// storeCatalog adapts a vstore.Store (one model's image space and its text
// collections) and the indexer that fills it to Catalog.
type storeCatalog struct {
	db    vstore.Store
	ix    Indexer
	model string
	dim   int
	space string
}

// NewCatalog serves model's image space of db (the embedded *store.DB or
// any other vstore.Store); ix indexes uploaded files (it must write the same
// model's space). The caller owns db and ix.
func NewCatalog(db vstore.Store, ix Indexer, model string, dim int) (Catalog, error) {
	if db == nil || model == "" || dim <= 0 {
		return nil, fmt.Errorf("%w: catalog needs a store, a model id and a dimension", ErrConfig)
	}
	return &storeCatalog{db: db, ix: ix, model: model, dim: dim, space: store.ImageSpace(model)}, nil
}

// textSpace names a collection's space; collections are per model so an
// image vector is only ever compared with texts of its own model.
func (c *storeCatalog) textSpace(collection string) string {
	return "texts:" + c.model + ":" + collection
}

func storeSearchOptions(k int, p SearchPage) store.SearchOptions {
	opts := store.SearchOptions{Exclude: p.Exclude, Exact: p.Exact}
	if !p.Exact {
		opts.Ef = max(64, k)
	}
	if p.After != nil {
		opts.After = &search.Hit{ID: p.After.ID, Score: p.After.Score}
	}
	if p.Until != nil {
		opts.Until = &search.Hit{ID: p.Until.ID, Score: p.Until.Score}
	}
	return opts
}

func (c *storeCatalog) Search(ctx context.Context, q []float32, k int, f *vstore.Filter, p SearchPage) ([]Hit, error) {
	opts := storeSearchOptions(k, p)
	opts.Filter = f
	// SearchItems reads each hit's item as it re-checks the hit against
	// deletes, and goes on past dropped hits: a short answer is the end.
	hits, err := c.db.SearchItems(ctx, c.space, q, k, opts)
	if errors.Is(err, store.ErrNotFound) && !c.hasSpace(c.space) {
		return nil, nil // nothing indexed with this model yet
	}
	if err != nil {
		return nil, err
	}
	out := make([]Hit, len(hits))
	for i, h := range hits {
		out[i] = Hit{ID: h.ID, Score: h.Score, Item: itemOf(h.Item)}
		if f != nil {
			out[i].Item.preferPath(f.PathPrefixes)
		}
	}
	return out, nil
}

// Ping asks the store whether it answers, when it can be asked (a remote
// store); see App.Ping.
func (c *storeCatalog) Ping(ctx context.Context) error {
	if p, ok := c.db.(pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *storeCatalog) MeanScore(ctx context.Context, q []float32, f *vstore.Filter) (float64, error) {
	mean, _, err := c.db.MeanScore(ctx, c.space, q, f)
	if errors.Is(err, store.ErrNotFound) && !c.hasSpace(c.space) {
		return 0, nil
	}
	return mean, err
}

func (c *storeCatalog) hasSpace(name string) bool {
	for _, sp := range c.db.Spaces() {
		if sp.Name == name {
			return true
		}
	}
	return false
}

func (c *storeCatalog) Item(_ context.Context, id string) (Item, error) {
	it, err := c.db.Item(id)
	if err != nil {
		return Item{}, err
	}
	return itemOf(it), nil
}

// ContentID is the indexer's item id (indexer.ContentHash).
func (c *storeCatalog) ContentID(data []byte) string {
	return indexer.ContentHash(data).String()
}

func (c *storeCatalog) Vector(_ context.Context, id string) ([]float32, error) {
	return c.db.Vector(c.space, id)
}

// AddImage has the indexer add one uploaded file (Indexer.AddImage), so
// uploads get the same ids, metadata, auto-tags and dedup as indexed
// folders without waiting for index jobs.
func (c *storeCatalog) AddImage(ctx context.Context, path string, data []byte, pixels []float32) (Item, error) {
	if c.ix == nil {
		return Item{}, fmt.Errorf("%w: no indexer", ErrUnavailable)
	}
	id, err := c.ix.AddImage(ctx, path, data, pixels)
	if err != nil {
		return Item{}, fmt.Errorf("index %s: %w", filepath.Base(path), err)
	}
	it, err := c.db.Item(id)
	if err != nil {
		return Item{}, fmt.Errorf("%w: %s was not indexed: %w", ErrInternal, filepath.Base(path), err)
	}
	return itemOf(it), nil
}

// DeleteItem deletes the item and the upload bytes kept for it in one
// transaction.
func (c *storeCatalog) DeleteItem(ctx context.Context, id string) error {
	var b store.Batch
	b.DeleteItem(id)
	b.SetBlob(uploadPrefix+id, nil)
	return c.db.Apply(ctx, &b)
}

func (c *storeCatalog) LabelSet(_ context.Context, name string) (LabelSet, error) {
	return getLabelSet(c.db, name)
}

func (c *storeCatalog) PutLabelSet(ctx context.Context, name string, ls LabelSet) error {
	return putLabelSets(ctx, c.db, map[string]LabelSet{name: ls})
}

func (c *storeCatalog) PutOriginal(ctx context.Context, id string, data []byte) error {
	if err := ValidName("item id", id); err != nil {
		return err
	}
	var b store.Batch
	b.SetBlob(uploadPrefix+id, data)
	if err := c.db.Apply(ctx, &b); err != nil {
		return fmt.Errorf("store upload: %w", err)
	}
	return nil
}

func (c *storeCatalog) Original(_ context.Context, id string) ([]byte, error) {
	if err := ValidName("item id", id); err != nil {
		return nil, err
	}
	b, err := c.db.Blob(uploadPrefix + id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: no stored upload for item %s", ErrNotFound, id)
	}
	return b, err
}

// FilePaths lists the items of the store (those of every model: the file
// records are shared) with a file under one of prefixes.
func (c *storeCatalog) FilePaths(ctx context.Context, prefixes []string, fn func(id string, paths []string) bool) error {
	var f *store.Filter
	if len(prefixes) > 0 {
		f = &store.Filter{PathPrefixes: prefixes}
	}
	return c.db.Items(ctx, f, func(it store.Item) bool {
		paths := make([]string, len(it.Files))
		for i, fl := range it.Files {
			paths[i] = fl.Path
		}
		return fn(it.ID, paths)
	})
}

func (c *storeCatalog) Count(context.Context) (int, error) {
	for _, sp := range c.db.Spaces() {
		if sp.Name == c.space {
			return sp.Count, nil
		}
	}
	return 0, nil
}

func (c *storeCatalog) RecallCheck(ctx context.Context, sample int) (float64, error) {
	rc, ok := c.db.(vstore.RecallChecker)
	if !ok {
		return 0, fmt.Errorf("%w: the store does not measure recall", ErrUnavailable)
	}
	if !c.hasSpace(c.space) {
		return 1, nil
	}
	return rc.RecallCheck(ctx, c.space, sample, 10, 0)
}

// textID makes re-adding the same text idempotent.
func textID(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:12])
}

func (c *storeCatalog) AddTexts(ctx context.Context, collection string, texts []string, vecs [][]float32) ([]TextEntry, error) {
	space := c.textSpace(collection)
	if err := c.db.CreateSpace(ctx, store.Space{Name: space, Kind: store.KindTexts, Model: c.model, Dim: c.dim}); err != nil {
		return nil, fmt.Errorf("create collection %s: %w", collection, err)
	}
	out := make([]TextEntry, 0, len(texts))
	var b store.Batch
	for i, t := range texts {
		e := TextEntry{ID: textID(t), Text: t}
		b.PutText(space, store.TextEntry{ID: e.ID, Text: t, Vector: vecs[i]})
		out = append(out, e)
		// Keep each transaction well inside Badger's limits.
		if b.Len() >= 512 {
			if err := c.db.Apply(ctx, &b); err != nil {
				return nil, err
			}
			b.Reset()
		}
	}
	if b.Len() > 0 {
		if err := c.db.Apply(ctx, &b); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (c *storeCatalog) Texts(_ context.Context, collection string) ([]TextEntry, error) {
	entries, err := c.db.Texts(c.textSpace(collection))
	if err != nil {
		return nil, textsError(collection, err)
	}
	out := make([]TextEntry, len(entries))
	for i, e := range entries {
		out[i] = TextEntry{ID: e.ID, Text: e.Text}
	}
	return out, nil
}

func (c *storeCatalog) DeleteTexts(ctx context.Context, collection string) error {
	return textsError(collection, c.db.DropSpace(ctx, c.textSpace(collection)))
}

// textsError names the collection rather than the store's space when there
// is none: the space name is the store's business, each backend words its
// not-found its own way ("search: space texts:<model>:<name>: not found"),
// and the API answers every backend alike.
func textsError(collection string, err error) error {
	if errors.Is(err, vstore.ErrNotFound) {
		return fmt.Errorf("text collection %s: %w", collection, vstore.ErrNotFound)
	}
	return err
}

func (c *storeCatalog) SearchTexts(ctx context.Context, collection string, q []float32, k int, p SearchPage) ([]TextHit, error) {
	hits, err := c.db.SearchTexts(ctx, c.textSpace(collection), q, k, storeSearchOptions(k, p))
	if err != nil {
		return nil, textsError(collection, err)
	}
	out := make([]TextHit, len(hits))
	for i, h := range hits {
		out[i] = TextHit{TextEntry: TextEntry{ID: h.ID, Text: h.Text}, Score: h.Score}
	}
	return out, nil
}
