package modelfile

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"imglish/internal/atomicfile"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Name is the manifest's file name inside a model folder.
const Name = "model.json"

// Manifest describes a converted BEiT-3 dual-encoder model folder.
type Manifest struct {
	// Format is the manifest schema version; readers refuse a newer one.
	Format int `json:"format"`
	// ID identifies the model's vector space: vectors with different IDs are never compared.
	ID           string       `json:"id"`
	Architecture Architecture `json:"architecture"`
	Image        ImageSpec    `json:"image"`
	Text         TextSpec     `json:"text"`
	// LogitScale is exp()'d to calibrate cosines into logits (zero-shot softmax); ln(1/0.07) when absent.
	LogitScale float64 `json:"logit_scale"`
	// Precision of the ONNX graphs: fp32, fp16 or int8.
	Precision string `json:"precision"`
	// VisionModel and TextModel are file names relative to the folder.
	VisionModel string `json:"vision_model"`
	TextModel   string `json:"text_model"`
	// Files maps each file of the folder (but model.json) to its sha256.
	Files map[string]string `json:"files"`
	// Source records where the weights came from.
	Source Source `json:"source"`
	// Converter is the imglish converter version that wrote the folder.
	Converter string `json:"converter"`
}

// Architecture is the transformer shape, inferred from the checkpoint.
type Architecture struct {
	Name          string  `json:"name"` // "beit3"
	Dim           int     `json:"dim"`
	Layers        int     `json:"layers"`
	Heads         int     `json:"heads"`
	FFNDim        int     `json:"ffn_dim"`
	PatchSize     int     `json:"patch_size"`
	VocabRows     int     `json:"vocab_rows"`
	TextPositions int     `json:"text_positions"`
	LayerNormEps  float64 `json:"layernorm_eps"`
}

// ImageSpec says how pixels become the vision model's input.
type ImageSpec struct {
	Size   int        `json:"size"`   // square input side, e.g. 384
	Mean   [3]float32 `json:"mean"`   // 0.5, 0.5, 0.5
	Std    [3]float32 `json:"std"`    // 0.5, 0.5, 0.5
	Resize string     `json:"resize"` // "squash-bicubic-pil"
}

// TextSpec says how a string becomes the text model's input.
type TextSpec struct {
	MaxTokens       int    `json:"max_tokens"` // 64 including <s> and </s>
	Tokenizer       string `json:"tokenizer"`  // file name in the folder, "" when absent
	TokenizerSHA256 string `json:"tokenizer_sha256"`
	BOS             int64  `json:"bos"`
	EOS             int64  `json:"eos"`
	Pad             int64  `json:"pad"`
}

// Source records the checkpoint a model was converted from.
type Source struct {
	Checkpoint       string `json:"checkpoint"`
	CheckpointSHA256 string `json:"checkpoint_sha256"`
	URL              string `json:"url,omitempty"`
}

// CurrentFormat is the manifest schema this build writes and the newest it reads.
const CurrentFormat = 1

// Load reads and validates dir/model.json. It does not hash the files; see Verify.
func Load(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, Name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load %s: %w", dir, ErrNoManifest)
	}
	if err != nil {
		return nil, fmt.Errorf("load manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, Name), errors.Join(ErrInvalid, err))
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	return &m, nil
}

// Validate checks that the manifest describes a model this build can run.
func (m *Manifest) Validate() error {
	switch {
	case m.Format < 1 || m.Format > CurrentFormat:
		return fmt.Errorf("%w: format %d (this build reads up to %d)", ErrInvalid, m.Format, CurrentFormat)
	case m.Architecture.Dim <= 0 || m.Image.Size <= 0 || m.Text.MaxTokens < 3:
		return fmt.Errorf("%w: dim %d, image size %d, max tokens %d", ErrInvalid, m.Architecture.Dim, m.Image.Size, m.Text.MaxTokens)
	case m.VisionModel == "" || m.TextModel == "":
		return fmt.Errorf("%w: missing model file names", ErrInvalid)
	}
	return nil
}

// Write stores m as dir/model.json atomically (temp, fsync, rename, fsync dir).
func Write(dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, Name), b)
}

// FileSHA256 returns the hex sha256 of a file's content.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Verify hashes every file listed in m.Files under dir and reports mismatches as ErrChecksum.
func (m *Manifest) Verify(dir string) error {
	var errs []error
	for name, want := range m.Files {
		got, err := FileSHA256(filepath.Join(dir, name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if got != want {
			errs = append(errs, fmt.Errorf("%s: %w", name, ErrChecksum))
		}
	}
	return errors.Join(errs...)
}
