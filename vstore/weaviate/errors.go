package weaviate

import (
	"errors"
	"fmt"

	"imglish/vstore"
)

// Errors of this package, besides vstore's sentinels (ErrNotFound,
// ErrInvalid, ErrExists, ErrClosed, ErrDimension), which every Store
// method wraps the same way the embedded store does.
var (
	// ErrUnavailable means Weaviate could not be reached or kept failing
	// (transport errors, 5xx, 429) after every retry. It wraps
	// vstore.ErrUnavailable, which the server answers with 503.
	ErrUnavailable = fmt.Errorf("weaviate: %w", vstore.ErrUnavailable)
	// ErrRejected means Weaviate answered a request with a client error
	// (4xx) or refused objects of a batch; retrying the same request does
	// not help.
	ErrRejected = errors.New("weaviate rejected the request")
	// ErrConfig means the Options cannot work: no URL, a bad namespace or
	// consistency level, more replicas than nodes.
	ErrConfig = errors.New("bad weaviate configuration")
)

// RequestError is a failed request to Weaviate: the operation, the
// endpoint, the HTTP status (0 for a transport error) and the cause
// (ErrUnavailable or ErrRejected, joined with the details).
type RequestError struct {
	Op     string
	URL    string
	Status int
	Err    error
}

func (e *RequestError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s %s: %v", e.Op, e.URL, e.Err)
	}
	return fmt.Sprintf("%s %s: status %d: %v", e.Op, e.URL, e.Status, e.Err)
}

func (e *RequestError) Unwrap() error { return e.Err }
