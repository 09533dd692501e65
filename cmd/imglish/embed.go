package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"imglish/encoder"
	"imglish/encoder/modelfile"
	"imglish/model"
)

func init() { register(newEmbedCmd) }

// embedOutput is one line of `imglish embed`.
type embedOutput struct {
	Input     string    `json:"input"`
	Embedding []float32 `json:"embedding"`
}

func newEmbedCmd(g *globals) *cobra.Command {
	var (
		images, tensors, tokens, texts []string
		tokenizerPath                  string
		threads                        int
	)
	cmd := &cobra.Command{
		Use:   "embed --model DIR (--image FILE | --tokens 0,123,2 | --tensor FILE.f32)...",
		Short: "Print the embedding of images or token sequences, one JSON object per input",
		Long: `Embed runs a converted model on each input and prints {"input": ..., "embedding": [...]}
per line. --image decodes and preprocesses a file as the model's model.json says;
--text tokenizes with the model folder's tokenizer (or --tokenizer), BEiT-3 framing;
--tensor reads raw little-endian float32 CHW tensors (one or more images of 3×S×S);
--tokens (alias --text-ids) takes ids already framed as 0,…,2. Each flag repeats.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(images)+len(tensors)+len(tokens)+len(texts) == 0 {
				return errors.New("embed: give at least one --image, --tensor, --text or --tokens")
			}
			dir, err := modelDir(g)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			opts := g.modelOptions(threads)
			opts.Tokenizer = tokenizerPath
			m, err := model.Open(ctx, dir, opts)
			if err != nil {
				return err
			}
			defer m.Close()
			enc, man := m.Encoder(), m.Manifest()
			out := json.NewEncoder(cmd.OutOrStdout())
			emit := func(input string, vecs [][]float32) error {
				for i, v := range vecs {
					name := input
					if len(vecs) > 1 {
						name = fmt.Sprintf("%s#%d", input, i)
					}
					if err := out.Encode(embedOutput{Input: name, Embedding: v}); err != nil {
						return err
					}
				}
				return nil
			}
			for _, path := range images {
				px, err := m.PrepareFile(ctx, path)
				if err != nil {
					return err
				}
				vecs, err := m.EmbedImages(ctx, px, 1)
				if err != nil {
					return fmt.Errorf("embed %s: %w", path, err)
				}
				if err := emit(path, vecs); err != nil {
					return err
				}
			}
			per := 3 * man.Image.Size * man.Image.Size
			for _, path := range tensors {
				px, err := readTensor(path)
				if err != nil {
					return err
				}
				if len(px) == 0 || len(px)%per != 0 {
					return fmt.Errorf("embed %s: %w: %d values, not a multiple of 3×%d×%d", path, encoder.ErrInput, len(px), man.Image.Size, man.Image.Size)
				}
				vecs, err := enc.EmbedImages(ctx, px, len(px)/per)
				if err != nil {
					return fmt.Errorf("embed %s: %w", path, err)
				}
				if err := emit(path, vecs); err != nil {
					return err
				}
			}
			if len(texts) > 0 && !m.HasTokenizer() {
				return fmt.Errorf("embed --text: %w (convert with --tokenizer, or pass --tokenizer)", model.ErrNoTokenizer)
			}
			for _, text := range texts {
				vecs, err := m.EmbedTexts(ctx, []string{text})
				if err != nil {
					return fmt.Errorf("embed text %q: %w", text, err)
				}
				if err := emit(text, vecs); err != nil {
					return err
				}
			}
			for _, s := range tokens {
				ids, err := parseIDs(s)
				if err != nil {
					return err
				}
				vecs, err := enc.EmbedTexts(ctx, [][]int64{ids})
				if err != nil {
					return fmt.Errorf("embed tokens %s: %w", s, err)
				}
				if err := emit(s, vecs); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&images, "image", nil, "image file (repeatable)")
	f.StringArrayVar(&tensors, "tensor", nil, "raw float32 CHW tensor file (repeatable)")
	f.StringArrayVar(&texts, "text", nil, "text to tokenize with the model's tokenizer and embed (repeatable)")
	f.StringVar(&tokenizerPath, "tokenizer", "", "SentencePiece model for --text (default: the one in the model folder)")
	f.StringArrayVar(&tokens, "tokens", nil, "comma-separated token ids, framed 0,…,2 (repeatable)")
	f.StringArrayVar(&tokens, "text-ids", nil, "alias of --tokens")
	f.IntVar(&threads, "threads", 0, "ONNX Runtime intra-op threads (0: one per core)")
	return cmd
}

// modelDir resolves --model: a folder holding model.json, else a name under
// <data>/models/.
func modelDir(g *globals) (string, error) {
	if g.model == "" {
		return "", errors.New("no model: pass --model DIR or set IMGLISH_MODEL")
	}
	for _, dir := range []string{g.model, filepath.Join(g.data, "models", g.model)} {
		if _, err := os.Stat(filepath.Join(dir, modelfile.Name)); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("model %q: %w (looked in %s and %s)", g.model, modelfile.ErrNoManifest, g.model, filepath.Join(g.data, "models", g.model))
}

func parseIDs(s string) ([]int64, error) {
	var ids []int64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse token ids %q: %w", s, errors.Join(encoder.ErrInput, err))
		}
		ids = append(ids, v)
	}
	return ids, nil
}

// readTensor reads a raw little-endian float32 file.
func readTensor(path string) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tensor: %w", err)
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("read tensor %s: %w: %d bytes is not a whole number of float32", path, encoder.ErrInput, len(b))
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}
