package indexer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func TestRulesSkipName(t *testing.T) {
	r, err := newRules([]string{"*.tmp", "raw/*", "Thumbs.db"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, rel string
		skip      bool
	}{
		{"a.jpg", "a.jpg", false},
		{".hidden.jpg", ".hidden.jpg", true},
		{".git", ".git", true},
		{".Trash-1000", ".Trash-1000", true},
		{"@eaDir", "x/@eaDir", true},
		{"$RECYCLE.BIN", "$RECYCLE.BIN", true},
		{"lost+found", "lost+found", true},
		{"System Volume Information", "System Volume Information", true},
		{"x.tmp", "deep/x.tmp", true},
		{"Thumbs.db", "a/Thumbs.db", true},
		{"b.jpg", "raw/b.jpg", true},
		{"b.jpg", "sub/raw/b.jpg", false}, // a glob with "/" matches the path from the root
		{"raw", "raw", false},
	}
	for _, c := range cases {
		if got := r.skipName(c.name, c.rel); got != c.skip {
			t.Errorf("skipName(%q, %q) = %v, want %v", c.name, c.rel, got, c.skip)
		}
	}
}

func TestNewRulesBadGlob(t *testing.T) {
	if _, err := newRules([]string{"[a-"}); !errors.Is(err, ErrOptions) {
		t.Fatalf("err = %v, want ErrOptions", err)
	}
}

// write creates path (and its folders) with content.
func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWalk(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"a.jpg", "sub/b.png", "sub/deeper/c", ".hidden/d.jpg", "sub/.e.jpg",
		"@eaDir/f.jpg", "sub/lost+found/g.jpg", "skip.tmp", "raw/h.jpg"} {
		write(t, filepath.Join(root, p), "x")
	}
	// A symlink loop, a symlink to a file and one to a folder: none followed.
	if err := os.Symlink(root, filepath.Join(root, "sub", "loop")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "a.jpg"), filepath.Join(root, "link.jpg")); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	write(t, filepath.Join(outside, "o.jpg"), "x")
	if err := os.Symlink(outside, filepath.Join(root, "out")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "fifo.jpg"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := newRules([]string{"*.tmp", "raw/*"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = r.walk(t.Context(), root, root, func(e fileEntry) error {
		got = append(got, relTo(root, e.Path))
		if e.Size != 1 || e.ModTime == 0 {
			t.Errorf("%s: size %d mtime %d", e.Path, e.Size, e.ModTime)
		}
		return nil
	}, func(we walkError) { t.Errorf("walk error %v", we) })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a.jpg", "sub/b.png", "sub/deeper/c"}
	if !slices.Equal(got, want) {
		t.Errorf("walked %v, want %v", got, want)
	}

	// A scope below the root obeys the root's rules.
	got = nil
	_ = r.walk(t.Context(), root, filepath.Join(root, "sub"), func(e fileEntry) error {
		got = append(got, relTo(root, e.Path))
		return nil
	}, func(walkError) {})
	if want := []string{"sub/b.png", "sub/deeper/c"}; !slices.Equal(got, want) {
		t.Errorf("scoped walk %v, want %v", got, want)
	}
	got = nil
	_ = r.walk(t.Context(), root, filepath.Join(root, ".hidden"), func(e fileEntry) error {
		got = append(got, e.Path)
		return nil
	}, func(walkError) {})
	if len(got) != 0 {
		t.Errorf("walk of an excluded scope found %v", got)
	}

	// Cancellation stops the walk.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.walk(ctx, root, root, func(fileEntry) error { return nil }, func(walkError) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled walk: %v", err)
	}

	cases := []struct {
		rel     string
		present bool
	}{
		{"a.jpg", true},
		{"sub/deeper/c", true},
		{"gone.jpg", false},
		{"a.jpg/x", false},       // ENOTDIR
		{"sub", false},           // a folder
		{"link.jpg", false},      // a symlink
		{".hidden/d.jpg", false}, // excluded
		{"skip.tmp", false},      // excluded by glob
	}
	for _, c := range cases {
		if got := r.present(root, filepath.Join(root, c.rel)); got != c.present {
			t.Errorf("present(%s) = %v, want %v", c.rel, got, c.present)
		}
	}
	if r.present(root, filepath.Join(outside, "o.jpg")) {
		t.Error("a path outside the root is present")
	}
}

func TestDedupeRoots(t *testing.T) {
	got := dedupeRoots([]string{"/a/b", "/a", "/c", "/a", "/ab"})
	want := []string{"/a", "/c", "/ab"}
	if !slices.Equal(got, want) {
		t.Errorf("dedupeRoots = %v, want %v", got, want)
	}
}
