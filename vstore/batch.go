package vstore

import (
	"fmt"
	"math"
	"slices"
)

// Batch collects writes that Store.Apply applies atomically: all of them or,
// on any error, none. A Batch is not safe for concurrent use; it may be
// reused after Reset. It validates each operation as it is added (an
// invalid one makes Apply fail with ErrInvalid) and copies what it is
// given, so the caller may reuse its slices.
//
// Order: item puts and deletes apply first in call order; then, per space,
// vector removals (including those of deleted items and of keys being
// replaced) and then vector insertions. For the same (space, id) the last
// call wins; for the same value or blob key too.
//
// Implementations read the operations with Items, Vectors and Values and
// resolve them against their state: a vector for a space that does not
// exist (ErrNotFound), of the wrong dimension (ErrInvalid), a vector
// operation on a text collection or a text operation on an image space
// (ErrInvalid), an image vector whose item does not exist after the item
// operations (ErrNotFound) fail the whole batch.
type Batch struct {
	items   []ItemOp
	vecs    []VectorOp
	values  []ValueOp
	invalid error
}

// ItemOp puts (Item non-nil) or deletes (Item nil) an item. Deleting an
// item removes its vectors in every image space.
type ItemOp struct {
	ID   string
	Item *Item
}

// VectorOp puts (Vector non-nil) or deletes (Vector nil) id's vector in a
// space. Text ops (IsText) address a text collection and carry the text.
type VectorOp struct {
	Space, ID string
	Vector    []float32
	Text      string
	IsText    bool
}

// ValueOp sets (Value non-nil) or deletes (Value nil) an application
// value, or a blob when Blob is set. Values and blobs are separate key
// spaces.
type ValueOp struct {
	Key   string
	Value []byte
	Blob  bool
}

// Len returns the number of operations in the batch.
func (b *Batch) Len() int { return len(b.items) + len(b.vecs) + len(b.values) }

// Reset empties the batch.
func (b *Batch) Reset() { *b = Batch{} }

// Err returns the first invalid operation's error (ErrInvalid), or nil.
// Apply must fail with it before writing anything.
func (b *Batch) Err() error { return b.invalid }

// Items returns the item operations in call order. The slice and what it
// points to belong to the batch: read, do not modify.
func (b *Batch) Items() []ItemOp { return b.items }

// Vectors returns the vector and text operations in call order (read
// only, as Items).
func (b *Batch) Vectors() []VectorOp { return b.vecs }

// Values returns the value and blob operations in call order (read only,
// as Items).
func (b *Batch) Values() []ValueOp { return b.values }

func (b *Batch) fail(err error) {
	if b.invalid == nil {
		b.invalid = err
	}
}

// PutItem inserts or replaces an item's metadata (a copy is taken).
func (b *Batch) PutItem(it Item) {
	if err := it.Validate(); err != nil {
		b.fail(err)
		return
	}
	c := it.Clone()
	b.items = append(b.items, ItemOp{ID: it.ID, Item: &c})
}

// DeleteItem removes an item and its vectors in every image space.
func (b *Batch) DeleteItem(id string) {
	if err := ValidID(id); err != nil {
		b.fail(err)
		return
	}
	b.items = append(b.items, ItemOp{ID: id})
}

// PutVector sets item id's vector in an image space (the item must exist
// after the batch's item operations). Stores keep vectors normalised; a
// copy is taken.
func (b *Batch) PutVector(space, id string, vec []float32) {
	if err := ValidID(id); err != nil {
		b.fail(err)
		return
	}
	if err := CheckVector(vec); err != nil {
		b.fail(fmt.Errorf("vector %s/%s: %w", space, id, err))
		return
	}
	b.vecs = append(b.vecs, VectorOp{Space: space, ID: id, Vector: slices.Clone(vec)})
}

// DeleteVector removes id's vector from a space (absent: no-op).
func (b *Batch) DeleteVector(space, id string) {
	b.vecs = append(b.vecs, VectorOp{Space: space, ID: id})
}

// PutText adds or replaces an entry of a text collection (a KindTexts
// space).
func (b *Batch) PutText(collection string, e TextEntry) {
	if err := ValidID(e.ID); err != nil {
		b.fail(err)
		return
	}
	if len(e.Text) > MaxStringLen {
		b.fail(fmt.Errorf("text %s: %d bytes: %w", e.ID, len(e.Text), ErrInvalid))
		return
	}
	if err := CheckVector(e.Vector); err != nil {
		b.fail(fmt.Errorf("text %s/%s: %w", collection, e.ID, err))
		return
	}
	b.vecs = append(b.vecs, VectorOp{Space: collection, ID: e.ID, Vector: slices.Clone(e.Vector), Text: e.Text, IsText: true})
}

// DeleteText removes an entry of a text collection (absent: no-op).
func (b *Batch) DeleteText(collection, id string) {
	b.vecs = append(b.vecs, VectorOp{Space: collection, ID: id, IsText: true})
}

// SetValue stores a small application value under key (for other packages'
// state, such as the server's label sets; at most MaxValueSize bytes). nil
// deletes. A copy is taken.
func (b *Batch) SetValue(key string, val []byte) {
	if key == "" || len(key) > MaxIDLen || len(val) > MaxValueSize {
		b.fail(fmt.Errorf("value key %.40q: %w", key, ErrInvalid))
		return
	}
	if val != nil {
		val = slices.Clone(val)
	}
	b.values = append(b.values, ValueOp{Key: key, Value: val})
}

// SetBlob stores a blob (a file's bytes, such as an uploaded original; at
// most MaxBlobSize) under key; nil deletes. Blobs live apart from values:
// ScanValues does not see them. A copy is taken, with 4 bytes of spare
// capacity so an engine can append a checksum without copying again.
func (b *Batch) SetBlob(key string, data []byte) {
	if key == "" || len(key) > MaxIDLen || len(data) > MaxBlobSize {
		b.fail(fmt.Errorf("blob key %.40q (%d bytes): %w", key, len(data), ErrInvalid))
		return
	}
	var val []byte
	if data != nil {
		val = make([]byte, len(data), len(data)+4)
		copy(val, data)
	}
	b.values = append(b.values, ValueOp{Key: key, Value: val, Blob: true})
}

// CheckVector returns an ErrInvalid error for a vector that cannot be
// normalised: empty, zero, or with a NaN or Inf component.
func CheckVector(v []float32) error {
	if len(v) == 0 {
		return fmt.Errorf("empty vector: %w", ErrInvalid)
	}
	var ss float64
	for _, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return fmt.Errorf("non-finite component: %w", ErrInvalid)
		}
		ss += float64(f) * float64(f)
	}
	if ss == 0 {
		return fmt.Errorf("zero vector: %w", ErrInvalid)
	}
	return nil
}
