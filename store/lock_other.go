//go:build windows || plan9 || js || wasip1 || aix

package store

// lockedBy cannot probe Badger's lock on this platform: a failed Open keeps
// Badger's own error.
func lockedBy(string, bool) (pid int, ok bool) { return 0, false }
