package server

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
)

// maxTextsPerRequest bounds one bulk add.
const maxTextsPerRequest = 10000

type addTextsRequest struct {
	Texts []string `json:"texts"`
}

func (s *Server) collection(c *gin.Context) (string, bool) {
	if err := s.ready(); err != nil {
		s.writeError(c, err)
		return "", false
	}
	name := c.Param("collection")
	if err := validName("collection", name); err != nil {
		s.writeError(c, err)
		return "", false
	}
	return name, true
}

// handleAddTexts embeds captions or labels in batches and adds them to a collection.
func (s *Server) handleAddTexts(c *gin.Context) {
	name, ok := s.collection(c)
	if !ok {
		return
	}
	var req addTextsRequest
	if err := readJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	if len(req.Texts) == 0 || len(req.Texts) > maxTextsPerRequest {
		s.writeError(c, fmt.Errorf("%w: send 1..%d texts", ErrBadRequest, maxTextsPerRequest))
		return
	}
	for i, t := range req.Texts {
		if t == "" || len(t) > maxTextLen {
			s.writeError(c, fmt.Errorf("%w: text %d must be 1..%d bytes", ErrBadRequest, i+1, maxTextLen))
			return
		}
	}
	vecs, err := s.app.EmbedTexts(c.Request.Context(), req.Texts)
	if err != nil {
		s.writeError(c, err)
		return
	}
	entries, err := s.deps.Catalog.AddTexts(c.Request.Context(), name, req.Texts, vecs)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"collection": name, "added": entries})
}

func (s *Server) handleGetTexts(c *gin.Context) {
	name, ok := s.collection(c)
	if !ok {
		return
	}
	entries, err := s.deps.Catalog.Texts(c.Request.Context(), name)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"collection": name, "count": len(entries), "texts": entries})
}

func (s *Server) handleDeleteTexts(c *gin.Context) {
	name, ok := s.collection(c)
	if !ok {
		return
	}
	if err := s.deps.Catalog.DeleteTexts(c.Request.Context(), name); err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deleted": name})
}

// embedRequest is the body of POST /v1/embed.
type embedRequest struct {
	Texts  []string `json:"texts,omitempty"`
	Images []string `json:"images,omitempty"`
}

// handleEmbed returns raw unit vectors for texts and base64 images, in order
// (texts first, then images).
func (s *Server) handleEmbed(c *gin.Context) {
	if err := s.ready(); err != nil {
		s.writeError(c, err)
		return
	}
	var req embedRequest
	if err := readJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	if n := len(req.Texts) + len(req.Images); n == 0 || n > 256 {
		s.writeError(c, fmt.Errorf("%w: send 1..256 texts and images", ErrBadRequest))
		return
	}
	ctx := c.Request.Context()
	for i, t := range req.Texts {
		if t == "" || len(t) > maxTextLen {
			s.writeError(c, fmt.Errorf("%w: text %d must be 1..%d bytes", ErrBadRequest, i+1, maxTextLen))
			return
		}
	}
	out := make([][]float32, 0, len(req.Texts)+len(req.Images))
	if len(req.Texts) == 1 {
		v, err := s.app.EmbedText(ctx, req.Texts[0])
		if err != nil {
			s.writeError(c, err)
			return
		}
		out = append(out, v)
	} else if len(req.Texts) > 1 {
		vecs, err := s.app.EmbedTexts(ctx, req.Texts)
		if err != nil {
			s.writeError(c, err)
			return
		}
		out = append(out, vecs...)
	}
	for i, img := range req.Images {
		b, err := decodeBase64(img)
		if err != nil {
			s.writeError(c, fmt.Errorf("image %d: %w", i+1, err))
			return
		}
		v, err := s.app.EmbedImage(ctx, b)
		if err != nil {
			s.writeError(c, fmt.Errorf("image %d: %w", i+1, err))
			return
		}
		out = append(out, v)
	}
	info := s.deps.Encoder.Info()
	c.JSON(http.StatusOK, gin.H{"model": info.ID, "dim": info.Dim, "vectors": out})
}
