package app

import (
	"encoding/base64"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func testCursors() []*cursor {
	q := [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	vec := []float32{0.6, -0.8, math.SmallestNonzeroFloat32, float32(math.Copysign(0, -1))}
	page1 := &cursor{query: q, page: 1, vec: vec}
	for _, id := range []string{"a", "b", "c"} {
		page1.served = append(page1.served, page1.idHash(id))
	}
	return []*cursor{
		page1,
		{query: q, page: 7, vec: vec, score: -0.25, id: "p00042", served: page1.served},
		{query: q, page: 2, vec: vec, flags: cursorDate | cursorTruncated, date: time.Date(2024, 5, 1, 3, 4, 5, 6, time.UTC), id: "x", cut: Hit{ID: "y", Score: 0.5}},
		{query: q, page: 3, vec: append(make([]float32, maxCursorDim-1), 1), flags: cursorDate, date: time.Time{}, id: strings.Repeat("i", maxCursorID), cut: Hit{ID: "", Score: -1}},
	}
}

func sameCursor(a, b *cursor) bool {
	bits := func(v []float32) []uint32 {
		out := make([]uint32, len(v))
		for i, x := range v {
			out[i] = math.Float32bits(x)
		}
		return out
	}
	return a.query == b.query && a.page == b.page && a.flags == b.flags && slices.Equal(bits(a.vec), bits(b.vec)) && a.score == b.score && a.id == b.id &&
		slices.Equal(a.served, b.served) && a.date.Equal(b.date) && a.cut.ID == b.cut.ID && a.cut.Score == b.cut.Score
}

func TestCursorCodec(t *testing.T) {
	for i, c := range testCursors() {
		got, err := decodeCursor(c.encode(), c.query)
		if err != nil {
			t.Fatalf("cursor %d: %v", i, err)
		}
		if !sameCursor(got, c) {
			t.Errorf("cursor %d: decoded %+v, want %+v", i, got, c)
		}
	}
	ok := testCursors()[1]
	raw, _ := base64.RawURLEncoding.DecodeString(ok.encode())
	b64 := base64.RawURLEncoding.EncodeToString
	with := func(f func(*cursor)) string {
		c := *ok
		f(&c)
		return c.encode()
	}
	cases := []struct {
		name string
		in   string
		want string // what the error says, for the reader; the test checks the sentinel
	}{
		{"not base64", "%%%", "invalid"},
		{"empty", "", "invalid"},
		{"old JSON cursor", "eyJwIjoxLCJzIjoxLCJpIjoieCIsInEiOiJ5In0", "invalid"},
		{"other version", b64(append([]byte{9}, raw[1:]...)), "invalid"},
		{"cut short", b64(raw[:len(raw)-3]), "invalid"},
		{"trailing byte", b64(append(slices.Clone(raw), 0)), "invalid"},
		{"page 0", with(func(c *cursor) { c.page = 0 }), "invalid"},
		{"unknown flag", with(func(c *cursor) { c.flags = 8 }), "invalid"},
		{"too many served", with(func(c *cursor) { c.served = make([]uint64, maxK+1) }), "invalid"},
		{"id too long", with(func(c *cursor) { c.id = strings.Repeat("i", maxCursorID+1) }), "invalid"},
		{"no query vector", with(func(c *cursor) { c.vec = nil }), "invalid"},
		{"query vector too long", with(func(c *cursor) { c.vec = make([]float32, maxCursorDim+1) }), "invalid"},
		{"NaN in the query vector", with(func(c *cursor) { c.vec = []float32{1, float32(math.NaN())} }), "invalid"},
		{"zero query vector", with(func(c *cursor) { c.vec = make([]float32, len(c.vec)) }), "invalid"},
		{"infinity in the query vector", with(func(c *cursor) { c.vec = []float32{float32(math.Inf(1))} }), "invalid"},
		{"another query", with(func(c *cursor) { c.query[0]++ }), "different query"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeCursor(tc.in, ok.query)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid (%s)", err, tc.want)
			}
		})
	}
}

// FuzzDecodeCursor: no input panics, and what decodes survives another
// encode and decode unchanged.
func FuzzDecodeCursor(f *testing.F) {
	for _, c := range testCursors() {
		f.Add(c.encode())
	}
	f.Add("eyJwIjoxLCJzIjoxLCJpIjoieCIsInEiOiJ5In0")
	q := testCursors()[0].query
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s, q)
		if err != nil {
			return
		}
		again, err := decodeCursor(c.encode(), q)
		if err != nil || !sameCursor(again, c) {
			t.Fatalf("%q: decoded %+v, encoded and decoded again %+v, %v", s, c, again, err)
		}
	})
}
