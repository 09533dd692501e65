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

// sniff names the format from the leading bytes. For a format this
// package decodes, name is one of the Format constants and supported is
// true. For one it recognises only to refuse it precisely, name is what a
// person calls it ("JPEG 2000", "HEIF", "SVG"; see UnsupportedFormat) and
// supported is false. Without a known signature name is "".
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
	}
	return unsupportedFormat(b), false
}

// UnsupportedFormat names the image format whose signature head starts
// with, when it is one this package recognises but does not decode: "HEIF",
// "AVIF", "ISO-BMFF" (another brand of that container), "BigTIFF",
// "JPEG 2000", "ICO", "CUR", "PSD", "QOI", "PNM", "XPM", "DDS" or "SVG".
// It returns "" for a format this package decodes and for bytes it does
// not know. Decoding such an input fails with ErrUnsupported wrapped with
// this name ("unsupported image format: JPEG 2000").
//
// head is the start of the file: 16 bytes suffice for the binary formats,
// an SVG root is looked for within the first 1 KiB (svgWindow), after an
// optional BOM, XML declaration, comments and DOCTYPE. It is safe for
// concurrent use.
func UnsupportedFormat(head []byte) string {
	if name, supported := sniff(head); !supported {
		return name
	}
	return ""
}

// unsupportedFormat is UnsupportedFormat for bytes that sniff found in no
// supported format. The signatures are those of
// Pillow's and file(1)'s magic, tightened where the magic is short (ICO,
// PNM, QOI, DDS) so that an arbitrary binary or text file is not named an
// image: each also checks the header field that follows.
func unsupportedFormat(b []byte) string {
	has := func(off int, magic string) bool {
		return len(b) >= off+len(magic) && string(b[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "II+\x00"), has(0, "MM\x00+"):
		return "BigTIFF"
	case has(4, "ftyp"):
		return isoBrand(b)
	case has(0, "\x00\x00\x00\x0cjP  \r\n\x87\n"), has(0, "\xff\x4f\xff\x51"):
		// The JP2/JPX signature box, or a raw codestream's SOC and SIZ markers.
		return "JPEG 2000"
	case has(0, "8BPS\x00\x01"), has(0, "8BPS\x00\x02"): // version 1 (PSD) or 2 (PSB)
		return "PSD"
	case has(0, "qoif") && len(b) >= 14 && (b[12] == 3 || b[12] == 4) && b[13] <= 1:
		// Channels 3 or 4, colour space 0 (sRGB) or 1 (linear).
		return "QOI"
	case has(0, "DDS \x7c\x00\x00\x00"): // the header's own size, 124
		return "DDS"
	case (has(0, "\x00\x00\x01\x00") || has(0, "\x00\x00\x02\x00")) && icoDir(b):
		if b[2] == 2 {
			return "CUR"
		}
		return "ICO"
	case isPNM(b):
		return "PNM"
	case has(0, "/* XPM */"):
		return "XPM"
	case isSVG(b):
		return "SVG"
	}
	return ""
}

// isoBrand names an ISO-BMFF file from its ftyp box: "AVIF" or "HEIF" for
// the image brands (ISOImage), else the container's name.
func isoBrand(b []byte) string {
	switch {
	case len(b) >= 12 && (string(b[8:12]) == "avif" || string(b[8:12]) == "avis"):
		return "AVIF"
	case ISOImage(b):
		return "HEIF"
	}
	return "ISO-BMFF"
}

// imageBrands are the ISO-BMFF brands that make a file an image or an image
// sequence, after libheif's heif_brands.h: the HEIF structural brands
// (ISO/IEC 23008-12:2022 §10: mif1, mif2, msf1; mif3 is the low-overhead
// ftyp+mini form, whose coding brand is the minor version), the coding
// brands of HEVC (Annex B), AVC (Annex E), JPEG (Annex H), VVC (Annex L)
// and EVC (Annex M), JPEG 2000 in HEIF (ISO/IEC 15444-16) and AV1 (AVIF).
//
// MIAF's brands (miaf and its profiles MiHE, MiHB, MA1B, MA1A, …) and 1pic
// are left out: they are constraints a HEIF file declares beside one of
// these (MIAF requires mif1 or msf1), so alone they name no image. Nor do
// the general brands (isom, iso2…iso9, mp41, mp42, qt, 3gp4, …), which
// libheif accepts for image sequences stored like videos: they are what
// every phone video declares.
var imageBrands = map[string]bool{
	"mif1": true, "mif2": true, "mif3": true, "msf1": true,
	"heic": true, "heix": true, "heim": true, "heis": true,
	"hevc": true, "hevx": true, "hevm": true, "hevs": true,
	"avci": true, "avcs": true,
	"jpeg": true, "jpgs": true,
	"vvic": true, "vvis": true,
	"evbi": true, "evmi": true, "evbs": true, "evms": true,
	"j2ki": true, "j2is": true,
	"avif": true, "avis": true,
}

// ISOImage reports whether head starts with an ISO-BMFF ftyp box that
// names an image brand (imageBrands) as its major brand or, within the box
// and head, as a compatible brand. Phone videos (MP4, MOV, 3GP) share the
// container, so the box alone makes no image.
func ISOImage(head []byte) bool {
	if len(head) < 16 || string(head[4:8]) != "ftyp" {
		return false
	}
	if imageBrands[string(head[8:12])] {
		return true
	}
	end := min(len(head), int(binary.BigEndian.Uint32(head)))
	for i := 16; i+4 <= end; i += 4 {
		if imageBrands[string(head[i:i+4])] {
			return true
		}
	}
	return false
}

// icoDir reports whether an ICO or CUR header (reserved 0, type 1 or 2,
// already checked) declares at least one image and its first directory
// entry has the reserved byte 0: the type word alone is 00 00 01 00, which
// other binary files start with too.
func icoDir(b []byte) bool {
	return len(b) >= 10 && (b[4] != 0 || b[5] != 0) && b[9] == 0
}

// isPNM reports whether b starts like a Netpbm file: "P1" to "P7", a
// whitespace byte, then (past whitespace and # comments) a digit for the
// width of P1–P6, or a header keyword (WIDTH, HEIGHT, …) for P7 (PAM). The
// two-byte magic alone would make any text starting "P1 " an image. Where
// b ends inside the header (a long comment), the magic and whitespace decide.
func isPNM(b []byte) bool {
	if len(b) < 3 || b[0] != 'P' || b[1] < '1' || b[1] > '7' || !pnmSpace(b[2]) {
		return false
	}
	for i := 3; i < len(b); i++ {
		switch c := b[i]; {
		case pnmSpace(c):
		case c == '#':
			j := bytes.IndexAny(b[i:], "\r\n")
			if j < 0 {
				return true
			}
			i += j
		case b[1] == '7':
			return c >= 'A' && c <= 'Z'
		default:
			return c >= '0' && c <= '9'
		}
	}
	return true
}

// pnmSpace is Netpbm's whitespace.
func pnmSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// svgWindow is how far into a file isSVG looks for the root element: real
// SVGs put it within a few hundred bytes, after an XML declaration, an
// editor's comment and a DOCTYPE.
const svgWindow = 1024

// isSVG reports whether b is the start of an SVG document: after an
// optional UTF-8 BOM, whitespace, XML declaration or processing
// instructions, comments and a DOCTYPE, the first element is <svg, all
// within svgWindow bytes. Any other first element (an XHTML page, an RSS
// feed, a config file) is not an SVG, even one that embeds an <svg>; nor is
// text that merely mentions "<svg".
func isSVG(b []byte) bool {
	b = b[:min(len(b), svgWindow)]
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	for {
		b = bytes.TrimLeft(b, " \t\r\n")
		var end string
		switch {
		case bytes.HasPrefix(b, []byte("<svg")):
			return len(b) == 4 || bytes.IndexByte([]byte(" \t\r\n>/"), b[4]) >= 0
		case bytes.HasPrefix(b, []byte("<?")):
			end = "?>"
		case bytes.HasPrefix(b, []byte("<!--")):
			end = "-->"
		case bytes.HasPrefix(b, []byte("<!DOCTYPE")):
			end = ">"
			if i := bytes.IndexAny(b, "[>"); i >= 0 && b[i] == '[' {
				end = "]>" // an internal subset holds '>' of its own
			}
		default:
			return false
		}
		i := bytes.Index(b[2:], []byte(end))
		if i < 0 {
			return false
		}
		b = b[2+i+len(end):]
	}
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
