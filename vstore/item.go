package vstore

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Limits on stored fields, enforced by Batch (and by implementations on
// decode).
const (
	// MaxIDLen bounds item ids, text ids, and value and blob keys.
	MaxIDLen = 1024
	// MaxStringLen bounds every other string field (hash, media type,
	// camera, lens, model, each tag, a text entry's text).
	MaxStringLen = 1 << 16
	// MaxPathLen bounds a file path.
	MaxPathLen = 1 << 14
	// MaxListLen bounds an item's files and tags.
	MaxListLen = 1 << 14
	// MaxValueSize is the largest application value Batch.SetValue takes.
	MaxValueSize = 1 << 20
	// MaxBlobSize is the largest blob Batch.SetBlob takes.
	MaxBlobSize = 256 << 20
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

// Meta is what an image says about itself: the metadata the indexer reads
// from its header and EXIF, which filters and sorting use and the API shows.
// It is the one declaration of these fields from the indexer to the JSON
// an API answers with: Item embeds it (so its JSON keys are Item's own), the
// indexer fills it from EXIF, and app.Item embeds it again, so a field added
// here reaches every door without a mapping to update (the embedded store's
// binary codec, store/item.go, is the one other place that names them).
type Meta struct {
	// Size is the content size in bytes.
	Size      int64  `json:"size,omitempty"`
	MediaType string `json:"media_type,omitempty"`
	// Width and Height are the displayed size (after EXIF orientation).
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// Taken is the EXIF date (DateTimeOriginal, else DateTimeDigitized,
	// else DateTime: preprocess.Metadata.Time); its location carries that
	// tag's offset when TakenOffset is true (otherwise the wall time is read
	// as UTC).
	Taken       time.Time `json:"taken,omitzero"`
	TakenOffset bool      `json:"taken_offset,omitempty"`
	CameraMake  string    `json:"camera_make,omitempty"`
	CameraModel string    `json:"camera_model,omitempty"`
	// Lens is the EXIF lens model.
	Lens string `json:"lens,omitempty"`
	// GPS is the EXIF position, nil when the image has none.
	GPS *GPS `json:"gps,omitempty"`
	// Orientation is the EXIF orientation, 1–8, 0 when absent.
	Orientation int `json:"orientation,omitempty"`
}

// Clone returns a deep copy of m (GPS is not shared).
func (m *Meta) Clone() Meta {
	c := *m
	if m.GPS != nil {
		g := *m.GPS
		c.GPS = &g
	}
	return c
}

// Item is one distinct piece of content (one per content hash) with every
// path that holds it and the metadata used by filters and sorting.
type Item struct {
	// ID is the stable item id (callers use the content hash, hex).
	ID string `json:"id"`
	// Hash is the content hash (e.g. hex); one item per hash.
	Hash  string `json:"hash,omitempty"`
	Files []File `json:"files,omitempty"`
	// Meta is embedded untagged, so its fields are Item's in Go and in
	// JSON alike (the Weaviate backend stores items as this JSON).
	Meta
	Tags []string `json:"tags,omitempty"`
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

// Clone returns a deep copy of it (files, tags and GPS are not shared).
func (it *Item) Clone() Item {
	c := *it
	c.Files = slices.Clone(it.Files)
	c.Tags = slices.Clone(it.Tags)
	c.Meta = it.Meta.Clone()
	return c
}

// ValidID returns an ErrInvalid error unless id is a usable item, text,
// value or blob id: non-empty, at most MaxIDLen bytes, without NUL.
func ValidID(id string) error {
	if id == "" || len(id) > MaxIDLen || strings.ContainsRune(id, 0) {
		return fmt.Errorf("id %.40q: %w", id, ErrInvalid)
	}
	return nil
}

// Validate returns an ErrInvalid error when it breaks a limit: a bad id,
// too many files or tags, an empty or oversized path, an oversized field,
// a negative size, GPS out of range.
func (it *Item) Validate() error {
	if err := ValidID(it.ID); err != nil {
		return err
	}
	if len(it.Files) > MaxListLen || len(it.Tags) > MaxListLen {
		return fmt.Errorf("item %s: too many files or tags: %w", it.ID, ErrInvalid)
	}
	for _, f := range it.Files {
		if f.Path == "" || len(f.Path) > MaxPathLen {
			return fmt.Errorf("item %s: path %.40q: %w", it.ID, f.Path, ErrInvalid)
		}
	}
	for _, s := range append([]string{it.Hash, it.MediaType, it.CameraMake, it.CameraModel, it.Lens, it.Model}, it.Tags...) {
		if len(s) > MaxStringLen {
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

// Filter restricts a search or a scan to items matching every set field.
// The zero value (and nil) matches everything. It applies to image spaces;
// on text collections only IDs applies.
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
	// IDs: the item id is one of these. nil = any id; an empty non-nil
	// list matches nothing.
	IDs []string `json:"ids,omitempty"`
}

// Empty reports whether f matches every item (nil or no field set).
func (f *Filter) Empty() bool {
	return f == nil || (len(f.PathPrefixes) == 0 && f.From.IsZero() && f.To.IsZero() &&
		len(f.MediaTypes) == 0 && len(f.Tags) == 0 && f.Camera == "" && f.IDs == nil)
}

// OnlyIDs reports whether IDs is the only field set (the one filter a text
// collection takes).
func (f *Filter) OnlyIDs() bool {
	if f == nil || f.IDs == nil {
		return false
	}
	g := *f
	g.IDs = nil
	return g.Empty()
}

// Match reports whether it satisfies f (every field, IDs included). It is
// the reference semantics every implementation's filtering follows.
func (f *Filter) Match(it *Item) bool {
	if f == nil {
		return true
	}
	if f.IDs != nil && !slices.Contains(f.IDs, it.ID) {
		return false
	}
	return f.MatchMeta(it)
}

// MatchMeta is Match without the IDs field, for callers that resolve ids
// themselves.
func (f *Filter) MatchMeta(it *Item) bool {
	if f == nil {
		return true
	}
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
