package convert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"imglish/encoder/convert/onnxpb"
	"imglish/encoder/modelfile"
	"imglish/internal/atomicfile"
)

// Version is the converter version recorded in model.json. GraphVersion
// changes whenever the emitted graphs compute something different (it is part
// of the model ID, so vectors from different graph versions are never mixed).
const (
	Version      = "imglish-convert/1"
	GraphVersion = 1
)

// File names inside a model folder.
const (
	VisionFile = "vision.onnx"
	TextFile   = "text.onnx"
)

// Precisions accepted by Options.Precision.
const (
	PrecisionFP32 = modelfile.PrecisionFP32
	PrecisionFP16 = modelfile.PrecisionFP16
)

// Options configures Convert. The zero value of every field but Checkpoint and
// OutDir means "default".
type Options struct {
	// Checkpoint is the torch.save file to read.
	Checkpoint string
	// OutDir is the model folder to write; created if absent. Existing model
	// files in it are replaced.
	OutDir string
	// Tokenizer, when set, is a SentencePiece model copied into the folder and
	// recorded with its sha256 in model.json.
	Tokenizer string
	// ImageSize is the model's input side in pixels; 0 keeps the checkpoint's.
	// Otherwise the vision position table is resized (spec §3.3).
	ImageSize int
	// Heads is the attention head count; 0 infers width/64.
	Heads int
	// Precision is fp32 (default) or fp16 (fp16 weights and compute; inputs,
	// outputs, softmax and the final normalisation stay float32).
	Precision string
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
	// Unfused emits attention in standard ONNX ops only, never as
	// com.microsoft MultiHeadAttention (for runtimes without ORT's contrib
	// operators, and to compare the two).
	Unfused bool
	// ExternalDataBytes is the initializer size above which a graph's weights
	// go to a separate <file>.data (ONNX external data); 0 means 1800 MiB,
	// below protobuf's 2 GiB limit.
	ExternalDataBytes int64
}

