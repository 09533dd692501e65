package preprocess

// normOrientation maps an EXIF orientation tag to 1..8; anything else
// (0, 9, 65535, absent) means 1, as browsers and Pillow's exif_transpose do.
func normOrientation(v int) int {
	if v < 1 || v > 8 {
		return 1
	}
	return v
}

// orientedSize is the display size of a stored w×h image with orientation o.
func orientedSize(w, h, o int) (int, int) {
	if o >= 5 {
		return h, w
	}
	return w, h
}

// orient returns img transformed for display per EXIF orientation o (1..8):
// 2 mirror horizontally, 3 rotate 180°, 4 mirror vertically, 5 transpose,
// 6 rotate 90° clockwise, 7 transverse, 8 rotate 90° counter-clockwise.
// Orientation 1 returns img itself; 2–4 work in place.
func orient(img *RGB, o int) *RGB {
	w, h := img.Width, img.Height
	p := img.Pix
	switch o {
	case 2:
		for y := 0; y < h; y++ {
			mirrorRow(p[3*w*y : 3*w*(y+1)])
		}
		return img
	case 3:
		for i, j := 0, w*h-1; i < j; i, j = i+1, j-1 {
			p[3*i], p[3*j] = p[3*j], p[3*i]
			p[3*i+1], p[3*j+1] = p[3*j+1], p[3*i+1]
			p[3*i+2], p[3*j+2] = p[3*j+2], p[3*i+2]
		}
		return img
	case 4:
		tmp := make([]uint8, 3*w)
		for i, j := 0, h-1; i < j; i, j = i+1, j-1 {
			a, b := p[3*w*i:3*w*(i+1)], p[3*w*j:3*w*(j+1)]
			copy(tmp, a)
			copy(a, b)
			copy(b, tmp)
		}
		return img
	case 5, 6, 7, 8:
	default:
		return img
	}
	// Transposing orientations: display pixel (dx, dy) of the h×w result
	// comes from stored index base + dx·stepX + dy·stepY (in bytes). Walk
	// the output in tiles so that both sides stay in cache.
	var base, stepX, stepY int
	switch o {
	case 5: // transpose: (sx, sy) = (dy, dx)
		base, stepX, stepY = 0, 3*w, 3
	case 6: // rotate 90 CW: (dy, h-1-dx)
		base, stepX, stepY = 3*(h-1)*w, -3*w, 3
	case 7: // transverse: (w-1-dy, h-1-dx)
		base, stepX, stepY = 3*((h-1)*w+w-1), -3*w, -3
	case 8: // rotate 90 CCW: (w-1-dy, dx)
		base, stepX, stepY = 3*(w-1), 3*w, -3
	}
	out := NewRGB(h, w)
	dw, dh := h, w
	const tile = 32
	for ty := 0; ty < dh; ty += tile {
		for tx := 0; tx < dw; tx += tile {
			x1 := min(tx+tile, dw)
			for dy := ty; dy < min(ty+tile, dh); dy++ {
				si := base + tx*stepX + dy*stepY
				dst := out.Pix[3*(dy*dw+tx) : 3*(dy*dw+x1)]
				for d := 0; d+2 < len(dst); d += 3 {
					p := p[si : si+3 : si+3]
					q := dst[d : d+3 : d+3]
					q[0], q[1], q[2] = p[0], p[1], p[2]
					si += stepX
				}
			}
		}
	}
	return out
}

// mirrorRow reverses the pixel order of one packed RGB row.
func mirrorRow(row []uint8) {
	for i, j := 0, len(row)-3; i < j; i, j = i+3, j-3 {
		a := row[i : i+3 : i+3]
		b := row[j : j+3 : j+3]
		a[0], b[0] = b[0], a[0]
		a[1], b[1] = b[1], a[1]
		a[2], b[2] = b[2], a[2]
	}
}
