package server

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"imglish/app"
)

type addTextsRequest struct {
	Texts []string `json:"texts"`
}

// embedRequest is the body of POST /v1/embed (the core's EmbedRequest).
type embedRequest = app.EmbedRequest

// collection checks that the server takes work and the route's collection
// name is valid (before the body is read, so that a bad name is the error
// whatever the body).
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
	entries, err := s.app.AddTexts(c.Request.Context(), name, req.Texts)
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
	entries, err := s.app.Texts(c.Request.Context(), name)
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
	if err := s.app.DeleteTexts(c.Request.Context(), name); err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deleted": name})
}

// handleEmbed returns raw unit vectors for texts and base64 images, in order
// (texts first, then images).
func (s *Server) handleEmbed(c *gin.Context) {
	if err := s.readyFor(c); err != nil {
		s.writeError(c, err)
		return
	}
	var req embedRequest
	if err := readJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	resp, err := s.app.Embed(c.Request.Context(), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}
