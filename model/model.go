package model

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"imglish/encoder"
	"imglish/encoder/modelfile"
	"imglish/encoder/preprocess"
	"imglish/encoder/tokenizer"
)

// Options configures Open. The zero value runs on the CPU with the model
// folder's tokenizer and reduced-scale JPEG decoding.
type Options struct {
	// Encoder configures ONNX Runtime (library, provider, threads, logger).
	Encoder encoder.Options
	// ExactJPEG decodes JPEGs at full size, as the official pipeline does
	// (preprocess.Options.Exact); by default a large one is decoded at
	// 1/2–1/8 scale first. Queries and the index must use the same setting,
	// which is why both take it from here.
	ExactJPEG bool
	// Tokenizer is a SentencePiece model file to use instead of the one
	// model.json names.
	Tokenizer string
}

// Info describes a model.
type Info struct {
	ID         string
	Dim        int
	LogitScale float64
	ImageSize  int
	// MaxTokens is the text window, <s> and </s> included.
	MaxTokens int
	// Precision of the graphs (fp32, fp16, int8) and Device they run on (cpu, cuda).
	Precision string
	Device    string
}

// Model is an opened model folder: manifest, tokenizer, preprocessing and
// the encoder's ONNX Runtime sessions. It is safe for concurrent use.
type Model struct {
	enc  *encoder.Encoder
	tok  *tokenizer.Tokenizer // nil when the folder has none
	man  *modelfile.Manifest
	opts Options
}

// Open loads the model folder dir. A folder whose model.json names no
// tokenizer opens (images and raw ids still embed); EmbedTexts then returns
// ErrNoTokenizer. Errors are encoder.Open's and the tokenizer's.
func Open(ctx context.Context, dir string, opts Options) (_ *Model, err error) {
	enc, err := encoder.Open(ctx, dir, opts.Encoder)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, enc.Close())
		}
	}()
	m := &Model{enc: enc, man: enc.Manifest(), opts: opts}
	path := opts.Tokenizer
	if path == "" && m.man.Text.Tokenizer != "" {
		path = filepath.Join(dir, m.man.Text.Tokenizer)
	}
	if path != "" {
		if m.tok, err = tokenizer.Load(path); err != nil {
			return nil, fmt.Errorf("load tokenizer: %w", err)
		}
	}
	return m, nil
}

// Close frees the encoder's sessions after runs in flight. It is idempotent.
func (m *Model) Close() error { return m.enc.Close() }

// Info describes the model.
func (m *Model) Info() Info {
	return Info{
		ID: m.man.ID, Dim: m.enc.Dim(), LogitScale: m.man.LogitScale, ImageSize: m.enc.ImageSize(),
		MaxTokens: m.enc.TextWindow(), Precision: m.man.Precision, Device: m.enc.Provider(),
	}
}

// Manifest returns a copy of model.json.
func (m *Model) Manifest() *modelfile.Manifest { return m.enc.Manifest() }

// Dim is the embedding width.
func (m *Model) Dim() int { return m.enc.Dim() }

// ImageSize is the side of the square image input.
func (m *Model) ImageSize() int { return m.enc.ImageSize() }

// Encoder is the model's encoder, for raw ids and tensors. Model owns it.
func (m *Model) Encoder() *encoder.Encoder { return m.enc }

// Tokenizer is the model's tokenizer, nil when it has none.
func (m *Model) Tokenizer() *tokenizer.Tokenizer { return m.tok }

// HasTokenizer reports whether EmbedTexts can run.
func (m *Model) HasTokenizer() bool { return m.tok != nil }

// Tokenize frames text as the text graph's input: <s>, its first
// Info().MaxTokens−2 pieces, </s>.
func (m *Model) Tokenize(text string) ([]int64, error) {
	if m.tok == nil {
		return nil, ErrNoTokenizer
	}
	ids, err := m.tok.BEiT3Input(text, m.enc.TextWindow())
	if errors.Is(err, tokenizer.ErrEmpty) {
		return nil, fmt.Errorf("%w: %w", ErrEmptyText, err)
	}
	return ids, err
}

// EmbedTexts tokenises texts (see Tokenize) and embeds them as one encoder
// batch; a vector does not depend on its batch mates.
func (m *Model) EmbedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	ids := make([][]int64, len(texts))
	for i, t := range texts {
		v, err := m.Tokenize(t)
		if err != nil {
			return nil, fmt.Errorf("tokenize text %d: %w", i+1, err)
		}
		ids[i] = v
	}
	return m.enc.EmbedTexts(ctx, ids)
}

// ImageOptions are the preprocessing settings of this model: model.json's
// size, mean and std, and Options.ExactJPEG. Callers add only limits
// (MaxPixels, MaxBytes) and orientation handling.
func (m *Model) ImageOptions() preprocess.Options {
	return preprocess.Options{
		Size: m.man.Image.Size, Mean: m.man.Image.Mean, Std: m.man.Image.Std, Exact: m.opts.ExactJPEG,
	}
}

// PrepareImage decodes data (by content, EXIF orientation applied) and
// returns the vision input, refusing more than maxPixels (0: preprocess's
// default) before decoding pixels.
func (m *Model) PrepareImage(ctx context.Context, data []byte, maxPixels int64) ([]float32, error) {
	o := m.ImageOptions()
	o.MaxPixels, o.MaxBytes = maxPixels, int64(len(data))+1
	px, _, err := preprocess.Reader(ctx, bytes.NewReader(data), o)
	if err != nil {
		return nil, err
	}
	return px, nil
}

// PrepareFile decodes the image file at path and returns the vision input,
// with preprocess's default limits.
func (m *Model) PrepareFile(ctx context.Context, path string) ([]float32, error) {
	px, _, err := preprocess.File(ctx, path, m.ImageOptions())
	if err != nil {
		return nil, err
	}
	return px, nil
}

// PrepareRGB resizes and normalises decoded pixels into dst (3×S×S values,
// allocated when nil) and returns it: what PrepareFile does after decoding.
func (m *Model) PrepareRGB(img *preprocess.RGB, dst []float32) []float32 {
	return preprocess.Tensor(img, m.man.Image.Size, m.man.Image.Mean, m.man.Image.Std, dst)
}

// EmbedImages embeds n prepared images laid out as n consecutive CHW tensors
// (see encoder.Encoder.EmbedImages).
func (m *Model) EmbedImages(ctx context.Context, pixels []float32, n int) ([][]float32, error) {
	return m.enc.EmbedImages(ctx, pixels, n)
}

// EmbedImageList embeds prepared images given one tensor each, as one batch.
func (m *Model) EmbedImageList(ctx context.Context, imgs [][]float32) ([][]float32, error) {
	if len(imgs) == 0 {
		return nil, nil
	}
	flat := make([]float32, 0, len(imgs)*len(imgs[0]))
	for _, px := range imgs {
		if len(px) != len(imgs[0]) {
			return nil, ErrImageBatch
		}
		flat = append(flat, px...)
	}
	return m.enc.EmbedImages(ctx, flat, len(imgs))
}
