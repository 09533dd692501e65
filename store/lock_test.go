package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// holdEnv names the store a helper process (this test binary, re-executed)
// opens and holds until its stdin closes.
const holdEnv = "IMGLISH_STORE_HOLD_CHILD"

func TestHoldChild(t *testing.T) {
	dir := os.Getenv(holdEnv)
	if dir == "" {
		t.Skip("helper process for TestOpenLockedOrMissing")
	}
	db, err := Open(t.Context(), dir, testOpts())
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	fmt.Println("open")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := db.Close(); err != nil {
		os.Exit(3)
	}
}

// holdInChild starts a process holding dir open for writing and returns its
// pid; the process closes the store and exits at cleanup.
func holdInChild(t *testing.T, dir string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHoldChild$")
	cmd.Env = append(os.Environ(), holdEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("holding process: %v", err)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "open\n" {
		t.Fatalf("holding process: %q, %v", line, err)
	}
	return cmd.Process.Pid
}

// TestOpenLockedOrMissing: a store held by another process, or by another DB
// of this one, fails Open with a *LockedError naming the writer's pid (it was
// Badger's raw "Cannot acquire directory lock" text); a read-only Open of a
// missing or empty directory fails with ErrNoStore and creates nothing (it
// created the directory, then failed with "no manifest found").
func TestOpenLockedOrMissing(t *testing.T) {
	cases := []struct {
		name     string
		setup    func(t *testing.T, dir string) (holder int)
		readOnly bool
		want     error
	}{
		{"read-only, writer in another process", func(t *testing.T, dir string) int { return holdInChild(t, dir) }, true, ErrLocked},
		{"read-write, writer in another process", func(t *testing.T, dir string) int { return holdInChild(t, dir) }, false, ErrLocked},
		{"read-write, writer in this process", func(t *testing.T, dir string) int {
			openT(t, dir)
			return os.Getpid()
		}, false, ErrLocked},
		{"read-write, reader in this process (pid unknown)", func(t *testing.T, dir string) int {
			db := openT(t, dir)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			ro, err := Open(t.Context(), dir, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ro.Close() })
			return 0
		}, false, ErrLocked},
		{"read-only, missing dir", func(t *testing.T, dir string) int { return 0 }, true, ErrNoStore},
		{"read-only, empty dir", func(t *testing.T, dir string) int {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			return 0
		}, true, ErrNoStore},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			holder := tc.setup(t, dir)
			_, existed := os.Stat(dir)
			before, _ := os.ReadDir(dir)
			db, err := Open(t.Context(), dir, Options{ReadOnly: tc.readOnly})
			if err == nil {
				db.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
			var le *LockedError
			if errors.Is(tc.want, ErrLocked) && (!errors.As(err, &le) || le.PID != holder || le.Dir != dir || le.Err == nil) {
				t.Errorf("Open: %#v, want a *LockedError for %s held by pid %d, with Badger's error", err, dir, holder)
			}
			if le != nil && le.Err != nil && !errors.Is(err, le.Err) {
				t.Errorf("Open: %v does not unwrap to Badger's error %v", err, le.Err)
			}
			_, exists := os.Stat(dir)
			after, _ := os.ReadDir(dir)
			if len(after) != len(before) || errors.Is(existed, fs.ErrNotExist) != errors.Is(exists, fs.ErrNotExist) {
				t.Errorf("a failed Open changed %s: %d entries before, %d after (stat before %v, after %v)", dir, len(before), len(after), existed, exists)
			}
		})
	}
}
