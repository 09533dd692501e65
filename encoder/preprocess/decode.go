package preprocess

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"slices"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"

	"imglish/encoder/preprocess/internal/jpegscale"
)

// Defaults for the zero Options.
const (
	DefaultSize      = 384
	DefaultMaxPixels = 100_000_000
	DefaultMaxBytes  = 256 << 20
)

// Options configures decoding and the tensor. The zero value means the
// defaults: 384×384, BEiT-3's mean and std of 0.5, a 100 MP pixel limit, a
// 256 MiB file limit, EXIF orientation applied.
type Options struct {
	// Size is the square side of the tensor (DefaultSize when 0).
	Size int
	// MaxPixels refuses images whose header declares more pixels
	// (DefaultMaxPixels when 0). It also sets the decoded-memory budget:
	// an image whose decode is estimated to need more than 7 bytes per
	// allowed pixel (an RGBA image plus our RGB copy) is refused too, so a
	// 16-bit or progressive image gets a proportionally lower pixel limit.
	MaxPixels int64
	// MaxBytes refuses larger inputs (DefaultMaxBytes when 0).
	MaxBytes int64
	// IgnoreOrientation keeps the stored pixel order, as the official BEiT-3
	// pipeline does, instead of applying the EXIF orientation.
	IgnoreOrientation bool
	// ScaleGray16 maps single-channel 16-bit gray by its high byte instead of
	// Pillow's convert('RGB'), which clips values above 255 (turning most
	// 16-bit gray images white).
	ScaleGray16 bool
	// Mean and Std normalise each channel: (p/255 − Mean)/Std. Zero means 0.5.
	Mean, Std [3]float32
	// Exact makes File, Reader and Resized decode a JPEG at full size, as
	// the official pipeline does (Image.open + convert('RGB') + resize).
	// By default (false) a JPEG at least twice Size on both sides is
	// decoded in the DCT domain at 1/2, 1/4 or 1/8 scale (the largest
	// that stays ≥ Size, Pillow's Image.draft rule) and then resized: the
	// same pixels as Pillow's draft('RGB', (Size, Size)) + resize, about
	// 4× faster at 12 MP and allocating a quarter as much, but not the
	// pixels of a full-size resize: over the photos of ../shared/data it
	// scales, the 384×384 result differs from those by 1.0 level on
	// average (see the package doc). Other formats, and Decode, are
	// unaffected.
	Exact bool
}

// Limits returns the pixel and byte limits o enforces: MaxPixels and
// MaxBytes, or their defaults where zero.
func (o Options) Limits() (pixels, bytes int64) {
	d := o.withDefaults()
	return d.MaxPixels, d.MaxBytes
}

func (o Options) withDefaults() Options {
	if o.Size <= 0 {
		o.Size = DefaultSize
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	o.Mean, o.Std = normParams(o.Mean, o.Std)
	return o
}

// Info describes a decoded (or probed) image.
type Info struct {
	// Format is FormatJPEG, FormatPNG, FormatGIF, FormatWebP, FormatBMP or FormatTIFF.
	Format string `json:"format"`
	// Width and Height are the size of the pixels Decode returns: the
	// display size after EXIF orientation, or the stored size when
	// Options.IgnoreOrientation is set.
	Width  int `json:"width"`
	Height int `json:"height"`
	// StoredWidth and StoredHeight are the size in the file.
	StoredWidth  int `json:"stored_width"`
	StoredHeight int `json:"stored_height"`
	// Orientation is the EXIF orientation normalised to 1..8 (1 when absent
	// or invalid), whether or not it was applied.
	Orientation int `json:"orientation"`
	// EXIF is the parsed metadata, nil when the file has no EXIF block.
	EXIF *Metadata `json:"exif,omitempty"`
}

// header is what is known about an input before its pixels are decoded.
type header struct {
	info        Info
	cfg         image.Config
	data        []byte
	gray16      bool
	progressive bool
	planes      float64 // JPEG: sample planes per pixel (1.5 for 4:2:0)
	interlaced  bool
}

// readAll reads r up to max bytes.
func readAll(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("read image: more than %d bytes: %w", max, ErrTooLarge)
	}
	return b, nil
}

