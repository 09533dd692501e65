package pull

import (
	"errors"
	"fmt"
)

var (
	// ErrUnknownModel means the name is not in the catalogue.
	ErrUnknownModel = errors.New("pull: unknown model name")
	// ErrNotFound means the server answered 404 for a file.
	ErrNotFound = errors.New("pull: file not found on server")
	// ErrHTTP means the server answered with an unexpected status.
	ErrHTTP = errors.New("pull: unexpected HTTP status")
	// ErrIncomplete means the body ended before the announced length, every retry included.
	ErrIncomplete = errors.New("pull: download incomplete")
	// ErrSize means the finished file's length differs from the expected one.
	ErrSize = errors.New("pull: size mismatch")
	// ErrChecksum means the finished file's sha256 differs from the catalogue's.
	ErrChecksum = errors.New("pull: sha256 mismatch")
	// ErrOptions means Options or arguments are unusable (a bad base URL, an empty data folder).
	ErrOptions = errors.New("pull: invalid options")
)

// HTTPError carries the status of a failed request. It unwraps to ErrNotFound
// for 404 and to ErrHTTP otherwise.
type HTTPError struct {
	URL    string
	Status int
}

func (e *HTTPError) Error() string { return fmt.Sprintf("GET %s: HTTP %d", e.URL, e.Status) }

// Unwrap maps the status to a sentinel.
func (e *HTTPError) Unwrap() error {
	if e.Status == 404 {
		return ErrNotFound
	}
	return ErrHTTP
}
