package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Zero-shot limits.
const (
	maxLabels    = 1000
	maxTemplates = 32
	embedChunk   = 32 // texts per encoder call for bulk work
)

// defaultTemplates is the prompt used when a request names none.
var defaultTemplates = []string{"{}"}

// LabelSet is a named list of labels and prompt templates, stored for reuse.
// With AutoTag set (or when named in Options.AutoTags) it is run on every
// newly indexed image: its most probable label becomes the item tag
// "auto:<label>" when its probability is at least MinProb (default 0.5).
type LabelSet struct {
	Labels    []string `json:"labels"`
	Templates []string `json:"templates,omitempty"`
	AutoTag   bool     `json:"auto_tag,omitempty"`
	MinProb   float64  `json:"min_prob,omitempty"`
}

// LabelScore is one label of a zero-shot classification.
type LabelScore struct {
	Label       string  `json:"label"`
	Probability float64 `json:"probability"`
	Cosine      float64 `json:"cosine"`
}

// ValidateLabels checks a label list and its prompt templates: 1..1000
// distinct labels of 1..200 bytes, at most 32 templates, each holding "{}"
// (errors wrap ErrInvalid).
func ValidateLabels(labels, templates []string) error {
	switch {
	case len(labels) == 0:
		return fmt.Errorf("%w: no labels", ErrInvalid)
	case len(labels) > maxLabels:
		return fmt.Errorf("%w: at most %d labels", ErrInvalid, maxLabels)
	case len(templates) > maxTemplates:
		return fmt.Errorf("%w: at most %d templates", ErrInvalid, maxTemplates)
	}
	seen := map[string]bool{}
	for _, l := range labels {
		if strings.TrimSpace(l) == "" || len(l) > 200 {
			return fmt.Errorf("%w: labels must be 1..200 bytes", ErrInvalid)
		}
		if seen[l] {
			return fmt.Errorf("%w: label %q given twice", ErrInvalid, l)
		}
		seen[l] = true
	}
	for _, t := range templates {
		if !strings.Contains(t, "{}") || len(t) > 300 {
			return fmt.Errorf("%w: template %q must contain {} and be at most 300 bytes", ErrInvalid, t)
		}
	}
	return nil
}

// textChecker is an Encoder that can tell, without running the model,
// whether it would refuse a text (Model: by tokenising it). Validation of
// stored label sets uses it, so that a set accepted now can be embedded
// later: a label of only zero-width or control characters passes
// ValidateLabels but has no pieces.
type textChecker interface {
	CheckText(text string) error
}

// checkPrompts makes every label under every template (as LabelVectors
// would) and asks enc whether it can embed each; an encoder that cannot
// check passes them all. Errors wrap ErrInvalid and name the label.
func checkPrompts(enc Encoder, labels, templates []string) error {
	tc, ok := enc.(textChecker)
	if !ok {
		return nil
	}
	if len(templates) == 0 {
		templates = defaultTemplates
	}
	for _, l := range labels {
		for _, t := range templates {
			err := tc.CheckText(strings.ReplaceAll(t, "{}", l))
			if err != nil && !errors.Is(err, ErrInvalid) {
				err = fmt.Errorf("%w: %w", ErrInvalid, err)
			}
			if err != nil {
				return fmt.Errorf("label %q under template %q: %w", l, t, err)
			}
		}
	}
	return nil
}

