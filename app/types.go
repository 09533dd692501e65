package app

import (
	"context"
	"slices"
	"strings"
	"time"

	"imglish/indexer"
	"imglish/vstore"
)

// ModelInfo describes the loaded model.
type ModelInfo struct {
	ID         string  `json:"id"`
	Dim        int     `json:"dim"`
	LogitScale float64 `json:"logit_scale"`
	ImageSize  int     `json:"image_size"`
	// MaxTokens is the text window, <s> and </s> included (64 for BEiT-3's
	// retrieval checkpoints): longer texts keep their first MaxTokens−2 pieces.
	MaxTokens int `json:"max_tokens"`
	// Precision of the graphs (fp32, int8, fp16) and Device they run on (cpu, cuda).
	Precision string `json:"precision"`
	Device    string `json:"device"`
	// Demo is true for the bundled demo model (demo.IsModel), which knows only
	// the synthetic scenes of demo/scene: the page says so, and classify has
	// a built-in default label set for it.
	Demo bool `json:"demo"`
}

// Encoder embeds texts and images. Implementations must be safe for concurrent
// use; the server coalesces concurrent requests into EmbedTexts/EmbedImages batches.
type Encoder interface {
	// PrepareImage decodes and preprocesses one image into the vision tower's
	// input, refusing more than maxPixels before decoding pixels.
	PrepareImage(ctx context.Context, data []byte, maxPixels int64) ([]float32, error)
	EmbedImages(ctx context.Context, imgs [][]float32) ([][]float32, error)
	EmbedTexts(ctx context.Context, texts []string) ([][]float32, error)
	Info() ModelInfo
}

// Item is an indexed image as the API shows it: the stored item's
// metadata, vstore.Meta, embedded whole (its fields and JSON keys are
// Item's, so a metadata field added there reaches the API without a
// mapping here), beside the stored item's id, hash, tags, model and time
// added, and what the API derives from its files and camera fields.
type Item struct {
	ID string `json:"id"`
	// Path is the item's first file, Paths every file holding its content.
	Path  string   `json:"path"`
	Paths []string `json:"paths,omitempty"`
	Hash  string   `json:"hash,omitempty"`
	vstore.Meta
	// ModTime is the earliest modification time of its files, the date
	// when Taken is unknown.
	ModTime time.Time `json:"mtime,omitzero"`
	// Camera is "make model" (CameraMake and CameraModel), trimmed.
	Camera string   `json:"camera,omitempty"`
	Tags   []string `json:"tags,omitempty"`
	Model  string   `json:"model,omitempty"`
	// AddedAt is when the item was first indexed.
	AddedAt time.Time `json:"added_at,omitzero"`
}

// itemOf is it as the API shows it (a copy: nothing is shared with it).
// It is the one mapping from the stored item to the API's.
func itemOf(it vstore.Item) Item {
	v := Item{
		ID: it.ID, Hash: it.Hash, Meta: it.Meta.Clone(), Tags: slices.Clone(it.Tags), Model: it.Model, AddedAt: it.AddedAt,
		Camera: strings.TrimSpace(it.CameraMake + " " + it.CameraModel),
	}
	if len(it.Files) > 0 {
		v.Path = it.Files[0].Path
		v.Paths = make([]string, len(it.Files))
	}
	for i, f := range it.Files {
		v.Paths[i] = f.Path
		if v.ModTime.IsZero() || f.ModTime.Before(v.ModTime) {
			v.ModTime = f.ModTime
		}
	}
	return v
}

// preferPath makes Path the first of Paths under one of prefixes, when
// there are prefixes and Path is not under any: a search filtered to a
// folder shows each hit by its file in that folder, whichever copy of the
// same content was indexed first.
func (it *Item) preferPath(prefixes []string) {
	under := func(p string) bool {
		return slices.ContainsFunc(prefixes, func(pre string) bool { return strings.HasPrefix(p, pre) })
	}
	if len(prefixes) == 0 || under(it.Path) {
		return
	}
	if i := slices.IndexFunc(it.Paths, under); i >= 0 {
		it.Path = it.Paths[i]
	}
}

// GPS is a position in decimal degrees (WGS 84), altitude in metres.
type GPS = vstore.GPS

// Date is the item's date for sorting and filters: EXIF time, else mtime.
func (it Item) Date() time.Time {
	if !it.Taken.IsZero() {
		return it.Taken
	}
	return it.ModTime
}

