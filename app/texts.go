package app

import (
	"context"
	"fmt"
)

// Limits of text collections and embeddings.
const (
	// MaxTextsPerAdd bounds the texts of one AddTexts.
	MaxTextsPerAdd = 10000
	// MaxEmbed bounds the texts and images of one Embed.
	MaxEmbed = 256
)

// AddTexts embeds texts (captions or labels, 1..MaxTextsPerAdd of
// 1..MaxTextLen bytes each) in encoder-sized batches and adds them to the
// text collection, which it creates when new; it returns the new entries.
// Errors wrap ErrInvalid for a bad name or text, ErrUnavailable without a
// catalog. It is safe for concurrent use.
func (a *App) AddTexts(ctx context.Context, collection string, texts []string) ([]TextEntry, error) {
	if err := a.ready(); err != nil {
		return nil, err
	}
	if err := ValidName("collection", collection); err != nil {
		return nil, err
	}
	if len(texts) == 0 || len(texts) > MaxTextsPerAdd {
		return nil, fmt.Errorf("%w: send 1..%d texts", ErrInvalid, MaxTextsPerAdd)
	}
	if err := validTexts(texts); err != nil {
		return nil, err
	}
	vecs, err := a.EmbedTexts(ctx, texts)
	if err != nil {
		return nil, err
	}
	return a.cat.AddTexts(ctx, collection, texts, vecs)
}

// Texts returns the entries of a text collection (an error wrapping
// ErrNotFound, or the store's not-found sentinel, when there is none). It is
// safe for concurrent use.
func (a *App) Texts(ctx context.Context, collection string) ([]TextEntry, error) {
	if err := a.ready(); err != nil {
		return nil, err
	}
	if err := ValidName("collection", collection); err != nil {
		return nil, err
	}
	return a.cat.Texts(ctx, collection)
}

// DeleteTexts deletes a text collection. It is safe for concurrent use.
func (a *App) DeleteTexts(ctx context.Context, collection string) error {
	if err := a.ready(); err != nil {
		return err
	}
	if err := ValidName("collection", collection); err != nil {
		return err
	}
	return a.cat.DeleteTexts(ctx, collection)
}

// EmbedRequest is what Embed embeds (and the body of POST /v1/embed):
// texts, and images as base64.
type EmbedRequest struct {
	Texts  []string `json:"texts,omitempty"`
	Images []string `json:"images,omitempty"`
}

// EmbedResponse is Embed's unit vectors, texts first, then images, in
// request order.
type EmbedResponse struct {
	Model   string      `json:"model"`
	Dim     int         `json:"dim"`
	Vectors [][]float32 `json:"vectors"`
}

// Embed returns the raw unit vectors of 1..MaxEmbed texts and images, texts
// first. A single text goes through the coalescer (merged with concurrent
// queries), several texts are a batch of their own; images are decoded one
// by one in the caller's goroutine. Errors wrap ErrInvalid for a bad text
// or image (naming which). It is safe for concurrent use.
func (a *App) Embed(ctx context.Context, req EmbedRequest) (EmbedResponse, error) {
	info := a.enc.Info()
	resp := EmbedResponse{Model: info.ID, Dim: info.Dim}
	if n := len(req.Texts) + len(req.Images); n == 0 || n > MaxEmbed {
		return resp, fmt.Errorf("%w: send 1..%d texts and images", ErrInvalid, MaxEmbed)
	}
	if err := validTexts(req.Texts); err != nil {
		return resp, err
	}
	out := make([][]float32, 0, len(req.Texts)+len(req.Images))
	if len(req.Texts) == 1 {
		v, err := a.EmbedText(ctx, req.Texts[0])
		if err != nil {
			return resp, err
		}
		out = append(out, v)
	} else if len(req.Texts) > 1 {
		vecs, err := a.EmbedTexts(ctx, req.Texts)
		if err != nil {
			return resp, err
		}
		out = append(out, vecs...)
	}
	for i, img := range req.Images {
		b, err := DecodeBase64(img)
		if err != nil {
			return resp, fmt.Errorf("images[%d]: %w", i, err)
		}
		v, err := a.EmbedImage(ctx, b)
		if err != nil {
			return resp, fmt.Errorf("images[%d]: %w", i, err)
		}
		out = append(out, v)
	}
	resp.Vectors = out
	return resp, nil
}

// validTexts checks that every text is 1..MaxTextLen bytes.
func validTexts(texts []string) error {
	for i, t := range texts {
		if t == "" || len(t) > MaxTextLen {
			return fmt.Errorf("%w: texts[%d] must be 1..%d bytes", ErrInvalid, i, MaxTextLen)
		}
	}
	return nil
}
