package weaviate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"imglish/vstore"
)

// cand is one candidate hit with what it carries.
type cand struct {
	hit  vstore.Hit
	item vstore.Item // image spaces
	text string      // text collections
}

// Search returns the k best hits of a space (see vstore.Store.Search).
func (s *Store) Search(ctx context.Context, space string, query []float32, k int, opts vstore.SearchOptions) ([]vstore.Hit, error) {
	cs, _, err := s.search(ctx, space, query, k, opts, "")
	if err != nil {
		return nil, err
	}
	out := make([]vstore.Hit, len(cs))
	for i, c := range cs {
		out[i] = c.hit
	}
	return out, nil
}

// SearchItems is Search on an image space with each hit's item, as stored
// in the space's object that the hit came from.
func (s *Store) SearchItems(ctx context.Context, space string, query []float32, k int, opts vstore.SearchOptions) ([]vstore.ItemHit, error) {
	cs, _, err := s.search(ctx, space, query, k, opts, vstore.KindImages)
	if err != nil {
		return nil, err
	}
	out := make([]vstore.ItemHit, len(cs))
	for i, c := range cs {
		out[i] = vstore.ItemHit{Hit: c.hit, Item: c.item}
	}
	return out, nil
}

// SearchTexts is Search on a text collection with each hit's text.
func (s *Store) SearchTexts(ctx context.Context, collection string, query []float32, k int, opts vstore.SearchOptions) ([]vstore.TextHit, error) {
	cs, _, err := s.search(ctx, collection, query, k, opts, vstore.KindTexts)
	if err != nil {
		return nil, err
	}
	out := make([]vstore.TextHit, len(cs))
	for i, c := range cs {
		out[i] = vstore.TextHit{Hit: c.hit, Text: c.text}
	}
	return out, nil
}

// query checks a query against a space: the space exists (and is of kind
// when kind is set), the query has its dimension and can be normalised.
func (s *Store) query(ctx context.Context, name string, query []float32, kind vstore.SpaceKind) (spaceInfo, []float32, error) {
	if err := s.usable(); err != nil {
		return spaceInfo{}, nil, err
	}
	sp, err := s.space(ctx, name)
	if err != nil {
		return spaceInfo{}, nil, err
	}
	if kind != "" && sp.Kind != kind {
		return spaceInfo{}, nil, fmt.Errorf("space %s is a %s space: %w", name, sp.Kind, vstore.ErrInvalid)
	}
	if len(query) != sp.Dim {
		return spaceInfo{}, nil, fmt.Errorf("query of %d dims, space %s has %d: %w: %w", len(query), name, sp.Dim, vstore.ErrInvalid, vstore.ErrDimension)
	}
	if err := vstore.CheckVector(query); err != nil {
		return spaceInfo{}, nil, fmt.Errorf("query: %w", err)
	}
	return sp, normalise(query), nil
}

