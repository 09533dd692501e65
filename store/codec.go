package store

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"time"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// seal appends a CRC-32C of b to b. Every value we write is sealed, so a
// flipped byte is reported as ErrCorrupt instead of decoding to garbage.
func seal(b []byte) []byte {
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// unseal verifies and strips the checksum. It returns ok false on mismatch.
func unseal(b []byte) ([]byte, bool) {
	if len(b) < 4 {
		return nil, false
	}
	body := b[:len(b)-4]
	return body, binary.LittleEndian.Uint32(b[len(b)-4:]) == crc32.Checksum(body, castagnoli)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	_, off := t.Zone()
	b = append(b, 1)
	b = binary.AppendVarint(b, t.UnixNano())
	return binary.AppendVarint(b, int64(off))
}

// reader decodes with bounds on every length; the first failure sticks.
// When src holds a copy of the whole input, strings are cut from it
// instead of allocated one by one.
type reader struct {
	b   []byte
	src string
	bad bool
}

func (r *reader) uvarint(limit uint64) uint64 {
	if r.bad {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > limit {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
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

func (r *reader) byte() byte {
	if r.bad || len(r.b) < 1 {
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uint32() uint32 {
	if r.bad || len(r.b) < 4 {
		r.bad = true
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) float64() float64 {
	if r.bad || len(r.b) < 8 {
		r.bad = true
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *reader) string(limit int) string {
	n := r.uvarint(uint64(limit))
	if r.bad || uint64(len(r.b)) < n {
		r.bad = true
		return ""
	}
	var s string
	if r.src != "" {
		off := len(r.src) - len(r.b)
		s = r.src[off : off+int(n)]
	} else {
		s = string(r.b[:n])
	}
	r.b = r.b[n:]
	return s
}

func (r *reader) time() time.Time {
	switch r.byte() {
	case 0:
		return time.Time{}
	case 1:
		ns, off := r.varint(), r.varint()
		if off < -18*3600 || off > 18*3600 {
			r.bad = true
			return time.Time{}
		}
		t := time.Unix(0, ns)
		if off == 0 {
			return t.UTC()
		}
		return t.In(time.FixedZone("", int(off)))
	default:
		r.bad = true
		return time.Time{}
	}
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
func appendVarint(b []byte, v int64) []byte   { return binary.AppendVarint(b, v) }
func appendFloat64(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}
func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}