// probe sniffs the format, reads the header and EXIF, and enforces the
// limits; it does not decode pixels.
func probe(b []byte, opts Options) (*header, error) {
	name, ok := sniff(b)
	switch {
	case ok:
	case len(b) == 0:
		return nil, fmt.Errorf("empty input: %w", ErrUnsupported)
	case name == "":
		return nil, fmt.Errorf("unknown signature: %w", ErrUnsupported)
	default:
		// The format's name after the sentinel's text, so that the
		// message reads "unsupported image format: JPEG 2000".
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, name)
	}
	h := &header{data: b, planes: 0}
	h.info.Format = name
	var exif []byte
	var cfg image.Config
	var err error
	r := bytes.NewReader(b)
	switch name {
	case FormatJPEG:
		jh := scanJPEG(b)
		exif, h.progressive, h.planes = jh.exif, jh.progressive, jh.planes
		cfg, err = jpeg.DecodeConfig(r)
	case FormatPNG:
		ph := scanPNG(b)
		exif, h.interlaced = ph.exif, ph.interlace
		h.gray16 = ph.bitDepth == 16 && ph.colorType == 0
		cfg, err = png.DecodeConfig(r)
	case FormatGIF:
		cfg, err = gif.DecodeConfig(r)
	case FormatWebP:
		wh := scanWebP(b)
		if wh.animated {
			return nil, fmt.Errorf("animated webp: %w", ErrUnsupported)
		}
		exif = wh.exif
		cfg, err = webp.DecodeConfig(r)
	case FormatBMP:
		cfg, err = bmp.DecodeConfig(r)
	case FormatTIFF:
		exif = b
		cfg, err = tiff.DecodeConfig(r)
		h.gray16 = cfg.ColorModel == color.Gray16Model
	default:
		return nil, fmt.Errorf("format %s: %w", name, ErrUnsupported)
	}
	if err != nil {
		return nil, fmt.Errorf("%s header: %w", name, classify(err))
	}
	h.cfg = cfg
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%s header: %dx%d: %w", name, cfg.Width, cfg.Height, ErrCorrupt)
	}
	px := int64(cfg.Width) * int64(cfg.Height)
	if px > opts.MaxPixels {
		return nil, fmt.Errorf("%s header: %dx%d is over %d pixels: %w", name, cfg.Width, cfg.Height, opts.MaxPixels, ErrTooLarge)
	}
	if need, budget := float64(px)*h.bytesPerPixel(), float64(opts.MaxPixels)*7; need > budget {
		return nil, fmt.Errorf("%s header: %dx%d needs about %.0f MB to decode: %w", name, cfg.Width, cfg.Height, need/1e6, ErrTooLarge)
	}
	if exif != nil {
		h.info.EXIF = parseEXIF(exif)
	}
	h.info.StoredWidth, h.info.StoredHeight = cfg.Width, cfg.Height
	h.info.Orientation = 1
	if h.info.EXIF != nil {
		h.info.Orientation = normOrientation(h.info.EXIF.Orientation)
	}
	h.info.Width, h.info.Height = cfg.Width, cfg.Height
	if !opts.IgnoreOrientation {
		h.info.Width, h.info.Height = orientedSize(cfg.Width, cfg.Height, h.info.Orientation)
	}
	return h, nil
}

// bytesPerPixel estimates the decoder's allocation per pixel, plus 3 bytes
// for our RGB copy.
func (h *header) bytesPerPixel() float64 {
	var bpp float64
	switch h.cfg.ColorModel {
	case color.GrayModel, color.AlphaModel:
		bpp = 1
	case color.Gray16Model:
		bpp = 2
	case color.YCbCrModel:
		bpp = 3
	case color.NYCbCrAModel, color.RGBAModel, color.NRGBAModel, color.CMYKModel:
		bpp = 4
	case color.RGBA64Model, color.NRGBA64Model:
		bpp = 8
	default: // paletted and others
		bpp = 4
	}
	if h.info.Format == FormatJPEG && h.planes > 0 {
		bpp = h.planes
		if h.cfg.ColorModel == color.CMYKModel {
			bpp += 4 // Go converts its planes into a separate CMYK image
		}
		if h.progressive {
			bpp += 4 * h.planes // int32 coefficients kept for every block
		}
	}
	if h.interlaced {
		bpp *= 2 // Adam7 passes are decoded into images of their own
	}
	return bpp + 3
}

