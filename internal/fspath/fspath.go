package fspath

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrEmpty means an empty path was given where a path is required.
var ErrEmpty = errors.New("fspath: empty path")

// Canonical returns p absolute, cleaned and with symlinks resolved (see the
// package doc); a missing tail is kept as given, cleaned. Relative paths are
// taken from the working directory. It fails with ErrEmpty for "" and with
// an *fs.PathError when a component cannot be resolved for another reason
// than not existing (a file used as a folder, a symlink loop, no permission).
func Canonical(p string) (string, error) {
	if p == "" {
		return "", ErrEmpty
	}
	joined := p
	if !filepath.IsAbs(p) {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("canonical %s: %w", p, err)
		}
		// Joined by hand, not with filepath.Join, which would clean ".."
		// lexically before the symlinks on its left are resolved.
		joined = wd + string(filepath.Separator) + p
	}
	real, err := filepath.EvalSymlinks(joined)
	if err == nil {
		return real, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", &fs.PathError{Op: "canonical", Path: p, Err: err}
	}
	// Resolve the longest existing prefix, component by component as given
	// (a ".." in it climbs from a symlink's target), and append the rest,
	// which names nothing yet, cleaned.
	sep := string(filepath.Separator)
	parts := strings.Split(joined, sep)
	for i := len(parts) - 1; i > 0; i-- {
		prefix := strings.Join(parts[:i], sep)
		if prefix == "" {
			prefix = sep
		}
		real, err := filepath.EvalSymlinks(prefix)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", &fs.PathError{Op: "canonical", Path: p, Err: err}
		}
		rest := parts[i:]
		out := filepath.Clean(real + sep + strings.Join(rest, sep))
		if slices.Contains(rest, "..") {
			// Cleaning let a ".." cancel a missing component, so what follows
			// it ("missing/../link") names an existing path whose symlinks
			// are not resolved yet. The cleaned path holds no "..", so this
			// recursion ends.
			return Canonical(out)
		}
		return out, nil
	}
	return filepath.Clean(joined), nil
}

// Within reports whether p is dir or lies below it. Both must be canonical
// (or at least clean and absolute): it compares path components, so
// "/photos2" is not within "/photos".
func Within(p, dir string) bool {
	if p == dir {
		return true
	}
	if dir == string(filepath.Separator) {
		return strings.HasPrefix(p, dir)
	}
	return strings.HasPrefix(p, dir+string(filepath.Separator))
}