// Filter restricts a search, in the API's terms; the zero value matches
// everything. PathPrefix is an absolute path prefix, or a relative one
// resolved against the roots (PathPrefixes). The App maps it to the store's
// vstore.Filter in one place (App.storeFilter), the only form a Catalog
// sees; a filter field is added there and to vstore.Filter.Match.
type Filter struct {
	PathPrefix string    `json:"path_prefix,omitempty"`
	After      time.Time `json:"after,omitzero"`
	Before     time.Time `json:"before,omitzero"`
	Camera     string    `json:"camera,omitempty"`
	Tags       []string  `json:"tags,omitempty"`
	IDs        []string  `json:"ids,omitempty"`
}

// Hit is one search result from the catalog.
type Hit struct {
	ID    string
	Score float32
	Item  Item
}

// TextEntry is one caption or label of a text collection.
type TextEntry struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// TextHit is one image→text result.
type TextHit struct {
	TextEntry
	Score float32 `json:"score"`
}

// SearchPage selects the part of the relevance ranking (score desc, id asc)
// a Catalog search returns; the zero value is the top, found by a graph walk.
type SearchPage struct {
	// After keeps the hits sorting strictly after it.
	After *Hit
	// Until keeps the hits sorting at or before it.
	Until *Hit
	// Exclude drops the ids it reports true; it must not call into the Catalog.
	Exclude func(id string) bool
	// Exact scans every item the filter keeps instead of walking the graph:
	// the only way to enumerate a ranking completely.
	Exact bool
}

// Catalog is the store and index: items, vectors, text collections and search.
// Implementations must be safe for concurrent use and return errors wrapping
// ErrNotFound (or a store or indexer not-found sentinel) for missing ids.
// NewCatalog adapts a vstore.Store (store.DB by default) and an indexer.Indexer.
type Catalog interface {
	// Search returns up to k hits in the image space, best first (ties by
	// id), from the part of the ranking p selects; fewer than k only when
	// that part has no more.
	// f is the store's form of a Filter (App.storeFilter makes it; nil
	// matches everything).
	Search(ctx context.Context, q []float32, k int, f *vstore.Filter, p SearchPage) ([]Hit, error)
	// MeanScore returns the mean similarity of q to the items f keeps (0
	// when none): an exact scan.
	MeanScore(ctx context.Context, q []float32, f *vstore.Filter) (float64, error)
	Item(ctx context.Context, id string) (Item, error)
	// ContentID is the id an image with these bytes has (or would have).
	ContentID(data []byte) string
	Vector(ctx context.Context, id string) ([]float32, error)
	// AddImage indexes the image file at path, whose content is data and
	// whose encoder input pixels the caller has already prepared (dedup by
	// content; no second decode). It does not wait for index jobs; when ctx
	// ends first it returns ctx.Err() and has indexed nothing.
	AddImage(ctx context.Context, path string, data []byte, pixels []float32) (Item, error)
	DeleteItem(ctx context.Context, id string) error
	// FilePaths calls fn with the id and file paths of every item with a
	// file starting with one of prefixes (none: every item) until fn returns
	// false.
	FilePaths(ctx context.Context, prefixes []string, fn func(id string, paths []string) bool) error
	Count(ctx context.Context) (int, error)
	RecallCheck(ctx context.Context, sample int) (float64, error)

	AddTexts(ctx context.Context, collection string, texts []string, vecs [][]float32) ([]TextEntry, error)
	Texts(ctx context.Context, collection string) ([]TextEntry, error)
	DeleteTexts(ctx context.Context, collection string) error
	// SearchTexts is Search in a text collection.
	SearchTexts(ctx context.Context, collection string, q []float32, k int, p SearchPage) ([]TextHit, error)

	// LabelSet returns the stored label set name (an error wrapping
	// ErrNotFound when there is none).
	LabelSet(ctx context.Context, name string) (LabelSet, error)
	// PutLabelSet stores a label set durably (acknowledged after the sync).
	PutLabelSet(ctx context.Context, name string, ls LabelSet) error
	// PutOriginal keeps the bytes of an uploaded image for item id in the
	// store, durably, so backups carry them; DeleteItem removes them.
	PutOriginal(ctx context.Context, id string, data []byte) error
	// Original returns the bytes PutOriginal kept for id (an error wrapping
	// ErrNotFound when there are none).
	Original(ctx context.Context, id string) ([]byte, error)
}

// Indexer runs folder indexing for index jobs and watched folders, and
// indexes uploads. *indexer.Indexer implements it; its runs are serialised,
// AddImage does not wait for them.
type Indexer interface {
	Run(ctx context.Context, roots ...string) (indexer.Summary, error)
	Watch(ctx context.Context, roots ...string) error
	Progress() indexer.Progress
	AddImage(ctx context.Context, path string, data []byte, pixels []float32) (string, error)
}
