package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"imglish/app"
)

// The core's classification types, under server's older names: the body of
// POST /v1/classify and its answer.
type (
	classifyRequest  = app.ClassifyRequest
	classifyResponse = app.ClassifyResponse
)

// DefaultLabelSet is the label set name the page classifies a query image
// with when no labels are typed (app.DefaultLabelSet; see App.LabelSet).
const DefaultLabelSet = app.DefaultLabelSet

// BuiltinDemoLabelSet names the built-in label set of the demo model
// (app.BuiltinDemoLabelSet).
const BuiltinDemoLabelSet = app.BuiltinDemoLabelSet

func (s *Server) handleClassify(c *gin.Context) {
	if err := s.readyFor(c); err != nil {
		s.writeError(c, err)
		return
	}
	var req classifyRequest
	kind, err := bodyKind(c, "application/json or multipart/form-data")
	if err != nil {
		s.writeError(c, err)
		return
	}
	switch kind {
	case "json":
		err = decodeJSON(c.Request.Body, &req)
	case "multipart":
		var files [][]byte
		if files, err = s.multipartFiles(c, "image"); err == nil {
			if len(files) > 1 {
				err = fmt.Errorf("%w: one image per classification, got %d", ErrBadRequest, len(files))
				break
			}
			if len(files) > 0 {
				req.ImageBytes = files[0]
			}
			req.ImageID = formValue(c, "image_id")
			req.LabelSet = formValue(c, "label_set")
			req.Labels = splitList(c.Request.MultipartForm.Value["labels"])
			req.Templates = c.Request.MultipartForm.Value["templates"]
		}
	default:
		err = fmt.Errorf("%w: classify takes application/json or multipart/form-data", ErrUnsupportedType)
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	resp, err := s.app.Classify(c.Request.Context(), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}

// splitList accepts repeated fields and comma-separated values.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func (s *Server) handleGetLabelSet(c *gin.Context) {
	if err := s.ready(); err != nil {
		s.writeError(c, err)
		return
	}
	_, ls, err := s.app.LabelSet(c.Request.Context(), c.Param("name"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, ls)
}

func (s *Server) handlePutLabelSet(c *gin.Context) {
	if err := s.ready(); err != nil {
		s.writeError(c, err)
		return
	}
	name := c.Param("name")
	// The name before the body, so that a bad name is the error whatever the body.
	if err := validName("label set", name); err != nil {
		s.writeError(c, err)
		return
	}
	var ls LabelSet
	if err := readJSON(c, &ls); err != nil {
		s.writeError(c, err)
		return
	}
	j, err := s.app.PutLabelSet(c.Request.Context(), name, ls)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if j != nil {
		// The retag job bringing the indexed items in step with the new
		// auto-tag labels.
		c.Header("X-Retag-Job", j.ID)
	}
	c.JSON(http.StatusOK, ls)
}
