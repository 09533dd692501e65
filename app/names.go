package app

import (
	"fmt"
	"regexp"
)

// idPattern is what item ids, collection names and label-set names may look
// like; anything else is refused before it reaches the store or the file system.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// ValidName checks that s may name an item, a text collection or a label
// set (kind says which, for the message): 1..128 of [A-Za-z0-9_.-], not "."
// or "..". The error wraps ErrInvalid.
func ValidName(kind, s string) error {
	if !idPattern.MatchString(s) || s == "." || s == ".." {
		return fmt.Errorf("%w: invalid %s %q", ErrInvalid, kind, s)
	}
	return nil
}
