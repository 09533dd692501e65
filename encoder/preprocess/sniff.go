package preprocess

import (
	"bytes"
	"encoding/binary"
)

// Format names returned in Info.Format.
const (
	FormatJPEG = "jpeg"
	FormatPNG  = "png"
	FormatGIF  = "gif"
	FormatWebP = "webp"
	FormatBMP  = "bmp"
	FormatTIFF = "tiff"
)

// sniff names the format from the leading bytes. supported is false for
// formats recognised only to give a precise ErrUnsupported message.
func sniff(b []byte) (name string, supported bool) {
	has := func(off int, magic string) bool {
		return len(b) >= off+len(magic) && string(b[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "\xff\xd8"):
		return FormatJPEG, true
	case has(0, "\x89PNG\r\n\x1a\n"):
		return FormatPNG, true
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return FormatGIF, true
	case has(0, "RIFF") && has(8, "WEBP"):
		return FormatWebP, true
	case has(0, "BM"):
		return FormatBMP, true
	case has(0, "II*\x00"), has(0, "MM\x00*"):
		return FormatTIFF, true
	case has(0, "II+\x00"), has(0, "MM\x00+"):
		return "bigtiff", false
	case has(4, "ftyp"):
		return isoBrand(b), false
	case has(0, "\x00\x00\x00\x0cjP  \r\n\x87\n"), has(0, "\xff\x4f\xff\x51"):
		return "jpeg2000", false
	case has(0, "8BPS"):
		return "psd", false
	case has(0, "qoif"):
		return "qoi", false
	case has(0, "DDS "):
		return "dds", false
	case has(0, "\x00\x00\x01\x00"), has(0, "\x00\x00\x02\x00"):
		return "ico", false
	case len(b) >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7':
		return "pnm", false
	case has(0, "/* XPM */"):
		return "xpm", false
	case bytes.Contains(b[:min(len(b), 512)], []byte("<svg")):
		return "svg", false
	}
	return "unknown", false
}

// isoBrand names an ISO-BMFF (HEIF family) file from its ftyp major brand.
func isoBrand(b []byte) string {
	if len(b) < 12 {
		return "isobmff"
	}
	switch string(b[8:12]) {
	case "avif", "avis":
		return "avif"
	case "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1":
		return "heif"
	}
	return "isobmff"
}

// jpegHeader is what a marker scan of a JPEG's header tells before decoding.
type jpegHeader struct {
	exif        []byte // TIFF-structured EXIF payload of the first Exif APP1
	progressive bool
	components  int
	planes      float64 // sample planes per pixel, Σ hᵢvᵢ/(hmax·vmax)
}

// scanJPEG walks the marker segments up to the first SOS. It is lenient in
// the way libjpeg is (bytes between segments are skipped) and bounded by the
// input length; it never fails, it just stops.
func scanJPEG(b []byte) jpegHeader {
	var h jpegHeader
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xff {
			i++
			continue
		}
		m := b[i+1]
		if m == 0xff || m == 0x00 || (m >= 0xd0 && m <= 0xd7) || m == 0x01 {
			i++
			continue
		}
		if m == 0xd9 || m == 0xda { // EOI or SOS: the header is over.
			return h
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return h
		}
		seg := b[i+4 : i+2+n]
		switch {
		case m == 0xe1 && h.exif == nil && len(seg) > 6 && string(seg[:6]) == "Exif\x00\x00":
			h.exif = seg[6:]
		case m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc:
			h.progressive = m == 0xc2 || m == 0xc6 || m == 0xca || m == 0xce
			if len(seg) >= 6 {
				h.components = int(seg[5])
				h.planes = samplingPlanes(seg[6:], h.components)
			}
		}
		i += 2 + n
	}
	return h
}

// pngHeader is what a chunk scan of a PNG tells before decoding.
type pngHeader struct {
	exif      []byte
	bitDepth  int
	colorType int
	interlace bool
}

// scanPNG walks chunks up to IDAT (and on to find a late eXIf, which the
// spec allows before IEND), bounded by the input length.
func scanPNG(b []byte) pngHeader {
	var h pngHeader
	i := 8
	for i+8 <= len(b) {
		n := int(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		if n < 0 || n > len(b)-i-12 {
			return h
		}
		data := b[i+8 : i+8+n]
		switch typ {
		case "IHDR":
			if n >= 13 {
				h.bitDepth, h.colorType, h.interlace = int(data[8]), int(data[9]), data[12] != 0
			}
		case "eXIf":
			if h.exif == nil {
				h.exif = data
			}
		case "IEND":
			return h
		}
		i += 12 + n
	}
	return h
}

// webpHeader is what a RIFF chunk scan of a WebP tells before decoding.
type webpHeader struct {
	exif     []byte
	animated bool
}

func scanWebP(b []byte) webpHeader {
	var h webpHeader
	i := 12
	for i+8 <= len(b) {
		typ := string(b[i : i+4])
		n := int(binary.LittleEndian.Uint32(b[i+4:]))
		if n < 0 || n > len(b)-i-8 {
			return h
		}
		data := b[i+8 : i+8+n]
		switch typ {
		case "VP8X":
			if n >= 1 && data[0]&0x02 != 0 {
				h.animated = true
			}
		case "ANIM", "ANMF":
			h.animated = true
		case "EXIF":
			if h.exif == nil {
				h.exif = bytes.TrimPrefix(data, []byte("Exif\x00\x00"))
			}
		}
		i += 8 + n + n&1
	}
	return h
}

// samplingPlanes computes Σ hᵢvᵢ/(hmax·vmax) from SOF component specs.
func samplingPlanes(spec []byte, n int) float64 {
	if n <= 0 || len(spec) < 3*n {
		return float64(max(n, 1))
	}
	hmax, vmax, sum := 1, 1, 0
	for i := 0; i < n; i++ {
		hv := spec[3*i+1]
		hh, vv := int(hv>>4), int(hv&15)
		hmax, vmax = max(hmax, hh), max(vmax, vv)
		sum += hh * vv
	}
	return float64(sum) / float64(hmax*vmax)
}
