package vstore

import (
	"errors"

	"imglish/search"
)

// Sentinel errors every Store reports (wrapped with %w; test with
// errors.Is). Package store re-exports them under the same names.
var (
	// ErrNotFound means the item, space, text or value does not exist.
	ErrNotFound = errors.New("not found")
	// ErrClosed means the store was closed (or can no longer serve).
	ErrClosed = errors.New("store closed")
	// ErrInvalid means an argument is malformed: an empty or oversized id,
	// a bad space name, a vector of the wrong dimension, a NaN, an
	// operation of the wrong kind for its space.
	ErrInvalid = errors.New("invalid argument")
	// ErrExists means a space of that name already exists with a different
	// configuration.
	ErrExists = errors.New("already exists")
	// ErrUnavailable means the store's engine could not be reached, or kept
	// failing, after the implementation's own retries: the call may succeed
	// later. Only a remote store reports it (the embedded store fails with
	// ErrClosed or an I/O error instead).
	ErrUnavailable = errors.New("store unavailable")
	// ErrBatchTooLarge means a batch does not fit one atomic write of the
	// engine; split it.
	ErrBatchTooLarge = errors.New("batch too large")
	// ErrDimension means a vector's length differs from its space's
	// dimension: a query (Search, SearchTexts, MeanScore) fails with it, a
	// Batch vector with it and ErrInvalid. It is package search's error.
	ErrDimension = search.ErrDimension
)
