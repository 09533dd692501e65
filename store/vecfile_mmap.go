//go:build linux || darwin || freebsd

package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// canMap is whether this platform maps vector files.
const canMap = true

// mapFile maps length bytes of f read-only and shared, so that writes to
// the file show in the mapping. Pages past the end of the file must not
// be read (the caller's reserve keeps reads inside it).
func mapFile(f *os.File, length int64) ([]byte, error) {
	return unix.Mmap(int(f.Fd()), 0, int(length), unix.PROT_READ, unix.MAP_SHARED)
}

func unmapFile(m []byte) error { return unix.Munmap(m) }
