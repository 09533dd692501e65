package app

import (
	"bytes"
	"fmt"
	"image"

	"imglish/encoder/preprocess"
)

// DecodeImage decodes an image (an original, for a thumbnail or a preview)
// with the decoder the index uses: by content, EXIF orientation applied,
// refusing more than maxPixels from the header before any pixel is decoded.
// Its errors wrap the decoder's sentinels, which ErrorRules classifies
// (KindUnsupported, KindCorrupt, KindTooManyPixels). It is safe for
// concurrent use.
func DecodeImage(data []byte, maxPixels int64) (image.Image, error) {
	rgb, _, err := preprocess.Decode(bytes.NewReader(data), preprocess.Options{MaxPixels: maxPixels, MaxBytes: int64(len(data)) + 1})
	if err != nil {
		return nil, fmt.Errorf("decode original: %w", err)
	}
	img := image.NewRGBA(image.Rect(0, 0, rgb.Width, rgb.Height))
	for i, j := 0, 0; i < len(rgb.Pix); i, j = i+3, j+4 {
		img.Pix[j], img.Pix[j+1], img.Pix[j+2], img.Pix[j+3] = rgb.Pix[i], rgb.Pix[i+1], rgb.Pix[i+2], 255
	}
	return img, nil
}
