package app

import (
	"errors"
	"slices"

	"imglish/encoder"
	"imglish/encoder/preprocess"
	"imglish/encoder/tokenizer"
	"imglish/indexer"
	"imglish/search"
	"imglish/vstore"
)

// Sentinel errors of the core. Every error an App method returns for a bad
// request, a missing thing, a bad configuration or a fault of its own wraps
// one of these (or a sentinel of the package below: store, search, indexer,
// encoder); ErrorRules and KindOf classify both, so a transport maps errors
// in one place without importing the packages below: server's statusRules
// maps KindInvalid to 400, KindNotFound to 404, KindForbidden to 403,
// KindUnavailable to 503 and KindInternal to 500. server re-exports these
// under its older names (server.ErrBadRequest is ErrInvalid,
// server.ErrNotFound is ErrNotFound, …): the same values, so errors.Is
// holds for either name.
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

// Kind is what an error means to a caller of the core, whichever package
// below raised it: the vocabulary a transport maps to its own (server maps
// each Kind to an HTTP status in one place), so that no transport needs to
// know the store's, the indexer's or the encoder's sentinels.
type Kind int

// The kinds of error, by what the caller can do about it.
const (
	// KindInternal is a fault of imglish, or an error no rule classifies.
	KindInternal Kind = iota
	// KindInvalid: the request is malformed (fix it and retry).
	KindInvalid
	// KindNotFound: the item, collection, label set or space does not exist.
	KindNotFound
	// KindForbidden: the request names something outside what the App may touch.
	KindForbidden
	// KindUnavailable: a part the call needs is missing or not ready.
	KindUnavailable
	// KindClosed: the App is shutting down and takes no new work.
	KindClosed
	// KindTooLarge: a write does not fit one store batch (split it).
	KindTooLarge
	// KindTooManyPixels: an image exceeds the pixel limit.
	KindTooManyPixels
	// KindUnsupported: the bytes are not an image format imglish decodes.
	KindUnsupported
	// KindCorrupt: the bytes claim a format but do not decode.
	KindCorrupt
	// KindStoreUnavailable: a remote store stayed out of reach through its
	// own retries (vstore.ErrUnavailable): try again later.
	KindStoreUnavailable
)

// ErrorRule classifies the errors that wrap Err (errors.Is) as Kind.
// Phrase is Err's text in a client's words: sentinel texts carry package
// prefixes for the logs ("preprocess: corrupt image"), which a transport
// replaces with the phrase; an empty phrase means the text adds nothing to
// the detail beside it.
type ErrorRule struct {
	Err    error
	Kind   Kind
	Phrase string
}

// errorRules is the core's error vocabulary, first match wins: its own
// sentinels (a fault of the core is internal even when its cause is a
// not-found below), then those of the packages it builds on. vstore's
// sentinels are store's too (the same values), and every backend returns
// them.
var errorRules = []ErrorRule{
	{ErrInternal, KindInternal, "internal error"},
	{ErrInvalid, KindInvalid, ""},
	{ErrForbidden, KindForbidden, "forbidden"},
	{ErrNotFound, KindNotFound, "not found"},
	{ErrUnavailable, KindUnavailable, "not ready"},
	{ErrClosed, KindClosed, "shutting down"},

	{vstore.ErrNotFound, KindNotFound, "not found"},
	{vstore.ErrInvalid, KindInvalid, "invalid argument"},
	{vstore.ErrBatchTooLarge, KindTooLarge, "batch too large"},
	{vstore.ErrClosed, KindUnavailable, "not ready"},
	{vstore.ErrUnavailable, KindStoreUnavailable, "store unavailable"},
	{search.ErrDimension, KindInvalid, "vector dimension mismatch"},
	{indexer.ErrRoot, KindInvalid, "bad index root"},
	{indexer.ErrClosed, KindUnavailable, "not ready"},
	{indexer.ErrConflict, KindUnavailable, "concurrent writers; try again"},
	{preprocess.ErrTooLarge, KindTooManyPixels, "image too large"},
	{preprocess.ErrUnsupported, KindUnsupported, "unsupported image format"},
	{preprocess.ErrCorrupt, KindCorrupt, "corrupt image"},
	{tokenizer.ErrEmpty, KindInvalid, "empty text"},
	{encoder.ErrClosed, KindUnavailable, "not ready"},
}

// ErrorRules returns the core's error vocabulary in match order (the first
// rule whose Err an error wraps decides), for a transport that shows
// errors to clients: every error an App method returns for a reason a
// client can act on wraps one of these. The slice is a copy.
func ErrorRules() []ErrorRule { return slices.Clone(errorRules) }

// KindOf classifies err by the first of ErrorRules it wraps; KindInternal
// when it wraps none (nil included: a caller asks only about failures).
func KindOf(err error) Kind {
	for _, r := range errorRules {
		if errors.Is(err, r.Err) {
			return r.Kind
		}
	}
	return KindInternal
}
