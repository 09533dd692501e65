package convert

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrCheckpoint means the checkpoint file is not a usable BEiT3ForRetrieval
	// torch.save archive: unreadable, or with missing or mis-shaped tensors.
	// Errors carrying it are *CheckpointError values.
	ErrCheckpoint = errors.New("convert: bad checkpoint")
	// ErrOptions means Options asked for something impossible (an image size that
	// is not a multiple of the patch, a head count that does not divide the width,
	// an unknown precision).
	ErrOptions = errors.New("convert: invalid options")
)

// ShapeMismatch names one tensor whose shape differs from the expected one.
type ShapeMismatch struct {
	Key  string
	Got  []int
	Want []int
}

// CheckpointError reports why a checkpoint cannot be converted. Missing and
// Mismatched list every offending key at once, so one run tells the whole story.
// It unwraps to ErrCheckpoint and to Err when set.
type CheckpointError struct {
	Path       string
	Op         string // what was being done: "open", "unpickle", "validate", "read tensor"
	Missing    []string
	Mismatched []ShapeMismatch
	Err        error
}

func (e *CheckpointError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s checkpoint %s", e.Op, e.Path)
	if len(e.Missing) > 0 {
		fmt.Fprintf(&b, ": %d missing keys: %s", len(e.Missing), strings.Join(e.Missing, ", "))
	}
	if len(e.Mismatched) > 0 {
		fmt.Fprintf(&b, ": %d mis-shaped keys:", len(e.Mismatched))
		for i, m := range e.Mismatched {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, " %s %v (want %v)", m.Key, m.Got, m.Want)
		}
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns ErrCheckpoint and the underlying cause, if any.
func (e *CheckpointError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrCheckpoint, e.Err}
	}
	return []error{ErrCheckpoint}
}
