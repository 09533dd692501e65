package server

import (
	"embed"
	"mime"
	"net/http"
	"path"

	"github.com/gin-gonic/gin"
)

// webFS is the web page: plain HTML, CSS and JavaScript, embedded so the binary
// serves it with no build step.
//
//go:embed web/index.html web/app.js web/style.css
var webFS embed.FS

func (s *Server) handleIndexPage(c *gin.Context) {
	b, err := webFS.ReadFile("web/index.html")
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusOK, "text/html; charset=utf-8", b)
}

func (s *Server) handleAsset(c *gin.Context) {
	name := c.Param("file")
	switch name {
	case "/app.js", "/style.css":
		name = name[1:]
	default:
		s.writeError(c, ErrNotFound)
		return
	}
	b, err := webFS.ReadFile("web/" + name)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, mime.TypeByExtension(path.Ext(name)), b)
}
