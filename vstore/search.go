package vstore

import "imglish/search"

// Hit is a search result: an item (or text) id and its cosine similarity.
// Results are ordered by score descending, then id ascending (Hit.Before).
// It is package search's type, so the embedded store hands its index's
// hits through without copying.
type Hit = search.Hit

// SearchOptions tune Store.Search. The zero value: the engine's default
// ef, no filter, no cursor, approximate search where it pays.
type SearchOptions struct {
	// Ef is the candidate list size of an approximate search (raised to
	// k); 0 = the engine's default. Engines without one ignore it.
	Ef int
	// Filter restricts results (nil or zero = all items). A text
	// collection takes only IDs (anything else: ErrInvalid).
	Filter *Filter
	// After is a cursor: only hits sorting strictly after it are returned.
	// For stable pages while items are added, pass the last hit of the
	// previous page; each page is then the k best items after the cursor.
	// An approximate search may skip a hit whose rank falls on a page it
	// missed, so only Exact pages enumerate a ranking completely.
	After *Hit
	// Until keeps only hits sorting at or before it: the lower end of a
	// set of the ranking fixed earlier, so items added since can join it
	// but none of its members drop out.
	Until *Hit
	// Exclude drops the ids it reports true (e.g. the hits an approximate
	// first page served, so that exact pages after it enumerate the rest
	// exactly once). It must be cheap and must not call into the Store.
	Exclude func(id string) bool
	// Exact compares the query with every (matching) vector: the
	// reference answer.
	Exact bool
}

// TextEntry is one entry of a text collection.
type TextEntry struct {
	ID     string    `json:"id"`
	Text   string    `json:"text"`
	Vector []float32 `json:"-"`
}

// ItemHit is a hit in an image space with its item.
type ItemHit struct {
	Hit
	Item Item
}

// TextHit is a hit in a text collection, with its text.
type TextHit struct {
	Hit
	Text string `json:"text"`
}
