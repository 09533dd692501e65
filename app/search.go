package app

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
)

// Search limits.
const (
	defaultK = 20
	maxK     = 200
	maxTerms = 16
)

// QueryTerm is one part of a query; exactly one of Text, Image (base64),
// ImageID, Vector, ImageBytes is set. Weight defaults to 1; negative weights subtract.
type QueryTerm struct {
	Text    string    `json:"text,omitempty"`
	Image   string    `json:"image,omitempty"`
	ImageID string    `json:"image_id,omitempty"`
	Vector  []float32 `json:"vector,omitempty"`
	Weight  *float64  `json:"weight,omitempty"`

	// ImageBytes is an image given as bytes (an upload) rather than base64;
	// it is never JSON.
	ImageBytes []byte `json:"-"`
}

// SearchRequest is a search (and the body of POST /v1/search). Text, Image and ImageID are
// shortcuts for one term each. Target is "images" (default) or "texts" with
// Collection; Sort is "relevance" (default) or "date"; Cursor is the previous
// page's NextCursor.
type SearchRequest struct {
	Query      []QueryTerm `json:"query"`
	Text       string      `json:"text,omitempty"`
	Image      string      `json:"image,omitempty"`
	ImageID    string      `json:"image_id,omitempty"`
	Target     string      `json:"target,omitempty"`
	Collection string      `json:"collection,omitempty"`
	K          int         `json:"k,omitempty"`
	Filter     Filter      `json:"filter"`
	MinScore   *float32    `json:"min_score,omitempty"`
	Sort       string      `json:"sort,omitempty"`
	Cursor     string      `json:"cursor,omitempty"`
}

// SearchHit is one result: an image (with its metadata) or, for target
// texts, a text. ThumbnailURL and OriginalURL are the HTTP API's (server sets
// them); the core leaves them empty.
type SearchHit struct {
	ID           string  `json:"id"`
	Score        float32 `json:"score"`
	Path         string  `json:"path,omitempty"`
	Text         string  `json:"text,omitempty"`
	ThumbnailURL string  `json:"thumbnail_url,omitempty"`
	OriginalURL  string  `json:"original_url,omitempty"`
	Metadata     *Item   `json:"metadata,omitempty"`
}

// SearchResponse is a page of hits; NextCursor is empty on the last page.
// Truncated says that sort=date's relevant set was cut to its maxRelevant
// most relevant hits (on every page of the query).
type SearchResponse struct {
	Hits       []SearchHit `json:"hits"`
	NextCursor string      `json:"next_cursor,omitempty"`
	Truncated  bool        `json:"truncated,omitempty"`
	Model      string      `json:"model"`
	TookMS     float64     `json:"took_ms"`
}

// Search runs a search: it composes the query's terms (Text, Image and
// ImageID are shortcuts for one term each) into one unit vector, searches the
// image space (or the text collection of Target "texts") and returns the page
// the request's Cursor points at, with the cursor of the next. Hits carry no
// URLs (a transport adds its own). Errors wrap ErrInvalid for a malformed
// request, ErrNotFound for an unknown image id, ErrUnavailable without a
// catalog. It is safe for concurrent use.
func (a *App) Search(ctx context.Context, req SearchRequest) (SearchResponse, error) {
	start := time.Now()
	if err := a.ready(); err != nil {
		return SearchResponse{}, err
	}
	if req.Text != "" {
		req.Query = append(req.Query, QueryTerm{Text: req.Text})
		req.Text = ""
	}
	if req.Image != "" {
		req.Query = append(req.Query, QueryTerm{Image: req.Image})
		req.Image = ""
	}
	if req.ImageID != "" {
		req.Query = append(req.Query, QueryTerm{ImageID: req.ImageID})
		req.ImageID = ""
	}
	if err := validateSearch(&req); err != nil {
		return SearchResponse{}, err
	}
	resp, err := a.search(ctx, req)
	resp.TookMS = float64(time.Since(start).Microseconds()) / 1000
	return resp, err
}

