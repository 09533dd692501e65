package indexer

import "bytes"

// sniffLen is how much of a file is read before deciding whether to read the rest.
const sniffLen = 64

// looksLikeImage is a cheap prefilter on a file's first bytes, so that a 4 GB
// video in a photo folder is rejected after reading 64 bytes rather than
// hashed in full. It recognises every container preprocess might decode
// (including ones it may refuse, such as HEIF/AVIF); preprocess has the final say.
func looksLikeImage(head []byte) bool {
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}): // JPEG
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
	case len(head) >= 12 && bytes.Equal(head[:4], []byte("RIFF")) && bytes.Equal(head[8:12], []byte("WEBP")):
	case bytes.HasPrefix(head, []byte("BM")):
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")): // TIFF
	case bytes.HasPrefix(head, []byte("II+\x00")), bytes.HasPrefix(head, []byte("MM\x00+")): // BigTIFF
	case len(head) >= 12 && bytes.Equal(head[4:8], []byte("ftyp")): // HEIF/AVIF family
	default:
		return false
	}
	return true
}
