package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// Search limits.
const (
	defaultK = 20
	maxK     = 200
	maxTerms = 16
)

// QueryTerm is one part of a query; exactly one of Text, Image (base64),
// ImageID, Vector is set. Weight defaults to 1; negative weights subtract.
type QueryTerm struct {
	Text    string    `json:"text,omitempty"`
	Image   string    `json:"image,omitempty"`
	ImageID string    `json:"image_id,omitempty"`
	Vector  []float32 `json:"vector,omitempty"`
	Weight  *float64  `json:"weight,omitempty"`

	imageBytes []byte
}

// SearchRequest is the body of POST /v1/search. Text, Image and ImageID are
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

// SearchHit is one result of POST /v1/search: an image (with thumbnail and
// original URLs and metadata) or, for target texts, a text.
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

func (s *Server) handleSearch(c *gin.Context) {
	start := time.Now()
	if err := s.ready(); err != nil {
		s.writeError(c, err)
		return
	}
	req, err := s.readSearch(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	resp, err := s.search(c.Request.Context(), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	resp.TookMS = float64(time.Since(start).Microseconds()) / 1000
	c.JSON(http.StatusOK, resp)
}

// Search runs a search as POST /v1/search does (for in-process callers such
// as `imglish search` on a local store). It is safe for concurrent use.
func (s *Server) Search(ctx context.Context, req SearchRequest) (SearchResponse, error) {
	if err := s.ready(); err != nil {
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
	return s.search(ctx, req)
}

// readSearch parses JSON, or multipart with a "query" JSON field and "image" files.
func (s *Server) readSearch(c *gin.Context) (SearchRequest, error) {
	var req SearchRequest
	kind, err := bodyKind(c)
	if err != nil {
		return req, err
	}
	switch kind {
	case "json":
		if err := decodeJSON(c.Request.Body, &req); err != nil {
			return req, err
		}
	case "multipart":
		files, err := s.multipartFiles(c, "image")
		if err != nil {
			return req, err
		}
		if q := formValue(c, "query"); q != "" {
			if err := decodeJSON(strings.NewReader(q), &req); err != nil {
				return req, fmt.Errorf("form field %q: %w", "query", err)
			}
		}
		if t := formValue(c, "text"); t != "" {
			req.Query = append(req.Query, QueryTerm{Text: t})
		}
		w := 1.0
		if v := formValue(c, "image_weight"); v != "" {
			if w, err = strconv.ParseFloat(v, 64); err != nil {
				return req, fmt.Errorf("%w: form field %q: expected a number, got %q", ErrBadRequest, "image_weight", v)
			}
		}
		for _, f := range files {
			req.Query = append(req.Query, QueryTerm{imageBytes: f, Weight: &w})
		}
	default:
		return req, fmt.Errorf("%w: search takes application/json or multipart/form-data", ErrUnsupportedType)
	}
	if req.Text != "" {
		req.Query = append(req.Query, QueryTerm{Text: req.Text})
	}
	if req.Image != "" {
		req.Query = append(req.Query, QueryTerm{Image: req.Image})
	}
	if req.ImageID != "" {
		req.Query = append(req.Query, QueryTerm{ImageID: req.ImageID})
	}
	return req, validateSearch(&req)
}

func validateSearch(req *SearchRequest) error {
	switch {
	case len(req.Query) == 0:
		return fmt.Errorf("%w: the query has no terms (give text, image, image_id or vector)", ErrBadRequest)
	case len(req.Query) > maxTerms:
		return fmt.Errorf("%w: at most %d query terms", ErrBadRequest, maxTerms)
	case req.K < 0 || req.K > maxK:
		return fmt.Errorf("%w: k must be within 1..%d", ErrBadRequest, maxK)
	}
	if req.K == 0 {
		req.K = defaultK
	}
	switch req.Sort {
	case "", "relevance", "date":
	default:
		return fmt.Errorf("%w: sort must be relevance or date", ErrBadRequest)
	}
	switch req.Target {
	case "", "images":
		if req.Collection != "" {
			return fmt.Errorf("%w: collection needs target \"texts\"", ErrBadRequest)
		}
	case "texts":
		if err := validName("collection", req.Collection); err != nil {
			return err
		}
		if req.Sort == "date" {
			return fmt.Errorf("%w: text collections sort by relevance only", ErrBadRequest)
		}
	default:
		return fmt.Errorf("%w: target must be images or texts", ErrBadRequest)
	}
	if req.MinScore != nil && (math.IsNaN(float64(*req.MinScore)) || *req.MinScore < -1 || *req.MinScore > 1) {
		return fmt.Errorf("%w: min_score must be within -1..1", ErrBadRequest)
	}
	for i, t := range req.Query {
		n := 0
		for _, set := range []bool{t.Text != "", t.Image != "", t.ImageID != "", t.Vector != nil, t.imageBytes != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%w: query term %d must have exactly one of text, image, image_id, vector", ErrBadRequest, i+1)
		}
		if len(t.Text) > maxTextLen {
			return fmt.Errorf("%w: query term %d: text longer than %d bytes", ErrBadRequest, i+1, maxTextLen)
		}
		if t.Weight != nil && (math.IsNaN(*t.Weight) || math.IsInf(*t.Weight, 0) || math.Abs(*t.Weight) > 100) {
			return fmt.Errorf("%w: query term %d: weight must be finite and within ±100", ErrBadRequest, i+1)
		}
		if t.ImageID != "" {
			if err := validName("image_id", t.ImageID); err != nil {
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
		if terms[i].imageBytes != nil {
			sum := sha256.Sum256(terms[i].imageBytes)
			terms[i].Image = "sha256:" + base64.RawStdEncoding.EncodeToString(sum[:])
		}
	}
	_ = json.NewEncoder(h).Encode([]any{terms, req.Target, req.Collection, req.Filter, req.MinScore, req.Sort, req.K})
	return [12]byte(h.Sum(nil)[:12])
}

// queryVector embeds every term, sums them with their weights and normalises:
// "beach" + photo − 0.5·"people" is a single unit vector.
func (s *Server) queryVector(ctx context.Context, terms []QueryTerm) ([]float32, error) {
	dim := s.deps.Encoder.Info().Dim
	sum := make([]float64, dim)
	for i, t := range terms {
		v, err := s.termVector(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("query term %d: %w", i+1, err)
		}
		if len(v) != dim {
			return nil, fmt.Errorf("%w: query term %d has %d dimensions, the model has %d", ErrBadRequest, i+1, len(v), dim)
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

func normalize(sum []float64) ([]float32, error) {
	var norm float64
	for _, x := range sum {
		norm += x * x
	}
	norm = math.Sqrt(norm)
	if norm < 1e-9 || math.IsNaN(norm) || math.IsInf(norm, 0) {
		return nil, fmt.Errorf("%w: the weighted query terms cancel out (zero vector)", ErrBadRequest)
	}
	out := make([]float32, len(sum))
	for i, x := range sum {
		out[i] = float32(x / norm)
	}
	return out, nil
}

func (s *Server) termVector(ctx context.Context, t QueryTerm) ([]float32, error) {
	switch {
	case t.Text != "":
		return s.texts.Do(ctx, t.Text)
	case t.ImageID != "":
		return s.deps.Catalog.Vector(ctx, t.ImageID)
	case t.Vector != nil:
		for _, x := range t.Vector {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("%w: vector has a non-finite component", ErrBadRequest)
			}
		}
		return t.Vector, nil
	case t.Image != "":
		b, err := decodeBase64(t.Image)
		if err != nil {
			return nil, err
		}
		return s.embedImage(ctx, b)
	case t.imageBytes != nil:
		return s.embedImage(ctx, t.imageBytes)
	default:
		return nil, fmt.Errorf("%w: empty query term", ErrBadRequest)
	}
}

// embedImage decodes and preprocesses one image in the request goroutine and
// embeds it through the coalescer.
func (s *Server) embedImage(ctx context.Context, data []byte) ([]float32, error) {
	px, err := s.deps.Encoder.PrepareImage(ctx, data, s.opts.MaxPixels)
	if err != nil {
		return nil, err
	}
	return s.images.Do(ctx, px)
}

func (s *Server) search(ctx context.Context, req SearchRequest) (SearchResponse, error) {
	resp := SearchResponse{Hits: []SearchHit{}, Model: s.deps.Encoder.Info().ID}
	qh := queryHash(req)
	req.Filter = s.resolveFilter(req.Filter)
	var cur *cursor
	if req.Cursor != "" {
		var err error
		if cur, err = decodeCursor(req.Cursor, qh); err != nil {
			return resp, err
		}
		if (cur.flags&cursorDate != 0) != (req.Sort == "date") {
			return resp, fmt.Errorf("%w: invalid cursor", ErrBadRequest)
		}
	}
	q, err := s.pageVector(ctx, req.Query, cur)
	if err != nil {
		return resp, err
	}
	switch {
	case req.Target == "texts":
		return s.searchTexts(ctx, req, q, cur, qh, resp)
	case req.Sort == "date":
		return s.searchByDate(ctx, req, q, cur, qh, resp)
	}
	hits, err := fetchPage(cur, req.K, req.MinScore, func(h Hit) float32 { return h.Score }, func(p SearchPage) ([]Hit, error) {
		return s.deps.Catalog.Search(ctx, q, req.K+1, req.Filter, p)
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
func (s *Server) pageVector(ctx context.Context, terms []QueryTerm, cur *cursor) ([]float32, error) {
	if cur == nil {
		return s.queryVector(ctx, terms)
	}
	if len(cur.vec) != s.deps.Encoder.Info().Dim {
		return nil, fmt.Errorf("%w: invalid cursor", ErrBadRequest)
	}
	return cur.vec, nil
}

func imageHit(h Hit) SearchHit {
	it := h.Item
	return SearchHit{
		ID: h.ID, Score: h.Score, Path: it.Path, Metadata: &it,
		ThumbnailURL: "/v1/items/" + h.ID + "/thumbnail",
		OriginalURL:  "/v1/items/" + h.ID + "/original",
	}
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

func (s *Server) searchTexts(ctx context.Context, req SearchRequest, q []float32, cur *cursor, qh [12]byte, resp SearchResponse) (SearchResponse, error) {
	hits, err := fetchPage(cur, req.K, req.MinScore, func(h TextHit) float32 { return h.Score }, func(p SearchPage) ([]TextHit, error) {
		return s.deps.Catalog.SearchTexts(ctx, req.Collection, q, req.K+1, p)
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
