package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

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
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if listErrors {
				return printIndexErrors(ctx, g, cmd.OutOrStdout(), asJSON)
			}
			if len(args) == 0 {
				return fmt.Errorf("index: give at least one folder")
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
			if asJSON {
				_ = json.NewEncoder(cmd.OutOrStdout()).Encode(sum)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%d files: %d embedded, %d linked (no inference), %d unchanged, %d failed, %d removed in %.1fs (%.1f images/s)\n",
					sum.Files, sum.Embedded, sum.Linked, sum.Skipped, sum.Failed, sum.Deleted, sum.Elapsed, sum.ImagesPerSec)
				if sum.Failed > 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "see `imglish index --errors` for the files that could not be indexed")
				}
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
	if asJSON {
		return json.NewEncoder(w).Encode(errs)
	}
	for _, e := range errs {
		fmt.Fprintf(w, "%s\t%s\n", e.Path, e.Reason)
	}
	return nil
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
					fmt.Fprint(w, "\r\033[K"+line)
				} else {
					fmt.Fprintln(w, line)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// progressLine renders a Progress snapshot.
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
	fmt.Fprintf(&b, "%s%s %d/%s files  %.1f files/s  %.1f img/s  embedded %d  linked %d  unchanged %d  failed %d",
		frac, p.Phase, p.Done(), total, p.FilesPerSec, p.ImagesPerSec, p.Embedded, p.Linked, p.Skipped, p.Failed)
	if p.ETA > 0 {
		fmt.Fprintf(&b, "  ETA %s", (time.Duration(p.ETA) * time.Second).Round(time.Second))
	}
	return b.String()
}
