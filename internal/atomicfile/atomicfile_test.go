package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFile replaces a file, leaves no temp behind, and on an error
// (a missing folder, an aborted write) leaves the old content.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	tests := []struct {
		name    string
		path    string
		data    string
		want    string // content of path afterwards
		wantErr error
	}{
		{"create", path, "one", "one", nil},
		{"replace", path, "two", "two", nil},
		{"missing folder", filepath.Join(dir, "no", "f"), "x", "", os.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteFile(tc.path, []byte(tc.data))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("WriteFile: %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			b, err := os.ReadFile(tc.path)
			if err != nil || string(b) != tc.want {
				t.Fatalf("content %q, %v; want %q", b, err, tc.want)
			}
			if st, _ := os.Stat(tc.path); st.Mode().Perm() != Perm {
				t.Errorf("mode %v, want %v", st.Mode().Perm(), Perm)
			}
		})
	}
	a, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("aborted")); err != nil {
		t.Fatal(err)
	}
	a.Abort()
	if err := a.Commit(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Commit after Abort: %v, want os.ErrClosed", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "two" {
		t.Errorf("after abort: %q, want the old content", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder holds %d entries, want only f.json (no temps)", len(entries))
	}
}

// TestRemoveStale removes what a crashed writer left and nothing else.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	a, err := Create(filepath.Join(dir, "x.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	// a is never committed: a crash.
	_ = a.f.Close()
	for _, keep := range []string{"x.jpg", ".hidden", "tmp-x"} {
		if err := os.WriteFile(filepath.Join(dir, keep), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n, err := RemoveStale(dir)
	if err != nil || n != 1 {
		t.Fatalf("RemoveStale: %d, %v; want 1", n, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("%d entries left, want 3", len(entries))
	}
	if n, err := RemoveStale(filepath.Join(dir, "missing")); n != 0 || err != nil {
		t.Errorf("missing folder: %d, %v", n, err)
	}
}
