package fspath

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestCanonical(t *testing.T) {
	// base/real/sub is a folder, base/link → real, base/deep/inner → ../real/sub,
	// base/file is a file.
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"real/sub", "deep"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("real", filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../real/sub", filepath.Join(base, "deep", "inner")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, base)
	if err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(base, "real")
	cases := []struct {
		name, in, want string
		err            error // errors.Is
		pathErr        bool  // an *fs.PathError
	}{
		{"absolute", real, real, nil, false},
		{"relative", filepath.Join(rel, "real"), real, nil, false},
		{"dot slash and dot-dot", "./" + rel + "/real/../real/", real, nil, false},
		{"symlinked folder", filepath.Join(base, "link"), real, nil, false},
		{"below a symlink", filepath.Join(base, "link", "sub"), filepath.Join(real, "sub"), nil, false},
		{"missing below a symlink", filepath.Join(base, "link", "new", "uploads"), filepath.Join(real, "new", "uploads"), nil, false},
		// A ".." that cancels a missing component must not leave the symlink
		// after it unresolved: base/missing/../link is base/real, not base/link.
		{"missing, dot-dot, then a symlink", base + "/missing/../link", real, nil, false},
		{"missing, dot-dot, below a symlink", base + "/missing/more/../../link/sub", filepath.Join(real, "sub"), nil, false},
		{"relative missing", rel + "/x/../x", filepath.Join(base, "x"), nil, false},
		{"dot-dot after a symlink climbs from its target", base + "/deep/inner/../new", filepath.Join(real, "new"), nil, false},
		{"missing from the root down", "/no-such-root-" + filepath.Base(base) + "/a/../b", "/no-such-root-" + filepath.Base(base) + "/b", nil, false},
		{"file used as a folder", filepath.Join(base, "file", "x"), "", nil, true},
		{"empty", "", "", ErrEmpty, false},
	}
	for _, tc := range cases {
		got, err := Canonical(tc.in)
		var pe *fs.PathError
		switch {
		case tc.pathErr:
			if !errors.As(err, &pe) {
				t.Errorf("%s: Canonical(%q) = %q, %v; want an *fs.PathError", tc.name, tc.in, got, err)
			}
		case !errors.Is(err, tc.err) || got != tc.want:
			t.Errorf("%s: Canonical(%q) = %q, %v; want %q, %v", tc.name, tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestWithin(t *testing.T) {
	cases := []struct {
		p, dir string
		want   bool
	}{
		{"/photos", "/photos", true},
		{"/photos/a/b.jpg", "/photos", true},
		{"/photos2/a.jpg", "/photos", false},
		{"/phot", "/photos", false},
		{"/etc/passwd", "/", true},
		{"/", "/", true},
	}
	for _, tc := range cases {
		if got := Within(tc.p, tc.dir); got != tc.want {
			t.Errorf("Within(%q, %q) = %v, want %v", tc.p, tc.dir, got, tc.want)
		}
	}
}