func validateSearch(req *SearchRequest) error {
	switch {
	case len(req.Query) == 0:
		return fmt.Errorf("%w: the query has no terms (give text, image, image_id or vector)", ErrInvalid)
	case len(req.Query) > maxTerms:
		return fmt.Errorf("%w: at most %d query terms", ErrInvalid, maxTerms)
	case req.K < 0 || req.K > maxK:
		return fmt.Errorf("%w: k must be within 1..%d", ErrInvalid, maxK)
	}
	if req.K == 0 {
		req.K = defaultK
	}
	switch req.Sort {
	case "", "relevance", "date":
	default:
		return fmt.Errorf("%w: sort must be relevance or date", ErrInvalid)
	}
	switch req.Target {
	case "", "images":
		if req.Collection != "" {
			return fmt.Errorf("%w: collection needs target \"texts\"", ErrInvalid)
		}
	case "texts":
		if err := ValidName("collection", req.Collection); err != nil {
			return err
		}
		if req.Sort == "date" {
			return fmt.Errorf("%w: text collections sort by relevance only", ErrInvalid)
		}
		if f := req.Filter; f.PathPrefix != "" || !f.After.IsZero() || !f.Before.IsZero() || f.Camera != "" || f.Tags != nil || f.IDs != nil {
			return fmt.Errorf("%w: filter applies to images; a text collection takes none", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: target must be images or texts", ErrInvalid)
	}
	if req.MinScore != nil && (math.IsNaN(float64(*req.MinScore)) || *req.MinScore < -1 || *req.MinScore > 1) {
		return fmt.Errorf("%w: min_score must be within -1..1", ErrInvalid)
	}
	for i, t := range req.Query {
		n := 0
		for _, set := range []bool{t.Text != "", t.Image != "", t.ImageID != "", t.Vector != nil, t.ImageBytes != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%w: query[%d] must have exactly one of text, image, image_id, vector", ErrInvalid, i)
		}
		if len(t.Text) > MaxTextLen {
			return fmt.Errorf("%w: query[%d].text is longer than %d bytes", ErrInvalid, i, MaxTextLen)
		}
		if t.Weight != nil && (math.IsNaN(*t.Weight) || math.IsInf(*t.Weight, 0) || math.Abs(*t.Weight) > 100) {
			return fmt.Errorf("%w: query[%d].weight must be finite and within ±100", ErrInvalid, i)
		}
		if t.ImageID != "" {
			if err := ValidName("image_id", t.ImageID); err != nil {
				return err
			}
		}
	}
	return nil
}

// queryHash identifies a query for its cursors: the terms, target, filter, sort and k.
func queryHash(req SearchRequest) [12]byte {
	h := sha256.New()
	terms := make([]QueryTerm, len(req.Query))
	copy(terms, req.Query)
	for i := range terms {
		if terms[i].ImageBytes != nil {
			sum := sha256.Sum256(terms[i].ImageBytes)
			terms[i].Image = "sha256:" + base64.RawStdEncoding.EncodeToString(sum[:])
		}
	}
	_ = json.NewEncoder(h).Encode([]any{terms, req.Target, req.Collection, req.Filter, req.MinScore, req.Sort, req.K})
	return [12]byte(h.Sum(nil)[:12])
}

// QueryVector embeds every term, sums them with their weights and
// normalises: "beach" + photo − 0.5·"people" is a single unit vector. It is
// the vector page 1 of a Search with these terms searches with. Terms that
// cancel out are ErrInvalid.
func (a *App) QueryVector(ctx context.Context, terms []QueryTerm) ([]float32, error) {
	dim := a.enc.Info().Dim
	sum := make([]float64, dim)
	for i, t := range terms {
		v, err := a.termVector(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("query[%d]: %w", i, err)
		}
		if len(v) != dim {
			return nil, fmt.Errorf("%w: query[%d] has %d dimensions, the model has %d", ErrInvalid, i, len(v), dim)
		}
		w := 1.0
		if t.Weight != nil {
			w = *t.Weight
		}
		for j, x := range v {
			sum[j] += w * float64(x)
		}
	}
	return normalize(sum)
}

// imageVector is the stored vector of the indexed image id; one that is not
// indexed is ErrNotFound in the request's terms (the store's own message
// names its space and key).
func (a *App) imageVector(ctx context.Context, id string) ([]float32, error) {
	v, err := a.cat.Vector(ctx, id)
	if isNotFound(err) {
		return nil, fmt.Errorf("image_id %q: not found among the indexed images: %w", id, ErrNotFound)
	}
	return v, err
}

func (a *App) termVector(ctx context.Context, t QueryTerm) ([]float32, error) {
	switch {
	case t.Text != "":
		return a.EmbedText(ctx, t.Text)
	case t.ImageID != "":
		return a.imageVector(ctx, t.ImageID)
	case t.Vector != nil:
		for _, x := range t.Vector {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("%w: vector has a non-finite component", ErrInvalid)
			}
		}
		return t.Vector, nil
	case t.Image != "":
		b, err := DecodeBase64(t.Image)
		if err != nil {
			return nil, err
		}
		return a.EmbedImage(ctx, b)
	case t.ImageBytes != nil:
		return a.EmbedImage(ctx, t.ImageBytes)
	default:
		return nil, fmt.Errorf("%w: empty query term", ErrInvalid)
	}
}

func (a *App) search(ctx context.Context, req SearchRequest) (SearchResponse, error) {
	resp := SearchResponse{Hits: []SearchHit{}, Model: a.enc.Info().ID}
	qh := queryHash(req)
	sf := a.storeFilter(req.Filter)
	var cur *cursor
	if req.Cursor != "" {
		var err error
		if cur, err = decodeCursor(req.Cursor, qh); err != nil {
			return resp, err
		}
		if (cur.flags&cursorDate != 0) != (req.Sort == "date") {
			return resp, fmt.Errorf("%w: invalid cursor", ErrInvalid)
		}
	}
	q, err := a.pageVector(ctx, req.Query, cur)
	if err != nil {
		return resp, err
	}
	switch {
	case req.Target == "texts":
		return a.searchTexts(ctx, req, q, cur, qh, resp)
	case req.Sort == "date":
		return a.searchByDate(ctx, req, sf, q, cur, qh, resp)
	}
	hits, err := fetchPage(cur, req.K, req.MinScore, func(h Hit) float32 { return h.Score }, func(p SearchPage) ([]Hit, error) {
		return a.cat.Search(ctx, q, req.K+1, sf, p)
	})
	if err != nil {
		return resp, err
	}
	more := len(hits) > req.K
	if more {
		hits = hits[:req.K]
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		resp.Hits = append(resp.Hits, imageHit(h))
		ids[i] = h.ID
	}
	if more {
		last := hits[len(hits)-1]
		resp.NextCursor = nextRelevance(cur, qh, q, ids, last.ID, last.Score).encode()
	}
	return resp, nil
}

// pageVector is the query vector of the page after cur: page 1 embeds the
// query terms (queryVector); a later page takes page 1's vector from the
// cursor, bit for bit, so that its scores match those the cursor's bounds
// were taken from (see cursor).
func (a *App) pageVector(ctx context.Context, terms []QueryTerm, cur *cursor) ([]float32, error) {
	if cur == nil {
		return a.QueryVector(ctx, terms)
	}
	if len(cur.vec) != a.enc.Info().Dim {
		return nil, fmt.Errorf("%w: invalid cursor", ErrInvalid)
	}
	return cur.vec, nil
}

func imageHit(h Hit) SearchHit {
	it := h.Item
	return SearchHit{
		ID: h.ID, Score: h.Score, Path: it.Path, Metadata: &it}
}

// pageAfter is the part of the relevance ranking the page after cur shows
// (cur nil: page 1).
//
// Why not keyset paging alone: an approximate graph walk that applies the
// cursor as a filter can miss an item whose true rank falls on its page,
// and once the cursor has passed that item's score no later page serves it
// (paging {"text":"a red star","k":200} over 6,000 demo scenes served 5,997
// distinct items). Any approximate page followed by keyset paging has that
// hole. So only page 1, the common case, walks the graph (fast, and as good
// as the graph's recall); every later page is an exact scan in the total
// order (score desc, id asc) over the items page 1 did not serve — page 2
// from the top, page n after the last hit of page n−1. Pages 2..n thus
// enumerate everything page 1 did not serve exactly once, in order; an item
// page 1's walk missed leads page 2 (the one place the order can step
// up). Items deleted between pages vanish; items added appear when they
// sort after the cursor (page 2: anywhere); none repeats, none that
// existed when page 1 was served is skipped — given that every page
// computes the same scores, which is why later pages score with page 1's
// query vector from the cursor (pageVector) rather than embed the query
// again.
//
// Cost: an exact page scores every item the filter keeps (a filter
// restricts the scan), one dot product each, linear in items × dimensions
// (search's BenchmarkExactPage; the API doc states the figure). A walk with
// a deep cursor was no bargain either: it expands every item scoring above
// the cursor before it reaches the page.
func pageAfter(cur *cursor) SearchPage {
	if cur == nil {
		return SearchPage{}
	}
	p := SearchPage{Exact: true, Exclude: cur.excluded()}
	if cur.page >= 2 {
		p.After = &Hit{ID: cur.id, Score: cur.score}
	}
	return p
}

// fetchPage returns up to k+1 hits (those scoring at least minScore, when
// set) of the relevance page after cur, found by search. A page 1 of k hits
// or fewer ends the paging, which an approximate walk cannot vouch for: a
// filtered walk can find fewer matches than exist, and one that meets
// min_score early can have missed others above it. So a short page 1 is
// searched again by an exact scan, whose answer is the truth.
func fetchPage[H any](cur *cursor, k int, minScore *float32, score func(H) float32, search func(SearchPage) ([]H, error)) ([]H, error) {
	p := pageAfter(cur)
	for {
		hits, err := search(p)
		if err != nil {
			return nil, err
		}
		if minScore != nil {
			hits = slices.DeleteFunc(hits, func(h H) bool { return score(h) < *minScore })
		}
		if len(hits) > k || p.Exact {
			return hits, nil
		}
		p.Exact = true
	}
}

// nextRelevance is the cursor after a relevance page with query vector q
// that served ids and ended with (lastID, lastScore); cur is the page's own
// cursor (nil: page 1).
func nextRelevance(cur *cursor, query [12]byte, q []float32, ids []string, lastID string, lastScore float32) *cursor {
	if cur == nil {
		next := &cursor{query: query, page: 1, vec: q, served: make([]uint64, len(ids))}
		for i, id := range ids {
			next.served[i] = next.idHash(id)
		}
		return next
	}
	return &cursor{query: query, page: cur.page + 1, vec: q, served: cur.served, id: lastID, score: lastScore}
}

func (a *App) searchTexts(ctx context.Context, req SearchRequest, q []float32, cur *cursor, qh [12]byte, resp SearchResponse) (SearchResponse, error) {
	hits, err := fetchPage(cur, req.K, req.MinScore, func(h TextHit) float32 { return h.Score }, func(p SearchPage) ([]TextHit, error) {
		return a.cat.SearchTexts(ctx, req.Collection, q, req.K+1, p)
	})
	if err != nil {
		return resp, err
	}
	more := len(hits) > req.K
	if more {
		hits = hits[:req.K]
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		resp.Hits = append(resp.Hits, SearchHit{ID: h.ID, Score: h.Score, Text: h.Text})
		ids[i] = h.ID
	}
	if more {
		last := hits[len(hits)-1]
		resp.NextCursor = nextRelevance(cur, qh, q, ids, last.ID, last.Score).encode()
	}
	return resp, nil
}
