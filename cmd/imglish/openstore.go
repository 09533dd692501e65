package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"imglish/store"
)

// openStore opens the store at --data with the global logger. When another
// process holds it (`imglish serve`, `imglish index --watch`) the error names
// that process and says what to do instead (instead: how to reach the holder
// for this command); when a read finds no store it says so, having created
// nothing. Both keep the store's typed error (store.ErrLocked, store.ErrNoStore).
func openStore(ctx context.Context, g *globals, opts store.Options, instead string) (*store.DB, error) {
	opts.Logger, opts.Quantize = g.logger, g.quantize
	db, err := store.Open(ctx, g.data, opts)
	return db, explainStoreError(err, instead)
}

// explainStoreError is openStore's message for an error of opening the store
// (also through app.Open): err itself when it is no lock or missing store.
func explainStoreError(err error, instead string) error {
	var locked *store.LockedError
	switch {
	case errors.As(err, &locked):
		return fmt.Errorf("%w%s: %s, or stop it and run this again", err, describeProcess(locked.PID), instead)
	case errors.Is(err, store.ErrNoStore):
		return fmt.Errorf("%w: nothing has been indexed there yet (imglish index DIR creates it; --data or $IMGLISH_DATA picks another)", err)
	}
	return err
}

// describeProcess is " (its command line)" for a live pid where /proc shows
// it, else "".
func describeProcess(pid int) string {
	if pid <= 0 {
		return ""
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return ""
	}
	line := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	if len(line) > 120 {
		line = line[:117] + "..."
	}
	return " (" + line + ")"
}
