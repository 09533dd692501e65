package server

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"imglish/app"
)

// Folder is one indexed folder of GET /v1/folders (the core's Folder).
type Folder = app.Folder

// rootDirs sorts and deduplicates the index roots and watched folders, which
// Options.withDefaults has already made canonical (absolute, symlinks
// resolved): the folders relative path prefixes are resolved against and
// folders are listed under (app.Options.Roots), outermost first; "/" when
// there are none.
func rootDirs(indexRoots, watchFolders []string) []string {
	out := slices.Concat(indexRoots, watchFolders)
	if len(out) == 0 {
		return []string{"/"}
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b)) })
	return slices.Compact(out)
}

// handleFolders lists the indexed folders under the roots whose path matches
// the prefix query parameter (App.Folders): limit defaults to 20, at most 200.
func (s *Server) handleFolders(c *gin.Context) {
	if err := s.ready(); err != nil {
		s.writeError(c, err)
		return
	}
	limit := app.DefaultFolders
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.writeError(c, fmt.Errorf("%w: limit must be within 1..%d", ErrBadRequest, app.MaxFolders))
			return
		}
		limit = n
	}
	list, err := s.app.Folders(c.Request.Context(), c.Query("prefix"), limit)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, list)
}
