package preprocess

import (
	"errors"
	"fmt"
)

var (
	// ErrUnsupported means the input is not in a format this package decodes:
	// an unknown signature, a format recognised by its signature but not
	// decoded (HEIC, AVIF, BigTIFF, JPEG 2000, ICO, PSD, QOI, PNM, XPM, DDS,
	// SVG: the error names it, see UnsupportedFormat), or a known container
	// with a feature Go's decoders lack (animated WebP, JPEG-in-TIFF, RLE
	// BMP, ...).
	ErrUnsupported = errors.New("preprocess: unsupported image format")
	// ErrTooLarge means the header declares more pixels (or more decoded bytes)
	// than Options.MaxPixels allows, or the file exceeds Options.MaxBytes. It is
	// returned before the pixel decoder runs, so nothing large was allocated.
	ErrTooLarge = errors.New("preprocess: image too large")
	// ErrCorrupt means the input claims a supported format but is truncated or
	// malformed.
	ErrCorrupt = errors.New("preprocess: corrupt image")
)

// Error records a failed operation on one input. It wraps one of the
// sentinels above (and, where there is one, the decoder's own error), so
// errors.Is(err, ErrCorrupt) works through it.
type Error struct {
	Op   string // "decode", "probe", "read", "open"
	Path string // file name, or "" for a reader
	Err  error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s image: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Path, e.Err)
}

// Unwrap returns the wrapped error.
func (e *Error) Unwrap() error { return e.Err }

// kindError joins a sentinel with the underlying cause so that both are
// visible to errors.Is and the message keeps the decoder's detail.
func kindError(kind error, cause error) error {
	if cause == nil {
		return kind
	}
	return fmt.Errorf("%w: %w", kind, cause)
}
