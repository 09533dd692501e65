package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"golang.org/x/image/draw"

	"imglish/app"
	"imglish/internal/atomicfile"
)

// item answers the route's item (App.Item), or writes the error.
func (s *Server) item(c *gin.Context) (Item, bool) {
	if err := s.ready(); err != nil {
		s.writeError(c, err)
		return Item{}, false
	}
	it, err := s.app.Item(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return Item{}, false
	}
	return it, true
}

func (s *Server) handleGetItem(c *gin.Context) {
	if it, ok := s.item(c); ok {
		c.JSON(http.StatusOK, it)
	}
}

// handleDeleteItem deletes the item with its uploaded copies
// (App.DeleteItem), then its cached thumbnail.
func (s *Server) handleDeleteItem(c *gin.Context) {
	if err := s.ready(); err != nil {
		s.writeError(c, err)
		return
	}
	it, err := s.app.DeleteItem(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	_ = os.Remove(s.thumbPath(it))
	c.JSON(http.StatusOK, gin.H{"deleted": it.ID})
}

// handleOriginal streams the item's original (App.Original) with its sniffed
// content type, never as active content, with range and conditional requests.
func (s *Server) handleOriginal(c *gin.Context) {
	if err := s.ready(); err != nil {
		s.writeError(c, err)
		return
	}
	f, err := s.app.Original(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		s.writeError(c, fmt.Errorf("seek original: %w", err))
		return
	}
	ct := http.DetectContentType(head[:n])
	if ct == "application/octet-stream" {
		// Formats the standard sniffer does not know (TIFF): the media
		// type the indexer recorded from the decoder.
		if it, err := s.app.Item(c.Request.Context(), c.Param("id")); err == nil && strings.HasPrefix(it.MediaType, "image/") {
			ct = it.MediaType
		}
	}
	c.Header("Content-Type", ct)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Content-Security-Policy", "default-src 'none'")
	http.ServeContent(c.Writer, c.Request, "", f.ModTime, f)
}

// etagMatches reports whether an If-None-Match header names etag: "*", or
// a list holding it, weak or strong (If-None-Match compares weakly, RFC
// 9110 §13.1.2).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// thumbPath is the cache file of an item's thumbnail, keyed by content hash
// (or id) and size, so a re-embedded or changed file gets a new thumbnail.
func (s *Server) thumbPath(it Item) string {
	key := it.Hash
	if key == "" || validName("hash", key) != nil {
		key = "id-" + it.ID
	}
	return filepath.Join(s.opts.ThumbDir, key+"-"+strconv.Itoa(s.opts.ThumbSize)+".jpg")
}

func (s *Server) handleThumbnail(c *gin.Context) {
	it, ok := s.item(c)
	if !ok {
		return
	}
	path := s.thumbPath(it)
	etag := `"` + filepath.Base(path) + `"`
	c.Header("ETag", etag)
	c.Header("Cache-Control", "private, max-age=86400")
	if etagMatches(c.GetHeader("If-None-Match"), etag) {
		c.Status(http.StatusNotModified)
		return
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b, err = s.makeThumbnail(c.Request.Context(), it, path)
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Data(http.StatusOK, "image/jpeg", b)
}

// makeThumbnail decodes the original once, scales it to ThumbSize on its long
// side and caches the JPEG atomically. One thumbnail is made at a time, which
// bounds the memory large originals take.
func (s *Server) makeThumbnail(ctx context.Context, it Item, path string) ([]byte, error) {
	s.thumbMu.Lock()
	defer s.thumbMu.Unlock()
	if b, err := os.ReadFile(path); err == nil {
		return b, nil
	}
	f, err := s.app.Original(ctx, it.ID)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, 512<<20))
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("read original: %w", err)
	}
	src, err := app.DecodeImage(data, s.opts.MaxPixels)
	if err != nil {
		return nil, err
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	side := s.opts.ThumbSize
	if w > side || h > side {
		if w >= h {
			w, h = side, max(1, h*side/w)
		} else {
			w, h = max(1, w*side/h), side
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 85}); err != nil {
		return nil, fmt.Errorf("encode thumbnail: %w", err)
	}
	if err := os.MkdirAll(s.opts.ThumbDir, 0o755); err != nil {
		return nil, fmt.Errorf("create thumbnail dir: %w", err)
	}
	if err := atomicfile.WriteFile(path, buf.Bytes()); err != nil {
		s.log.Warn("cache thumbnail", "item", it.ID, "err", err)
	}
	return buf.Bytes(), nil
}

// uploadResponse answers POST /v1/images.
type uploadResponse struct {
	Item    Item `json:"item"`
	Created bool `json:"created"`
}

// handleUploadImage reads one image (multipart "image" field or a raw image/*
// body) and has the core store, embed and index it (App.Upload): 201 with
// the new item, 200 with the existing one when the content is indexed
// already; a request that ends first leaves no item and no file.
func (s *Server) handleUploadImage(c *gin.Context) {
	if err := s.readyFor(c); err != nil {
		s.writeError(c, err)
		return
	}
	kind, err := bodyKind(c, "multipart/form-data or image/*")
	if err != nil {
		s.writeError(c, err)
		return
	}
	var data []byte
	switch kind {
	case "multipart":
		files, ferr := s.multipartFiles(c, "image")
		if ferr == nil && len(files) != 1 {
			ferr = fmt.Errorf("%w: send exactly one file in the \"image\" field", ErrBadRequest)
		}
		if ferr != nil {
			s.writeError(c, ferr)
			return
		}
		data = files[0]
	case "raw":
		if data, err = readBody(c.Request.Body); err != nil {
			s.writeError(c, bodyReadError(err))
			return
		}
	default:
		s.writeError(c, fmt.Errorf("%w: upload an image as multipart/form-data or image/*", ErrUnsupportedType))
		return
	}
	it, created, err := s.app.Upload(c.Request.Context(), data)
	if err != nil {
		s.writeError(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, uploadResponse{Item: it, Created: created})
}
