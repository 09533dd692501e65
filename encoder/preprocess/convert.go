package preprocess

import (
	"fmt"
	"image"
	"image/color"
)

// RGB is an 8-bit RGB image, pixels packed R,G,B row by row with no padding
// (Pix has exactly 3·Width·Height bytes). A value is not safe for concurrent
// mutation, but concurrent reads are fine.
type RGB struct {
	Width, Height int
	Pix           []uint8
}

// NewRGB allocates a w×h image.
func NewRGB(w, h int) *RGB { return &RGB{Width: w, Height: h, Pix: make([]uint8, 3*w*h)} }

// convertOpts carries the colour rules that depend on the container, not on
// the Go image type.
type convertOpts struct {
	// gray16 says the source was single-channel 16-bit (PNG I / TIFF I;16),
	// which Pillow converts by clipping the value to 255.
	gray16 bool
	// scaleGray16 maps 16-bit gray by its high byte instead (Options.ScaleGray16).
	scaleGray16 bool
}

// toRGB converts a decoded image to 8-bit RGB with the rules of Pillow's
// convert('RGB'): alpha is dropped (not composited), palettes are looked up,
// gray is replicated, CMYK uses Pillow's cmyk2rgb, 16-bit samples keep their
// high byte except single-channel 16-bit gray, which Pillow clips.
func toRGB(img image.Image, co convertOpts) (*RGB, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := NewRGB(w, h)
	if b.Min != (image.Point{}) {
		img = offsetImage{img} // the fast paths below index Pix from 0
	}
	switch m := img.(type) {
	case *image.YCbCr:
		ycbcrToRGB(out, m)
	case *image.NYCbCrA:
		ycbcrToRGB(out, &m.YCbCr)
	case *image.Gray:
		for y := 0; y < h; y++ {
			src := m.Pix[y*m.Stride : y*m.Stride+w]
			dst := out.Pix[3*w*y : 3*w*(y+1)]
			for x, v := range src {
				dst[3*x], dst[3*x+1], dst[3*x+2] = v, v, v
			}
		}
	case *image.Gray16:
		for y := 0; y < h; y++ {
			src := m.Pix[y*m.Stride : y*m.Stride+2*w]
			dst := out.Pix[3*w*y : 3*w*(y+1)]
			for x := 0; x < w; x++ {
				v := co.gray8(uint16(src[2*x])<<8 | uint16(src[2*x+1]))
				dst[3*x], dst[3*x+1], dst[3*x+2] = v, v, v
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			src := m.Pix[y*m.Stride : y*m.Stride+4*w]
			dst := out.Pix[3*w*y : 3*w*(y+1)]
			for x := 0; x < w; x++ {
				dst[3*x], dst[3*x+1], dst[3*x+2] = src[4*x], src[4*x+1], src[4*x+2]
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			src := m.Pix[y*m.Stride : y*m.Stride+4*w]
			dst := out.Pix[3*w*y : 3*w*(y+1)]
			for x := 0; x < w; x++ {
				r, g, bl, a := src[4*x], src[4*x+1], src[4*x+2], src[4*x+3]
				if a != 255 { // premultiplied: undo as Pillow's RGBa unpacker does
					r, g, bl = unpremul8(r, a), unpremul8(g, a), unpremul8(bl, a)
				}
				dst[3*x], dst[3*x+1], dst[3*x+2] = r, g, bl
			}
		}
	case *image.NRGBA64:
		for y := 0; y < h; y++ {
			src := m.Pix[y*m.Stride : y*m.Stride+8*w]
			dst := out.Pix[3*w*y : 3*w*(y+1)]
			for x := 0; x < w; x++ {
				if co.gray16 {
					v := co.gray8(uint16(src[8*x])<<8 | uint16(src[8*x+1]))
					dst[3*x], dst[3*x+1], dst[3*x+2] = v, v, v
					continue
				}
				dst[3*x], dst[3*x+1], dst[3*x+2] = src[8*x], src[8*x+2], src[8*x+4]
			}
		}
	case *image.RGBA64:
		for y := 0; y < h; y++ {
			src := m.Pix[y*m.Stride : y*m.Stride+8*w]
			dst := out.Pix[3*w*y : 3*w*(y+1)]
			for x := 0; x < w; x++ {
				a := uint32(src[8*x+6])<<8 | uint32(src[8*x+7])
				for c := 0; c < 3; c++ {
					v := uint32(src[8*x+2*c])<<8 | uint32(src[8*x+2*c+1])
					if a != 0xffff {
						v = unpremul16(v, a)
					}
					dst[3*x+c] = uint8(v >> 8)
				}
			}
		}
	case *image.CMYK:
		for y := 0; y < h; y++ {
			src := m.Pix[y*m.Stride : y*m.Stride+4*w]
			dst := out.Pix[3*w*y : 3*w*(y+1)]
			for x := 0; x < w; x++ {
				dst[3*x], dst[3*x+1], dst[3*x+2] = cmykToRGB(src[4*x], src[4*x+1], src[4*x+2], src[4*x+3])
			}
		}
	case *image.Paletted:
		var lut [256][3]uint8
		for i, c := range m.Palette {
			if i >= len(lut) {
				break
			}
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			lut[i] = [3]uint8{n.R, n.G, n.B}
		}
		// Indices past the palette read as opaque black, as Go's own At does.
		for y := 0; y < h; y++ {
			src := m.Pix[y*m.Stride : y*m.Stride+w]
			dst := out.Pix[3*w*y : 3*w*(y+1)]
			for x, i := range src {
				p := lut[i]
				if int(i) >= len(m.Palette) {
					p = [3]uint8{}
				}
				dst[3*x], dst[3*x+1], dst[3*x+2] = p[0], p[1], p[2]
			}
		}
	case nil:
		return nil, fmt.Errorf("convert image: %w", ErrCorrupt)
	default:
		// Unusual decoder outputs: the generic, slow path.
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				n := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				i := 3 * (y*w + x)
				out.Pix[i], out.Pix[i+1], out.Pix[i+2] = n.R, n.G, n.B
			}
		}
	}
	return out, nil
}

// offsetImage hides the concrete type of an image whose bounds do not start
// at the origin, sending it down the generic path.
type offsetImage struct{ image.Image }

func (co convertOpts) gray8(v uint16) uint8 {
	if co.scaleGray16 {
		return uint8(v >> 8)
	}
	return uint8(min(v, 255))
}

func unpremul8(c, a uint8) uint8 {
	if a == 0 {
		return 0
	}
	return uint8(min(uint32(c)*255/uint32(a), 255))
}

func unpremul16(c, a uint32) uint32 {
	if a == 0 {
		return 0
	}
	return min(c*0xffff/a, 0xffff)
}

// cmykToRGB is Pillow 9.4's cmyk2rgb (Convert.c): nk = 255−k,
// out = nk − nk·c/255 with MULDIV255 rounding.
func cmykToRGB(c, m, y, k uint8) (uint8, uint8, uint8) {
	nk := 255 - int32(k)
	f := func(v uint8) uint8 {
		t := int32(v)*nk + 128
		return uint8(nk - ((t>>8)+t)>>8)
	}
	return f(c), f(m), f(y)
}
