package app

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/zeebo/xxh3"
)

// cursorVersion is the first byte of every cursor; a cursor of another
// version is refused as invalid (the client starts again from page 1).
const cursorVersion = 3

// Cursor flags.
const (
	cursorDate      = 1 << iota // sort=date: the fields after the page are date ones
	cursorTruncated             // sort=date: the relevant set was cut at MaxRelevant
)

// maxCursorID bounds an id read from a cursor (store.MaxIDLen).
const maxCursorID = 1024

// maxCursorDim bounds the query vector read from a cursor (search checks
// it against the model's dimension).
const maxCursorDim = 8192

// cursor is the opaque pagination token: what the next page needs to go on
// exactly where the previous one stopped, bound to its query by a hash.
//
// Relevance order (see pageAfter): page 1 is a graph walk, so it is
// approximate; pages 2..n are exact scans in the total order (score desc, id
// asc) over the items page 1 did not serve. The cursor therefore carries
// page 1's ids (served, as 8-byte seeded hashes) and, from page 2 on, the
// (score, id) of the last hit served.
//
// Date order (see searchByDate): the (date, id) of the last hit served and
// the least relevant member of the relevant set (cut), fixed on page 1.
//
// Both orders carry page 1's query vector (vec), bit for bit, and every
// later page scores with it instead of embedding the query again. The
// bounds a later page applies (After, Until) compare scores exactly, so
// they hold only if every page computes the very same scores; a query
// embedded again can differ in its last bits (the coalescer batches it
// with other requests, and a vector may move by float32 rounding with its
// batch mates: TestBatchInvariance allows 1e-6), which moves a score at a
// page boundary by an ulp — the boundary item repeats, or the date order's
// cut drops out of its own set. Carrying the vector rather than keeping
// it in a server-side cache (keyed by the query hash) keeps the cursor
// valid across restarts and across servers behind one address, and later
// pages skip the encoder (an image query is not decoded and embedded
// again); its cost is 4 bytes a dimension (float32: float16 would not be
// exact), about 4.1 kB of base64 at 768 dimensions. A client that edits
// the vector only searches with another vector, which a vector query term
// allows anyway.
//
// It is encoded as base64url (no padding) of a binary record: version,
// query hash, page, flags, the query vector, then the order's fields; at
// 768 dimensions and k = 200 a relevance cursor is about 6.3 kB.
type cursor struct {
	query [12]byte
	page  int // pages served so far (≥ 1)
	flags byte
	vec   []float32 // page 1's query vector

	score  float32 // relevance: last hit served (pages ≥ 2)
	id     string
	served []uint64 // relevance: hashes of page 1's ids

	date time.Time // date: last hit served (its id is id)
	cut  Hit       // date: least relevant member of the relevant set (ID, Score)
}

// idHash is the 8-byte hash of an id kept in a cursor, seeded by the
// query's hash (so hashes differ between queries). Two of a collection's
// ids colliding would make page 2 onwards leave out one that page 1 did
// not serve: with 200 served ids among a million items the chance is about
// 200·10⁶/2⁶⁴ ≈ 10⁻¹¹ per query.
func (c *cursor) idHash(id string) uint64 {
	return xxh3.HashStringSeed(id, binary.LittleEndian.Uint64(c.query[:8]))
}

// excluded returns the predicate dropping page 1's ids (nil when none).
func (c *cursor) excluded() func(id string) bool {
	if len(c.served) == 0 {
		return nil
	}
	set := make(map[uint64]struct{}, len(c.served))
	for _, h := range c.served {
		set[h] = struct{}{}
	}
	return func(id string) bool {
		_, ok := set[c.idHash(id)]
		return ok
	}
}

