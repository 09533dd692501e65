// Package atomicfile is imglish's one way to write a file that stays on disk
// outside the store (model files, manifests, thumbnails, backups, dataset
// files): write a temp file beside the target, fsync it, close it, rename it
// into place and fsync the folder, so a crash leaves either the old file or
// the new one, never a torn one. The temp file is removed on any error.
//
// A File is not safe for concurrent use; distinct Files (even for the same
// path) are: the last Commit wins.
package atomicfile

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Perm is the mode of the files written: CreateTemp makes 0600 files, and
// what imglish writes (model files, thumbnails) is world-readable like any
// other file.
const Perm fs.FileMode = 0o644

// tempInfix marks temp files: ".<base>.tmp-<random>".
const tempInfix = ".tmp-"

// File is a temp file that becomes Path on Commit and disappears on Abort.
// Writes are buffered.
type File struct {
	path string
	f    *os.File
	w    *bufio.Writer
	done bool
}

// Create starts writing path: a temp file in path's folder, which must exist.
func Create(path string) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+tempInfix+"*")
	if err != nil {
		return nil, fmt.Errorf("create temp for %s: %w", path, err)
	}
	return &File{path: path, f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

// Write appends p to the temp file.
func (a *File) Write(p []byte) (int, error) {
	n, err := a.w.Write(p)
	if err != nil {
		return n, fmt.Errorf("write %s: %w", a.path, err)
	}
	return n, nil
}

// Commit flushes, fsyncs and closes the temp file, renames it to the path and
// fsyncs the folder. After an error the temp file is gone and path is as it
// was (unless only the folder fsync failed: then the new file is in place but
// its rename may not survive a crash).
func (a *File) Commit() (err error) {
	if a.done {
		return fmt.Errorf("commit %s: %w", a.path, os.ErrClosed)
	}
	defer func() {
		if err != nil {
			a.Abort()
		}
	}()
	if err := a.w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", a.path, err)
	}
	if err := a.f.Chmod(Perm); err != nil {
		return fmt.Errorf("chmod %s: %w", a.path, err)
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", a.path, err)
	}
	if err := a.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", a.path, err)
	}
	if err := os.Rename(a.f.Name(), a.path); err != nil {
		return fmt.Errorf("rename %s: %w", a.path, err)
	}
	a.done = true
	return SyncDir(filepath.Dir(a.path))
}

// Abort removes the temp file unless Commit succeeded; it is safe to defer
// and to call more than once.
func (a *File) Abort() {
	if a.done {
		return
	}
	a.done = true
	_ = a.f.Close()
	_ = os.Remove(a.f.Name())
}

// WriteFile writes data to path atomically (see the package comment).
func WriteFile(path string, data []byte) error {
	a, err := Create(path)
	if err != nil {
		return err
	}
	defer a.Abort()
	if _, err := a.Write(data); err != nil {
		return err
	}
	return a.Commit()
}

// SyncDir fsyncs a folder so that a rename or create inside it is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// RemoveStale deletes the temp files a crash left in dir (names written by
// Create) and returns how many it removed. Call it when opening a folder no
// other writer uses at the time.
func RemoveStale(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("list %s: %w", dir, err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasPrefix(name, ".") || !strings.Contains(name, tempInfix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
			return n, fmt.Errorf("remove stale temp %s: %w", name, err)
		}
		n++
	}
	return n, nil
}
