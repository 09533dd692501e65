package vstore

import (
	"context"
	"io"
)

// Store is a vector store: items, vectors per space, text collections,
// application values and blobs. Implementations are safe for concurrent
// use (one writer at a time is enough; reads and searches run alongside)
// and pass vstoretest.Run. Errors wrap this package's sentinels.
//
// The lookups without a context (Item, ItemByPath, ItemByHash, ItemCount,
// Spaces, Texts, Vector, Value, Blob) are answered from memory by the
// embedded store; a remote implementation bounds each by its own timeout.
type Store interface {
	// Apply writes b atomically and durably (where the engine promises
	// durability, once Apply returns nil the writes survive a crash). On
	// error nothing of b is visible; an invalid b (Batch.Err) fails with
	// ErrInvalid before anything is written.
	Apply(ctx context.Context, b *Batch) error

	// CreateSpace creates a space, or succeeds when one of the same name
	// and configuration exists (ErrExists when the configuration
	// differs; ErrInvalid for a bad name, kind or dimension).
	CreateSpace(ctx context.Context, s Space) error
	// DropSpace deletes a space with its vectors and texts (ErrNotFound
	// when there is none). Items stay.
	DropSpace(ctx context.Context, name string) error
	// Spaces lists the spaces by name, with Count filled in.
	Spaces() []Space

	// Item returns a copy of the item with id (ErrNotFound).
	Item(id string) (Item, error)
	// ItemByPath returns the item one of whose files is path (ErrNotFound).
	ItemByPath(path string) (Item, error)
	// ItemByHash returns the item with content hash h (ErrNotFound).
	ItemByHash(h string) (Item, error)
	// ItemCount returns the number of items.
	ItemCount() int
	// Items calls fn with a copy of every item matching f (nil = all), in
	// id order, until fn returns false. The set is a snapshot taken at the
	// call, so fn may write to the store (Apply) without changing it.
	Items(ctx context.Context, f *Filter, fn func(Item) bool) error

	// Search returns the k items of an image space (or entries of a text
	// collection) most similar to query, best first (Hit.Before): items
	// deleted and items not matching opts.Filter never appear. Fewer than
	// k hits means the ranking (after opts.After) has no more.
	// ErrNotFound when the space does not exist; ErrInvalid for a query of
	// the wrong dimension or k < 1.
	Search(ctx context.Context, space string, query []float32, k int, opts SearchOptions) ([]Hit, error)
	// SearchItems is Search on an image space, with each hit's item as it
	// was when the hit was checked against deletes (a hit never lacks its
	// item); ErrInvalid for a text collection.
	SearchItems(ctx context.Context, space string, query []float32, k int, opts SearchOptions) ([]ItemHit, error)
	// MeanScore returns the mean similarity of query to the items of an
	// image space matching filter (nil: all) and how many there are
	// (0, 0 when none), exactly.
	MeanScore(ctx context.Context, space string, query []float32, filter *Filter) (float64, int, error)
	// Vector returns a copy of id's (normalised) vector in a space
	// (ErrNotFound when the space or the vector does not exist).
	Vector(space, id string) ([]float32, error)

	// SearchTexts is Search on a text collection, with each hit's text
	// (ErrInvalid when collection is an image space).
	SearchTexts(ctx context.Context, collection string, query []float32, k int, opts SearchOptions) ([]TextHit, error)
	// Texts returns every entry of a text collection by id, without
	// vectors.
	Texts(collection string) ([]TextEntry, error)

	// Value returns the application value under key (ErrNotFound).
	Value(key string) ([]byte, error)
	// ScanValues calls fn for every application value whose key starts
	// with prefix, in key order, until fn returns false. Blobs are not
	// values.
	ScanValues(ctx context.Context, prefix string, fn func(key string, val []byte) bool) error
	// Blob returns the blob under key (ErrNotFound).
	Blob(key string) ([]byte, error)

	// Close releases the store. It is idempotent; afterwards calls fail
	// with ErrClosed.
	Close() error
}

// Backuper is a Store that streams a consistent full backup of itself
// (restored by the implementation's own Restore). It returns the engine's
// version of the snapshot.
type Backuper interface {
	Backup(ctx context.Context, w io.Writer) (uint64, error)
}

// Checker is a Store that verifies its own invariants (ErrCorrupt-like
// failures are the implementation's).
type Checker interface {
	Check(ctx context.Context) error
}

// RecallChecker is a Store whose approximate search can be measured: the
// recall@k of a space's index against exact search on sample random
// queries at the given ef (0 = default).
type RecallChecker interface {
	RecallCheck(ctx context.Context, space string, sample, k, ef int) (float64, error)
}
