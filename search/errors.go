package search

import "errors"

var (
	// ErrDimension means a vector's length differs from the index dimension.
	ErrDimension = errors.New("vector dimension mismatch")
	// ErrInvalidVector means a vector holds NaN or Inf, or has zero length
	// (norm), so it cannot be normalised to a unit vector.
	ErrInvalidVector = errors.New("invalid vector")
	// ErrInvalidOptions means Options or SearchOptions hold a value out of range.
	ErrInvalidOptions = errors.New("invalid options")
	// ErrInvalidKey means a key is empty or longer than MaxKeyLen.
	ErrInvalidKey = errors.New("invalid key")
	// ErrNotFound means the key is not in the index.
	ErrNotFound = errors.New("not found")
	// ErrCorrupt means restored graph state breaks an invariant (a link to a
	// missing node, a level out of range, a missing vector, a bad entry point).
	ErrCorrupt = errors.New("corrupt graph")
	// ErrFull means the index reached MaxNodes.
	ErrFull = errors.New("index full")
)
