package indexer

import (
	"context"
	"encoding/hex"
	"errors"

	"github.com/zeebo/xxh3"

	"imglish/encoder/preprocess"
	"imglish/vstore"
)

// Hash is a file's content hash (xxh3-128, big-endian hi then lo).
type Hash [16]byte

// ContentHash is the content-id rule: the hash of a file's bytes. An
// item's id (and its Hash field) is ContentHash(data).String(), so the
// same bytes make one item whichever path, upload or writer brings them.
func ContentHash(data []byte) Hash { return Hash(xxh3.Hash128(data).Bytes()) }

// String returns the hash in hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// fileRecord is what the store knows about one path in one model's space.
type fileRecord struct {
	Path    string
	Size    int64
	ModTime int64 // unix nanoseconds
	Hash    Hash  // content; zero for an error record
	Err     string
	// Sticky marks an error record whose Err is the content's (see
	// contentError): the path is skipped until its size or mtime change.
	// Any other error record is retried on every run.
	Sticky bool
	// Limits are the limits a file refused as too large (preprocess's
	// ErrTooLarge) was refused under; nil for any other record.
	Limits *sizeLimits
	hadErr bool // an error record exists for Path (to be cleared when it indexes)
}

// sizeLimits are the decoding limits in force when a file was refused as
// too large: a later run under a larger one reads the file again.
type sizeLimits struct {
	Pixels int64 `json:"pixels"`
	Bytes  int64 `json:"bytes"`
}

// limitsOf returns the limits pre enforces when err is a refusal for size,
// else nil.
func limitsOf(err error, pre preprocess.Options) *sizeLimits {
	if !errors.Is(err, preprocess.ErrTooLarge) {
		return nil
	}
	px, by := pre.Limits()
	return &sizeLimits{Pixels: px, Bytes: by}
}

// raised reports whether pre allows more pixels or bytes than l, the limits
// a file was refused under (false for nil: not a refusal for size).
func (l *sizeLimits) raised(pre preprocess.Options) bool {
	if l == nil {
		return false
	}
	px, by := pre.Limits()
	return px > l.Pixels || by > l.Bytes
}

// unchanged reports whether the walk may skip e, whose record is rec: the
// file has the size and mtime recorded, and the record is not an error
// that may pass: neither a non-sticky one nor a refusal for size under
// lower limits than pre's (so raising --max-pixels reads again the files
// it refused).
func unchanged(rec fileRecord, e fileEntry, pre preprocess.Options) bool {
	if rec.Size != e.Size || rec.ModTime != e.ModTime {
		return false
	}
	return rec.Err == "" || rec.Sticky && !rec.Limits.raised(pre)
}

// newItem is a content hash's first vector in a space.
type newItem struct {
	Hash   Hash
	Vector []float32
	// Meta is what the image says about itself (metaOf), the item's
	// metadata as stored.
	Meta vstore.Meta
	// Tags replace the item's auto-tags when Tagged (without AutoTagPrefix).
	Tags   []string
	Tagged bool
}

// batch is one atomic, durable commit.
type batch struct {
	Items   []newItem
	Files   []fileRecord // set path → hash (or error), replacing its previous record
	Deletes []string     // paths whose records go; an item goes with its last path
	// Retags replace the auto-tags of existing items (by id), without
	// touching anything else; an item that is gone meanwhile is skipped.
	Retags map[string][]string
}

func (b *batch) empty() bool { return len(b.Items) == 0 && len(b.Files) == 0 && len(b.Deletes) == 0 }

// catalog is what the indexer needs from the store, for one model's space.
type catalog interface {
	// lookup returns the record for path.
	lookup(ctx context.Context, path string) (fileRecord, bool, error)
	// rangeFiles calls fn for each record whose path is prefix or lies below it.
	rangeFiles(ctx context.Context, prefix string, fn func(fileRecord) error) error
	// hasContent reports whether a vector for hash exists.
	hasContent(ctx context.Context, h Hash) (bool, error)
	// commit applies b in one synced transaction.
	commit(ctx context.Context, b *batch) error
	// ensureSpace creates the model's vector space if needed.
	ensureSpace(ctx context.Context, dim int) error
}
