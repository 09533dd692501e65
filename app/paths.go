package app

import (
	"path/filepath"
	"slices"
	"strings"

	"imglish/internal/fspath"
)

// PathPrefixes turns a path_prefix (of a search filter, or of a folder
// listing) into the canonical absolute prefixes a stored file path must
// start with: resolved against roots (resolvePrefix), then made canonical
// (canonicalPrefix), so that a prefix typed through a symlink finds and
// lists the same items. roots are canonical folders, outermost first ("/"
// when there are none).
func PathPrefixes(p string, roots []string) []string {
	out := resolvePrefix(p, roots)
	for i, pre := range out {
		out[i] = canonicalPrefix(pre)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// resolvePrefix turns a filter's path_prefix into the absolute prefixes a
// file path must start with (any of them). An absolute prefix is itself: a
// plain string prefix, as before ("/photos/2024" also matches
// "/photos/2024-old"; a trailing "/" keeps to the folder). A relative prefix
// P is tried at each folder boundary from the root up: for every root R and
// every A that is R or one of its ancestors, A/P, kept when it lies within R
// (A/P starts with R/) or covers all of R (R/ starts with A/P: then it is
// R/). So under the root /home/me/photos, "2024/" is /home/me/photos/2024/,
// "photos/2024" is /home/me/photos/2024 and "photos" (or "pho", or
// "me/photos") the whole root; a relative prefix never reaches outside the
// roots. With no root, one that matches nothing stands in, so the search
// finds nothing rather than everything.
func resolvePrefix(p string, roots []string) []string {
	if p == "" || strings.HasPrefix(p, "/") {
		return []string{p}
	}
	var out []string
	for _, r := range roots {
		if r == "/" {
			out = append(out, filepath.Clean("/"+p)+map[bool]string{true: "/"}[strings.HasSuffix(p, "/")])
			continue
		}
		within := r + "/"
		for a := r; ; a = filepath.Dir(a) {
			// Cleaned, so that ".." cannot climb out of the root unseen (the
			// catalog makes prefixes canonical before matching).
			c := filepath.Clean(a + "/" + p)
			if strings.HasSuffix(p, "/") && c != "/" {
				c += "/"
			}
			switch {
			case strings.HasPrefix(c, within):
				out = append(out, c)
			case strings.HasPrefix(within, c):
				out = append(out, within)
			}
			if a == "/" {
				break
			}
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		// Item paths are absolute, so a relative prefix matches none.
		return []string{p}
	}
	return out
}

// canonicalPrefix puts a path_prefix filter in the form stored paths have
// (fspath.Canonical of the part that exists, so a prefix typed through a
// symlink or relative still matches), keeping a trailing separator, which
// means "inside this folder". A prefix that cannot be resolved is used as given.
func canonicalPrefix(p string) string {
	c, err := fspath.Canonical(p)
	if err != nil {
		return p
	}
	if sep := string(filepath.Separator); strings.HasSuffix(p, sep) && !strings.HasSuffix(c, sep) {
		c += sep
	}
	return c
}
