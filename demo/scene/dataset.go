package scene

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"image/png"
	"imglish/internal/atomicfile"
	"os"
	"path/filepath"
)

// Format is an image file format for WriteDataset.
type Format int

// The formats WriteDataset writes.
const (
	PNG Format = iota
	JPEG
)

// ParseFormat reads "png", "jpg" or "jpeg".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "png":
		return PNG, nil
	case "jpg", "jpeg":
		return JPEG, nil
	default:
		return 0, fmt.Errorf("parse format %q: %w", s, ErrOptions)
	}
}

// DatasetOptions say what WriteDataset writes. The zero value writes no scenes.
type DatasetOptions struct {
	N      int    // number of scenes, indices First..First+N-1
	First  int    // first scene index
	Size   int    // pixels per side; 0 means 128
	Format Format // PNG (default) or JPEG (quality 90)
	// AllCaptions writes every caption of a scene as its own captions.tsv row,
	// instead of only the canonical one.
	AllCaptions bool
}

// ImagesDir is the folder of a dataset (below the dir given to WriteDataset)
// that holds its images and nothing else.
const ImagesDir = "images"

// WriteDataset renders scenes into dir: one image per scene named
// <split>-<index>.png in dir/images (ImagesDir), and beside that folder
// captions.tsv (file TAB caption, one row per caption) and scenes.jsonl (one
// Scene per line, with every caption), whose file names are relative to dir
// ("images/test-000000.png"). The images folder holds only images, so it can
// be indexed as it is: the index files in it were counted as failed files.
// The two index files are written last, atomically, so their presence means
// the set is complete. It checks ctx between scenes.
func WriteDataset(ctx context.Context, dir string, g *Generator, opts DatasetOptions) error {
	size := opts.Size
	if size == 0 {
		size = 128
	}
	if size < 8 || size > 4096 {
		return fmt.Errorf("write dataset: %d px: %w", size, ErrSize)
	}
	if opts.N < 0 {
		return fmt.Errorf("write dataset: n=%d: %w", opts.N, ErrOptions)
	}
	if err := os.MkdirAll(filepath.Join(dir, ImagesDir), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	ext := ".png"
	if opts.Format == JPEG {
		ext = ".jpg"
	}
	var tsv, jsonl []byte
	for i := opts.First; i < opts.First+opts.N; i++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("write dataset: %w", err)
		}
		s := g.Scene(i)
		name := fmt.Sprintf("%s/%s-%06d%s", ImagesDir, s.Split, i, ext) // a slash path, as the index files list it
		if err := writeImage(filepath.Join(dir, filepath.FromSlash(name)), s, size, opts.Format); err != nil {
			return err
		}
		caps := s.Captions[:1]
		if opts.AllCaptions {
			caps = s.Captions
		}
		for _, c := range caps {
			tsv = append(tsv, name+"\t"+c+"\n"...)
		}
		line, err := json.Marshal(struct {
			File string `json:"file"`
			Scene
		}{name, s})
		if err != nil {
			return fmt.Errorf("encode scene %d: %w", i, err)
		}
		jsonl = append(append(jsonl, line...), '\n')
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "scenes.jsonl"), jsonl); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "captions.tsv"), tsv)
}

func writeImage(path string, s Scene, size int, f Format) (err error) {
	img, err := s.Render(size)
	if err != nil {
		return err
	}
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer func() {
		if cerr := out.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", path, cerr)
		}
	}()
	w := bufio.NewWriter(out)
	switch f {
	case PNG:
		err = png.Encode(w, img)
	case JPEG:
		err = jpeg.Encode(w, img, &jpeg.Options{Quality: 90})
	default:
		return fmt.Errorf("write %s: format %d: %w", path, int(f), ErrOptions)
	}
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
