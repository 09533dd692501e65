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
// SIGKILLed for the crash checks: once as floats, once quantised from the
// first vector on (every re-rank and exact scan reads its vectors from
// Badger, concurrent searches the commit in flight).
func TestConformance(t *testing.T) {
	t.Run("float", func(t *testing.T) { conformance(t, testOpts()) })
	t.Run("quantized", func(t *testing.T) { conformance(t, quantOpts()) })
}

// quantOpts are testOpts with every image space quantised from its first
// vector.
func quantOpts() Options {
	o := testOpts()
	o.Quantize, o.QuantizeAfter = true, 1
	return o
}

func conformance(t *testing.T, opts Options) {
	dirs := map[vstore.Store]string{}
	open := func(t *testing.T, dir string) vstore.Store {
		t.Helper()
		db, err := Open(t.Context(), dir, opts)
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
		Crash: func(t *testing.T) vstoretest.CrashTarget { return crashTarget(t, t.TempDir(), opts.Quantize) },
	})
}

// crashEnv names the store directory of a crash writer child;
// crashQuantEnv, set, makes it open the store with quantOpts.
const (
	crashEnv      = "IMGLISH_STORE_CRASH_CHILD"
	crashQuantEnv = "IMGLISH_STORE_CRASH_QUANT"
)

// TestCrashChild is the crash writer: a helper process of the conformance
// suite's Crash subtest (and of TestCrashSoak), not a test of its own.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("helper process for the Crash subtest of TestConformance")
	}
	opts := testOpts()
	if os.Getenv(crashQuantEnv) != "" {
		opts = quantOpts()
	}
	db, err := Open(context.Background(), dir, opts)
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
func crashTarget(t testing.TB, dir string, quant bool) vstoretest.CrashTarget {
	opts := testOpts()
	if quant {
		opts = quantOpts()
	}
	return vstoretest.CrashTarget{
		Start: func(acks *os.File) (*exec.Cmd, error) {
			exe, err := os.Executable()
			if err != nil {
				return nil, err
			}
			cmd := exec.Command(exe, "-test.run=^TestCrashChild$", "-test.v=false")
			cmd.Env = append(os.Environ(), crashEnv+"="+dir)
			if quant {
				cmd.Env = append(cmd.Env, crashQuantEnv+"=1")
			}
			cmd.ExtraFiles = []*os.File{acks}
			cmd.Stderr = new(bytes.Buffer)
			return cmd, cmd.Start()
		},
		Open: func() (vstore.Store, error) { return Open(t.Context(), dir, opts) },
	}
}
