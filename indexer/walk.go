package indexer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"imglish/internal/fspath"
)

// systemNames are folders that NAS boxes, Windows, macOS and fsck leave in
// photo trees; they hold thumbnails, trash or recovered fragments, never photos
// the user means to search. Names starting with "." are skipped separately.
var systemNames = map[string]bool{
	"@eaDir":                    true, // Synology thumbnails
	"#recycle":                  true, // Synology recycle bin
	"#snapshot":                 true, // Synology snapshots
	"@Recycle":                  true, // QNAP recycle bin
	"@Recently-Snapshot":        true, // QNAP snapshots
	"$RECYCLE.BIN":              true, // Windows recycle bin
	"System Volume Information": true, // Windows
	"lost+found":                true, // fsck
	"__MACOSX":                  true, // macOS zip resource forks
}

// rules decide which paths below a root the walker visits.
type rules struct {
	globs []string // path.Match patterns; without "/" they match a base name
}

func newRules(globs []string) (rules, error) {
	for _, g := range globs {
		if _, err := path.Match(g, ""); err != nil {
			return rules{}, fmt.Errorf("%w: ignore glob %q: %w", ErrOptions, g, err)
		}
	}
	return rules{globs: append([]string(nil), globs...)}, nil
}

// skipName reports whether an entry called name, at slash path rel below the
// root, is excluded.
func (r rules) skipName(name, rel string) bool {
	if strings.HasPrefix(name, ".") || systemNames[name] {
		return true
	}
	for _, g := range r.globs {
		subject := name
		if strings.Contains(g, "/") {
			subject = rel
		}
		if ok, _ := path.Match(g, subject); ok {
			return true
		}
	}
	return false
}

// excluded reports whether any component of rel (a slash path below the root)
// is excluded; the pruning pass uses it to drop records of files the walker
// would no longer visit.
func (r rules) excluded(rel string) bool {
	if rel == "." || rel == "" {
		return false
	}
	parts := strings.Split(rel, "/")
	for i, name := range parts {
		if r.skipName(name, strings.Join(parts[:i+1], "/")) {
			return true
		}
	}
	return false
}

// fileEntry is a regular file the walker found, with its lstat facts.
type fileEntry struct {
	Path    string // absolute, cleaned
	Size    int64
	ModTime int64 // unix nanoseconds
}

// walkError is a folder the walker could not read; records below it are kept.
type walkError struct {
	Path string
	Err  error
}

// resolveRoot makes root canonical (fspath.Canonical: absolute, clean,
// symlinks resolved), the form every path is recorded in, and checks that it
// exists.
func resolveRoot(root string) (string, fs.FileInfo, error) {
	real, err := fspath.Canonical(root)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s: %w", ErrRoot, root, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s: %w", ErrRoot, root, err)
	}
	return real, st, nil
}

// dedupeRoots drops roots that lie inside other roots (and duplicates), so
// that no file is visited twice.
func dedupeRoots(roots []string) []string {
	var out []string
	for i, r := range roots {
		inside := false
		for j, o := range roots {
			if i == j {
				continue
			}
			if within(r, o) && (r != o || j < i) {
				inside = true
				break
			}
		}
		if !inside {
			out = append(out, r)
		}
	}
	return out
}

// within reports whether p is dir or lies below it.
func within(p, dir string) bool {
	if p == dir {
		return true
	}
	if dir == "/" {
		return strings.HasPrefix(p, "/")
	}
	return strings.HasPrefix(p, dir+"/")
}

// relTo returns p relative to root as a slash path ("." for the root).
func relTo(root, p string) string {
	if p == root {
		return "."
	}
	if root == "/" {
		return strings.TrimPrefix(p, "/")
	}
	return strings.TrimPrefix(p, root+"/")
}

// walk calls fn for every regular file under scope (which is root or lies below
// it), applying r relative to root, in lexical order. Unreadable folders are
// reported to onErr and skipped; fn's error stops the walk and is returned.
func (r rules) walk(ctx context.Context, root, scope string, fn func(fileEntry) error, onErr func(walkError)) error {
	if r.excluded(relTo(root, scope)) {
		return nil
	}
	err := filepath.WalkDir(scope, func(p string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			if p == scope && d == nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // the scope vanished: pruning handles it
				}
			}
			onErr(walkError{Path: p, Err: err})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if p != scope && r.skipName(d.Name(), relTo(root, p)) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			return nil // never followed: see the package doc
		case !d.Type().IsRegular():
			return nil // devices, sockets, FIFOs: reading a FIFO would block
		}
		info, err := d.Info()
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				onErr(walkError{Path: p, Err: err})
			}
			return nil
		}
		return fn(fileEntry{Path: p, Size: info.Size(), ModTime: info.ModTime().UnixNano()})
	})
	return err
}

// present reports whether the walker would visit p as a file now: it exists as
// a regular file (not a symlink) and no rule excludes it. Errors other than
// "not there" count as present, so that an unreadable folder never deletes
// records.
func (r rules) present(root, p string) bool {
	if !within(p, root) || r.excluded(relTo(root, p)) {
		return false
	}
	st, err := os.Lstat(p)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist) && !isNotDir(err)
	}
	return st.Mode().IsRegular()
}
