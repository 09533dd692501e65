package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"imglish/internal/atomicfile"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Upload indexes an uploaded image: it keeps the bytes in the store, writes
// them under Options.UploadDir (named by content hash) and embeds and
// indexes that file. Content already indexed returns the existing item with
// created false, without inference. The image is decoded once, refusing what
// the model cannot read (over Options.MaxPixels too) before anything is
// written, and is indexed beside any index job rather than after it
// (Catalog.AddImage); an upload whose ctx ends first leaves no item and no
// file. Empty data wraps ErrInvalid; no UploadDir or no indexer wraps
// ErrUnavailable.
func (a *App) Upload(ctx context.Context, data []byte) (it Item, created bool, err error) {
	if err := a.ready(); err != nil {
		return Item{}, false, err
	}
	if len(data) == 0 {
		return Item{}, false, fmt.Errorf("%w: empty upload", ErrInvalid)
	}
	if a.opts.UploadDir == "" {
		return Item{}, false, fmt.Errorf("%w: no upload folder", ErrUnavailable)
	}
	id := a.cat.ContentID(data)
	// One upload of a content at a time: a second one then finds the first's
	// item, and a failed one may remove the file (named by content) knowing
	// that no other upload is about to index it.
	unlock, err := a.uploads.lock(ctx, id)
	if err != nil {
		return Item{}, false, err
	}
	defer unlock()
	if it, err := a.cat.Item(ctx, id); err == nil {
		return it, false, nil
	} else if !isNotFound(err) {
		return Item{}, false, err
	}
	// The one decode: it refuses what the model cannot read before anything
	// is written, with the decoder's typed error (format, pixels, corrupt),
	// and its tensor is what the index embeds.
	pixels, err := a.prepareImage(ctx, data)
	if err != nil {
		return Item{}, false, err
	}
	// The bytes go to the store first (what a backup carries; see state.go),
	// then to the file the indexer records. A crash in between leaves stored
	// bytes without an item, which the retried upload reuses.
	if err := a.cat.PutOriginal(ctx, id, data); err != nil {
		return Item{}, false, err
	}
	path, err := a.saveUpload(data)
	if err != nil {
		return Item{}, false, err
	}
	it, err = a.cat.AddImage(ctx, path, data, pixels)
	if err != nil {
		a.discardUpload(ctx, id, path)
		return Item{}, false, err
	}
	if it.ID != id {
		// Not expected (ContentID is the indexer's id), but the original
		// must be found under the item's id.
		if err := a.cat.PutOriginal(ctx, it.ID, data); err != nil {
			return Item{}, false, err
		}
	}
	return it, true, nil
}

// saveUpload writes an upload's original under UploadDir, named by content,
// atomically, and returns its path.
func (a *App) saveUpload(data []byte) (string, error) {
	if err := os.MkdirAll(a.opts.UploadDir, 0o755); err != nil {
		return "", fmt.Errorf("create upload dir: %w", err)
	}
	sum := sha256.Sum256(data)
	path := filepath.Join(a.opts.UploadDir, hex.EncodeToString(sum[:16])+extFor(data))
	if err := atomicfile.WriteFile(path, data); err != nil {
		return "", fmt.Errorf("store upload: %w", err)
	}
	return path, nil
}

// discardUpload removes the original saveUpload wrote for an upload that
// was not indexed, unless item id records it after all. The caller holds
// the content's upload lock.
func (a *App) discardUpload(ctx context.Context, id, path string) {
	it, err := a.cat.Item(context.WithoutCancel(ctx), id)
	if err == nil && slices.Contains(append([]string{it.Path}, it.Paths...), path) {
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.log.Warn("remove upload", "path", path, "err", err)
	}
}

// extFor is an upload file's extension, by its leading bytes (the
// signatures net/http's DetectContentType knows for these formats).
func extFor(data []byte) string {
	has := func(off int, magic string) bool {
		return len(data) >= off+len(magic) && string(data[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "\xff\xd8\xff"):
		return ".jpg"
	case has(0, "\x89PNG\r\n\x1a\n"):
		return ".png"
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return ".gif"
	case has(0, "RIFF") && has(8, "WEBPVP"):
		return ".webp"
	case has(0, "BM"):
		return ".bmp"
	default:
		return ".img"
	}
}
