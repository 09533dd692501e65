package store

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Limits on stored fields, enforced on write and on decode.
const (
	MaxIDLen    = 1024
	maxStrLen   = 1 << 16
	maxPathLen  = 1 << 14
	maxListLen  = 1 << 14
	itemVersion = 1
)

// File is one path holding an item's content, with the size and
// modification time seen when it was indexed (the indexer's "unchanged"
// test).
type File struct {
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
}

// GPS is a position in decimal degrees (WGS 84) and metres.
type GPS struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
	Alt float64 `json:"alt,omitempty"`
}

// Item is one distinct piece of content (one per content hash) with every
// path that holds it and the metadata used by filters and sorting.
type Item struct {
	// ID is the stable item id (callers use the content hash, hex).
	ID string `json:"id"`
	// Hash is the content hash (e.g. hex); one item per hash.
	Hash  string `json:"hash,omitempty"`
	Files []File `json:"files,omitempty"`
	// Size is the content size in bytes.
	Size      int64  `json:"size,omitempty"`
	MediaType string `json:"media_type,omitempty"`
	Width     int    `json:"width,omitempty"`
	Height    int    `json:"height,omitempty"`
	// Taken is EXIF DateTimeOriginal; its location carries the EXIF offset
	// when TakenOffset is true (otherwise the wall time is read as UTC).
	Taken       time.Time `json:"taken,omitzero"`
	TakenOffset bool      `json:"taken_offset,omitempty"`
	CameraMake  string    `json:"camera_make,omitempty"`
	CameraModel string    `json:"camera_model,omitempty"`
	Lens        string    `json:"lens,omitempty"`
	GPS         *GPS      `json:"gps,omitempty"`
	Orientation int       `json:"orientation,omitempty"`
	Tags        []string  `json:"tags,omitempty"`
	// Model is the id of the model whose vectors describe this item.
	Model   string    `json:"model,omitempty"`
	AddedAt time.Time `json:"added_at,omitzero"`
}

// Date is the item's date for filters and sorting: Taken when known, else
// the earliest file modification time, else the zero time.
func (it *Item) Date() time.Time {
	if !it.Taken.IsZero() {
		return it.Taken
	}
	var d time.Time
	for _, f := range it.Files {
		if !f.ModTime.IsZero() && (d.IsZero() || f.ModTime.Before(d)) {
			d = f.ModTime
		}
	}
	return d
}

func (it *Item) clone() Item {
	c := *it
	c.Files = slices.Clone(it.Files)
	c.Tags = slices.Clone(it.Tags)
	if it.GPS != nil {
		g := *it.GPS
		c.GPS = &g
	}
	return c
}

func validID(id string) error {
	if id == "" || len(id) > MaxIDLen || strings.ContainsRune(id, 0) {
		return fmt.Errorf("id %.40q: %w", id, ErrInvalid)
	}
	return nil
}

func (it *Item) validate() error {
	if err := validID(it.ID); err != nil {
		return err
	}
	if len(it.Files) > maxListLen || len(it.Tags) > maxListLen {
		return fmt.Errorf("item %s: too many files or tags: %w", it.ID, ErrInvalid)
	}
	for _, f := range it.Files {
		if f.Path == "" || len(f.Path) > maxPathLen {
			return fmt.Errorf("item %s: path %.40q: %w", it.ID, f.Path, ErrInvalid)
		}
	}
	for _, s := range append([]string{it.Hash, it.MediaType, it.CameraMake, it.CameraModel, it.Lens, it.Model}, it.Tags...) {
		if len(s) > maxStrLen {
			return fmt.Errorf("item %s: field of %d bytes: %w", it.ID, len(s), ErrInvalid)
		}
	}
	if it.Width < 0 || it.Height < 0 || it.Size < 0 {
		return fmt.Errorf("item %s: negative size: %w", it.ID, ErrInvalid)
	}
	if g := it.GPS; g != nil && (math.IsNaN(g.Lat) || math.IsNaN(g.Lon) || math.IsNaN(g.Alt) ||
		g.Lat < -90 || g.Lat > 90 || g.Lon < -180 || g.Lon > 180) {
		return fmt.Errorf("item %s: gps %v: %w", it.ID, *g, ErrInvalid)
	}
	return nil
}

func encodeItem(it *Item) []byte {
	b := make([]byte, 0, 256)
	b = append(b, itemVersion)
	b = appendString(b, it.ID)
	b = appendString(b, it.Hash)
	b = appendUvarint(b, uint64(len(it.Files)))
	for _, f := range it.Files {
		b = appendString(b, f.Path)
		b = appendVarint(b, f.Size)
		b = appendTime(b, f.ModTime)
	}
	b = appendVarint(b, it.Size)
	b = appendString(b, it.MediaType)
	b = appendUvarint(b, uint64(it.Width))
	b = appendUvarint(b, uint64(it.Height))
	b = appendTime(b, it.Taken)
	b = appendBool(b, it.TakenOffset)
	b = appendString(b, it.CameraMake)
	b = appendString(b, it.CameraModel)
	b = appendString(b, it.Lens)
	if g := it.GPS; g != nil {
		b = append(b, 1)
		b = appendFloat64(b, g.Lat)
		b = appendFloat64(b, g.Lon)
		b = appendFloat64(b, g.Alt)
	} else {
		b = append(b, 0)
	}
	b = appendVarint(b, int64(it.Orientation))
	b = appendUvarint(b, uint64(len(it.Tags)))
	for _, t := range it.Tags {
		b = appendString(b, t)
	}
	b = appendString(b, it.Model)
	b = appendTime(b, it.AddedAt)
	return seal(b)
}

