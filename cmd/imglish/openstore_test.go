package main

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

	"imglish/store"
)

// holdEnv names the store a helper process (this test binary, re-executed)
// opens, as `imglish serve` would, and holds until its stdin closes.
const holdEnv = "IMGLISH_CMD_HOLD_STORE"

func TestHoldStoreChild(t *testing.T) {
	dir := os.Getenv(holdEnv)
	if dir == "" {
		t.Skip("helper process for TestIndexErrorsStoreStates")
	}
	db, err := store.Open(t.Context(), dir, store.Options{})
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

// TestIndexErrorsStoreStates runs `imglish index --errors` against a store
// another process holds (it failed with Badger's raw lock error) and against
// a missing data dir, given and default (it failed with "no manifest found"
// and created the folder): typed errors, and nothing created.
func TestIndexErrorsStoreStates(t *testing.T) {
	held := filepath.Join(t.TempDir(), "held")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHoldStoreChild$")
	cmd.Env = append(os.Environ(), holdEnv+"="+held)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("holding process: %v", err)
		}
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "open\n" {
		t.Fatalf("holding process: %q, %v", line, err)
	}

	xdg := t.TempDir()
	t.Setenv("IMGLISH_DATA", "")
	t.Setenv("XDG_DATA_HOME", xdg)
	missing := filepath.Join(t.TempDir(), "missing")
	cases := []struct {
		name      string
		args      []string
		want      error
		holder    int    // the pid a *store.LockedError must name, 0: none
		uncreated string // must still not exist afterwards
	}{
		{"held by another process", []string{"--data", held, "index", "--errors"}, store.ErrLocked, cmd.Process.Pid, ""},
		{"missing --data", []string{"--data", missing, "index", "--errors"}, store.ErrNoStore, 0, missing},
		{"missing default data dir", []string{"index", "--errors", "--json"}, store.ErrNoStore, 0, filepath.Join(xdg, "imglish")},
	}
	for _, tc := range cases {
		_, err := runCLI(t.Context(), t, tc.args...)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		var le *store.LockedError
		if tc.holder != 0 && (!errors.As(err, &le) || le.PID != tc.holder) {
			t.Errorf("%s: %v, want it to name pid %d", tc.name, err, tc.holder)
		}
		if tc.uncreated != "" {
			if _, err := os.Stat(tc.uncreated); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: %s exists after a failed read (%v)", tc.name, tc.uncreated, err)
			}
		}
	}
}
