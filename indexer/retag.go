package indexer

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"imglish/vstore"
)

// retagBatch is how many items one Retag commit re-tags.
const retagBatch = 256

// Retag runs Options.Tagger over every item with a vector in this Indexer's
// space and replaces each item's auto-tags where they changed (after a label
// set changed, or for items indexed before auto-tags were configured). It
// holds the run lock, so it never interleaves with Run or Watch commits, and
// each commit re-reads the items it edits, so no path or tag written before
// it is lost. It returns how many items changed. Without a Tagger it returns
// ErrOptions.
func (ix *Indexer) Retag(ctx context.Context) (int, error) {
	if ix.opts.Tagger == nil {
		return 0, fmt.Errorf("retag: %w: no tagger", ErrOptions)
	}
	if ix.opts.Store == nil {
		return 0, fmt.Errorf("retag: %w: no store", ErrOptions)
	}
	ix.runMu.Lock()
	defer ix.runMu.Unlock()
	space := ix.Space()
	pending := map[string][]string{}
	changed := 0
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		if err := ix.commit(ctx, &batch{Retags: pending}); err != nil {
			return fmt.Errorf("retag: %w", err)
		}
		changed += len(pending)
		pending = map[string][]string{}
		return nil
	}
	var ferr error
	err := ix.opts.Store.Items(ctx, nil, func(it vstore.Item) bool {
		vec, err := ix.opts.Store.Vector(space, it.ID)
		if err != nil {
			return true // no vector in this space (another model's item)
		}
		tags, err := ix.opts.Tagger.Tags(ctx, vec)
		if err != nil {
			ferr = fmt.Errorf("retag %s: %w", it.ID, err)
			return false
		}
		want := slices.Clone(it.Tags)
		setAutoTags(&it, tags)
		if slices.Equal(want, it.Tags) {
			return true
		}
		pending[it.ID] = tags
		if len(pending) >= retagBatch {
			ferr = flush()
		}
		return ferr == nil
	})
	if err == nil {
		err = ferr
	}
	if err == nil {
		err = flush()
	}
	return changed, err
}

// AutoTags returns the auto-tags among tags, without AutoTagPrefix.
func AutoTags(tags []string) []string {
	var out []string
	for _, t := range tags {
		if s, ok := strings.CutPrefix(t, AutoTagPrefix); ok {
			out = append(out, s)
		}
	}
	return out
}
