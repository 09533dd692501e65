package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"imglish/store"
)

// Item returns the indexed image id (an error wrapping ErrInvalid for an id
// that is not a valid name, one wrapping a not-found sentinel when there is
// no such item).
func (a *App) Item(ctx context.Context, id string) (Item, error) {
	if err := a.ready(); err != nil {
		return Item{}, err
	}
	if err := ValidName("item id", id); err != nil {
		return Item{}, err
	}
	return a.cat.Item(ctx, id)
}

// DeleteItem deletes the item id with the upload bytes kept for it in the
// store and the copies of it under Options.UploadDir, and returns the item
// it deleted (so that a caller can drop what it derived from it, such as a
// thumbnail). The indexed files outside the upload folder are left alone.
func (a *App) DeleteItem(ctx context.Context, id string) (Item, error) {
	it, err := a.Item(ctx, id)
	if err != nil {
		return Item{}, err
	}
	if err := a.cat.DeleteItem(ctx, it.ID); err != nil {
		return Item{}, err
	}
	a.removeUploads(it)
	return it, nil
}

// Original is an indexed image's original: its file, or the upload bytes
// kept in the store. The caller closes it.
type Original struct {
	io.ReadSeeker
	// ModTime is the file's modification time (the item's, for stored bytes).
	ModTime time.Time
	// Path is the file read; "" for the bytes kept in the store.
	Path  string
	close func() error
}

// Close closes the file (nothing for stored bytes).
func (o Original) Close() error {
	if o.close == nil {
		return nil
	}
	return o.close()
}

// Original opens the original of item id. The path comes from the catalog,
// never from the caller, and must still be a regular file; every recorded
// path is tried in turn (a moved copy may still exist). Where none is there,
// the bytes of an upload kept in the store are read (after a restore into
// another data folder, or when the uploads folder was lost; see state.go);
// without them the error wraps ErrNotFound.
func (a *App) Original(ctx context.Context, id string) (Original, error) {
	it, err := a.Item(ctx, id)
	if err != nil {
		return Original{}, err
	}
	for _, p := range append([]string{it.Path}, it.Paths...) {
		if p == "" || !filepath.IsAbs(p) {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			_ = f.Close()
			continue
		}
		return Original{ReadSeeker: f, ModTime: st.ModTime(), Path: p, close: f.Close}, nil
	}
	b, err := a.cat.Original(ctx, it.ID)
	if err == nil {
		return Original{ReadSeeker: bytes.NewReader(b), ModTime: it.ModTime}, nil
	}
	if !isNotFound(err) {
		return Original{}, err
	}
	return Original{}, fmt.Errorf("%w: the file of item %s is gone", ErrNotFound, it.ID)
}

// removeUploads deletes the uploaded copies of a deleted item. UploadDir and
// the item's paths are canonical (start, the indexer), so a plain
// comparison finds the copies.
func (a *App) removeUploads(it Item) {
	if a.opts.UploadDir == "" {
		return
	}
	for _, p := range append([]string{it.Path}, it.Paths...) {
		if p != "" && filepath.Dir(p) == a.opts.UploadDir {
			_ = os.Remove(p)
		}
	}
}

// isNotFound reports whether err wraps a not-found sentinel (the core's or
// the store's).
func isNotFound(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, store.ErrNotFound)
}