// search runs a search and returns the k best candidates in hit order.
//
// Exact searches (and approximate ones that cannot gather k hits within
// MaxResults neighbours) read every object of the space with its vector
// (a cursor scan) and score them here: O(objects) per call. Approximate
// searches ask Weaviate's HNSW for the nearest neighbours under a where
// filter that selects a superset of the filter's matches, and widen the
// request until k hits remain after the exact filter, the cursor and
// Exclude, which are applied here (Weaviate cannot page by score).
//
// The exact path, and an approximate search with After or Until, score
// here from the returned vectors in float64, so a cursor's boundary and
// the hits it bounds are scored alike. An approximate search without a
// cursor (the app's page 1; its later pages are exact scans) takes
// 1 − Weaviate's cosine distance and asks for no vectors: transferring
// and decoding every neighbour's vector was most of such a search's time.
// The two scores agree to float32 rounding, and ties sort by id either way.
func (s *Store) search(ctx context.Context, name string, query []float32, k int, opts vstore.SearchOptions, kind vstore.SpaceKind) ([]cand, spaceInfo, error) {
	sp, q, err := s.query(ctx, name, query, kind)
	if err != nil {
		return nil, spaceInfo{}, err
	}
	if k < 1 {
		return nil, sp, fmt.Errorf("k = %d: %w", k, vstore.ErrInvalid)
	}
	f := opts.Filter
	if sp.Kind == vstore.KindTexts && !f.Empty() && !f.OnlyIDs() {
		return nil, sp, fmt.Errorf("text collection %s takes only an ids filter: %w", name, vstore.ErrInvalid)
	}
	if f != nil && f.IDs != nil && len(f.IDs) == 0 {
		return nil, sp, nil
	}
	accept := func(o object) (cand, bool, error) {
		c := cand{hit: vstore.Hit{Score: score(q, o)}}
		if sp.Kind == vstore.KindTexts {
			c.hit.ID, c.text = o.Properties.TextID, o.Properties.Text
			if o.ID != textUUID(c.hit.ID) || (f != nil && f.IDs != nil && !slices.Contains(f.IDs, c.hit.ID)) {
				return c, false, nil
			}
		} else {
			it, err := decodeItem(o.Properties)
			if err != nil {
				return c, false, err
			}
			c.hit.ID, c.item = it.ID, it
			if o.ID != itemUUID(it.ID) || !f.Match(&it) {
				return c, false, nil
			}
		}
		if (o.Distance == nil && len(o.Vector) != len(q)) ||
			(opts.Exclude != nil && opts.Exclude(c.hit.ID)) ||
			(opts.After != nil && !opts.After.Before(c.hit)) ||
			(opts.Until != nil && opts.Until.Before(c.hit)) {
			return c, false, nil
		}
		return c, true, nil
	}
	if !opts.Exact {
		// A cursor's boundaries come from exact scores (a later page is
		// an exact scan), so a search with one scores from the vectors;
		// one without takes Weaviate's distance.
		vectors := opts.After != nil || opts.Until != nil
		cs, ok, err := s.nearest(ctx, sp, q, k, filterWhere(f, sp.Kind), vectors, accept)
		if err != nil || ok {
			if errors.Is(err, errNotFoundStatus) {
				s.forget(name)
				return nil, sp, fmt.Errorf("space %s: %w", name, vstore.ErrNotFound)
			}
			return cs, sp, err
		}
	}
	var cs []cand
	err = s.scan(ctx, sp.class, true, func(o object) error {
		c, ok, err := accept(o)
		if ok {
			cs = append(cs, c)
		}
		return err
	})
	if errors.Is(err, errNotFoundStatus) {
		s.forget(name)
		return nil, sp, fmt.Errorf("space %s: %w", name, vstore.ErrNotFound)
	}
	if err != nil {
		return nil, sp, err
	}
	return top(cs, k), sp, nil
}

// score is o's similarity to the normalised query q: 1 − the cosine
// distance Weaviate returned with o when it did, else the dot product
// with o's vector in float64. Weaviate's distance is float32 1 − dot on
// normalised vectors, so the two agree to float32 rounding over the
// dimensions (well within 1e-5 of the embedded store's score).
func score(q []float32, o object) float32 {
	if o.Distance != nil {
		return float32(1 - float64(*o.Distance))
	}
	return float32(dot(q, o.Vector))
}

// top sorts cs in hit order and keeps the first k.
func top(cs []cand, k int) []cand {
	slices.SortFunc(cs, func(a, b cand) int {
		switch {
		case a.hit.Before(b.hit):
			return -1
		case b.hit.Before(a.hit):
			return 1
		}
		return 0
	})
	return cs[:min(k, len(cs))]
}

