package indexer

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"imglish/encoder/preprocess"
	"imglish/internal/testenv"
)

// TestNotImageUnsupported: a file in an image format that preprocess
// recognises but does not decode is still refused by the sniff after its
// first bytes (a sparse 16 MiB file allocates and counts nothing), and its
// error record names the format instead of "unknown signature". Other text
// and binary files keep "unknown signature". The reason is what a person
// reads in the error list, so the test reads the message.
func TestNotImageUnsupported(t *testing.T) {
	dir := t.TempDir()
	svgLate := "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n<!-- Created with Inkscape (http://www.inkscape.org/) -->\n<svg xmlns=\"http://www.w3.org/2000/svg\">"
	for _, tc := range []struct {
		name string
		head string
		want string // the reason after ErrNotImage's text
	}{
		{"balloon.jp2", "\x00\x00\x00\x0cjP  \r\n\x87\n\x00\x00\x00\x14ftypjp2 \x00\x00\x00\x00jp2 ", "unsupported image format: JPEG 2000"},
		{"raw.j2k", "\xff\x4f\xff\x51\x00\x2f\x00\x00\x00\x00\x00\x80\x00\x00\x00\x80", "unsupported image format: JPEG 2000"},
		{"favicon.ico", "\x00\x00\x01\x00\x01\x00\x10\x10\x00\x00\x01\x00\x20\x00\x68\x04\x00\x00\x16\x00\x00\x00", "unsupported image format: ICO"},
		{"pointer.cur", "\x00\x00\x02\x00\x01\x00\x20\x20\x00\x00\x04\x00\x04\x00\xe8\x02\x00\x00\x16\x00\x00\x00", "unsupported image format: CUR"},
		{"layers.psd", "8BPS\x00\x01\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x80\x00\x00\x00\x80\x00\x08\x00\x03", "unsupported image format: PSD"},
		{"fast.qoi", "qoif\x00\x00\x00\x80\x00\x00\x00\x80\x04\x00\xfe\x14\x15\x43", "unsupported image format: QOI"},
		{"bitmap.pbm", "P1\n2 2\n0 1\n1 0\n", "unsupported image format: PNM"},
		{"gray.pgm", "P5 3 2 255\n\x00\x10\x20\x30\x40\x50", "unsupported image format: PNM"},
		{"gimp.ppm", "P6\n# Created by GIMP version 2.10.34 PNM plug-in, and on past the head", "unsupported image format: PNM"},
		{"tuple.pam", "P7\nWIDTH 2\nHEIGHT 2\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n", "unsupported image format: PNM"},
		{"icon.xpm", "/* XPM */\nstatic char * icon_xpm[] = {\n\"16 16 2 1\",\n", "unsupported image format: XPM"},
		{"texture.dds", "DDS \x7c\x00\x00\x00\x07\x10\x0a\x00\x80\x00\x00\x00\x80\x00\x00\x00", "unsupported image format: DDS"},
		{"plain.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"><rect/></svg>", "unsupported image format: SVG"},
		{"inkscape.svg", svgLate, "unsupported image format: SVG"},
		{"page.xhtml", "<?xml version=\"1.0\"?>\n<html xmlns=\"http://www.w3.org/1999/xhtml\"><body><svg width=\"1\"/></body></html>", "unknown signature"},
		{"notes.txt", "P1 was the first prototype; see <svg> in the spec", "unknown signature"},
		{"data.bin", "\x00\x00\x01\x00\x00\x00\x10\x10\x00\x00\x01\x00", "unknown signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			sparseFile(t, p, []byte(tc.head), 16<<20)
			r := readerRun()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := r.read(&fileRecord{Path: p})
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrNotImage) || !strings.HasSuffix(err.Error(), ": "+tc.want) {
				t.Fatalf("read: %v, want ErrNotImage: %s", err, tc.want)
			}
			// The file's buffer would be 16 MiB; allow for the test's own.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
				t.Errorf("refusing %s allocated %d bytes", tc.name, alloc)
			}
			if n := r.ix.prog.bytes.Load(); n != 0 {
				t.Errorf("refusing %s counted %d bytes read", tc.name, n)
			}
		})
	}
}

// TestSniffReadHeadMarkup: a file that starts like markup is read up to
// maxMarkupLen (for an SVG root after a long prologue), never more; other
// files still cost sniffLen bytes.
func TestSniffReadHeadMarkup(t *testing.T) {
	for _, tc := range []struct {
		name     string
		file     []byte
		wantRead int64
	}{
		{"XML", append([]byte("<?xml version=\"1.0\"?>\n"), bytes.Repeat([]byte("x"), 4096)...), maxMarkupLen},
		{"BOM and whitespace before markup", append([]byte("\xef\xbb\xbf \n<svg"), bytes.Repeat([]byte(" "), 4096)...), maxMarkupLen},
		{"short XML file", []byte("<a/>\n<b/>"), 9},
		{"text", bytes.Repeat([]byte("text "), 1000), sniffLen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cr := &testenv.CountingReader{R: bytes.NewReader(tc.file)}
			head, err := readHead(cr, int64(len(tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			if cr.N != tc.wantRead || int64(len(head)) != tc.wantRead {
				t.Errorf("read %d bytes, head of %d; want %d", cr.N, len(head), tc.wantRead)
			}
		})
	}
}

// TestSharedUnsupportedSniff reads every file of
// ../shared/data/formats/unsupported as the indexer does: it passes the
// sniff and is decoded or refused by preprocess with ErrUnsupported (HEIF,
// AVIF, MPO), or is refused by the sniff with a reason naming its format,
// never "unknown signature".
func TestSharedUnsupportedSniff(t *testing.T) {
	dir := testenv.SharedData(t, "formats", "unsupported")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("skipping: no shared unsupported-format samples: %v", err)
	}
	byExt := map[string]string{
		".jpf": "JPEG 2000", ".ico": "ICO", ".psd": "PSD", ".qoi": "QOI", ".pnm": "PNM",
		".xpm": "XPM", ".dds": "DDS", ".svg": "SVG",
	}
	var named int
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			data, err := readerRun().read(&fileRecord{Path: filepath.Join(dir, e.Name())})
			want, refused := byExt[strings.ToLower(filepath.Ext(e.Name()))]
			switch {
			case err == nil && !refused:
				if _, err := (pixelCodec{}).pixels(data); err != nil && !errors.Is(err, preprocess.ErrUnsupported) {
					t.Errorf("pixels: %v, want it decoded or ErrUnsupported", err)
				}
			case err == nil:
				t.Errorf("read in full; want refused by the sniff as %s", want)
			case !errors.Is(err, ErrNotImage) || !strings.HasSuffix(err.Error(), ": unsupported image format: "+want):
				t.Errorf("read: %v, want ErrNotImage naming %q", err, want)
			default:
				named++
			}
		})
	}
	if named < len(byExt) {
		t.Errorf("%d files refused naming their format; want one of each of %d formats", named, len(byExt))
	}
}
