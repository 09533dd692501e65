package weaviate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"imglish/vstore"
)

// Item returns the item with id (ErrNotFound), read at the store's
// consistency level.
func (s *Store) Item(id string) (vstore.Item, error) {
	if err := s.usable(); err != nil {
		return vstore.Item{}, err
	}
	ctx, cancel := s.lookupCtx()
	defer cancel()
	return s.item(ctx, id)
}

func (s *Store) item(ctx context.Context, id string) (vstore.Item, error) {
	if vstore.ValidID(id) != nil {
		return vstore.Item{}, fmt.Errorf("item %.40q: %w", id, vstore.ErrNotFound)
	}
	o, err := s.getObject(ctx, s.itemsClass, itemUUID(id), false)
	if errors.Is(err, errNotFoundStatus) {
		return vstore.Item{}, fmt.Errorf("item %.40q: %w", id, vstore.ErrNotFound)
	}
	if err != nil {
		return vstore.Item{}, fmt.Errorf("item %s: %w", id, err)
	}
	it, err := decodeItem(o.Properties)
	if err != nil {
		return vstore.Item{}, err
	}
	if it.ID != id {
		return vstore.Item{}, fmt.Errorf("item %.40q: %w", id, vstore.ErrNotFound)
	}
	return it, nil
}

// ItemByPath returns the item one of whose files is path (the smallest
// id when several claim it).
func (s *Store) ItemByPath(path string) (vstore.Item, error) {
	return s.itemBy("paths", path, func(it *vstore.Item) bool {
		return slices.ContainsFunc(it.Files, func(f vstore.File) bool { return f.Path == path })
	})
}

// ItemByHash returns the item with content hash h (the smallest id when
// several have it).
func (s *Store) ItemByHash(h string) (vstore.Item, error) {
	return s.itemBy("hash", h, func(it *vstore.Item) bool { return it.Hash == h })
}

// itemBy finds items whose indexed prop equals val, then keeps those for
// which exact holds: the index is field-tokenized (trimmed), the check
// is exact.
func (s *Store) itemBy(prop, val string, exact func(*vstore.Item) bool) (vstore.Item, error) {
	if err := s.usable(); err != nil {
		return vstore.Item{}, err
	}
	if strings.TrimSpace(val) == "" {
		return vstore.Item{}, fmt.Errorf("item by %s %.40q: %w", prop, val, vstore.ErrNotFound)
	}
	ctx, cancel := s.lookupCtx()
	defer cancel()
	where := fmt.Sprintf("{path: [%s], operator: Equal, valueText: %s}", gqlString(prop), gqlString(val))
	objs, err := s.getWhere(ctx, s.itemsClass, where, "itemId data", 100, false)
	if err != nil {
		return vstore.Item{}, fmt.Errorf("item by %s: %w", prop, err)
	}
	var best *vstore.Item
	for _, o := range objs {
		it, err := decodeItem(o.Properties)
		if err != nil {
			return vstore.Item{}, err
		}
		if exact(&it) && (best == nil || it.ID < best.ID) {
			best = &it
		}
	}
	if best == nil {
		return vstore.Item{}, fmt.Errorf("item by %s %.40q: %w", prop, val, vstore.ErrNotFound)
	}
	return *best, nil
}

// ItemCount returns the number of items (an aggregate query; 0 when it
// fails, which is logged).
func (s *Store) ItemCount() int {
	if s.usable() != nil {
		return 0
	}
	ctx, cancel := s.lookupCtx()
	defer cancel()
	n, err := s.count(ctx, s.itemsClass)
	if err != nil {
		s.opts.Logger.Warn("count weaviate items", "err", err)
	}
	return n
}

// Items calls fn with every item matching f, in id order. It reads every
// item first (a cursor scan of the items class, O(items) per call, the
// filter applied here with vstore.Filter.Match), so fn may write.
func (s *Store) Items(ctx context.Context, f *vstore.Filter, fn func(vstore.Item) bool) error {
	if err := s.usable(); err != nil {
		return err
	}
	var items []vstore.Item
	err := s.scan(ctx, s.itemsClass, false, func(o object) error {
		it, err := decodeItem(o.Properties)
		if err != nil {
			return err
		}
		if f.Match(&it) {
			items = append(items, it)
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(items, func(a, b vstore.Item) int { return strings.Compare(a.ID, b.ID) })
	for _, it := range items {
		if !fn(it) {
			return nil
		}
	}
	return nil
}

// itemsByID reads the items with the given ids that exist, by id.
func (s *Store) itemsByID(ctx context.Context, ids []string) (map[string]vstore.Item, error) {
	out := map[string]vstore.Item{}
	const chunkLen = 1000
	for start := 0; start < len(ids); start += chunkLen {
		chunk := ids[start:min(start+chunkLen, len(ids))]
		uuids := make([]string, len(chunk))
		for i, id := range chunk {
			uuids[i] = itemUUID(id)
		}
		objs, err := s.getWhere(ctx, s.itemsClass, whereAny("id", uuids), "itemId data", len(chunk), false)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			it, err := decodeItem(o.Properties)
			if err != nil {
				return nil, err
			}
			if slices.Contains(chunk, it.ID) {
				out[it.ID] = it
			}
		}
	}
	return out, nil
}
