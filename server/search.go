package server

import (
	"fmt"
	"imglish/app"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// The search types are the core's (app), under the names server has always
// used for them: the JSON bodies of POST /v1/search.
type (
	QueryTerm      = app.QueryTerm
	SearchRequest  = app.SearchRequest
	SearchHit      = app.SearchHit
	SearchResponse = app.SearchResponse
)

func (s *Server) handleSearch(c *gin.Context) {
	start := time.Now()
	if err := s.readyFor(c); err != nil {
		s.writeError(c, err)
		return
	}
	req, err := s.readSearch(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	resp, err := s.app.Search(c.Request.Context(), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	for i, h := range resp.Hits {
		if h.Metadata != nil {
			resp.Hits[i].ThumbnailURL = "/v1/items/" + h.ID + "/thumbnail"
			resp.Hits[i].OriginalURL = "/v1/items/" + h.ID + "/original"
		}
	}
	resp.TookMS = float64(time.Since(start).Microseconds()) / 1000
	c.JSON(http.StatusOK, resp)
}

// readSearch parses JSON, or multipart with a "query" JSON field and "image" files.
func (s *Server) readSearch(c *gin.Context) (SearchRequest, error) {
	var req SearchRequest
	kind, err := bodyKind(c, "application/json or multipart/form-data")
	if err != nil {
		return req, err
	}
	switch kind {
	case "json":
		if err := decodeJSON(c.Request.Body, &req); err != nil {
			return req, err
		}
	case "multipart":
		files, err := s.multipartFiles(c, "image")
		if err != nil {
			return req, err
		}
		if q := formValue(c, "query"); q != "" {
			if err := decodeJSON(strings.NewReader(q), &req); err != nil {
				return req, fmt.Errorf("form field %q: %w", "query", err)
			}
		}
		if t := formValue(c, "text"); t != "" {
			req.Query = append(req.Query, QueryTerm{Text: t})
		}
		w := 1.0
		if v := formValue(c, "image_weight"); v != "" {
			if w, err = strconv.ParseFloat(v, 64); err != nil {
				return req, fmt.Errorf("%w: form field %q: expected a number, got %q", ErrBadRequest, "image_weight", v)
			}
		}
		for _, f := range files {
			req.Query = append(req.Query, QueryTerm{ImageBytes: f, Weight: &w})
		}
	default:
		return req, fmt.Errorf("%w: search takes application/json or multipart/form-data", ErrUnsupportedType)
	}
	// app.Search turns text, image and image_id into terms and validates.
	return req, nil
}
