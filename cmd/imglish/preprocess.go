package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"imglish/encoder/modelfile"
	"imglish/encoder/preprocess"
	"imglish/internal/atomicfile"
)

func init() { register(newPreprocessCmd) }

// preprocessReport is what `imglish preprocess` prints, as JSON.
type preprocessReport struct {
	File   string          `json:"file"`
	Info   preprocess.Info `json:"info"`
	Size   int             `json:"size"`
	Mean   [3]float32      `json:"mean"`
	Std    [3]float32      `json:"std"`
	Values int             `json:"values"`
	Min    float32         `json:"min"`
	Max    float32         `json:"max"`
	Out    string          `json:"out,omitempty"`
	PNG    string          `json:"png,omitempty"`
}

func newPreprocessCmd(g *globals) *cobra.Command {
	var (
		size       int
		out, pngTo string
		noOrient   bool
		exact      bool
		maxPixels  int64
	)
	cmd := &cobra.Command{
		Use:   "preprocess FILE",
		Short: "Decode an image as the vision encoder sees it; write the tensor (--out) or the resized image (--png)",
		Long: "Decodes FILE by content, applies EXIF orientation, converts and resizes it exactly as Pillow would\n" +
			"(BICUBIC, squashed to a square), and prints what it found as JSON. --out writes the CHW float32 tensor\n" +
			"(little-endian, 3·S·S values); --png writes the S×S image before normalisation. With --model the size,\n" +
			"mean and std come from the model's model.json; otherwise --size (default 384) and mean = std = 0.5.\n" +
			"A large JPEG is decoded at 1/2, 1/4 or 1/8 size first (Pillow's draft); --exact decodes it at full size.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := preprocess.Options{Size: size, IgnoreOrientation: noOrient, MaxPixels: maxPixels, Exact: exact}
			if g.model != "" {
				m, err := loadModelManifest(g)
				if err != nil {
					return err
				}
				if !cmd.Flags().Changed("size") {
					opts.Size = m.Image.Size
				}
				opts.Mean, opts.Std = m.Image.Mean, m.Image.Std
			}
			if opts.Size <= 0 || opts.Size > 4096 {
				return fmt.Errorf("parse --size: %d is not in 1..4096", opts.Size)
			}
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("open image: %w", err)
			}
			small, info, err := preprocess.Resized(cmd.Context(), f, opts)
			f.Close()
			if err != nil {
				return err
			}
			tensor := preprocess.Normalize(small, opts.Mean, opts.Std, nil)
			rep := preprocessReport{File: args[0], Info: info, Size: opts.Size, Mean: opts.Mean, Std: opts.Std,
				Values: len(tensor), Min: float32(math.Inf(1)), Max: float32(math.Inf(-1))}
			if rep.Mean == ([3]float32{}) && rep.Std == ([3]float32{}) {
				rep.Mean, rep.Std = [3]float32{0.5, 0.5, 0.5}, [3]float32{0.5, 0.5, 0.5}
			}
			for _, v := range tensor {
				rep.Min, rep.Max = min(rep.Min, v), max(rep.Max, v)
			}
			if out != "" {
				buf := make([]byte, 4*len(tensor))
				for i, v := range tensor {
					binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
				}
				if err := atomicfile.WriteFile(out, buf); err != nil {
					return fmt.Errorf("write tensor: %w", err)
				}
				rep.Out = out
			}
			if pngTo != "" {
				rgba := image.NewNRGBA(image.Rect(0, 0, small.Width, small.Height))
				for i := 0; i < small.Width*small.Height; i++ {
					copy(rgba.Pix[4*i:4*i+3], small.Pix[3*i:3*i+3])
					rgba.Pix[4*i+3] = 255
				}
				var b bytes.Buffer
				if err := png.Encode(&b, rgba); err != nil {
					return fmt.Errorf("encode png: %w", err)
				}
				if err := atomicfile.WriteFile(pngTo, b.Bytes()); err != nil {
					return fmt.Errorf("write png: %w", err)
				}
				rep.PNG = pngTo
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(rep)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&size, "size", preprocess.DefaultSize, "square side when --model is not given (or to override it)")
	fl.StringVar(&out, "out", "", "write the CHW float32 tensor (little-endian) to this file")
	fl.StringVar(&pngTo, "png", "", "write the resized image (before normalisation) as PNG to this file")
	fl.BoolVar(&noOrient, "ignore-orientation", false, "keep the stored pixel order (the official pipeline's behaviour)")
	fl.BoolVar(&exact, "exact", false, "decode a JPEG at full size, as the official pipeline does (slower; the default DCT-scales a large one first)")
	fl.Int64Var(&maxPixels, "max-pixels", preprocess.DefaultMaxPixels, "refuse images declaring more pixels")
	return cmd
}

// loadModelManifest reads model.json from --model: a folder, else a name
// under <data>/models.
func loadModelManifest(g *globals) (*modelfile.Manifest, error) {
	var firstErr error
	for _, dir := range []string{g.model, filepath.Join(g.data, "models", g.model)} {
		m, err := modelfile.Load(dir)
		if err == nil {
			return m, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, fmt.Errorf("load model %q: %w", g.model, firstErr)
}
