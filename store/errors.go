package store

import (
	"errors"
	"fmt"
)

var (
	// ErrSchemaVersion means the store was written by a newer imglish (its
	// schema version is above SchemaVersion); it is refused, not modified.
	ErrSchemaVersion = errors.New("store schema version not supported")
	// ErrCorrupt means a stored record failed its checksum or did not
	// decode, or the persisted graph breaks an invariant.
	ErrCorrupt = errors.New("store corrupt")
	// ErrNotFound means the item, space, text or value does not exist.
	ErrNotFound = errors.New("not found")
	// ErrClosed means the DB was closed (or broken by a failed write whose
	// in-memory state could not be reloaded).
	ErrClosed = errors.New("store closed")
	// ErrInvalid means an argument is malformed: an empty or oversized id,
	// a bad space name, a vector of the wrong dimension, a NaN.
	ErrInvalid = errors.New("invalid argument")
	// ErrExists means a space of that name already exists with a different
	// configuration.
	ErrExists = errors.New("already exists")
	// ErrBatchTooLarge means a batch does not fit one Badger transaction;
	// split it.
	ErrBatchTooLarge = errors.New("batch too large")
	// ErrNotEmpty means Restore was pointed at a directory holding data.
	ErrNotEmpty = errors.New("directory not empty")
)

// RecordError reports a record that failed to decode.
type RecordError struct {
	Key string // the Badger key, printable
	Err error
}

func (e *RecordError) Error() string { return fmt.Sprintf("record %q: %v", e.Key, e.Err) }

// Unwrap returns the cause (ErrCorrupt, joined with details).
func (e *RecordError) Unwrap() error { return e.Err }

func corrupt(key []byte, format string, args ...any) error {
	return &RecordError{Key: fmt.Sprintf("%q", key), Err: fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)}
}
