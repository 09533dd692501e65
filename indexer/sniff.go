package indexer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"imglish/encoder/preprocess"
)

// sniffLen is how much of a file is read before deciding whether to read the
// rest: enough for every signature below and an ISO-BMFF ftyp box with up to
// 12 compatible brands (real HEIC and AVIF files list 2 to 8).
const sniffLen = 64

// maxMarkupLen is how much of a file that starts like markup (after an
// optional BOM and whitespace, a '<') readHead reads, so that notImage can
// find an SVG root after a long XML declaration, comment or DOCTYPE:
// preprocess.UnsupportedFormat looks for it within the first 1 KiB. Only
// XML, HTML and SVG files pay these up to 960 bytes more.
const maxMarkupLen = 1024

// maxFtypLen bounds the ISO-BMFF ftyp box that readHead reads past sniffLen
// to see all its compatible brands: 254 brands, far more than any encoder
// writes, so that a box claiming gigabytes cannot make the sniff read them.
const maxFtypLen = 1024

// readHead reads a file's first bytes for looksLikeImage, from r positioned
// at its start; size is the file's size as stat saw it, which bounds the
// read. That is sniffLen bytes, and the rest of an ISO-BMFF ftyp box that
// is longer (up to maxFtypLen), whose brands past sniffLen may be the one
// naming an image format. A file that shrank since the stat gives fewer
// bytes, not an error; an empty one gives io.EOF. A file that starts like
// markup is read up to maxMarkupLen, for notImage to name an SVG.
func readHead(r io.Reader, size int64) ([]byte, error) {
	head := make([]byte, min(size, sniffLen))
	n, err := io.ReadFull(r, head)
	switch {
	case err == nil && n == 0:
		return nil, io.EOF // the stat said empty
	case errors.Is(err, io.ErrUnexpectedEOF):
		return head[:n], nil
	case err != nil:
		return nil, err
	}
	want := ftypLen(head)
	if want > maxFtypLen {
		want = 0
	}
	if markup(head) {
		want = maxMarkupLen
	}
	if want <= int64(n) {
		return head, nil
	}
	head = append(head, make([]byte, min(want, size)-int64(n))...)
	m, err := io.ReadFull(r, head[n:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return head[:n+m], nil
}

// looksLikeImage is a cheap prefilter on a file's first bytes (readHead), so
// that a 4 GB video in a photo folder is rejected after reading 64 bytes
// rather than read and hashed in full. It recognises every container
// preprocess might decode (including ones it may refuse, such as HEIF/AVIF);
// preprocess has the final say.
func looksLikeImage(head []byte) bool {
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}): // JPEG
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
	case len(head) >= 12 && bytes.Equal(head[:4], []byte("RIFF")) && bytes.Equal(head[8:12], []byte("WEBP")):
	case bytes.HasPrefix(head, []byte("BM")):
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")): // TIFF
	case bytes.HasPrefix(head, []byte("II+\x00")), bytes.HasPrefix(head, []byte("MM\x00+")): // BigTIFF
	case isFtyp(head):
		// ISO-BMFF is also the container of every phone video (MP4, MOV,
		// 3GP): only a brand of the HEIF family makes it an image.
		return preprocess.ISOImage(head)
	default:
		return false
	}
	return true
}

// markup reports whether head starts, after an optional UTF-8 BOM and
// whitespace, with '<': an XML, HTML or SVG file, whose SVG root may lie
// past sniffLen.
func markup(head []byte) bool {
	head = bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	return len(head) > 0 && head[0] == '<'
}

// notImage is why looksLikeImage refused head, for the error record. A
// signature of an image format that preprocess recognises but does not
// decode (JPEG 2000, ICO, PSD, QOI, PNM, XPM, DDS, SVG) is named, so that
// the record says "unsupported image format: JPEG 2000" rather than
// "unknown signature"; such a file is still refused here, unread, as
// preprocess would refuse it after the whole file was read.
func notImage(head []byte) error {
	if isFtyp(head) {
		return fmt.Errorf("%w: ISO-BMFF file of brand %q without an image brand (a video?)", ErrNotImage, head[8:12])
	}
	if name := preprocess.UnsupportedFormat(head); name != "" {
		return fmt.Errorf("%w: unsupported image format: %s", ErrNotImage, name)
	}
	return fmt.Errorf("%w: unknown signature", ErrNotImage)
}

// isFtyp reports whether head starts with an ISO-BMFF ftyp box that holds at
// least its major brand and minor version (16 bytes).
func isFtyp(head []byte) bool {
	return len(head) >= 16 && bytes.Equal(head[4:8], []byte("ftyp")) && ftypLen(head) >= 16
}

// ftypLen is the size the ftyp box at the start of head declares, 0 when
// head does not start with one. A size of 0 ("to the end of the file") or 1
// (a 64-bit size follows) is absurd for an ftyp box and read as 0.
func ftypLen(head []byte) int64 {
	if len(head) < 8 || !bytes.Equal(head[4:8], []byte("ftyp")) {
		return 0
	}
	if n := binary.BigEndian.Uint32(head); n >= 8 {
		return int64(n)
	}
	return 0
}
