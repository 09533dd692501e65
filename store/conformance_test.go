package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"imglish/vstore"
	"imglish/vstore/vstoretest"
)

// TestConformance runs vstore's conformance suite on a real Badger store
// on disk, reopened from the same directory for the durability checks and
// written by child processes (this test binary, re-executed) that are
// SIGKILLed for the crash checks.
func TestConformance(t *testing.T) {
	dirs := map[vstore.Store]string{}
	open := func(t *testing.T, dir string) vstore.Store {
		t.Helper()
		db, err := Open(t.Context(), dir, testOpts())
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() {
			if err := db.Check(context.Background()); err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("check at cleanup: %v", err)
			}
			db.Close()
		})
		dirs[db] = dir
		return db
	}
	vstoretest.Run(t, vstoretest.Harness{
		Open: func(t *testing.T) vstore.Store { return open(t, t.TempDir()) },
		Reopen: func(t *testing.T, s vstore.Store) vstore.Store {
			if err := s.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			return open(t, dirs[s])
		},
		Crash: func(t *testing.T) vstoretest.CrashTarget { return crashTarget(t, t.TempDir()) },
	})
}

// crashEnv names the store directory of a crash writer child.
const crashEnv = "IMGLISH_STORE_CRASH_CHILD"

// TestCrashChild is the crash writer: a helper process of the conformance
// suite's Crash subtest (and of TestCrashSoak), not a test of its own.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("helper process for the Crash subtest of TestConformance")
	}
	db, err := Open(context.Background(), dir, testOpts())
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash writer: open:", err)
		os.Exit(2)
	}
	err = vstoretest.CrashWrites(context.Background(), db, os.NewFile(3, "acks"))
	fmt.Fprintln(os.Stderr, "crash writer:", err)
	os.Exit(2)
}

// crashTarget is the store at dir, written by re-executions of this test
// binary running TestCrashChild.
func crashTarget(t testing.TB, dir string) vstoretest.CrashTarget {
	return vstoretest.CrashTarget{
		Start: func(acks *os.File) (*exec.Cmd, error) {
			exe, err := os.Executable()
			if err != nil {
				return nil, err
			}
			cmd := exec.Command(exe, "-test.run=^TestCrashChild$", "-test.v=false")
			cmd.Env = append(os.Environ(), crashEnv+"="+dir)
			cmd.ExtraFiles = []*os.File{acks}
			cmd.Stderr = new(bytes.Buffer)
			return cmd, cmd.Start()
		},
		Open: func() (vstore.Store, error) { return Open(t.Context(), dir, testOpts()) },
	}
}
