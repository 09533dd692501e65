package preprocess

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// unsupportedHeaders are self-made file starts, one per signature that
// UnsupportedFormat names and one for each look-alike it must not name
// (want ""). The indexer's sniff test runs the same kinds of header.
var unsupportedHeaders = []struct {
	name string
	head []byte
	want string
}{
	{"JP2 signature box", []byte("\x00\x00\x00\x0cjP  \r\n\x87\n\x00\x00\x00\x14ftypjp2 \x00\x00\x00\x00jp2 "), "JPEG 2000"},
	{"JPX signature box", []byte("\x00\x00\x00\x0cjP  \r\n\x87\n\x00\x00\x00\x1cftypjpx \x00\x00\x00\x00jpx jp2 jpxb"), "JPEG 2000"},
	{"JPEG 2000 codestream", []byte("\xff\x4f\xff\x51\x00\x2f\x00\x00\x00\x00\x00\x80\x00\x00\x00\x80"), "JPEG 2000"},
	{"ICO, one 16x16 image", []byte("\x00\x00\x01\x00\x01\x00\x10\x10\x00\x00\x01\x00\x20\x00\x68\x04\x00\x00\x16\x00\x00\x00"), "ICO"},
	{"CUR, one 32x32 cursor", []byte("\x00\x00\x02\x00\x01\x00\x20\x20\x00\x00\x04\x00\x04\x00\xe8\x02\x00\x00\x16\x00\x00\x00"), "CUR"},
	{"ICO type word with no images", []byte("\x00\x00\x01\x00\x00\x00\x10\x10\x00\x00\x01\x00"), ""},
	{"ICO type word, bad reserved byte", []byte("\x00\x00\x01\x00\x01\x00\x10\x10\x00\x07\x01\x00"), ""},
	{"PSD", []byte("8BPS\x00\x01\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x80\x00\x00\x00\x80\x00\x08\x00\x03"), "PSD"},
	{"PSB (large document)", []byte("8BPS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x80\x00\x00\x00\x80\x00\x08\x00\x03"), "PSD"},
	{"8BPS of an unknown version", []byte("8BPS\x00\x09\x00\x00\x00\x00\x00\x00"), ""},
	{"QOI RGBA sRGB", []byte("qoif\x00\x00\x00\x80\x00\x00\x00\x80\x04\x00\xfe\x14\x15\x43"), "QOI"},
	{"QOI RGB linear", []byte("qoif\x00\x00\x00\x02\x00\x00\x00\x02\x03\x01"), "QOI"},
	{"qoif text", []byte("qoif is not a word, but this is text"), ""},
	{"DDS", append([]byte("DDS \x7c\x00\x00\x00\x07\x10\x0a\x00"), make([]byte, 16)...), "DDS"},
	{"DDS  text", []byte("DDS is a drawing format, says this text"), ""},
	{"PNM P1 bitmap", []byte("P1\n2 2\n0 1\n1 0\n"), "PNM"},
	{"PNM P2 graymap", []byte("P2 2 2 255 0 64 128 255"), "PNM"},
	{"PNM P3 pixmap", []byte("P3\r\n1 1\r\n255\r\n255 0 0\r\n"), "PNM"},
	{"PNM P4 with comment", []byte("P4\n# made by imglish\n8 1\n\xaa"), "PNM"},
	{"PNM P5", []byte("P5\t3 2\t255\t\x00\x10\x20\x30\x40\x50"), "PNM"},
	{"PNM P6 GIMP comment past the head", []byte("P6\n# Created by GIMP version 2.10.34 PNM plug-in, and so on"), "PNM"},
	{"PAM P7", []byte("P7\nWIDTH 2\nHEIGHT 2\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n"), "PNM"},
	{"text starting P1", []byte("P1 was the first prototype"), ""},
	{"text starting P7", []byte("P7 is a label\n"), ""},
	{"P8 is no PNM", []byte("P8\n2 2\n255\n"), ""},
	{"P6 without whitespace", []byte("P6x2 2 255\n"), ""},
	{"XPM", []byte("/* XPM */\nstatic char * hopper_xpm[] = {\n\"128 128 256 2\",\n"), "XPM"},
	{"C comment", []byte("/* XPMish */\nint main(void) { return 0; }\n"), ""},
	{"SVG root", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>`), "SVG"},
	{"SVG empty root", []byte(`<svg/>`), "SVG"},
	{"SVG after XML declaration", []byte("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n<svg\n  xmlns=\"http://www.w3.org/2000/svg\">"), "SVG"},
	{"SVG after BOM, comment and DOCTYPE", []byte("\xef\xbb\xbf  \n<?xml version=\"1.0\"?>\n<!-- Generator: Adobe Illustrator 27.0.0 -->\n<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n<svg version=\"1.1\">"), "SVG"},
	{"SVG after DOCTYPE with internal subset", []byte("<?xml version=\"1.0\"?>\n<!DOCTYPE svg [\n<!ENTITY ns \"http://www.w3.org/2000/svg\">\n]>\n<svg xmlns=\"&ns;\">"), "SVG"},
	{"XHTML embedding an svg", []byte("<?xml version=\"1.0\"?>\n<html xmlns=\"http://www.w3.org/1999/xhtml\"><body><svg width=\"1\"/></body></html>"), ""},
	{"HTML page", []byte("<!DOCTYPE html>\n<html><body><svg width=\"1\"></svg></body></html>"), ""},
	{"XML config", []byte("<?xml version=\"1.0\"?>\n<config><svg>not a root</svg></config>"), ""},
	{"text mentioning <svg", []byte("Put an <svg> element in the page.\n"), ""},
	{"other element starting svg", []byte("<svgfont name=\"x\"/>"), ""},
	{"unclosed comment", []byte("<!-- <svg> "), ""},
	{"svg root past 1 KiB", append(append([]byte("<!-- "), bytes.Repeat([]byte("x"), 1100)...), " -->\n<svg/>"...), ""},
	{"BigTIFF", []byte("II+\x00\x08\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00"), "BigTIFF"},
	{"HEIC", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), "HEIF"},
	{"AVIF", []byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf"), "AVIF"},
	{"JPEG (decoded, not named)", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), ""},
	{"PNG (decoded, not named)", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), ""},
	{"plain text", []byte("hello, world, this is not an image"), ""},
	{"empty", nil, ""},
}

// TestUnsupportedFormatHeaders: UnsupportedFormat names each known
// unsupported signature and nothing else, and Decode and Probe refuse such
// a file with ErrUnsupported whose message names the format — the
// message is the point here (the API's 415 shows it), so the test reads it.
func TestUnsupportedFormatHeaders(t *testing.T) {
	for _, tc := range unsupportedHeaders {
		t.Run(tc.name, func(t *testing.T) {
			if got := UnsupportedFormat(tc.head); got != tc.want {
				t.Fatalf("UnsupportedFormat(%q) = %q, want %q", tc.head, got, tc.want)
			}
			if tc.want == "" {
				return
			}
			_, _, err := Decode(bytes.NewReader(tc.head), Options{})
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "unsupported image format: "+tc.want) {
				t.Fatalf("Decode: %v, want ErrUnsupported naming %s", err, tc.want)
			}
			if _, err := ProbeBytes(tc.head, Options{}); !errors.Is(err, ErrUnsupported) {
				t.Fatalf("ProbeBytes: %v, want ErrUnsupported", err)
			}
		})
	}
}

// TestSharedUnsupportedFormats: every file of
// ../shared/data/formats/unsupported either decodes (an MPO's first image
// is a JPEG) or is refused with ErrUnsupported naming its format, never
// the unknown-signature error.
func TestSharedUnsupportedFormats(t *testing.T) {
	dir := filepath.Join(sharedData(t), "formats", "unsupported")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("skipping: no shared unsupported-format samples: %v", err)
	}
	byExt := map[string]string{ // "" means it decodes
		".jpf": "JPEG 2000", ".jp2": "JPEG 2000", ".j2k": "JPEG 2000",
		".ico": "ICO", ".psd": "PSD", ".qoi": "QOI", ".pnm": "PNM", ".ppm": "PNM",
		".xpm": "XPM", ".dds": "DDS", ".svg": "SVG",
		".heif": "HEIF", ".heic": "HEIF", ".avif": "AVIF", ".avifs": "AVIF",
		".mpo": "",
	}
	var named int
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			want, known := byExt[strings.ToLower(filepath.Ext(e.Name()))]
			b := mustRead(t, filepath.Join(dir, e.Name()))
			_, info, err := Decode(bytes.NewReader(b), Options{})
			switch {
			case err == nil:
				if want != "" {
					t.Fatalf("decoded as %s, want ErrUnsupported naming %s", info.Format, want)
				}
			case !errors.Is(err, ErrUnsupported):
				t.Fatalf("got %v, want ErrUnsupported", err)
			default:
				got := UnsupportedFormat(b)
				if got == "" || (known && got != want) || !strings.Contains(err.Error(), "unsupported image format: "+got) {
					t.Fatalf("got %v (UnsupportedFormat %q), want ErrUnsupported naming %q", err, got, want)
				}
				named++
			}
		})
	}
	if named < 10 {
		t.Errorf("only %d files named as unsupported; want the 11 formats of the folder", named)
	}
}
