package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"imglish/app"
	"imglish/demo"
)

// classifyRequest is the body of POST /v1/classify.
type classifyRequest struct {
	Image     string   `json:"image,omitempty"`
	ImageID   string   `json:"image_id,omitempty"`
	Labels    []string `json:"labels,omitempty"`
	Templates []string `json:"templates,omitempty"`
	LabelSet  string   `json:"label_set,omitempty"`

	imageBytes []byte
}

type classifyResponse struct {
	Labels     []app.LabelScore `json:"labels"`
	Model      string           `json:"model"`
	LogitScale float64          `json:"logit_scale"`
	// LabelSet is the set the request's label_set resolved to (for
	// "default": see resolveLabelSet).
	LabelSet string `json:"label_set,omitempty"`
}

// DefaultLabelSet is the label set name the page classifies a query image
// with when no labels are typed. It resolves (resolveLabelSet) to the stored
// set of that name, else the first auto-tag set, else, on the demo model, the
// built-in set BuiltinDemoLabelSet.
const DefaultLabelSet = "default"

// BuiltinDemoLabelSet names the built-in label set of the demo model: the 48
// prompts "a red circle" … "a black cross" of its zero-shot evaluation
// (demo.ZeroShotPrompts). The name cannot be stored (validName refuses ':').
const BuiltinDemoLabelSet = "builtin:demo"

func (s *Server) handleClassify(c *gin.Context) {
	if err := s.ready(); err != nil {
		s.writeError(c, err)
		return
	}
	var req classifyRequest
	kind, err := bodyKind(c)
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
			if len(files) > 0 {
				req.imageBytes = files[0]
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
	resp, err := s.classify(c.Request.Context(), req)
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

func (s *Server) classify(ctx context.Context, req classifyRequest) (classifyResponse, error) {
	info := s.deps.Encoder.Info()
	resp := classifyResponse{Model: info.ID, LogitScale: info.LogitScale}
	if req.LabelSet != "" {
		name, ls, err := s.resolveLabelSet(ctx, req.LabelSet)
		if err != nil {
			return resp, err
		}
		resp.LabelSet = name
		req.Labels = append(req.Labels, ls.Labels...)
		if len(req.Templates) == 0 {
			req.Templates = ls.Templates
		}
	}
	if err := app.ValidateLabels(req.Labels, req.Templates); err != nil {
		return resp, err
	}
	var img []float32
	var err error
	switch n := btoi(req.Image != "") + btoi(req.ImageID != "") + btoi(req.imageBytes != nil); {
	case n != 1:
		return resp, fmt.Errorf("%w: give exactly one of image, image_id or an uploaded image", ErrBadRequest)
	case req.ImageID != "":
		if err := validName("image_id", req.ImageID); err != nil {
			return resp, err
		}
		img, err = s.deps.Catalog.Vector(ctx, req.ImageID)
	case req.Image != "":
		var b []byte
		if b, err = decodeBase64(req.Image); err == nil {
			img, err = s.app.EmbedImage(ctx, b)
		}
	default:
		img, err = s.app.EmbedImage(ctx, req.imageBytes)
	}
	if err != nil {
		return resp, err
	}
	labelVecs, err := app.LabelVectors(ctx, s.embedTexts, req.Labels, req.Templates)
	if err != nil {
		return resp, err
	}
	resp.Labels = app.ZeroShot(img, req.Labels, labelVecs, info.LogitScale)
	return resp, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// embedTexts embeds many texts in encoder-sized chunks (one request's bulk work
// is already a batch, so it bypasses the coalescer).
func (s *Server) embedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	return app.EmbedTexts(ctx, s.deps.Encoder, texts)
}

// resolveLabelSet loads the label set name. DefaultLabelSet, when no set of
// that name is stored, falls back to the first auto-tag set (the config's
// auto_tags in their order, then sets stored with auto_tag, by name), so a
// dropped image shows the labels it would be tagged with; then, on the demo
// model, to BuiltinDemoLabelSet, the world the model knows. It returns the
// name of the set it loaded; without any, an error wrapping ErrNotFound.
func (s *Server) resolveLabelSet(ctx context.Context, name string) (string, LabelSet, error) {
	ls, err := s.deps.Catalog.LabelSet(ctx, name)
	if name != DefaultLabelSet || !errors.Is(err, ErrNotFound) {
		return name, ls, err
	}
	if sets := s.autoTagSets(); len(sets) > 0 {
		ls, err := s.deps.Catalog.LabelSet(ctx, sets[0])
		return sets[0], ls, err
	}
	if s.deps.Encoder != nil && s.deps.Encoder.Info().Demo {
		labels, _ := demo.ZeroShotPrompts()
		return BuiltinDemoLabelSet, LabelSet{Labels: labels}, nil
	}
	return name, ls, fmt.Errorf("%w (store one with PUT /v1/labelsets/%s or name auto_tags in the config)", err, DefaultLabelSet)
}

// autoTagSets lists the auto-tag label sets: the configured ones in their
// order, then the others the AutoTagger runs (sets stored with auto_tag).
func (s *Server) autoTagSets() []string {
	out := slices.Clone(s.opts.AutoTags)
	if at := s.deps.AutoTagger; at != nil {
		for _, n := range at.Sets() {
			if !slices.Contains(out, n) {
				out = append(out, n)
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
	_, ls, err := s.resolveLabelSet(c.Request.Context(), c.Param("name"))
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
	if err := validName("label set", name); err != nil {
		s.writeError(c, err)
		return
	}
	var ls LabelSet
	if err := readJSON(c, &ls); err != nil {
		s.writeError(c, err)
		return
	}
	if err := app.ValidateLabels(ls.Labels, ls.Templates); err != nil {
		s.writeError(c, err)
		return
	}
	if ls.MinProb < 0 || ls.MinProb > 1 || math.IsNaN(ls.MinProb) {
		s.writeError(c, fmt.Errorf("%w: min_prob must be within [0, 1]", ErrBadRequest))
		return
	}
	if err := s.deps.Catalog.PutLabelSet(c.Request.Context(), name, ls); err != nil {
		s.writeError(c, err)
		return
	}
	if at := s.deps.AutoTagger; at != nil {
		// New images are tagged with the new labels from now on; when the set
		// is (or was) an auto-tag set, a retag job brings the indexed items in
		// step, named by the X-Retag-Job header.
		was := slices.Contains(at.Sets(), name)
		if err := at.Reload(c.Request.Context()); err != nil {
			s.log.Warn("reload auto-tags", "label_set", name, "err", err)
		} else if was || slices.Contains(at.Sets(), name) {
			if j, ok := s.startRetag(); ok {
				c.Header("X-Retag-Job", j.ID)
			}
		}
	}
	c.JSON(http.StatusOK, ls)
}
