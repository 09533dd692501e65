package server

import (
	"cmp"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"imglish/app"
	"imglish/internal/fspath"
)

// Folder listing limits.
const (
	defaultFolders = 20
	maxFolders     = 200
)

// Folder is one indexed folder of GET /v1/folders: its absolute path, its
// name relative to its root's parent (what the page offers as a relative
// path_prefix, "photos/2024" for /home/me/photos/2024 under the root
// /home/me/photos) and how many indexed images have a file in it or below.
type Folder struct {
	Path  string `json:"path"`
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// foldersResponse answers GET /v1/folders.
type foldersResponse struct {
	Roots     []string `json:"roots"`
	Folders   []Folder `json:"folders"`
	Truncated bool     `json:"truncated"`
}

// roots are the folders relative path prefixes are resolved against and
// folders are listed under: the index roots and the watched folders,
// outermost first; "/" when there are none. New computes them once
// (rootDirs); callers must not modify the slice.
func (s *Server) roots() []string { return s.rootDirs }

// rootDirs sorts and deduplicates the index roots and watched folders, which
// Options.withDefaults has already made canonical (absolute, symlinks
// resolved).
func rootDirs(indexRoots, watchFolders []string) []string {
	out := slices.Concat(indexRoots, watchFolders)
	if len(out) == 0 {
		return []string{"/"}
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b)) })
	return slices.Compact(out)
}

// pathPrefixes turns a path_prefix (of a search filter, or GET
// /v1/folders' prefix) into the canonical absolute prefixes a stored file
// path must start with: resolved against the roots (resolvePrefix), then
// made canonical (canonicalPrefix), so that a prefix typed through a symlink
// finds and lists the same items.
func (s *Server) pathPrefixes(p string) []string {
	return app.PathPrefixes(p, s.roots())
}

// resolveFilter resolves f's path prefix (pathPrefixes).
func (s *Server) resolveFilter(f Filter) Filter {
	if f.PathPrefix != "" {
		f.PathPrefixes = s.pathPrefixes(f.PathPrefix)
	}
	return f
}

// handleFolders lists the indexed folders under the roots whose path matches
// the prefix query parameter (resolved as a search filter's path_prefix; none:
// every folder), shallowest first, then by path, at most limit (default 20,
// at most 200). It reads every indexed image with a file under the prefix.
func (s *Server) handleFolders(c *gin.Context) {
	if err := s.ready(); err != nil {
		s.writeError(c, err)
		return
	}
	limit := defaultFolders
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxFolders {
			s.writeError(c, fmt.Errorf("%w: limit must be within 1..%d", ErrBadRequest, maxFolders))
			return
		}
		limit = n
	}
	prefix := c.Query("prefix")
	if len(prefix) > maxTextLen {
		s.writeError(c, fmt.Errorf("%w: prefix longer than %d bytes", ErrBadRequest, maxTextLen))
		return
	}
	roots := s.roots()
	var prefixes []string
	if prefix != "" {
		prefixes = s.pathPrefixes(prefix)
	}
	type tally struct {
		Folder
		last string // the last item counted, so an item counts once per folder
	}
	folders := map[string]*tally{}
	err := s.deps.Catalog.FilePaths(c.Request.Context(), prefixes, func(id string, paths []string) bool {
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
		s.writeError(c, err)
		return
	}
	resp := foldersResponse{Roots: roots, Folders: make([]Folder, 0, min(limit, len(folders)))}
	list := make([]Folder, 0, len(folders))
	for _, f := range folders {
		list = append(list, f.Folder)
	}
	slices.SortFunc(list, func(a, b Folder) int {
		return cmp.Or(cmp.Compare(strings.Count(a.Path, "/"), strings.Count(b.Path, "/")), strings.Compare(a.Path, b.Path))
	})
	if len(list) > limit {
		list, resp.Truncated = list[:limit], true
	}
	resp.Folders = append(resp.Folders, list...)
	c.JSON(http.StatusOK, resp)
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
