package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"imglish/app"
	"imglish/indexer"
	"imglish/model"
	"imglish/store"
	"imglish/vstore"
)

func init() { register(newIndexCmd) }

func newIndexCmd(g *globals) *cobra.Command {
	var (
		watch, listErrors, quiet, asJSON  bool
		ignore                            []string
		workers, batch, encoders, threads int
		reconcile                         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "index [--model NAME] DIR...",
		Short: "Index folders of photos into the store (incremental, resumable; --watch keeps them in step)",
		Long: `Index walks each DIR, embeds new and changed images with the model and records them in the
store at --data. Unchanged files are skipped without being read; renamed, moved and copied files are
linked to their existing vector; deleted files are removed. Hidden and system folders are skipped,
symlinks are not followed, and files that are not images or do not decode are recorded
(list them with --errors). Interrupting it loses nothing committed: run it again to continue.`,
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			ctx := cmd.Context()
			// A signal stops a run cleanly (every commit is synced), so
			// the error says how to continue rather than "context canceled".
			defer func() { err = interrupted(ctx, err, "run the same command again to continue") }()
			if listErrors {
				return printIndexErrors(ctx, g, cmd.OutOrStdout(), asJSON)
			}
			if len(args) == 0 {
				return fmt.Errorf("index: give at least one folder")
			}
			if err := checkIndexFlags(cmd, ignore); err != nil {
				return err
			}
			dir, err := modelDir(g)
			if err != nil {
				return err
			}
			core, err := model.Open(ctx, dir, g.modelOptions(threads))
			if err != nil {
				return err
			}
			defer core.Close()
			db, err := openAnyStore(ctx, g, store.Options{},
				`index through it instead (POST /v1/index/jobs {"folder": DIR}, under one of its --index-root folders)`)
			if err != nil {
				return err
			}
			defer db.Close()
			var local vstore.Store
			if wv, _ := g.backend.weaviate(); wv {
				if err := checkModelSpace(ctx, db, core.Info().ID, core.Dim(), true); err != nil {
					return err
				}
				// This host's file records stay in --data (app.OpenLocalCatalog).
				if local, err = app.OpenLocalCatalog(ctx, g.data, g.logger); err != nil {
					return err
				}
				if local != nil {
					defer local.Close()
				}
			}
			ix, err := indexer.New(indexer.Options{Store: db, Local: local, Encoder: core, Workers: workers, BatchSize: batch, Encoders: encoders,
				Ignore: ignore, Reconcile: reconcile, Logger: g.logger})
			if err != nil {
				return err
			}
			stopBar := func() {}
			if !quiet {
				stopBar = showProgress(ctx, ix, os.Stderr)
			}
			if watch {
				err = ix.Watch(ctx, args...)
				stopBar()
				return err
			}
			sum, err := ix.Run(ctx, args...)
			stopBar()
			// A run that failed before it counted anything (a missing
			// folder) has no summary: all zeros would read as "indexed
			// nothing" ahead of the error that says why.
			if err == nil || sum.Files > 0 || sum.Deleted > 0 || sum.WalkErrors > 0 {
				writeSummary(cmd.OutOrStdout(), sum, asJSON)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&watch, "watch", false, "keep indexing changes until interrupted (inotify plus a periodic rescan)")
	f.BoolVar(&listErrors, "errors", false, "list the files that could not be indexed, with the reason, and exit")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	f.BoolVar(&asJSON, "json", false, "print the summary (or --errors) as JSON")
	f.StringArrayVar(&ignore, "ignore", nil, "glob of files or folders to skip (repeatable; with a / it matches the path below the folder)")
	f.IntVar(&workers, "workers", 0, "files read and decoded at once (default: CPUs)")
	f.IntVar(&batch, "batch", 0, "images per encoder call (default 16)")
	f.IntVar(&encoders, "encoders", 0, "batches embedded at once (default: 2 when the model embeds an image in under 2 ms, else 1)")
	f.IntVar(&threads, "threads", 0, "ONNX Runtime threads (default: one per core)")
	f.DurationVar(&reconcile, "reconcile", 0, "with --watch, full rescan period (default 10m)")
	return cmd
}

// indexNumberFlags are index's numeric flags that must not be negative.
// The indexer and encoder refuse such values too, but with a message that
// names no flag ("negative value -1000000000" for --reconcile -1s).
var indexNumberFlags = []string{"workers", "batch", "encoders", "threads", "reconcile"}

// checkIndexFlags checks index's flag values before the model loads, naming
// the flag in the error: no negative numbers, and --ignore globs that
// path.Match accepts.
func checkIndexFlags(cmd *cobra.Command, ignore []string) error {
	for _, name := range indexNumberFlags {
		v := cmd.Flags().Lookup(name).Value.String()
		if strings.HasPrefix(v, "-") {
			return &flagError{flag: name, value: v, err: indexer.ErrOptions}
		}
	}
	for _, glob := range ignore {
		if _, err := path.Match(glob, ""); err != nil {
			return fmt.Errorf("--ignore %q: %w", glob, err)
		}
	}
	return nil
}

// flagError is a negative value given to a flag that takes none. It
// unwraps to the error the library would have returned (indexer.ErrOptions).
type flagError struct {
	flag, value string
	err         error
}

func (e *flagError) Error() string {
	return fmt.Sprintf("--%s: must not be negative (got %s)", e.flag, e.value)
}

func (e *flagError) Unwrap() error { return e.err }

// writeSummary prints what a run did: sum as JSON, or a line of counts
// followed by pointers to what went wrong (failed files, unreadable
// folders).
func writeSummary(w io.Writer, sum indexer.Summary, asJSON bool) {
	if asJSON {
		_ = json.NewEncoder(w).Encode(sum)
		return
	}
	fmt.Fprintf(w, "%d files: %d embedded, %d linked (no inference), %d unchanged, %d failed, %d removed in %.1fs (%.1f images/s)\n",
		sum.Files, sum.Embedded, sum.Linked, sum.Skipped, sum.Failed, sum.Deleted, sum.Elapsed, sum.ImagesPerSec)
	if sum.Failed > 0 {
		fmt.Fprintln(w, "see `imglish index --errors` for the files that could not be indexed")
	}
	// Unreadable folders are not file errors: the indexer records none
	// (their files' records are kept) and only logs each one.
	switch {
	case sum.WalkErrors == 1:
		fmt.Fprintln(w, `1 folder could not be read: see the "skip unreadable folder" warning in the log`)
	case sum.WalkErrors > 1:
		fmt.Fprintf(w, "%d folders could not be read: see the \"skip unreadable folder\" warnings in the log\n", sum.WalkErrors)
	}
}

func printIndexErrors(ctx context.Context, g *globals, w io.Writer, asJSON bool) error {
	db, err := openAnyStore(ctx, g, store.Options{ReadOnly: true},
		"while it runs, ask it instead (GET /v1/index/status for counts and index jobs)")
	if err != nil {
		return err
	}
	defer db.Close()
	errs, err := indexer.ListErrors(ctx, db)
	if err != nil {
		return err
	}
	return writeIndexErrors(w, errs, asJSON)
}

// writeIndexErrors prints the file errors as JSON (FileError's snake_case
// form), or one "path<TAB>reason" line each, with fields quoted where they
// would break the lines (quoteField).
func writeIndexErrors(w io.Writer, errs []indexer.FileError, asJSON bool) error {
	if asJSON {
		if errs == nil {
			errs = []indexer.FileError{} // [] rather than null
		}
		return json.NewEncoder(w).Encode(errs)
	}
	for _, e := range errs {
		reason := e.Reason
		if reason == "" && e.Err != nil {
			reason = e.Err.Error()
		}
		if _, err := fmt.Fprintf(w, "%s\t%s\n", quoteField(e.Path), quoteField(reason)); err != nil {
			return err
		}
	}
	return nil
}

// quoteField is s as it is, or Go-quoted (strconv.Quote) when printing it
// as it is would be ambiguous: it holds a control character (a newline or
// tab in a file name splits the line or the columns), is not valid UTF-8
// (the \x escapes keep the bytes recoverable where a terminal would show
// U+FFFD), or starts with a double quote (so that it never reads as a
// quoted field).
func quoteField(s string) string {
	if !utf8.ValidString(s) || strings.HasPrefix(s, `"`) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// showProgress draws a one-line progress bar on w while the indexer runs,
// when w is a terminal; otherwise it logs a line every 10 s. The returned
// function stops it and clears the line.
func showProgress(ctx context.Context, ix *indexer.Indexer, w *os.File) func() {
	tty := false
	if st, err := w.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		tty = true
	}
	period := 10 * time.Second
	if tty {
		period = 250 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				if tty {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case <-t.C:
				line := progressLine(ix.Progress())
				if tty {
					// Asked on every redraw: the window may have been resized.
					fmt.Fprint(w, "\r\033[K"+fitWidth(line, termWidth(w)))
				} else {
					fmt.Fprintln(w, line)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// termWidth is the width in columns of the terminal f is, 0 when unknown.
func termWidth(f *os.File) int {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}

// fitWidth cuts line to fewer than width columns (one rune a column), so
// that it never wraps: "\r\033[K" clears only the cursor's screen row, and
// a wrapped line would leave a trail on every redraw. The last column stays
// free because some terminals wrap as soon as it is written. A width of 0
// or less (unknown) leaves line as it is.
func fitWidth(line string, width int) string {
	if width <= 0 || utf8.RuneCountInString(line) < width {
		return line
	}
	n := 0
	for i := range line {
		if n == width-1 {
			return line[:i]
		}
		n++
	}
	return line
}

// progressLine renders a Progress snapshot, the most telling numbers first,
// since a narrow terminal shows only the start (fitWidth).
func progressLine(p indexer.Progress) string {
	var b strings.Builder
	total := "?"
	if p.WalkDone {
		total = fmt.Sprint(p.Files)
	}
	frac := ""
	if p.WalkDone && p.Files > 0 {
		n := int(20 * p.Done() / p.Files)
		frac = "[" + strings.Repeat("#", n) + strings.Repeat(".", 20-n) + "] "
	}
	fmt.Fprintf(&b, "%s%s %d/%s files", frac, p.Phase, p.Done(), total)
	if p.ETA > 0 {
		fmt.Fprintf(&b, "  ETA %s", (time.Duration(p.ETA) * time.Second).Round(time.Second))
	}
	fmt.Fprintf(&b, "  %.1f files/s  %.1f img/s  embedded %d  linked %d  unchanged %d  failed %d",
		p.FilesPerSec, p.ImagesPerSec, p.Embedded, p.Linked, p.Skipped, p.Failed)
	return b.String()
}
