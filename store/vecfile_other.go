//go:build !(linux || darwin || freebsd)

package store

import "os"

// canMap is whether this platform maps vector files: here it does not, and
// quantised spaces re-rank from Badger.
const canMap = false

func mapFile(*os.File, int64) ([]byte, error) { return nil, errNoVecFile }

func unmapFile([]byte) error { return nil }
