package app_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"testing"

	"imglish/app"
	"imglish/store"
)

// pngOf encodes a w×h image of one colour.
func pngOf(t *testing.T, w, h int, c color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestUploadItemOriginalDelete: an upload is stored under UploadDir and
// indexed (created), the same bytes again return that item (not created),
// the original is the file and, once the file is gone, the bytes kept in the
// store; the folder listing counts the upload folder; DeleteItem removes the
// item and its file; bad ids, empty uploads and bad limits wrap ErrInvalid.
func TestUploadItemOriginalDelete(t *testing.T) {
	uploads := filepath.Join(t.TempDir(), "up")
	a := openDemo(t, app.Options{UploadDir: uploads})
	ctx := t.Context()
	data := pngOf(t, 40, 30, color.RGBA{200, 30, 30, 255})

	it, created, err := a.Upload(ctx, data)
	if err != nil || !created {
		t.Fatalf("upload: created %v, err %v", created, err)
	}
	if filepath.Dir(it.Path) != uploads && !samePath(t, filepath.Dir(it.Path), uploads) {
		t.Fatalf("upload path %s is not under %s", it.Path, uploads)
	}
	again, created, err := a.Upload(ctx, data)
	if err != nil || created || again.ID != it.ID {
		t.Fatalf("second upload: id %s created %v err %v, want %s not created", again.ID, created, err, it.ID)
	}
	if got, err := a.Item(ctx, it.ID); err != nil || got.Path != it.Path {
		t.Fatalf("item: %+v, %v", got, err)
	}

	list, err := a.Folders(ctx, "", 0)
	if err != nil || len(list.Folders) == 0 || list.Folders[len(list.Folders)-1].Path != filepath.Dir(it.Path) || list.Folders[len(list.Folders)-1].Count != 1 {
		t.Fatalf("folders: %+v, %v", list, err)
	}

	readOriginal := func() (string, []byte) {
		t.Helper()
		o, err := a.Original(ctx, it.ID)
		if err != nil {
			t.Fatalf("original: %v", err)
		}
		defer o.Close()
		b, err := io.ReadAll(o)
		if err != nil {
			t.Fatal(err)
		}
		return o.Path, b
	}
	if p, b := readOriginal(); p != it.Path || !bytes.Equal(b, data) {
		t.Fatalf("original: path %q, %d bytes; want the file %s", p, len(b), it.Path)
	}
	if err := os.Remove(it.Path); err != nil {
		t.Fatal(err)
	}
	if p, b := readOriginal(); p != "" || !bytes.Equal(b, data) {
		t.Fatalf("original without its file: path %q, %d bytes; want the stored bytes", p, len(b))
	}
	// The file back, so that DeleteItem has one to remove.
	if err := os.WriteFile(it.Path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	del, err := a.DeleteItem(ctx, it.ID)
	if err != nil || del.ID != it.ID {
		t.Fatalf("delete: %+v, %v", del, err)
	}
	if _, err := os.Stat(it.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the uploaded file survived its item: %v", err)
	}
	if _, err := a.Item(ctx, it.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("item after delete: %v, want store.ErrNotFound", err)
	}
	if _, err := a.Original(ctx, it.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("original after delete: %v, want store.ErrNotFound", err)
	}

	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"item id", func() error { _, err := a.Item(ctx, "../x"); return err }},
		{"delete id", func() error { _, err := a.DeleteItem(ctx, ""); return err }},
		{"original id", func() error { _, err := a.Original(ctx, "a/b"); return err }},
		{"empty upload", func() error { _, _, err := a.Upload(ctx, nil); return err }},
		{"limit", func() error { _, err := a.Folders(ctx, "", app.MaxFolders+1); return err }},
		{"negative limit", func() error { _, err := a.Folders(ctx, "", -1); return err }},
	} {
		if err := tc.call(); !errors.Is(err, app.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tc.name, err)
		}
	}
}

// samePath reports whether a and b name the same folder.
func samePath(t *testing.T, a, b string) bool {
	t.Helper()
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