// decodeItemInto decodes an item record into *it. Its strings share one
// allocation (the record), and its files are cut from *files, a slab that
// is refilled when short: loading 1M items then costs two allocations per
// item instead of about eight.
func decodeItemInto(key, val []byte, it *Item, files *[]File) error {
	body, ok := unseal(val)
	if !ok {
		return corrupt(key, "checksum")
	}
	r := &reader{b: body, src: string(body)}
	if v := r.byte(); v != itemVersion {
		return corrupt(key, "item version %d", v)
	}
	it.ID = r.string(MaxIDLen)
	it.Hash = r.string(maxStrLen)
	if n := int(r.uvarint(maxListLen)); n > 0 {
		if cap(*files)-len(*files) < n {
			*files = make([]File, 0, max(itemSlab, n))
		}
		f := (*files)[len(*files) : len(*files)+n : len(*files)+n]
		*files = (*files)[:len(*files)+n]
		for i := range f {
			f[i] = File{Path: r.string(maxPathLen), Size: r.varint(), ModTime: r.time()}
		}
		it.Files = f
	}
	it.Size = r.varint()
	it.MediaType = r.string(maxStrLen)
	it.Width = int(r.uvarint(1 << 31))
	it.Height = int(r.uvarint(1 << 31))
	it.Taken = r.time()
	it.TakenOffset = r.byte() == 1
	it.CameraMake = r.string(maxStrLen)
	it.CameraModel = r.string(maxStrLen)
	it.Lens = r.string(maxStrLen)
	if r.byte() == 1 {
		it.GPS = &GPS{Lat: r.float64(), Lon: r.float64(), Alt: r.float64()}
	}
	it.Orientation = int(r.varint())
	if n := r.uvarint(maxListLen); n > 0 {
		it.Tags = make([]string, n)
		for i := range it.Tags {
			it.Tags[i] = r.string(maxStrLen)
		}
	}
	it.Model = r.string(maxStrLen)
	it.AddedAt = r.time()
	if r.bad || len(r.b) != 0 {
		return corrupt(key, "item encoding")
	}
	if string(key[len(prefixItem):]) != it.ID {
		return corrupt(key, "item id %q under another key", it.ID)
	}
	return nil
}

// Filter restricts a search to items matching every set field. The zero
// value matches everything. It applies to image spaces; on text
// collections only IDs applies.
type Filter struct {
	// PathPrefixes: at least one file path starts with one of these (use a
	// trailing "/" for a folder).
	PathPrefixes []string `json:"path_prefixes,omitempty"`
	// From and To bound Item.Date: From ≤ date < To (zero = open). Items
	// without a date fail a bounded filter.
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	// MediaTypes: the item's media type is one of these.
	MediaTypes []string `json:"media_types,omitempty"`
	// Tags: the item has all of these tags.
	Tags []string `json:"tags,omitempty"`
	// Camera: case-insensitive substring of "make model".
	Camera string `json:"camera,omitempty"`
	// IDs: the item id is one of these.
	IDs []string `json:"ids,omitempty"`
}

func (f *Filter) empty() bool {
	return f == nil || (len(f.PathPrefixes) == 0 && f.From.IsZero() && f.To.IsZero() &&
		len(f.MediaTypes) == 0 && len(f.Tags) == 0 && f.Camera == "" && f.IDs == nil)
}

// Match reports whether it satisfies f (IDs included).
func (f *Filter) Match(it *Item) bool {
	if f == nil {
		return true
	}
	if f.IDs != nil && !slices.Contains(f.IDs, it.ID) {
		return false
	}
	return f.matchMeta(it)
}

func (f *Filter) matchMeta(it *Item) bool {
	if len(f.PathPrefixes) > 0 {
		ok := false
		for _, fl := range it.Files {
			for _, p := range f.PathPrefixes {
				if strings.HasPrefix(fl.Path, p) {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	if !f.From.IsZero() || !f.To.IsZero() {
		d := it.Date()
		if d.IsZero() || (!f.From.IsZero() && d.Before(f.From)) || (!f.To.IsZero() && !d.Before(f.To)) {
			return false
		}
	}
	if len(f.MediaTypes) > 0 && !slices.Contains(f.MediaTypes, it.MediaType) {
		return false
	}
	for _, t := range f.Tags {
		if !slices.Contains(it.Tags, t) {
			return false
		}
	}
	if f.Camera != "" && !strings.Contains(strings.ToLower(it.CameraMake+" "+it.CameraModel), strings.ToLower(f.Camera)) {
		return false
	}
	return true
}