// LabelVectors embeds every label under every template with embed and
// averages the template vectors per label (a prompt ensemble), then
// renormalises; no templates means "{}" (the label itself).
func LabelVectors(ctx context.Context, embed func(context.Context, []string) ([][]float32, error), labels, templates []string) ([][]float32, error) {
	if len(templates) == 0 {
		templates = defaultTemplates
	}
	prompts := make([]string, 0, len(labels)*len(templates))
	for _, l := range labels {
		for _, t := range templates {
			prompts = append(prompts, strings.ReplaceAll(t, "{}", l))
		}
	}
	vecs, err := embed(ctx, prompts)
	if err != nil {
		return nil, err
	}
	if len(vecs) != len(prompts) {
		return nil, fmt.Errorf("embed %d prompts: got %d vectors", len(prompts), len(vecs))
	}
	out := make([][]float32, len(labels))
	for i := range labels {
		sum := make([]float64, len(vecs[0]))
		for j := range templates {
			for d, x := range vecs[i*len(templates)+j] {
				sum[d] += float64(x)
			}
		}
		if out[i], err = normalize(sum); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ZeroShot is BEiT-3/CLIP zero-shot classification: softmax over
// exp(logit_scale)·cosine, ranked by probability.
// vecs are the labels' unit vectors (LabelVectors), img an image's.
func ZeroShot(img []float32, labels []string, vecs [][]float32, logitScale float64) []LabelScore {
	scale := math.Exp(logitScale)
	out := make([]LabelScore, len(labels))
	maxLogit := math.Inf(-1)
	for i, v := range vecs {
		var dot float64
		for d := range v {
			dot += float64(v[d]) * float64(img[d])
		}
		out[i] = LabelScore{Label: labels[i], Cosine: dot}
		maxLogit = math.Max(maxLogit, scale*dot)
	}
	var z float64
	for i := range out {
		out[i].Probability = math.Exp(scale*out[i].Cosine - maxLogit)
		z += out[i].Probability
	}
	for i := range out {
		out[i].Probability /= z
	}
	slices.SortStableFunc(out, func(a, b LabelScore) int {
		switch {
		case a.Probability > b.Probability:
			return -1
		case a.Probability < b.Probability:
			return 1
		}
		return 0
	})
	return out
}

// normalize scales sum to a unit vector; a (near) zero sum, which weighted
// terms that cancel out give, is ErrInvalid.
func normalize(sum []float64) ([]float32, error) {
	var norm float64
	for _, x := range sum {
		norm += x * x
	}
	norm = math.Sqrt(norm)
	if norm < 1e-9 || math.IsNaN(norm) || math.IsInf(norm, 0) {
		return nil, fmt.Errorf("%w: the weighted query terms cancel out (zero vector)", ErrInvalid)
	}
	out := make([]float32, len(sum))
	for i, x := range sum {
		out[i] = float32(x / norm)
	}
	return out, nil
}

// EmbedTexts embeds many texts with enc in encoder-sized chunks, checking ctx
// between them: bulk work (label prompts, a text collection) that is already
// a batch of its own.
func EmbedTexts(ctx context.Context, enc Encoder, texts []string) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for i := 0; i < len(texts); i += embedChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		vecs, err := enc.EmbedTexts(ctx, texts[i:min(len(texts), i+embedChunk)])
		if err != nil {
			return nil, fmt.Errorf("embed texts: %w", err)
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// ClassifyRequest is a zero-shot classification (and the body of POST
// /v1/classify): exactly one of Image (base64), ImageID or ImageBytes is
// the image; Labels, and the labels of the stored LabelSet when named, are
// the candidates, each under every one of Templates (the set's templates
// when the request gives none).
type ClassifyRequest struct {
	Image     string   `json:"image,omitempty"`
	ImageID   string   `json:"image_id,omitempty"`
	Labels    []string `json:"labels,omitempty"`
	Templates []string `json:"templates,omitempty"`
	LabelSet  string   `json:"label_set,omitempty"`

	// ImageBytes is an image given as bytes (an upload) rather than base64;
	// it is never JSON.
	ImageBytes []byte `json:"-"`
}

// ClassifyResponse is the labels of a classification, most probable first.
type ClassifyResponse struct {
	Labels     []LabelScore `json:"labels"`
	Model      string       `json:"model"`
	LogitScale float64      `json:"logit_scale"`
	// LabelSet is the set the request's label_set resolved to (for
	// DefaultLabelSet: see App.LabelSet).
	LabelSet string `json:"label_set,omitempty"`
}

// Classify ranks the request's labels for its image by zero-shot
// classification (ZeroShot over the labels' prompt-ensemble vectors,
// LabelVectors). Errors wrap ErrInvalid for a malformed request,
// ErrNotFound for an unknown image id or label set, ErrUnavailable without
// a catalog. It is safe for concurrent use.
func (a *App) Classify(ctx context.Context, req ClassifyRequest) (ClassifyResponse, error) {
	info := a.enc.Info()
	resp := ClassifyResponse{Model: info.ID, LogitScale: info.LogitScale}
	if err := a.ready(); err != nil {
		return resp, err
	}
	labels, templates := slices.Clone(req.Labels), req.Templates
	if req.LabelSet != "" {
		name, ls, err := a.resolveLabelSet(ctx, req.LabelSet)
		if err != nil {
			return resp, err
		}
		resp.LabelSet = name
		labels = append(labels, ls.Labels...)
		if len(templates) == 0 {
			templates = ls.Templates
		}
	}
	if err := ValidateLabels(labels, templates); err != nil {
		return resp, err
	}
	var img []float32
	var err error
	switch n := btoi(req.Image != "") + btoi(req.ImageID != "") + btoi(req.ImageBytes != nil); {
	case n != 1:
		return resp, fmt.Errorf("%w: give exactly one of image, image_id or an uploaded image", ErrInvalid)
	case req.ImageID != "":
		if err := ValidName("image_id", req.ImageID); err != nil {
			return resp, err
		}
		img, err = a.imageVector(ctx, req.ImageID)
	case req.Image != "":
		var b []byte
		if b, err = DecodeBase64(req.Image); err == nil {
			img, err = a.EmbedImage(ctx, b)
		}
	default:
		img, err = a.EmbedImage(ctx, req.ImageBytes)
	}
	if err != nil {
		return resp, err
	}
	vecs, err := LabelVectors(ctx, a.EmbedTexts, labels, templates)
	if err != nil {
		return resp, err
	}
	resp.Labels = ZeroShot(img, labels, vecs, info.LogitScale)
	return resp, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