func (c *cursor) encode() string {
	b := make([]byte, 0, 64+4*len(c.vec)+len(c.id)+len(c.cut.ID)+8*len(c.served))
	b = append(b, cursorVersion)
	b = append(b, c.query[:]...)
	b = binary.AppendUvarint(b, uint64(c.page))
	b = append(b, c.flags)
	b = binary.AppendUvarint(b, uint64(len(c.vec)))
	for _, x := range c.vec {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	if c.flags&cursorDate != 0 {
		b = binary.AppendVarint(b, c.date.Unix())
		b = binary.AppendUvarint(b, uint64(c.date.Nanosecond()))
		b = appendCursorString(b, c.id)
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(c.cut.Score))
		b = appendCursorString(b, c.cut.ID)
	} else {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(c.score))
		b = appendCursorString(b, c.id)
		b = binary.AppendUvarint(b, uint64(len(c.served)))
		for _, h := range c.served {
			b = binary.LittleEndian.AppendUint64(b, h)
		}
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func appendCursorString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// decodeCursor parses s, which must belong to the query hashed as query
// (ErrInvalid otherwise).
func decodeCursor(s string, query [12]byte) (*cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid cursor", ErrInvalid)
	}
	r := cursorReader{b: b}
	c := &cursor{}
	if r.byte() != cursorVersion {
		return nil, fmt.Errorf("%w: invalid cursor", ErrInvalid)
	}
	copy(c.query[:], r.bytes(len(c.query)))
	page := r.uvarint()
	c.flags = r.byte()
	if n := r.uvarint(); n == 0 || n > maxCursorDim {
		r.bad = true
	} else {
		c.vec = make([]float32, 0, n)
		var ss float64
		for i := uint64(0); i < n && !r.bad; i++ {
			x := math.Float32frombits(r.uint32())
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				r.bad = true
			}
			c.vec = append(c.vec, x)
			ss += float64(x) * float64(x)
		}
		// A query vector is a unit vector: an index refuses one of norm 0.
		r.bad = r.bad || ss == 0
	}
	if c.flags&cursorDate != 0 {
		sec, nsec := r.varint(), r.uvarint()
		c.id = r.string()
		c.cut.Score = math.Float32frombits(r.uint32())
		c.cut.ID = r.string()
		if nsec >= 1e9 || sec < -1<<40 || sec > 1<<40 {
			r.bad = true
		}
		c.date = time.Unix(sec, int64(nsec))
	} else {
		c.score = math.Float32frombits(r.uint32())
		c.id = r.string()
		n := r.uvarint()
		if n > maxK {
			r.bad = true
		}
		for i := uint64(0); i < n && !r.bad; i++ {
			c.served = append(c.served, r.uint64())
		}
	}
	if r.bad || len(r.b) > 0 || page < 1 || page > 1<<20 || c.flags&^(cursorDate|cursorTruncated) != 0 ||
		math.IsNaN(float64(c.score)) || math.IsNaN(float64(c.cut.Score)) {
		return nil, fmt.Errorf("%w: invalid cursor", ErrInvalid)
	}
	c.page = int(page)
	if c.query != query {
		return nil, fmt.Errorf("%w: cursor belongs to a different query", ErrInvalid)
	}
	return c, nil
}

// cursorReader reads a cursor's fields; a short or malformed record sets
// bad and yields zero values from then on.
type cursorReader struct {
	b   []byte
	bad bool
}

func (r *cursorReader) bytes(n int) []byte {
	if r.bad || n > len(r.b) {
		r.bad = true
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *cursorReader) byte() byte     { return r.bytes(1)[0] }
func (r *cursorReader) uint32() uint32 { return binary.LittleEndian.Uint32(r.bytes(4)) }
func (r *cursorReader) uint64() uint64 { return binary.LittleEndian.Uint64(r.bytes(8)) }

func (r *cursorReader) string() string {
	n := r.uvarint()
	if n > maxCursorID {
		r.bad = true
		return ""
	}
	return string(r.bytes(int(n)))
}

func (r *cursorReader) uvarint() uint64 {
	if r.bad {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *cursorReader) varint() int64 {
	if r.bad {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}
