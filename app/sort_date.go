package app

import (
	"cmp"
	"context"
	"slices"

	"imglish/vstore"
)

// Date order (sort=date) shows the hits relevant to the query, newest first.
const (
	// MaxRelevant caps the relevant set: its MaxRelevant most relevant hits
	// are kept and the response says truncated.
	MaxRelevant = 1000
	// DateCut places the auto-cut between the mean score of the items the
	// filter keeps (0) and the best hit's score (1): without min_score a hit
	// is relevant when its score ≥ mean + DateCut·(best − mean). Measured
	// from both ends of the query's own score curve, it does not depend on
	// a model's score scale (the demo model's cosines span about −0.5…0.9,
	// a photo model's a much narrower band). On the demo scenes 0.75 keeps
	// "a red star"'s red stars, crosses and triangles and no red square; 0.8
	// kept only one or two hits for some queries, 0.7 let red squares in.
	DateCut = 0.75
	// dateScanK bounds the hits a later date page fetches: the relevant set
	// plus the items added since page 1 that joined it (the index's limit).
	dateScanK = 1 << 20
)

// searchByDate serves a sort=date page.
//
// The relevant set is chosen on page 1 by an exact scan: the hits with
// score ≥ min_score when it is given, otherwise the auto-cut (DateCut);
// at most the MaxRelevant most relevant of them (then the response, and
// every later page, says truncated). Its least relevant member (score, id)
// goes into the cursor as the cut, so every later page recomputes the same
// set exactly — every item sorting at or before the cut in relevance order
// — and pages it newest first, by (date desc, id asc) after the cursor's
// (date, id), until it is exhausted. An item added between pages joins the
// set when it scores above the cut and is served when its date sorts after
// the cursor; a deleted one vanishes; none repeats, none is skipped (every
// page scores with page 1's query vector, carried in the cursor, so the cut
// keeps its own score).
func (a *App) searchByDate(ctx context.Context, req SearchRequest, sf *vstore.Filter, q []float32, cur *cursor, qh [12]byte, resp SearchResponse) (SearchResponse, error) {
	var (
		hits []Hit
		err  error
		next = cursor{query: qh, page: 1, flags: cursorDate, vec: q}
	)
	if cur == nil {
		if hits, err = a.cat.Search(ctx, q, MaxRelevant+1, sf, SearchPage{Exact: true}); err != nil {
			return resp, err
		}
		// The relevant set is a prefix of hits (relevance order) down to floor.
		floor := float32(0)
		if req.MinScore != nil {
			floor = *req.MinScore
		} else if len(hits) > 0 {
			mean, err := a.cat.MeanScore(ctx, q, sf)
			if err != nil {
				return resp, err
			}
			floor = float32(mean + DateCut*(float64(hits[0].Score)-mean))
		}
		n := 0
		for n < len(hits) && hits[n].Score >= floor {
			n++
		}
		if n == 0 {
			return resp, nil
		}
		if n > MaxRelevant {
			n = MaxRelevant
			next.flags |= cursorTruncated
		}
		hits = hits[:n]
		next.cut = Hit{ID: hits[n-1].ID, Score: hits[n-1].Score}
	} else {
		next.page, next.flags, next.cut = cur.page+1, cur.flags, cur.cut
		if hits, err = a.cat.Search(ctx, q, dateScanK, sf, SearchPage{Exact: true, Until: &cur.cut}); err != nil {
			return resp, err
		}
	}
	resp.Truncated = next.flags&cursorTruncated != 0
	slices.SortFunc(hits, func(a, b Hit) int {
		if c := b.Item.Date().Compare(a.Item.Date()); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if cur != nil {
		hits = slices.DeleteFunc(hits, func(h Hit) bool {
			c := h.Item.Date().Compare(cur.date)
			return c > 0 || (c == 0 && h.ID <= cur.id)
		})
	}
	more := len(hits) > req.K
	if more {
		hits = hits[:req.K]
	}
	for _, h := range hits {
		resp.Hits = append(resp.Hits, imageHit(h))
	}
	if more {
		last := hits[len(hits)-1]
		next.date, next.id = last.Item.Date(), last.ID
		resp.NextCursor = next.encode()
	}
	return resp, nil
}
