package preprocess

import (
	"fmt"
	"image"
)

// gifToRGB renders the first frame the way Pillow 9.4 loads it: a canvas of
// the logical screen size filled with the frame's transparent index (or
// index 0), the frame drawn at its offset, and every index looked up in the
// raw colour table, transparent entry included (Go's decoder replaces that
// entry with transparent black, so the raw table is read here).
func gifToRGB(b []byte, img image.Image, w, h int) (*RGB, error) {
	p, ok := img.(*image.Paletted)
	if !ok {
		return nil, fmt.Errorf("gif frame is %T: %w", img, ErrCorrupt)
	}
	pal, trans := gifFirstPalette(b)
	if pal == nil { // not parseable by us although Go decoded it: use Go's palette
		return toRGB(img, convertOpts{})
	}
	look := func(i int) (uint8, uint8, uint8) {
		if 3*i+2 < len(pal) {
			return pal[3*i], pal[3*i+1], pal[3*i+2]
		}
		return 0, 0, 0
	}
	out := NewRGB(w, h)
	fill := 0
	if trans >= 0 {
		fill = trans
	}
	r, g, bl := look(fill)
	for i := 0; i < w*h; i++ {
		out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] = r, g, bl
	}
	fr := p.Bounds().Intersect(image.Rect(0, 0, w, h))
	for y := fr.Min.Y; y < fr.Max.Y; y++ {
		for x := fr.Min.X; x < fr.Max.X; x++ {
			d := 3 * (y*w + x)
			out.Pix[d], out.Pix[d+1], out.Pix[d+2] = look(int(p.Pix[p.PixOffset(x, y)]))
		}
	}
	return out, nil
}

// gifFirstPalette returns the raw RGB colour table used by the first frame
// and its transparent index (−1 if none), or nil if the stream cannot be
// walked. Every read is bounds checked.
func gifFirstPalette(b []byte) (pal []byte, trans int) {
	trans = -1
	if len(b) < 13 {
		return nil, -1
	}
	i := 13
	var global []byte
	if f := b[10]; f&0x80 != 0 {
		n := 3 << (f&7 + 1)
		if i+n > len(b) {
			return nil, -1
		}
		global = b[i : i+n]
		i += n
	}
	for i < len(b) {
		switch b[i] {
		case 0x21: // extension
			if i+2 > len(b) {
				return nil, -1
			}
			if b[i+1] == 0xf9 && i+7 <= len(b) && b[i+2] == 4 {
				if b[i+3]&1 != 0 {
					trans = int(b[i+6])
				} else {
					trans = -1
				}
			}
			i += 2
			for i < len(b) && b[i] != 0 { // sub-blocks
				i += int(b[i]) + 1
			}
			i++
		case 0x2c: // image descriptor
			if i+10 > len(b) {
				return nil, -1
			}
			if f := b[i+9]; f&0x80 != 0 {
				n := 3 << (f&7 + 1)
				if i+10+n > len(b) {
					return nil, -1
				}
				return b[i+10 : i+10+n], trans
			}
			return global, trans
		default:
			return nil, -1
		}
	}
	return nil, -1
}
