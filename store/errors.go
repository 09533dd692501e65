package store

import (
	"errors"
	"fmt"

	"imglish/vstore"
)

// ErrNotFound, ErrClosed, ErrInvalid, ErrExists and ErrBatchTooLarge are
// vstore's sentinels, so errors.Is matches either name.
var (
	// ErrSchemaVersion means the store was written by a newer imglish (its
	// schema version is above SchemaVersion); it is refused, not modified.
	ErrSchemaVersion = errors.New("store schema version not supported")
	// ErrCorrupt means a stored record failed its checksum or did not
	// decode, or the persisted graph breaks an invariant.
	ErrCorrupt = errors.New("store corrupt")
	// ErrNotFound means the item, space, text or value does not exist.
	ErrNotFound = vstore.ErrNotFound
	// ErrClosed means the DB was closed (or broken by a failed write whose
	// in-memory state could not be reloaded).
	ErrClosed = vstore.ErrClosed
	// ErrInvalid means an argument is malformed: an empty or oversized id,
	// a bad space name, a vector of the wrong dimension, a NaN.
	ErrInvalid = vstore.ErrInvalid
	// ErrExists means a space of that name already exists with a different
	// configuration.
	ErrExists = vstore.ErrExists
	// ErrBatchTooLarge means a batch does not fit one Badger transaction;
	// split it.
	ErrBatchTooLarge = vstore.ErrBatchTooLarge
	// ErrNotEmpty means Restore was pointed at a directory holding data.
	ErrNotEmpty = errors.New("directory not empty")
	// ErrNotBackup means Restore was given something that is not a complete
	// backup made by Backup: an empty or truncated file, bytes that are not
	// Badger's stream backup format, or a Badger backup with no imglish
	// schema record. Restore leaves the target directory as it found it.
	ErrNotBackup = errors.New("not an imglish backup")
	// ErrLocked means another process, or another DB in this process, has
	// the store open in a mode that excludes this Open (a writer excludes
	// everyone; readers exclude a writer). Open returns it as a *LockedError
	// naming the holder's pid when known.
	ErrLocked = errors.New("store in use")
	// ErrNoStore means a read-only Open found no store: the directory is
	// missing or holds no Badger manifest. Nothing is created.
	ErrNoStore = errors.New("no store")
)

// LockedError reports a store held open elsewhere. It unwraps to ErrLocked
// and to Err.
type LockedError struct {
	Dir string
	// PID is the holding writer's process id, from the pid file Badger keeps
	// beside its lock; 0 when unknown (a read-only holder writes none).
	PID int
	// Err is Badger's own error from opening the store (nil when none).
	Err error
}

func (e *LockedError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("store %s is in use by process %d", e.Dir, e.PID)
	}
	return fmt.Sprintf("store %s is in use by another process", e.Dir)
}

// Unwrap returns ErrLocked and Err (when set), so errors.Is matches both.
func (e *LockedError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrLocked}
	}
	return []error{ErrLocked, e.Err}
}

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
