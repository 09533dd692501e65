package indexer

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"imglish/vstore"
)

// errValuePrefix keys the error records in the store's application values:
// errValuePrefix + path → errorValue. They are shared by every model (a file
// that does not decode does so whatever the model).
const errValuePrefix = "indexer/error:"

// errorValue is the stored form of an error record.
type errorValue struct {
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	Reason  string `json:"reason"`
	// Sticky is fileRecord.Sticky. A record without it — a failure that
	// may pass, or one written before the flag existed, whatever its
	// cause — is retried by the next run, which records the file afresh.
	Sticky bool `json:"sticky,omitempty"`
	// Limits is fileRecord.Limits.
	Limits *sizeLimits `json:"limits,omitempty"`
}

// storeCatalog maps the indexer's records onto a vstore.Store: one item
// per content hash (ID = Hash = ContentHash(data).String()) listing every
// path that holds it, its vector in the model's image space, and error
// records as store values.
// The file records (paths) are shared by all models; "unchanged" also needs
// the content's vector in this model's space.
type storeCatalog struct {
	db    vstore.Store
	model string
	space string
	clock func() time.Time
}

func (c *storeCatalog) ensureSpace(ctx context.Context, dim int) error {
	for _, s := range c.db.Spaces() {
		if s.Name == c.space {
			if s.Kind != vstore.KindImages || s.Dim != dim || s.Model != c.model {
				return fmt.Errorf("%w: space %s holds %s %d-d vectors of model %s, want %d-d of %s",
					ErrOptions, s.Name, s.Kind, s.Dim, s.Model, dim, c.model)
			}
			return nil
		}
	}
	if err := c.db.CreateSpace(ctx, vstore.Space{Name: c.space, Kind: vstore.KindImages, Model: c.model, Dim: dim}); err != nil {
		return fmt.Errorf("create space %s: %w", c.space, err)
	}
	return nil
}

func (c *storeCatalog) hasVector(id string) bool {
	_, err := c.db.Vector(c.space, id)
	return err == nil
}

func hashOf(id string) (Hash, bool) {
	var h Hash
	n, err := hex.Decode(h[:], []byte(id))
	return h, err == nil && n == len(h)
}

func (c *storeCatalog) lookup(_ context.Context, p string) (fileRecord, bool, error) {
	it, err := c.db.ItemByPath(p)
	switch {
	case err == nil:
		for _, f := range it.Files {
			if f.Path != p {
				continue
			}
			h, ok := hashOf(it.Hash)
			if !ok || !c.hasVector(it.ID) {
				// Content another model (or a foreign writer) put here: this
				// space has no vector for it yet, so the file counts as changed.
				return fileRecord{}, false, nil
			}
			return fileRecord{Path: p, Size: f.Size, ModTime: f.ModTime.UnixNano(), Hash: h}, true, nil
		}
		return fileRecord{}, false, nil
	case !errors.Is(err, vstore.ErrNotFound):
		return fileRecord{}, false, err
	}
	v, err := c.db.Value(errValuePrefix + p)
	if errors.Is(err, vstore.ErrNotFound) {
		return fileRecord{}, false, nil
	}
	if err != nil {
		return fileRecord{}, false, err
	}
	var ev errorValue
	if err := json.Unmarshal(v, &ev); err != nil {
		return fileRecord{}, false, nil // unreadable: retry the file
	}
	return fileRecord{Path: p, Size: ev.Size, ModTime: ev.ModTime, Err: ev.Reason, Sticky: ev.Sticky, Limits: ev.Limits, hadErr: true}, true, nil
}

func (c *storeCatalog) rangeFiles(ctx context.Context, prefix string, fn func(fileRecord) error) error {
	var ferr error
	err := c.db.Items(ctx, &vstore.Filter{PathPrefixes: []string{prefix}}, func(it vstore.Item) bool {
		h, _ := hashOf(it.Hash)
		for _, f := range it.Files {
			if within(f.Path, prefix) {
				if ferr = fn(fileRecord{Path: f.Path, Size: f.Size, ModTime: f.ModTime.UnixNano(), Hash: h}); ferr != nil {
					return false
				}
			}
		}
		return true
	})
	if err = errors.Join(err, ferr); err != nil {
		return err
	}
	err = c.db.ScanValues(ctx, errValuePrefix+prefix, func(key string, val []byte) bool {
		p := strings.TrimPrefix(key, errValuePrefix)
		if !within(p, prefix) {
			return true
		}
		var ev errorValue
		_ = json.Unmarshal(val, &ev)
		ferr = fn(fileRecord{Path: p, Size: ev.Size, ModTime: ev.ModTime, Err: ev.Reason, Sticky: ev.Sticky, Limits: ev.Limits, hadErr: true})
		return ferr == nil
	})
	return errors.Join(err, ferr)
}

