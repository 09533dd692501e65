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
// that process and says what to do instead (instead: how to reach a holder
// that serves, for this command; see lockedStoreError); when a read finds no
// store it says so, having created
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
		return lockedStoreError(err, processArgs(locked.PID), instead)
	case errors.Is(err, store.ErrNoStore):
		return fmt.Errorf("%w: nothing has been indexed there yet (imglish index DIR creates it; --data or $IMGLISH_DATA picks another)", err)
	}
	return err
}

// lockedStoreError is explainStoreError's message for a locked store whose
// holder runs with the command line holder (nil when unknown). instead,
// how to reach a holder that serves (`imglish serve`), is only given when
// the holder may be one: `imglish index` serves no HTTP, so sending a
// search or an index job to it is impossible advice.
func lockedStoreError(err error, holder []string, instead string) error {
	desc := ""
	if len(holder) > 0 {
		line := strings.Join(holder, " ")
		if len(line) > 120 {
			line = line[:117] + "..."
		}
		desc = " (" + line + ")"
	}
	switch holderKind(holder) {
	case "index --watch":
		return fmt.Errorf("%w%s: `imglish index --watch` serves no HTTP: stop it and run this again, "+
			"or run `imglish serve --watch DIR` in its place so that searches and index jobs can go through the server", err, desc)
	case "index":
		return fmt.Errorf("%w%s: wait for that index run to end (or stop it: running it again continues where it stopped), then run this again", err, desc)
	}
	return fmt.Errorf("%w%s: %s, or stop it and run this again", err, desc, instead)
}

// holderKind names what an imglish command line does, as far as a locked
// store's message cares: "index --watch", "index" or "" (anything else,
// `serve` included, or not imglish: a command line not understood).
// The line is parsed with this binary's own commands and flags, so that
// global flags before the subcommand (--data DIR) are read as flags.
func holderKind(args []string) string {
	if len(args) < 2 {
		return ""
	}
	cmd, rest, err := newRoot().Find(args[1:])
	if err != nil || cmd.Name() != "index" {
		return ""
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return ""
	}
	if watch, err := cmd.Flags().GetBool("watch"); err == nil && watch {
		return "index --watch"
	}
	return "index"
}

// processArgs is the command line of a live pid where /proc shows it, else
// nil.
func processArgs(pid int) []string {
	if pid <= 0 {
		return nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}
