package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"golang.org/x/sync/errgroup"
)

// The Weaviate vectorizer door. Weaviate's multi2vec-clip module calls an
// inference server over HTTP (the contract of weaviate/multi2vec-clip-
// inference): GET /.well-known/live and /.well-known/ready answer 204 when
// able to serve, GET /meta describes the model, and POST /vectorize takes
// {"texts": [...], "images": [<base64>...]} and answers {"textVectors",
// "imageVectors"} in request order, or {"error": "..."} with a 4xx/5xx. With
// imglish answering it, a stock Weaviate stores BEiT-3 vectors made by
// imglish's own preprocessing, tokenizer and encoder, and vectorises its
// nearText/nearImage queries the same way.
//
// It is served on its own listener (Options.VectorizerAddr) because the
// module sends no API key: the door can then sit on a private address while
// the API keeps its keys. Work shares the API's admission slots and encoder
// coalescers, so Weaviate's inserts batch together with search traffic.

// Vectorizer limits.
const (
	// maxVectorizeItems caps texts + images in one /vectorize request
	// (Weaviate sends one object's fields, or one query, per request).
	maxVectorizeItems = 256
	// maxVectorizeText is where a text is cut before tokenising. The model
	// reads only its first 62 pieces, which fit in far fewer bytes; the cut
	// bounds the tokenizer's work on a huge text property.
	maxVectorizeText = 64 << 10
	// vectorizeParallel bounds the texts of one request queued for the
	// encoder at once (the coalescer's default batch); images go one by one.
	vectorizeParallel = 16
)

// VectorizeRequest is the body of POST /vectorize on the vectorizer address.
type VectorizeRequest struct {
	Texts  []string `json:"texts"`
	Images []string `json:"images"`
}

// VectorizeResponse answers POST /vectorize: one vector per text and per
// image, in request order.
type VectorizeResponse struct {
	TextVectors  [][]float32 `json:"textVectors"`
	ImageVectors [][]float32 `json:"imageVectors"`
}

// vectorizerError is the error body of the vectorizer door, the shape
// Weaviate's module reads ({"error": "..."}), not the API's {"error": {...}}.
type vectorizerError struct {
	Error string `json:"error"`
}

// ctxVectorizer marks a request that came through the vectorizer door, so
// writeError answers in that door's error shape.
const ctxVectorizer = "imglish.vectorizer"

// VectorizerHandler returns the handler of the Weaviate vectorizer contract
// (Run serves it on Options.VectorizerAddr; tests use httptest). It is safe
// for concurrent use.
func (s *Server) VectorizerHandler() http.Handler { return s.vecEngine }

func (s *Server) newVectorizerEngine() *gin.Engine {
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	mark := func(c *gin.Context) { c.Set(ctxVectorizer, true) }
	e.Use(mark, s.recoverJSON(), s.observe(), s.limits())
	e.NoRoute(func(c *gin.Context) { s.writeError(c, fmt.Errorf("%w: %s", ErrNotFound, c.Request.URL.Path)) })
	e.NoMethod(s.noMethod)
	e.GET("/.well-known/live", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	e.GET("/.well-known/ready", s.handleVectorizerReady)
	auth := func(c *gin.Context) { c.Next() }
	if !s.opts.VectorizerNoAuth {
		auth = s.require(ScopeRead)
	}
	e.GET("/meta", auth, s.handleVectorizerMeta)
	e.POST("/vectorize", auth, s.admitH, s.handleVectorize)
	return e
}

// vectorizerReady is readyFor for the vectorizer door, which needs only the model.
func (s *Server) vectorizerReady(c *gin.Context) error {
	switch {
	case s.draining.Load() && (c == nil || !c.GetBool(ctxArrived)):
		return ErrShuttingDown
	case s.deps.Encoder == nil:
		return ErrUnavailable
	}
	return nil
}

func (s *Server) handleVectorizerReady(c *gin.Context) {
	if err := s.vectorizerReady(nil); err != nil {
		s.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) handleVectorizerMeta(c *gin.Context) {
	if err := s.vectorizerReady(nil); err != nil {
		s.writeError(c, err)
		return
	}
	info := s.deps.Encoder.Info()
	// Weaviate shows "model" as the module's meta; _name_or_path is where
	// the Hugging Face containers put the model name.
	c.JSON(http.StatusOK, gin.H{"model": gin.H{
		"_name_or_path": info.ID,
		"id":            info.ID,
		"architecture":  "BEiT-3 dual encoder (imglish)",
		"dim":           info.Dim,
		"image_size":    info.ImageSize,
		"max_tokens":    info.MaxTokens,
		"precision":     info.Precision,
		"device":        info.Device,
	}})
}

func (s *Server) handleVectorize(c *gin.Context) {
	if err := s.vectorizerReady(c); err != nil {
		s.writeError(c, err)
		return
	}
	req, err := readVectorizeRequest(c.Request.Body)
	if err != nil {
		s.writeError(c, err)
		return
	}
	resp := VectorizeResponse{
		TextVectors:  make([][]float32, len(req.Texts)),
		ImageVectors: make([][]float32, len(req.Images)),
	}
	g, ctx := errgroup.WithContext(c.Request.Context())
	g.SetLimit(vectorizeParallel)
	for i, t := range req.Texts {
		g.Go(func() error {
			v, err := s.app.EmbedText(ctx, t)
			if err != nil {
				return fmt.Errorf("texts[%d]: %w", i, err)
			}
			resp.TextVectors[i] = v
			return nil
		})
	}
	// Images one at a time: the request holds one admission slot, and the
	// App's DecodeBudget bounds the pixels decoded at once.
	// Weaviate sends one object's image per request, so images of different
	// objects still share encoder batches through the coalescer.
	g.Go(func() error {
		for i, img := range req.Images {
			b, err := decodeBase64(img)
			if err != nil {
				return fmt.Errorf("images[%d]: %w", i, err)
			}
			v, err := s.app.EmbedImage(ctx, b)
			if err != nil {
				return fmt.Errorf("images[%d]: %w", i, err)
			}
			resp.ImageVectors[i] = v
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}

// readVectorizeRequest decodes and checks a /vectorize body. Unknown fields
// are ignored, as the reference inference container ignores them, so a newer
// Weaviate that sends more still vectorises.
func readVectorizeRequest(body io.Reader) (VectorizeRequest, error) {
	var req VectorizeRequest
	if err := json.NewDecoder(body).Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return req, err
		case errors.Is(err, io.EOF):
			return req, fmt.Errorf("%w: empty body (want {\"texts\": [...], \"images\": [...]})", ErrBadRequest)
		default:
			return req, fmt.Errorf("%w: the body is not a JSON object {\"texts\": [strings], \"images\": [base64 strings]}", ErrBadRequest)
		}
	}
	if n := len(req.Texts) + len(req.Images); n > maxVectorizeItems {
		return req, fmt.Errorf("%w: %d texts and images in one request, at most %d", ErrBadRequest, n, maxVectorizeItems)
	}
	for i, t := range req.Texts {
		if strings.TrimSpace(t) == "" {
			return req, fmt.Errorf("%w: texts[%d] is empty", ErrBadRequest, i)
		}
		if len(t) > maxVectorizeText {
			cut := maxVectorizeText
			for cut > 0 && !utf8.RuneStart(t[cut]) {
				cut--
			}
			req.Texts[i] = t[:cut]
		}
	}
	return req, nil
}
