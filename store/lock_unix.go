//go:build !windows && !plan9 && !js && !wasip1 && !aix

package store

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lockedBy reports whether another open handle (another process, or another
// DB in this one) holds Badger's lock on dir in a mode that excludes ours:
// Badger flocks the directory, exclusively for a writer and shared for a
// read-only open. It probes with the same flock and releases it at once; ok
// false means the lock was free (or could not be probed), so a failed Open
// had another cause.
func lockedBy(dir string, readOnly bool) (pid int, ok bool) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	how := unix.LOCK_EX | unix.LOCK_NB
	if readOnly {
		how = unix.LOCK_SH | unix.LOCK_NB
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return lockPID(dir), true
		}
		return 0, false
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return 0, false
}