// Convert reads opts.Checkpoint and writes a complete model folder to
// opts.OutDir, returning the manifest it wrote. model.json is written last and
// removed first, so a folder with a model.json is always complete. Errors wrap
// ErrCheckpoint (as *CheckpointError) or ErrOptions; ctx cancels between tensors.
func Convert(ctx context.Context, opts Options) (*modelfile.Manifest, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	prec := opts.Precision
	if prec == "" {
		prec = PrecisionFP32
	}
	act, int8 := tFloat, false
	switch prec {
	case PrecisionFP32:
	case PrecisionFP16:
		act = tFloat16
	case PrecisionInt8:
		int8 = true
	default:
		return nil, fmt.Errorf("%w: precision %q (want fp32, fp16 or int8)", ErrOptions, opts.Precision)
	}
	if opts.Checkpoint == "" || opts.OutDir == "" {
		return nil, fmt.Errorf("%w: checkpoint and output folder are required", ErrOptions)
	}
	if opts.ImageSize < 0 || opts.Heads < 0 {
		return nil, fmt.Errorf("%w: image size %d, heads %d", ErrOptions, opts.ImageSize, opts.Heads)
	}
	limit := opts.ExternalDataBytes
	if limit <= 0 {
		limit = defaultExternalLimit
	}
	start := time.Now()

	ck, err := OpenCheckpoint(opts.Checkpoint)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	cfg, err := InferConfig(ck, opts.Heads)
	if err != nil {
		return nil, err
	}
	grid := cfg.Grid
	if opts.ImageSize != 0 {
		if opts.ImageSize%cfg.Patch != 0 {
			return nil, fmt.Errorf("%w: image size %d is not a multiple of the patch size %d", ErrOptions, opts.ImageSize, cfg.Patch)
		}
		grid = opts.ImageSize / cfg.Patch
	}
	log.Info("checkpoint read", "path", opts.Checkpoint, "dim", cfg.Dim, "layers", cfg.Layers, "heads", cfg.Heads,
		"ffn", cfg.FFNDim, "checkpoint_image_size", cfg.ImageSize(), "image_size", grid*cfg.Patch,
		"vocab_rows", cfg.VocabRows, "text_positions", cfg.TextPos, "precision", prec)

	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", opts.OutDir, err)
	}
	removeStaleTemps(opts.OutDir)
	if err := os.Remove(filepath.Join(opts.OutDir, modelfile.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove old manifest: %w", err)
	}
	ckSum, err := modelfile.FileSHA256(opts.Checkpoint)
	if err != nil {
		return nil, err
	}

	newGraphBuilder := func() *builder {
		b := newBuilder(act)
		b.int8, b.unfused = int8, opts.Unfused
		return b
	}
	files := map[string]string{}
	for _, part := range []struct {
		file  string
		build func() (*onnxpb.GraphProto, *builder)
	}{
		{VisionFile, func() (*onnxpb.GraphProto, *builder) { return visionGraph(ck, cfg, newGraphBuilder(), grid) }},
		{TextFile, func() (*onnxpb.GraphProto, *builder) { return textGraph(ck, cfg, newGraphBuilder()) }},
	} {
		t := time.Now()
		graph, b := part.build()
		written, err := writeModel(ctx, opts.OutDir, part.file, modelProto(graph, Version), b, limit)
		if err != nil {
			return nil, err
		}
		for _, f := range written {
			files[f.name] = f.sha256
			log.Info("wrote", "file", f.name, "bytes", f.size, "took", time.Since(t).Round(time.Millisecond))
		}
		// A stale external-data file from an earlier, larger conversion is
		// removed so the folder holds only what the manifest lists.
		if _, ok := files[part.file+".data"]; !ok {
			_ = os.Remove(filepath.Join(opts.OutDir, part.file+".data"))
		}
	}

	m := &modelfile.Manifest{
		Format: modelfile.CurrentFormat,
		Architecture: modelfile.Architecture{
			Name: "beit3", Dim: cfg.Dim, Layers: cfg.Layers, Heads: cfg.Heads, FFNDim: cfg.FFNDim,
			PatchSize: cfg.Patch, VocabRows: cfg.VocabRows, TextPositions: cfg.TextPos, LayerNormEps: lnEps,
		},
		Image: modelfile.ImageSpec{
			Size: grid * cfg.Patch, Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.5, 0.5, 0.5},
			Resize: "squash-bicubic-pil",
		},
		Text:        modelfile.TextSpec{MaxTokens: min(64, cfg.TextPos-2), BOS: 0, EOS: 2, Pad: 1},
		LogitScale:  math.Log(1 / 0.07),
		Precision:   prec,
		VisionModel: VisionFile,
		TextModel:   TextFile,
		Files:       files,
		Source:      modelfile.Source{Checkpoint: filepath.Base(opts.Checkpoint), CheckpointSHA256: ckSum},
		Converter:   Version,
	}
	if v, ok := ck.Scalar(keyLogit); ok {
		m.LogitScale = v
	}
	if opts.Tokenizer != "" {
		b, err := os.ReadFile(opts.Tokenizer)
		if err != nil {
			return nil, fmt.Errorf("read tokenizer: %w", err)
		}
		name := filepath.Base(opts.Tokenizer)
		if name == modelfile.Name || strings.HasPrefix(name, VisionFile) || strings.HasPrefix(name, TextFile) {
			return nil, fmt.Errorf("%w: tokenizer file name %q clashes with a model file", ErrOptions, name)
		}
		if err := atomicfile.WriteFile(filepath.Join(opts.OutDir, name), b); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		m.Text.Tokenizer, m.Text.TokenizerSHA256 = name, hex.EncodeToString(sum[:])
		files[name] = m.Text.TokenizerSHA256
	}
	m.ID = modelID(ckSum, prec, m.Image.Size, cfg)
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("build manifest: %w", err)
	}
	if err := modelfile.Write(opts.OutDir, m); err != nil {
		return nil, err
	}
	log.Info("converted", "out", opts.OutDir, "id", m.ID, "took", time.Since(start).Round(time.Millisecond))
	return m, nil
}

// modelID names the vector space: same checkpoint, graph version, precision
// and image size give the same ID, anything else a different one.
func modelID(ckSum, prec string, size int, cfg Config) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s|graph%d|%s|%d|heads%d", ckSum, GraphVersion, prec, size, cfg.Heads)))
	return fmt.Sprintf("beit3-d%d-%d-%s-%s", cfg.Dim, size, prec, hex.EncodeToString(h[:6]))
}

// removeStaleTemps deletes temp files a crashed conversion left behind.
func removeStaleTemps(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, ".") && strings.Contains(n, ".tmp-") {
			_ = os.Remove(filepath.Join(dir, n))
		}
	}
}