// classify maps a decoder error to ErrUnsupported or ErrCorrupt, keeping it
// in the chain.
func classify(err error) error {
	var (
		ju jpeg.UnsupportedError
		su jpegscale.UnsupportedError
		pu png.UnsupportedError
		tu tiff.UnsupportedError
	)
	switch {
	case errors.Is(err, ErrUnsupported), errors.Is(err, ErrCorrupt), errors.Is(err, ErrTooLarge):
		return err
	case errors.As(err, &ju), errors.As(err, &su), errors.As(err, &pu), errors.As(err, &tu), errors.Is(err, bmp.ErrUnsupported):
		return kindError(ErrUnsupported, err)
	}
	return kindError(ErrCorrupt, err)
}

// decodePixels runs the format's decoder on a probed input. Decoders are
// run under recover as a last line of defence; the guard in probe is what
// keeps allocations bounded.
func decodePixels(h *header) (img image.Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("decode %s: decoder panic: %v: %w", h.info.Format, r, ErrCorrupt)
		}
	}()
	r := bytes.NewReader(h.data)
	switch h.info.Format {
	case FormatJPEG:
		// libjpeg's IDCT and upsampling, bit-exact with Pillow; image/jpeg
		// for the kinds jpegscale leaves to it (CMYK, YCCK, RGB).
		img, _, err = decodeScaled(h, 1)
		if errors.Is(err, jpegscale.ErrFallback) {
			img, err = jpeg.Decode(r)
		} else if err != nil {
			return nil, err
		}
	case FormatPNG:
		img, err = png.Decode(r)
	case FormatGIF:
		img, err = gif.Decode(r)
	case FormatWebP:
		img, err = webp.Decode(r)
	case FormatBMP:
		img, err = bmp.Decode(r)
	case FormatTIFF:
		img, err = tiff.Decode(r)
	default:
		return nil, fmt.Errorf("format %s: %w", h.info.Format, ErrUnsupported)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", h.info.Format, classify(err))
	}
	if b := img.Bounds(); h.info.Format != FormatGIF && (b.Dx() != h.cfg.Width || b.Dy() != h.cfg.Height) {
		return nil, fmt.Errorf("decode %s: got %v, header said %dx%d: %w", h.info.Format, b, h.cfg.Width, h.cfg.Height, ErrCorrupt)
	}
	return img, nil
}

// decodeImage probes and runs the decoder.
func decodeImage(ctx context.Context, b []byte, opts Options) (*header, image.Image, error) {
	h, err := probe(b, opts)
	if err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return h, nil, err
	}
	img, err := decodePixels(h)
	if err != nil {
		return h, nil, err
	}
	return h, img, ctx.Err()
}

// finishRGB converts a decoded image to upright RGB.
func finishRGB(h *header, img image.Image, opts Options) (*RGB, error) {
	var rgb *RGB
	var err error
	if h.info.Format == FormatGIF {
		rgb, err = gifToRGB(h.data, img, h.cfg.Width, h.cfg.Height)
	} else {
		rgb, err = toRGB(img, convertOpts{gray16: h.gray16, scaleGray16: opts.ScaleGray16})
	}
	if err != nil {
		return nil, err
	}
	if !opts.IgnoreOrientation {
		rgb = orient(rgb, h.info.Orientation)
	}
	return rgb, nil
}

// decodeBytes is the whole decode path on an in-memory input.
func decodeBytes(ctx context.Context, b []byte, opts Options) (*RGB, Info, error) {
	h, img, err := decodeImage(ctx, b, opts)
	if err != nil {
		if h == nil {
			return nil, Info{}, err
		}
		return nil, h.info, err
	}
	rgb, err := finishRGB(h, img, opts)
	return rgb, h.info, err
}

// draftScale is the DCT scale the fast path decodes a w×h JPEG at for a
// size×size output: Pillow's JpegImageFile.draft rule, the largest of 8,
// 4, 2 not above min(w/size, h/size), so the scaled image is still at
// least size×size and the resize only shrinks.
func draftScale(w, h, size int) int {
	s := min(w/size, h/size)
	for _, c := range []int{8, 4, 2} {
		if s >= c {
			return c
		}
	}
	return 1
}

