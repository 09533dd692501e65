// Package testenv locates the repository's fixtures for tests: the module root
// (testdata/ lives there) and the real-world images in ../shared/data beside it;
// and holds the small helpers several packages' tests share. It is imported
// only by _test.go files.
package testenv

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the folder holding go.mod, found upwards from the test's
// working directory (the package folder under `go test`).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// Path joins parts onto the repository root.
func Path(t testing.TB, parts ...string) string {
	t.Helper()
	return filepath.Join(append([]string{RepoRoot(t)}, parts...)...)
}

// SharedData returns ../shared/data (joined with parts) beside the repository
// root, and skips the test with a message when it is absent: those files are
// never copied into the repo, so a clone elsewhere runs without them.
func SharedData(t testing.TB, parts ...string) string {
	t.Helper()
	d := filepath.Join(RepoRoot(t), "..", "shared", "data")
	if _, err := os.Stat(filepath.Join(d, "README.md")); err != nil {
		t.Skipf("skipping: shared test images not found at %s (they live beside the repo, never in it)", d)
	}
	return filepath.Join(append([]string{d}, parts...)...)
}

// CountingReader counts the bytes read through it, for tests that check
// how much of an input a reader consumed.
type CountingReader struct {
	R io.Reader
	N int64
}

func (c *CountingReader) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	c.N += int64(n)
	return n, err
}
