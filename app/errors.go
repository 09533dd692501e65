package app

import "errors"

// Sentinel errors of the core. Every error an App method returns for a bad
// request, a missing thing, a bad configuration or a fault of its own wraps
// one of these (or a sentinel of the package below: store, search, indexer,
// encoder), so a transport maps them in one place: server's statusRules maps
// ErrInvalid to 400, ErrNotFound to 404, ErrForbidden to 403, ErrUnavailable to 503 and ErrInternal
// to 500. server re-exports them under its older names (server.ErrInvalid
// is ErrInvalid, server.ErrNotFound is ErrNotFound, …): the same values, so
// errors.Is holds for either name.
var (
	// ErrInvalid means the request is malformed: no query terms, a bad
	// weight, k out of range, an invalid name, a cursor of another query.
	ErrInvalid = errors.New("app: bad request")
	// ErrNotFound means the item, collection or label set does not exist.
	ErrNotFound = errors.New("app: not found")
	// ErrForbidden means the request names something outside what the
	// App may touch: a folder outside Options.IndexRoots.
	ErrForbidden = errors.New("app: forbidden")
	// ErrConfig means the Config (or the parts given to New) is invalid.
	ErrConfig = errors.New("app: invalid configuration")
	// ErrUnavailable means a part the call needs is missing (no indexer, a
	// store that does not measure recall) or the App is closed.
	ErrUnavailable = errors.New("app: not ready")
	// ErrClosed means the App (or a coalescer) is closed, or closing, and
	// takes no new work.
	ErrClosed = errors.New("app: shutting down")
	// ErrInternal marks a fault of imglish itself (an encoder batch of the
	// wrong shape, an indexed upload that cannot be read back).
	ErrInternal = errors.New("app: internal error")
)