func (c *storeCatalog) hasContent(_ context.Context, h Hash) (bool, error) {
	it, err := c.db.ItemByHash(h.String())
	if errors.Is(err, vstore.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return c.hasVector(it.ID), nil
}

// commit turns b into one vstore.Batch: it edits working copies of the items
// it touches (new content, paths moving between items, paths going away) and
// deletes an item when its last path went in this batch. New content whose
// vector is in the space already keeps that vector: an upsert by content id,
// so two writers embedding the same image make one item. The caller holds
// Indexer.commitMu.
func (c *storeCatalog) commit(ctx context.Context, b *batch) error {
	var sb vstore.Batch
	work := map[string]*vstore.Item{} // working copies by id
	var order []string
	lostPath := map[string]bool{} // items that lost a path in this batch
	owner := map[string]string{}  // path → id as changed by this batch ("" = none)
	get := func(id string) (*vstore.Item, error) {
		if it, ok := work[id]; ok {
			return it, nil
		}
		it, err := c.db.Item(id)
		if errors.Is(err, vstore.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		work[id] = &it
		order = append(order, id)
		return &it, nil
	}
	ownerOf := func(p string) (string, error) {
		if id, ok := owner[p]; ok {
			return id, nil
		}
		it, err := c.db.ItemByPath(p)
		if errors.Is(err, vstore.ErrNotFound) {
			return "", nil
		}
		return it.ID, err
	}
	unlink := func(p, keep string) error {
		id, err := ownerOf(p)
		if err != nil || id == "" || id == keep {
			return err
		}
		it, err := get(id)
		if err != nil || it == nil {
			return err
		}
		it.Files = slices.DeleteFunc(it.Files, func(f vstore.File) bool { return f.Path == p })
		lostPath[id] = true
		owner[p] = ""
		return nil
	}
	now := c.clock()
	for _, ni := range b.Items {
		id := ni.Hash.String()
		it, err := get(id)
		if err != nil {
			return err
		}
		if it == nil {
			it = &vstore.Item{ID: id, Hash: id, AddedAt: now}
			work[id] = it
			order = append(order, id)
		}
		// The content's metadata replaces what the item had, field for
		// field (a re-indexed file whose EXIF lost its GPS loses it here).
		it.Meta = ni.Meta.Clone()
		it.Model = c.model
		if c.hasVector(id) {
			// Another commit embedded this content first (an upload beside
			// a run, AddImage): its vector and auto-tags stay, this commit
			// only links its paths. Commits are serialised (commitMu), so
			// the check holds until this batch is applied.
			continue
		}
		if ni.Tagged {
			setAutoTags(it, ni.Tags)
		}
		sb.PutVector(c.space, id, ni.Vector)
	}
	for id, tags := range b.Retags {
		it, err := get(id)
		if err != nil {
			return err
		}
		if it != nil {
			setAutoTags(it, tags)
		}
	}
	for _, f := range b.Files {
		if f.Err != "" {
			if err := unlink(f.Path, ""); err != nil {
				return err
			}
			val, _ := json.Marshal(errorValue{Size: f.Size, ModTime: f.ModTime, Reason: f.Err, Sticky: f.Sticky, Limits: f.Limits})
			if len(errValuePrefix)+len(f.Path) <= vstore.MaxIDLen {
				sb.SetValue(errValuePrefix+f.Path, val)
			}
			continue
		}
		id := f.Hash.String()
		if err := unlink(f.Path, id); err != nil {
			return err
		}
		it, err := get(id)
		if err != nil {
			return err
		}
		if it == nil {
			return fmt.Errorf("link %s: item %s: %w", f.Path, id, vstore.ErrNotFound)
		}
		file := vstore.File{Path: f.Path, Size: f.Size, ModTime: time.Unix(0, f.ModTime)}
		if i := slices.IndexFunc(it.Files, func(x vstore.File) bool { return x.Path == f.Path }); i >= 0 {
			it.Files[i] = file
		} else {
			it.Files = append(it.Files, file)
		}
		owner[f.Path] = id
		if f.hadErr && len(errValuePrefix)+len(f.Path) <= vstore.MaxIDLen {
			sb.SetValue(errValuePrefix+f.Path, nil)
		}
	}
	for _, p := range b.Deletes {
		if err := unlink(p, ""); err != nil {
			return err
		}
		if len(errValuePrefix)+len(p) <= vstore.MaxIDLen {
			sb.SetValue(errValuePrefix+p, nil)
		}
	}
	for _, id := range order {
		it := work[id]
		if len(it.Files) == 0 && lostPath[id] {
			sb.DeleteItem(id) // its vectors go too, in every model's space
			continue
		}
		sb.PutItem(*it)
	}
	if err := c.db.Apply(ctx, &sb); err != nil {
		return fmt.Errorf("commit %d items, %d files, %d deletions: %w", len(b.Items), len(b.Files), len(b.Deletes), err)
	}
	return c.relink(ctx, b)
}

// relinkAttempts bounds relink's rounds.
const relinkAttempts = 5

// relink reads back the items b linked paths to and links again any path
// missing there. A store that several writers share without transactions
// (Weaviate) keeps the last write of an item whole: two indexers that link
// paths to one content at the same instant each write the item as they read
// it, and the later write drops the earlier one's path. Each writer checks
// its own paths after its write, so the one that lost adds its path back
// (its write carries the other's path, which it reads now). One store
// read per linked item; in the embedded store the check always holds.
func (c *storeCatalog) relink(ctx context.Context, b *batch) error {
	want := map[string][]vstore.File{} // id → the files b linked to it
	last := map[string]int{}           // a path's last record in b wins
	for i, f := range b.Files {
		last[f.Path] = i
	}
	for i, f := range b.Files {
		if f.Err == "" && last[f.Path] == i {
			id := f.Hash.String()
			want[id] = append(want[id], vstore.File{Path: f.Path, Size: f.Size, ModTime: time.Unix(0, f.ModTime)})
		}
	}
	for attempt := 0; len(want) > 0; attempt++ {
		var sb vstore.Batch
		for _, id := range slices.Sorted(maps.Keys(want)) {
			it, err := c.db.Item(id)
			if errors.Is(err, vstore.ErrNotFound) {
				delete(want, id) // deleted since: nothing to link to
				continue
			}
			if err != nil {
				return fmt.Errorf("read back item %s: %w", id, err)
			}
			missing := slices.DeleteFunc(want[id], func(f vstore.File) bool {
				return slices.ContainsFunc(it.Files, func(x vstore.File) bool { return x.Path == f.Path })
			})
			if len(missing) == 0 {
				delete(want, id)
				continue
			}
			want[id] = missing
			it.Files = append(it.Files, missing...)
			sb.PutItem(it)
		}
		if sb.Len() == 0 {
			return nil
		}
		if attempt == relinkAttempts {
			return fmt.Errorf("link %d paths: %w: other writers kept replacing the items", len(want), ErrConflict)
		}
		if err := c.db.Apply(ctx, &sb); err != nil {
			return fmt.Errorf("relink %d items: %w", sb.Len(), err)
		}
	}
	return nil
}

// setAutoTags replaces it's auto-tags (AutoTagPrefix) with tags, keeping
// every other tag; the result is sorted and without duplicates.
func setAutoTags(it *vstore.Item, tags []string) {
	out := slices.DeleteFunc(slices.Clone(it.Tags), func(t string) bool { return strings.HasPrefix(t, AutoTagPrefix) })
	for _, t := range tags {
		if t != "" {
			out = append(out, AutoTagPrefix+t)
		}
	}
	slices.Sort(out)
	it.Tags = slices.Compact(out)
}

// mediaType maps preprocess format names to MIME types for store filters.
func mediaType(format string) string {
	switch format {
	case "":
		return ""
	case "jpeg", "png", "gif", "webp", "bmp", "tiff":
		return "image/" + format
	default:
		return "image/x-" + format
	}
}