// decodeScaled decodes a probed JPEG at 1/scale with jpegscale. It returns
// a *image.YCbCr (with libjpeg's fancy-upsampling choice) or *image.Gray,
// or an error wrapping jpegscale.ErrFallback for kinds it does not scale.
func decodeScaled(h *header, scale int) (img image.Image, fancy bool, err error) {
	m, err := jpegscale.Decode(h.data, scale)
	if err != nil {
		if errors.Is(err, jpegscale.ErrFallback) {
			return nil, false, err
		}
		return nil, false, fmt.Errorf("decode %s at 1/%d: %w", h.info.Format, scale, classify(err))
	}
	if w, ht := (h.cfg.Width+scale-1)/scale, (h.cfg.Height+scale-1)/scale; m.Width != w || m.Height != ht {
		return nil, false, fmt.Errorf("decode %s at 1/%d: got %dx%d, want %dx%d: %w", h.info.Format, scale, m.Width, m.Height, w, ht, ErrCorrupt)
	}
	if g, ok := m.Gray8(); ok {
		return g, false, nil
	}
	if yc, ok := m.YCbCr(); ok {
		return yc, m.Fancy, nil
	}
	return nil, false, jpegscale.ErrFallback
}

// resizedBytes is decode + orient + resize to Size×Size. A JPEG is decoded
// in the DCT domain at the draft scale unless opts.Exact. For a YCbCr
// image (JPEG, lossy WebP) that needs no transpose, rows are converted as
// the resize reads them: the same bytes as finishRGB + Resize
// (TestFusedTensor), but without the full-size RGB copy, its memory
// traffic and 36 MB at 12 MP.
func resizedBytes(ctx context.Context, b []byte, opts Options) (*RGB, Info, error) {
	h, err := probe(b, opts)
	if err != nil {
		return nil, Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, h.info, err
	}
	var img image.Image
	fancy := true
	if h.info.Format == FormatJPEG && !opts.Exact {
		if s := draftScale(h.cfg.Width, h.cfg.Height, opts.Size); s > 1 {
			img, fancy, err = decodeScaled(h, s)
			if err != nil && !errors.Is(err, jpegscale.ErrFallback) {
				return nil, h.info, err
			}
		}
	}
	if img == nil {
		fancy = true
		if img, err = decodePixels(h); err != nil {
			return nil, h.info, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, h.info, err
	}
	done := func(m *RGB) (*RGB, Info, error) {
		if err := ctx.Err(); err != nil {
			return nil, h.info, err
		}
		return m, h.info, nil
	}
	o := h.info.Orientation
	if opts.IgnoreOrientation {
		o = 1
	}
	yc, isYC := img.(*image.YCbCr)
	if nyc, ok := img.(*image.NYCbCrA); ok {
		yc, isYC = &nyc.YCbCr, true
	}
	if isYC && yc.Rect.Min == (image.Point{}) {
		w, ht := yc.Rect.Dx(), yc.Rect.Dy()
		rc := newYCbCrRows(yc, w, ht, fancy)
		if o >= 5 {
			rgb := NewRGB(w, ht)
			for y := 0; y < ht; y++ {
				rc.row(y, rgb.Pix[3*w*y:3*w*(y+1)])
			}
			return done(Resize(orient(rgb, o), opts.Size, opts.Size))
		}
		if w == opts.Size && ht == opts.Size {
			rgb := NewRGB(w, ht)
			for y := 0; y < ht; y++ {
				rc.row(y, rgb.Pix[3*w*y:3*w*(y+1)])
			}
			return done(orient(rgb, o))
		}
		flipV, flipH := o == 3 || o == 4, o == 2 || o == 3
		small := resize(w, ht, func(y int, buf []uint8) []uint8 {
			if flipV {
				y = ht - 1 - y
			}
			rc.row(y, buf)
			if flipH {
				mirrorRow(buf[:3*w])
			}
			return buf
		}, func(y int, rg []int64, bl []int32) {
			if flipV {
				y = ht - 1 - y
			}
			rc.pack(y, rg, bl)
			if flipH {
				slices.Reverse(rg)
				slices.Reverse(bl)
			}
		}, opts.Size, opts.Size)
		return done(small)
	}
	rgb, err := finishRGB(h, img, opts)
	if err != nil {
		return nil, h.info, err
	}
	return done(Resize(rgb, opts.Size, opts.Size))
}

// tensorBytes is resizedBytes + normalise.
func tensorBytes(ctx context.Context, b []byte, opts Options) ([]float32, Info, error) {
	small, info, err := resizedBytes(ctx, b, opts)
	if err != nil {
		return nil, info, err
	}
	return Normalize(small, opts.Mean, opts.Std, nil), info, nil
}

// Decode reads an image from r, decodes it by content (never by name),
// converts it to RGB as Pillow's convert('RGB') does and applies the EXIF
// orientation unless opts.IgnoreOrientation. Errors wrap ErrUnsupported,
// ErrTooLarge or ErrCorrupt in an *Error. It is safe for concurrent use.
func Decode(r io.Reader, opts Options) (*RGB, Info, error) {
	return decodeCtx(context.Background(), r, "", opts)
}

func decodeCtx(ctx context.Context, r io.Reader, path string, opts Options) (*RGB, Info, error) {
	opts = opts.withDefaults()
	b, err := readAll(r, opts.MaxBytes)
	if err != nil {
		return nil, Info{}, &Error{Op: "read", Path: path, Err: err}
	}
	img, info, err := decodeBytes(ctx, b, opts)
	if err != nil {
		return nil, info, &Error{Op: "decode", Path: path, Err: err}
	}
	return img, info, nil
}

// Probe reads r and returns what Decode would report, without decoding the
// pixels: format, sizes, orientation and EXIF. It applies the same limits,
// so a GUARD file fails here with ErrTooLarge. It is safe for concurrent use.
func Probe(r io.Reader, opts Options) (Info, error) {
	opts = opts.withDefaults()
	b, err := readAll(r, opts.MaxBytes)
	if err != nil {
		return Info{}, &Error{Op: "read", Err: err}
	}
	return ProbeBytes(b, opts)
}

// ProbeBytes is Probe of an image already in memory, without copying it.
func ProbeBytes(b []byte, opts Options) (Info, error) {
	opts = opts.withDefaults()
	if int64(len(b)) > opts.MaxBytes {
		return Info{}, &Error{Op: "read", Err: fmt.Errorf("read image: more than %d bytes: %w", opts.MaxBytes, ErrTooLarge)}
	}
	h, err := probe(b, opts)
	if err != nil {
		return Info{}, &Error{Op: "probe", Err: err}
	}
	return h.info, nil
}

// Reader decodes an image from r and returns its model input: a CHW float32
// tensor of 3·Size·Size values (see Tensor). It is safe for concurrent use.
func Reader(ctx context.Context, r io.Reader, opts Options) ([]float32, Info, error) {
	return tensorCtx(ctx, r, "", opts)
}

// File is Reader on the named file; errors carry the path.
func File(ctx context.Context, path string, opts Options) ([]float32, Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Info{}, &Error{Op: "open", Path: path, Err: err}
	}
	defer f.Close()
	return tensorCtx(ctx, f, path, opts)
}

// Resized decodes an image from r and returns it oriented and resized to
// Size×Size, before normalisation: the pixels Reader turns into a tensor
// (including the DCT-scaled JPEG decode unless opts.Exact). It is safe for
// concurrent use.
func Resized(ctx context.Context, r io.Reader, opts Options) (*RGB, Info, error) {
	opts = opts.withDefaults()
	b, err := readAll(r, opts.MaxBytes)
	if err != nil {
		return nil, Info{}, &Error{Op: "read", Err: err}
	}
	img, info, err := resizedBytes(ctx, b, opts)
	if err != nil {
		return nil, info, &Error{Op: "decode", Err: err}
	}
	return img, info, nil
}

func tensorCtx(ctx context.Context, r io.Reader, path string, opts Options) ([]float32, Info, error) {
	opts = opts.withDefaults()
	b, err := readAll(r, opts.MaxBytes)
	if err != nil {
		return nil, Info{}, &Error{Op: "read", Path: path, Err: err}
	}
	t, info, err := tensorBytes(ctx, b, opts)
	if err != nil {
		return nil, info, &Error{Op: "decode", Path: path, Err: err}
	}
	return t, info, nil
}
