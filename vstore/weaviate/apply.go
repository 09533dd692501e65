package weaviate

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"

	"imglish/vstore"
)

type vecKey struct{ space, id string }

// plan is a validated batch reduced to its final effect: what to delete
// and what to write, in the order Apply sends it.
type plan struct {
	vecDeletes  map[string][]string // class → object ids
	itemDeletes []string            // object ids
	puts        []object            // items, then vectors and texts, then refreshed vectors
	valDeletes  map[string][]string // class → object ids
}

// Apply validates the whole batch against the store (spaces, kinds,
// dimensions, items of vectors) before it writes anything, so an invalid
// batch changes nothing. It then writes, in this order: vector and text
// deletions, item deletions, item puts, vector and text puts (an item put
// also rewrites the item's objects in the spaces where it has a vector,
// which carry its filter fields), values and blobs. Each request is
// retried with backoff on the next node, and Apply returns nil only when
// Weaviate acknowledged every object at the store's consistency level.
//
// Weaviate has no transactions: a batch that fails while it writes (a
// node down past every retry) leaves the writes made so far visible.
// Every write is idempotent, so applying the same batch again completes
// it; the vector deletions come before the item deletions so that a
// search never returns a hit whose item is gone.
func (s *Store) Apply(ctx context.Context, b *vstore.Batch) error {
	if err := s.usable(); err != nil {
		return err
	}
	if err := b.Err(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	p, err := s.plan(ctx, b)
	if err != nil {
		return err
	}
	for _, class := range slices.Sorted(maps.Keys(p.vecDeletes)) {
		if err := s.deleteIDs(ctx, class, p.vecDeletes[class]); err != nil {
			return err
		}
	}
	if err := s.deleteIDs(ctx, s.itemsClass, p.itemDeletes); err != nil {
		return err
	}
	if err := s.putObjects(ctx, p.puts); err != nil {
		return err
	}
	for _, class := range slices.Sorted(maps.Keys(p.valDeletes)) {
		if err := s.deleteIDs(ctx, class, p.valDeletes[class]); err != nil {
			return err
		}
	}
	return nil
}

// plan resolves b against the store: it fails with ErrNotFound or
// ErrInvalid (and writes nothing) for a missing space, an operation of the
// wrong kind, a vector of the wrong dimension or a vector whose item will
// not exist.
func (s *Store) plan(ctx context.Context, b *vstore.Batch) (*plan, error) {
	// Items: the last operation on an id wins; any delete drops the item's
	// vectors in every image space (a later put in the batch adds back
	// only the vectors the batch puts).
	final := map[string]*vstore.Item{}
	deleted := map[string]bool{}
	var order []string
	for _, op := range b.Items() {
		if _, ok := final[op.ID]; !ok {
			order = append(order, op.ID)
		}
		final[op.ID] = op.Item
		if op.Item == nil {
			deleted[op.ID] = true
		}
	}
	// Vectors: the last operation on (space, id) wins.
	vecs := map[vecKey]vstore.VectorOp{}
	var vorder []vecKey
	spaces := map[string]spaceInfo{}
	for _, op := range b.Vectors() {
		sp, ok := spaces[op.Space]
		if !ok {
			var err error
			if sp, err = s.space(ctx, op.Space); err != nil {
				return nil, err
			}
			spaces[op.Space] = sp
		}
		if op.IsText != (sp.Kind == vstore.KindTexts) {
			return nil, fmt.Errorf("%s operation on %s space %s: %w", map[bool]string{true: "text", false: "vector"}[op.IsText], sp.Kind, sp.Name, vstore.ErrInvalid)
		}
		if op.Vector != nil && len(op.Vector) != sp.Dim {
			return nil, fmt.Errorf("vector %s/%s has %d dims, space has %d: %w: %w", op.Space, op.ID, len(op.Vector), sp.Dim, vstore.ErrInvalid, vstore.ErrDimension)
		}
		k := vecKey{op.Space, op.ID}
		if _, ok := vecs[k]; !ok {
			vorder = append(vorder, k)
		}
		vecs[k] = op
	}
	// The items of image vectors: those the batch puts, else stored ones.
	var missing []string
	for _, k := range vorder {
		op := vecs[k]
		if op.IsText || op.Vector == nil {
			continue
		}
		if it, ok := final[op.ID]; ok {
			if it == nil {
				return nil, fmt.Errorf("vector %s/%s: item deleted in the batch: %w", op.Space, op.ID, vstore.ErrNotFound)
			}
			continue
		}
		missing = append(missing, op.ID)
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	stored, err := s.itemsByID(ctx, missing)
	if err != nil {
		return nil, err
	}
	for _, id := range missing {
		if _, ok := stored[id]; !ok {
			return nil, fmt.Errorf("vector of item %s: %w", id, vstore.ErrNotFound)
		}
	}
	itemOf := func(id string) *vstore.Item {
		if it, ok := final[id]; ok {
			return it
		}
		it := stored[id]
		return &it
	}

	p := &plan{vecDeletes: map[string][]string{}, valDeletes: map[string][]string{}}
	// Item objects.
	propsOf := map[string]props{}
	for _, id := range order {
		it := final[id]
		if it == nil {
			p.itemDeletes = append(p.itemDeletes, itemUUID(id))
			continue
		}
		pr, err := itemProps(it)
		if err != nil {
			return nil, err
		}
		propsOf[id] = pr
		p.puts = append(p.puts, object{Class: s.itemsClass, ID: itemUUID(id), Properties: pr})
	}
	// Every image space loses the vectors of deleted items (unless the
	// batch puts one back there).
	// Read the spaces from the schema, not the cache: another store may
	// have created one that holds these items.
	var all map[string]spaceInfo
	if len(deleted) > 0 || len(propsOf) > 0 {
		if all, err = s.loadSpaces(ctx); err != nil {
			return nil, err
		}
	}
	for _, sp := range all {
		if sp.Kind != vstore.KindImages {
			continue
		}
		for id := range deleted {
			if op, ok := vecs[vecKey{sp.Name, id}]; !ok || op.Vector == nil {
				p.vecDeletes[sp.class] = append(p.vecDeletes[sp.class], itemUUID(id))
			}
		}
	}
	// Vector and text puts and deletes.
	for _, k := range vorder {
		op := vecs[k]
		sp := spaces[op.Space]
		switch {
		case op.Vector == nil && op.IsText:
			p.vecDeletes[sp.class] = append(p.vecDeletes[sp.class], textUUID(op.ID))
		case op.Vector == nil:
			p.vecDeletes[sp.class] = append(p.vecDeletes[sp.class], itemUUID(op.ID))
		case op.IsText:
			p.puts = append(p.puts, object{Class: sp.class, ID: textUUID(op.ID), Vector: normalise(op.Vector),
				Properties: props{TextID: op.ID, Text: op.Text}})
		default:
			pr, ok := propsOf[op.ID]
			if !ok {
				if pr, err = itemProps(itemOf(op.ID)); err != nil {
					return nil, err
				}
			}
			p.puts = append(p.puts, object{Class: sp.class, ID: itemUUID(op.ID), Vector: normalise(op.Vector), Properties: pr})
		}
	}
	// Items put without a new vector in a space where they have one: the
	// object there carries the old filter fields, so it is rewritten with
	// its vector.
	for _, sp := range all {
		if sp.Kind != vstore.KindImages {
			continue
		}
		var ids []string
		for id := range propsOf {
			if _, ok := vecs[vecKey{sp.Name, id}]; !ok && !deleted[id] {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for start := 0; start < len(ids); start += 1000 {
			chunk := ids[start:min(start+1000, len(ids))]
			uuids := make([]string, len(chunk))
			for i, id := range chunk {
				uuids[i] = itemUUID(id)
			}
			objs, err := s.getWhere(ctx, sp.class, whereAny("id", uuids), "itemId", len(chunk), true)
			if errors.Is(err, errNotFoundStatus) {
				break // dropped meanwhile
			}
			if err != nil {
				return nil, err
			}
			for _, o := range objs {
				pr, ok := propsOf[o.Properties.ItemID]
				if !ok || o.ID != itemUUID(o.Properties.ItemID) || len(o.Vector) != sp.Dim {
					continue
				}
				p.puts = append(p.puts, object{Class: sp.class, ID: itemUUID(o.Properties.ItemID), Vector: o.Vector, Properties: pr})
			}
		}
	}
	// Values and blobs: the last operation on a key wins.
	type valKey struct {
		blob bool
		key  string
	}
	vals := map[valKey]vstore.ValueOp{}
	var valOrder []valKey
	for _, op := range b.Values() {
		k := valKey{op.Blob, op.Key}
		if _, ok := vals[k]; !ok {
			valOrder = append(valOrder, k)
		}
		vals[k] = op
	}
	for _, k := range valOrder {
		op := vals[k]
		class := s.valuesClass
		if op.Blob {
			class = s.blobsClass
		}
		if op.Value == nil {
			p.valDeletes[class] = append(p.valDeletes[class], keyUUID(op.Key))
			continue
		}
		p.puts = append(p.puts, object{Class: class, ID: keyUUID(op.Key),
			Properties: props{Key: op.Key, Data: base64.StdEncoding.EncodeToString(op.Value)}})
	}
	return p, nil
}
