package store

import (
	"context"
	"fmt"
	"slices"

	"imglish/search"
	"imglish/vstore"
)

// The search types are vstore's; these names keep store's API.
type (
	// Hit is vstore.Hit (package search's Hit).
	Hit = vstore.Hit
	// SearchOptions is vstore.SearchOptions.
	SearchOptions = vstore.SearchOptions
	// TextHit is vstore.TextHit.
	TextHit = vstore.TextHit
	// ItemHit is vstore.ItemHit.
	ItemHit = vstore.ItemHit
)

// Search returns the k items of an image space (or entries of a text
// collection) most similar to query. Filters apply during the graph walk;
// a filter matching under 2% of the space is answered by an exact scan.
// Fewer than k hits means the ranking (after opts.After) has no more.
// Safe for concurrent use.
func (db *DB) Search(ctx context.Context, spaceName string, query []float32, k int, opts SearchOptions) ([]Hit, error) {
	return db.search(ctx, spaceName, query, k, opts, nil)
}

// SearchItems is Search on an image space, with each hit's item as it was
// when the hit was checked against deletes (one read, so a hit never lacks
// its item). Safe for concurrent use.
func (db *DB) SearchItems(ctx context.Context, spaceName string, query []float32, k int, opts SearchOptions) ([]ItemHit, error) {
	sp, err := db.space(spaceName)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if sp.cfg.Kind != KindImages {
		return nil, fmt.Errorf("search items: %s is not an image space: %w", spaceName, ErrInvalid)
	}
	out := []ItemHit{}
	_, err = db.search(ctx, spaceName, query, k, opts, func(_ *space, h Hit) bool {
		out = append(out, ItemHit{Hit: h, Item: db.items[h.ID].Clone()})
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// search runs the index search and drops the hits that no longer stand:
// an image deleted since the walk, or a slot freed and reused between
// building the filter and the walk (which could let a non-matching item
// through); then keep, when not nil, decides (and may record the hit). Both
// run under db.mu's read lock. When hits were dropped it continues after
// the last one the index returned, so that a short answer still means the
// end of the ranking.
func (db *DB) search(ctx context.Context, spaceName string, query []float32, k int, opts SearchOptions, keep func(sp *space, h Hit) bool) ([]Hit, error) {
	sp, so, err := db.searchSetup(spaceName, opts)
	if err != nil {
		return nil, err
	}
	out := []Hit{}
	for {
		want := k - len(out)
		hits, err := sp.idx.Search(ctx, query, want, so)
		if err != nil {
			return nil, fmt.Errorf("search %s: %w", spaceName, err)
		}
		if len(hits) == 0 {
			return out, nil
		}
		n, last := len(hits), hits[len(hits)-1]
		db.mu.RLock()
		hits = slices.DeleteFunc(hits, func(h Hit) bool {
			if sp.cfg.Kind == KindImages {
				it, ok := db.items[h.ID]
				if !ok || (so.Filter != nil && !opts.Filter.Match(it)) {
					return true
				}
			}
			return keep != nil && !keep(sp, h)
		})
		db.mu.RUnlock()
		out = append(out, hits...)
		if n < want || len(out) == k {
			return out, nil
		}
		so.After = &last
	}
}

// searchSetup resolves a space and turns opts into the index's options.
func (db *DB) searchSetup(spaceName string, opts SearchOptions) (*space, search.SearchOptions, error) {
	sp, err := db.space(spaceName)
	if err != nil {
		return nil, search.SearchOptions{}, fmt.Errorf("search: %w", err)
	}
	so := search.SearchOptions{Ef: opts.Ef, After: opts.After, Until: opts.Until, Exclude: opts.Exclude, Exact: opts.Exact}
	if !opts.Filter.Empty() {
		if sp.cfg.Kind == KindTexts {
			if !opts.Filter.OnlyIDs() {
				return nil, so, fmt.Errorf("search %s: only ids filter text collections: %w", spaceName, ErrInvalid)
			}
			so.Filter = sp.idx.SelectKeys(opts.Filter.IDs)
		} else {
			so.Filter = sp.idx.SelectKeys(db.matching(opts.Filter))
		}
	}
	return sp, so, nil
}

// MeanScore returns the mean similarity of query to the items of a space
// that match filter (nil: all) and how many there are (0, 0 when none): an
// exact scan (see search.Index.MeanScore). Safe for concurrent use.
func (db *DB) MeanScore(ctx context.Context, spaceName string, query []float32, filter *Filter) (float64, int, error) {
	sp, so, err := db.searchSetup(spaceName, SearchOptions{Filter: filter})
	if err != nil {
		return 0, 0, err
	}
	if so.Filter != nil && so.Filter.Len() == 0 {
		return 0, 0, nil
	}
	mean, n, err := sp.idx.MeanScore(ctx, query, so.Filter)
	if err != nil {
		return 0, 0, fmt.Errorf("search %s: %w", spaceName, err)
	}
	return mean, n, nil
}

// matching returns the ids of items matching f, taken under the read lock
// (the index's Select would nest locks).
func (db *DB) matching(f *Filter) []string {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if f.IDs != nil {
		out := make([]string, 0, len(f.IDs))
		for _, id := range f.IDs {
			if it, ok := db.items[id]; ok && f.MatchMeta(it) {
				out = append(out, id)
			}
		}
		return out
	}
	var out []string
	for id, it := range db.items {
		if f.MatchMeta(it) {
			out = append(out, id)
		}
	}
	return out
}

// SearchTexts searches a text collection (image→text) and returns the hits
// with their texts; an entry deleted meanwhile is passed over as Search
// passes over a deleted item. Safe for concurrent use.
func (db *DB) SearchTexts(ctx context.Context, collection string, query []float32, k int, opts SearchOptions) ([]TextHit, error) {
	sp, err := db.space(collection)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if sp.cfg.Kind != KindTexts {
		return nil, fmt.Errorf("search texts: %s is not a text collection: %w", collection, ErrInvalid)
	}
	out := []TextHit{}
	_, err = db.search(ctx, collection, query, k, opts, func(sp *space, h Hit) bool {
		t, ok := sp.texts[h.ID]
		if ok {
			out = append(out, TextHit{Hit: h, Text: t})
		}
		return ok
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Texts returns every entry of a text collection (without vectors), by id.
func (db *DB) Texts(collection string) ([]TextEntry, error) {
	sp, err := db.space(collection)
	if err != nil {
		return nil, err
	}
	if sp.cfg.Kind != KindTexts {
		return nil, fmt.Errorf("texts: %s is not a text collection: %w", collection, ErrInvalid)
	}
	db.mu.RLock()
	out := make([]TextEntry, 0, len(sp.texts))
	for id, t := range sp.texts {
		out = append(out, TextEntry{ID: id, Text: t})
	}
	db.mu.RUnlock()
	slices.SortFunc(out, func(a, b TextEntry) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out, nil
}

// Vector returns a copy of id's (normalised) vector in a space.
func (db *DB) Vector(spaceName, id string) ([]float32, error) {
	sp, err := db.space(spaceName)
	if err != nil {
		return nil, err
	}
	v, err := sp.idx.Vector(id)
	if err != nil {
		return nil, fmt.Errorf("vector %s/%.40q: %w", spaceName, id, ErrNotFound)
	}
	return v, nil
}

// RecallCheck measures recall@k of a space's graph against exact search on
// sample random vectors (see search.Index.RecallCheck).
func (db *DB) RecallCheck(ctx context.Context, spaceName string, sample, k, ef int) (float64, error) {
	sp, err := db.space(spaceName)
	if err != nil {
		return 0, err
	}
	return sp.idx.RecallCheck(ctx, sample, k, ef)
}

// Check verifies the in-memory state: every graph's invariants (links to
// live nodes only, a valid entry point) and that every vector of an image
// space belongs to an existing item. It waits for the current writer. Safe
// for concurrent use.
func (db *DB) Check(ctx context.Context) error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	db.mu.RLock()
	if err := db.usable(); err != nil {
		db.mu.RUnlock()
		return err
	}
	spaces := make([]*space, 0, len(db.spaces))
	for _, sp := range db.spaces {
		spaces = append(spaces, sp)
	}
	db.mu.RUnlock()
	for _, sp := range spaces {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := sp.idx.Check(); err != nil {
			return fmt.Errorf("check space %s: %w: %w", sp.cfg.Name, ErrCorrupt, err)
		}
		if sp.cfg.Kind != KindImages {
			continue
		}
		keys := sp.idx.Keys()
		db.mu.RLock()
		for _, k := range keys {
			if _, ok := db.items[k]; !ok {
				db.mu.RUnlock()
				return fmt.Errorf("check space %s: vector %q without item: %w", sp.cfg.Name, k, ErrCorrupt)
			}
		}
		db.mu.RUnlock()
	}
	return nil
}
