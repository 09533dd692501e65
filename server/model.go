package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"imglish/demo"
	"imglish/encoder"
	"imglish/encoder/modelfile"
	"imglish/encoder/preprocess"
	"imglish/encoder/tokenizer"
)

// Model adapts an opened encoder.Encoder and its tokenizer to Encoder: texts
// are tokenised with the model's SentencePiece model (BEiT-3 framing), images
// decoded and preprocessed per model.json. It is safe for concurrent use.
type Model struct {
	enc  *encoder.Encoder
	tok  *tokenizer.Tokenizer
	man  *modelfile.Manifest
	opts ModelOptions
}

// ModelOptions configures a Model. The zero value is the default.
type ModelOptions struct {
	// ExactJPEG decodes query JPEGs at full size, as the official pipeline
	// does (preprocess.Options.Exact); by default a large one is decoded at
	// 1/2–1/8 scale first. Index with the same setting.
	ExactJPEG bool
}

// NewModel wraps enc, loading the tokenizer named by the manifest from dir.
// The caller keeps ownership of enc and closes it.
func NewModel(enc *encoder.Encoder, dir string, opts ModelOptions) (*Model, error) {
	man := enc.Manifest()
	if man.Text.Tokenizer == "" {
		return nil, fmt.Errorf("open model %s: %w: model.json names no tokenizer", dir, ErrConfig)
	}
	tok, err := tokenizer.Load(filepath.Join(dir, man.Text.Tokenizer))
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	return &Model{enc: enc, tok: tok, man: man, opts: opts}, nil
}

// Info describes the model.
func (m *Model) Info() ModelInfo {
	return ModelInfo{
		ID: m.man.ID, Dim: m.enc.Dim(), LogitScale: m.man.LogitScale, ImageSize: m.enc.ImageSize(),
		MaxTokens: m.enc.TextWindow(), Precision: m.man.Precision, Device: m.enc.Provider(),
		Demo: demo.IsModel(m.man),
	}
}

// PrepareImage decodes data (by content) and returns the vision tower's input.
func (m *Model) PrepareImage(ctx context.Context, data []byte, maxPixels int64) ([]float32, error) {
	px, _, err := preprocess.Reader(ctx, bytes.NewReader(data), preprocess.Options{
		Size: m.enc.ImageSize(), MaxPixels: maxPixels, MaxBytes: int64(len(data)) + 1,
		Mean: m.man.Image.Mean, Std: m.man.Image.Std, Exact: m.opts.ExactJPEG,
	})
	if err != nil {
		return nil, err
	}
	return px, nil
}

// EmbedImages embeds preprocessed images as one encoder batch.
func (m *Model) EmbedImages(ctx context.Context, imgs [][]float32) ([][]float32, error) {
	if len(imgs) == 0 {
		return nil, nil
	}
	flat := make([]float32, 0, len(imgs)*len(imgs[0]))
	for _, px := range imgs {
		if len(px) != len(imgs[0]) {
			return nil, fmt.Errorf("%w: images of different sizes in one batch", ErrInternal)
		}
		flat = append(flat, px...)
	}
	return m.enc.EmbedImages(ctx, flat, len(imgs))
}

// EmbedTexts tokenises and embeds texts as one encoder batch. A text longer
// than the model's window (ModelInfo.MaxTokens) keeps its first pieces, as
// `imglish embed` and the official code truncate.
func (m *Model) EmbedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	ids := make([][]int64, len(texts))
	for i, t := range texts {
		v, err := m.tok.BEiT3Input(t, m.enc.TextWindow())
		if err != nil {
			if errors.Is(err, tokenizer.ErrEmpty) {
				return nil, fmt.Errorf("%w: text %d is empty after normalisation", ErrBadRequest, i+1)
			}
			return nil, fmt.Errorf("tokenize: %w", err)
		}
		ids[i] = v
	}
	return m.enc.EmbedTexts(ctx, ids)
}