// nearest asks Weaviate for growing numbers of neighbours until k of them
// pass accept. vectors asks for each neighbour's vector (scored here),
// else for its distance (see score); the tie rule below works on either.
// ok is false when MaxResults neighbours were not enough (the caller then
// scans exactly).
func (s *Store) nearest(ctx context.Context, sp spaceInfo, q []float32, k int, where string, vectors bool, accept func(object) (cand, bool, error)) ([]cand, bool, error) {
	vec, err := json.Marshal(q)
	if err != nil {
		return nil, false, err
	}
	fields := "itemId data"
	if sp.Kind == vstore.KindTexts {
		fields = "textId text"
	}
	if vectors {
		fields += " _additional { id vector }"
	} else {
		fields += " _additional { id distance }"
	}
	limit := min(2*k+16, s.opts.MaxResults)
	for {
		args := fmt.Sprintf("limit: %d, nearVector: {vector: %s}", limit, vec)
		if where != "" {
			args += ", where: " + where
		}
		if s.replicated {
			args += ", consistencyLevel: " + s.cl
		}
		objs, err := s.get(ctx, sp.class, args, fields)
		if err != nil {
			return nil, false, err
		}
		exhausted := len(objs) < limit
		var cs []cand
		low := float32(2)
		for _, o := range objs {
			c, ok, err := accept(o)
			if err != nil {
				return nil, false, err
			}
			low = min(low, c.hit.Score)
			if ok {
				cs = append(cs, c)
			}
		}
		if !exhausted {
			// Neighbours tied with the last one returned may have been
			// cut off; only those scoring above it are certain.
			cs = slices.DeleteFunc(cs, func(c cand) bool { return c.hit.Score <= low })
		}
		if exhausted || len(cs) >= k {
			return top(cs, k), true, nil
		}
		if limit >= s.opts.MaxResults {
			return nil, false, nil
		}
		limit = min(limit*4, s.opts.MaxResults)
	}
}

// filterWhere translates f into a GraphQL where filter that matches a
// superset of f's matches ("" when none narrows it); the exact test
// (vstore.Filter.Match) runs on every candidate. Parts Weaviate cannot
// express exactly are left out, to the exact test: values with
// surrounding white space (field tokenization trims them), empty values,
// Like's wildcards in a path prefix or camera, dates outside years 1 to
// 9999. Dates compare in nanoseconds on both sides, as Item.Date does.
func filterWhere(f *vstore.Filter, kind vstore.SpaceKind) string {
	if f == nil {
		return ""
	}
	plain := func(vals ...string) bool {
		for _, v := range vals {
			if v == "" || strings.TrimSpace(v) != v {
				return false
			}
		}
		return true
	}
	var ops []string
	if f.IDs != nil && len(f.IDs) <= 10000 {
		uuids := make([]string, len(f.IDs))
		for i, id := range f.IDs {
			if kind == vstore.KindTexts {
				uuids[i] = textUUID(id)
			} else {
				uuids[i] = itemUUID(id)
			}
		}
		ops = append(ops, whereAny("id", uuids))
	}
	if kind == vstore.KindTexts {
		return and(ops)
	}
	if len(f.PathPrefixes) > 0 && plain(f.PathPrefixes...) {
		// A folder prefix is an ancestor folder of a path (indexed
		// exactly); any other prefix is a Like on the paths.
		var folders, parts []string
		ok := true
		for _, p := range f.PathPrefixes {
			if strings.HasSuffix(p, "/") {
				folders = append(folders, p)
				continue
			}
			if strings.ContainsAny(p, "*?") {
				ok = false
				break
			}
			parts = append(parts, fmt.Sprintf(`{path: ["paths"], operator: Like, valueText: %s}`, gqlString(p+"*")))
		}
		if ok {
			if len(folders) > 0 {
				parts = append(parts, whereAny("folders", folders))
			}
			if len(parts) == 1 {
				ops = append(ops, parts[0])
			} else {
				ops = append(ops, "{operator: Or, operands: ["+strings.Join(parts, ", ")+"]}")
			}
		}
	}
	date := func(t time.Time) (string, bool) {
		t = t.UTC()
		return t.Format(time.RFC3339Nano), t.Year() > 0 && t.Year() < 10000
	}
	if d, ok := date(f.From); !f.From.IsZero() && ok {
		ops = append(ops, fmt.Sprintf(`{path: ["date"], operator: GreaterThanEqual, valueDate: %s}`, gqlString(d)))
	}
	if d, ok := date(f.To); !f.To.IsZero() && ok {
		ops = append(ops, fmt.Sprintf(`{path: ["date"], operator: LessThan, valueDate: %s}`, gqlString(d)))
	}
	if len(f.MediaTypes) > 0 && plain(f.MediaTypes...) {
		ops = append(ops, whereAny("mediaType", f.MediaTypes))
	}
	if len(f.Tags) > 0 && plain(f.Tags...) {
		ops = append(ops, fmt.Sprintf(`{path: ["tags"], operator: ContainsAll, valueText: %s}`, gqlStrings(f.Tags)))
	}
	if c := strings.ToLower(f.Camera); c != "" && plain(c) && !strings.ContainsAny(c, "*?") {
		ops = append(ops, fmt.Sprintf(`{path: ["camera"], operator: Like, valueText: %s}`, gqlString("*"+c+"*")))
	}
	return and(ops)
}

