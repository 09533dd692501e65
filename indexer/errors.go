package indexer

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"imglish/encoder/preprocess"
)

var (
	// ErrOptions means Options failed validation in New.
	ErrOptions = errors.New("indexer: invalid options")
	// ErrRoot means a root folder does not exist or cannot be read.
	ErrRoot = errors.New("indexer: bad root")
	// ErrNotImage means a file's content is not an image format imglish decodes.
	ErrNotImage = errors.New("indexer: not a supported image")
	// ErrFileTooLarge means a file is larger than Options.MaxFileBytes.
	ErrFileTooLarge = errors.New("indexer: file too large")
	// ErrTensor means AddImage was given pixels that are not the encoder's
	// input (3×ImageSize×ImageSize values).
	ErrTensor = errors.New("indexer: tensor does not fit the encoder")
	// ErrClosed means the Indexer was used after Close.
	ErrClosed = errors.New("indexer: closed")
	// ErrConflict means other writers of a shared store kept replacing the
	// items a commit linked paths to, past every re-link; a later run
	// links them.
	ErrConflict = errors.New("indexer: concurrent writers kept replacing items")
)

// FileError is one file that could not be indexed: its path, the operation that
// failed and why. It unwraps to the underlying error (preprocess.ErrCorrupt,
// ErrNotImage, fs.ErrPermission, …) while in memory; records read back from the
// store carry only the message.
type FileError struct {
	Path    string
	Op      string // "read", "decode", "hash"
	Size    int64
	ModTime int64 // unix nanoseconds
	Reason  string
	Err     error
}

func (e *FileError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s %s: %v", e.Op, e.Path, e.Err)
	}
	return fmt.Sprintf("%s %s: %s", e.Op, e.Path, e.Reason)
}

// Unwrap returns the underlying error, nil for records read back from the store.
func (e *FileError) Unwrap() error { return e.Err }

// MarshalJSON writes e as {"path", "op", "error", "size", "mtime"}: the
// snake_case names the rest of the API uses, the reason (else Err's
// message: an error value has no JSON form of its own) and the mtime in
// RFC 3339, left out when unknown. A path that is not valid UTF-8 comes out
// with U+FFFD in place of its invalid bytes, as encoding/json writes every
// string.
func (e FileError) MarshalJSON() ([]byte, error) {
	out := struct {
		Path  string `json:"path"`
		Op    string `json:"op"`
		Error string `json:"error"`
		Size  int64  `json:"size"`
		MTime string `json:"mtime,omitempty"`
	}{Path: e.Path, Op: e.Op, Error: e.Reason, Size: e.Size}
	if out.Error == "" && e.Err != nil {
		out.Error = e.Err.Error()
	}
	if e.ModTime != 0 {
		out.MTime = time.Unix(0, e.ModTime).UTC().Format(time.RFC3339Nano)
	}
	return json.Marshal(out)
}

// contentError reports whether err, why a file could not be indexed, is a
// property of the file's content — not an image (ErrNotImage), or refused
// by preprocess as unsupported, corrupt or too many pixels — which reading
// the same bytes again cannot change. Such an error record is sticky: the
// walk skips the file until its size or mtime change, or, for too many
// pixels, until a run allows more (the record keeps the limits, see
// sizeLimits).
//
// A file over Options.MaxFileBytes is not: that is the limit's, which the
// next run may have raised, and checking it again costs nothing (the size
// is the walk's, no byte is read).
//
// Every other error may pass without touching the file (a permission
// granted by chmod, which changes neither; EIO, EAGAIN or EBUSY; a read cut
// short; a file replaced during the walk; a cancelled context; an error not
// known here), so its record only reports it and the file is retried on
// every run: a file once unreadable stayed failed forever when every error
// record was sticky.
func contentError(err error) bool {
	for _, kind := range []error{ErrNotImage, preprocess.ErrUnsupported, preprocess.ErrCorrupt, preprocess.ErrTooLarge} {
		if errors.Is(err, kind) {
			return true
		}
	}
	return false
}
