package indexer

import (
	"errors"
	"syscall"
)

// isNotDir reports ENOTDIR: a path component is now a file, so p is gone.
func isNotDir(err error) bool { return errors.Is(err, syscall.ENOTDIR) }
