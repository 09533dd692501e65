package app

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"imglish/internal/fspath"
)

// Folder listing limits (App.Folders).
const (
	DefaultFolders = 20
	MaxFolders     = 200
)

// Folder is one indexed folder: its absolute path, its name relative to its
// root's parent (what a page offers as a relative path_prefix, "photos/2024"
// for /home/me/photos/2024 under the root /home/me/photos) and how many
// indexed images have a file in it or below.
type Folder struct {
	Path  string `json:"path"`
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// FolderList is what App.Folders returns: the roots the folders lie under,
// the folders, and whether more folders matched than the limit.
type FolderList struct {
	Roots     []string `json:"roots"`
	Folders   []Folder `json:"folders"`
	Truncated bool     `json:"truncated"`
}

// Folders lists the indexed folders under the roots (Options.Roots) whose
// path matches prefix (resolved as a search filter's path_prefix, see
// PathPrefixes; "": every folder), shallowest first, then by path, at most
// limit (0: DefaultFolders; at most MaxFolders). It reads every indexed image
// with a file under the prefix. A bad limit or a prefix longer than
// MaxTextLen wraps ErrInvalid.
func (a *App) Folders(ctx context.Context, prefix string, limit int) (FolderList, error) {
	if err := a.ready(); err != nil {
		return FolderList{}, err
	}
	if limit == 0 {
		limit = DefaultFolders
	}
	if limit < 1 || limit > MaxFolders {
		return FolderList{}, fmt.Errorf("%w: limit must be within 1..%d", ErrInvalid, MaxFolders)
	}
	if len(prefix) > MaxTextLen {
		return FolderList{}, fmt.Errorf("%w: prefix longer than %d bytes", ErrInvalid, MaxTextLen)
	}
	roots := a.opts.Roots
	var prefixes []string
	if prefix != "" {
		prefixes = PathPrefixes(prefix, roots)
	}
	type tally struct {
		Folder
		last string // the last item counted, so an item counts once per folder
	}
	folders := map[string]*tally{}
	err := a.cat.FilePaths(ctx, prefixes, func(id string, paths []string) bool {
		for _, p := range paths {
			for _, r := range roots {
				if p == r || !fspath.Within(p, r) {
					continue // a file lies below its root
				}
				parent := filepath.Dir(r)
				for dir := filepath.Dir(p); ; dir = filepath.Dir(dir) {
					if matchesAny(strings.TrimSuffix(dir, "/")+"/", prefixes) {
						f := folders[dir]
						if f == nil {
							f = &tally{Folder: Folder{Path: dir, Name: folderName(dir, parent, r)}}
							folders[dir] = f
						}
						if f.last != id {
							f.Count++
							f.last = id
						}
					}
					if dir == r || dir == "/" {
						break
					}
				}
			}
		}
		return true
	})
	if err != nil {
		return FolderList{}, err
	}
	out := FolderList{Roots: slices.Clone(roots), Folders: make([]Folder, 0, min(limit, len(folders)))}
	list := make([]Folder, 0, len(folders))
	for _, f := range folders {
		list = append(list, f.Folder)
	}
	slices.SortFunc(list, func(a, b Folder) int {
		return cmp.Or(cmp.Compare(strings.Count(a.Path, "/"), strings.Count(b.Path, "/")), strings.Compare(a.Path, b.Path))
	})
	if len(list) > limit {
		list, out.Truncated = list[:limit], true
	}
	out.Folders = append(out.Folders, list...)
	return out, nil
}

// matchesAny reports whether p starts with one of prefixes (none: it does).
func matchesAny(p string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, pre := range prefixes {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// folderName is dir relative to its root's parent, so it starts with the
// root's own name; under the root "/" it is the absolute path.
func folderName(dir, parent, root string) string {
	if root == "/" {
		return dir
	}
	if parent == "/" {
		return strings.TrimPrefix(dir, "/")
	}
	return strings.TrimPrefix(dir, parent+"/")
}