func and(ops []string) string {
	switch len(ops) {
	case 0:
		return ""
	case 1:
		return ops[0]
	}
	return "{operator: And, operands: [" + strings.Join(ops, ", ") + "]}"
}

// MeanScore returns the mean similarity of query to the items of an image
// space matching filter, exactly: it reads every vector of the space (a
// cursor scan, O(objects) per call) and scores here.
func (s *Store) MeanScore(ctx context.Context, space string, query []float32, filter *vstore.Filter) (float64, int, error) {
	sp, q, err := s.query(ctx, space, query, vstore.KindImages)
	if err != nil {
		return 0, 0, err
	}
	var sum float64
	n := 0
	err = s.scan(ctx, sp.class, true, func(o object) error {
		it, err := decodeItem(o.Properties)
		if err != nil {
			return err
		}
		if o.ID == itemUUID(it.ID) && len(o.Vector) == len(q) && filter.Match(&it) {
			sum += dot(q, normalise(o.Vector))
			n++
		}
		return nil
	})
	if errors.Is(err, errNotFoundStatus) {
		s.forget(space)
		return 0, 0, fmt.Errorf("space %s: %w", space, vstore.ErrNotFound)
	}
	if err != nil || n == 0 {
		return 0, 0, err
	}
	return sum / float64(n), n, nil
}

// Vector returns id's normalised vector in a space.
func (s *Store) Vector(space, id string) ([]float32, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	ctx, cancel := s.lookupCtx()
	defer cancel()
	sp, err := s.space(ctx, space)
	if err != nil {
		return nil, err
	}
	uuid, prop := itemUUID(id), func(p props) string { return p.ItemID }
	if sp.Kind == vstore.KindTexts {
		uuid, prop = textUUID(id), func(p props) string { return p.TextID }
	}
	o, err := s.getObject(ctx, sp.class, uuid, true)
	if errors.Is(err, errNotFoundStatus) || (err == nil && (prop(o.Properties) != id || len(o.Vector) != sp.Dim)) {
		return nil, fmt.Errorf("vector %s/%.40q: %w", space, id, vstore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("vector %s/%s: %w", space, id, err)
	}
	return normalise(o.Vector), nil
}

// Texts returns every entry of a text collection by id, without vectors
// (a cursor scan).
func (s *Store) Texts(collection string) ([]vstore.TextEntry, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	ctx, cancel := s.lookupCtx()
	defer cancel()
	sp, err := s.space(ctx, collection)
	if err != nil {
		return nil, err
	}
	if sp.Kind != vstore.KindTexts {
		return nil, fmt.Errorf("space %s is a %s space: %w", collection, sp.Kind, vstore.ErrInvalid)
	}
	var out []vstore.TextEntry
	err = s.scan(ctx, sp.class, false, func(o object) error {
		if o.ID == textUUID(o.Properties.TextID) {
			out = append(out, vstore.TextEntry{ID: o.Properties.TextID, Text: o.Properties.Text})
		}
		return nil
	})
	if errors.Is(err, errNotFoundStatus) {
		s.forget(collection)
		return nil, fmt.Errorf("space %s: %w", collection, vstore.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b vstore.TextEntry) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
