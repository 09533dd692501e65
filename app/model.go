package app

import (
	"context"
	"errors"
	"fmt"

	"imglish/demo"
	"imglish/model"
)

// Model adapts a model.Model (the application core every door shares:
// tokenizer, 64-token window, preprocessing, encoder) to Encoder. It adds
// only what is the server's: ModelInfo's JSON shape, the demo flag, and
// mapping an empty text to ErrInvalid. It is safe for concurrent use.
type Model struct {
	m *model.Model
}

// NewModel wraps m, which the caller keeps ownership of and closes. A model
// without a tokenizer is ErrConfig: the API's text doors need one.
func NewModel(m *model.Model) (*Model, error) {
	if !m.HasTokenizer() {
		return nil, fmt.Errorf("open model %s: %w: model.json names no tokenizer", m.Info().ID, ErrConfig)
	}
	return &Model{m: m}, nil
}

// Core is the wrapped model.
func (m *Model) Core() *model.Model { return m.m }

// Info describes the model.
func (m *Model) Info() ModelInfo {
	i := m.m.Info()
	return ModelInfo{
		ID: i.ID, Dim: i.Dim, LogitScale: i.LogitScale, ImageSize: i.ImageSize,
		MaxTokens: i.MaxTokens, Precision: i.Precision, Device: i.Device,
		Demo: demo.IsModel(m.m.Manifest()),
	}
}

// PrepareImage decodes data (by content) and returns the vision tower's input.
func (m *Model) PrepareImage(ctx context.Context, data []byte, maxPixels int64) ([]float32, error) {
	return m.m.PrepareImage(ctx, data, maxPixels)
}

// EmbedImages embeds preprocessed images as one encoder batch.
func (m *Model) EmbedImages(ctx context.Context, imgs [][]float32) ([][]float32, error) {
	vecs, err := m.m.EmbedImageList(ctx, imgs)
	if errors.Is(err, model.ErrImageBatch) {
		return nil, fmt.Errorf("%w: %w", ErrInternal, err)
	}
	return vecs, err
}

// errEmptyText is model.ErrEmptyText in the request's terms.
var errEmptyText = errors.New("nothing to embed once normalised (only spaces, control or zero-width characters)")

// CheckText tokenises text without running the model: an error wraps
// ErrInvalid when the text has no pieces (see textChecker).
func (m *Model) CheckText(text string) error {
	_, err := m.m.Tokenize(text)
	if errors.Is(err, model.ErrEmptyText) {
		return fmt.Errorf("%w: %w", ErrInvalid, errEmptyText)
	}
	return err
}

// EmbedTexts tokenises and embeds texts as one encoder batch. A text longer
// than the model's window (ModelInfo.MaxTokens) keeps its first pieces, as
// every other door and the official code truncate. A text with no pieces
// is ErrInvalid naming it (texts[i], 0-based like the API's field paths):
// the model tokenises before the encoder runs, and only then are the texts
// checked again to find which.
func (m *Model) EmbedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	vecs, err := m.m.EmbedTexts(ctx, texts)
	if errors.Is(err, model.ErrEmptyText) {
		for i, t := range texts {
			if cerr := m.CheckText(t); cerr != nil {
				return nil, fmt.Errorf("texts[%d]: %w", i, cerr)
			}
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return vecs, err
}
