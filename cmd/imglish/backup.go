package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"imglish/internal/atomicfile"
	"imglish/store"
)

func init() {
	register(newBackupCmd)
	register(newRestoreCmd)
}

// errRemoteBackup is backup or restore asked of the Weaviate backend:
// they read and write the embedded store's Badger stream only.
var errRemoteBackup = errors.New("backup and restore cover the embedded store (--data) only")

// refuseRemote returns errRemoteBackup, saying what to use instead, when
// --backend weaviate is chosen (a bad --backend is errBackend): a Badger
// backup of --data would then copy a store the data does not live in, and
// a restore would fill one nothing reads. Weaviate backs its own classes
// up (TestWeaviateBackupRecipe follows this recipe on a real node).
func refuseRemote(g *globals, cmd string) error {
	wv, err := g.backend.weaviate()
	if err != nil || !wv {
		return err
	}
	ns := g.backend.namespace
	if ns == "" {
		ns = "Imglish"
	}
	return fmt.Errorf("%s: %w: with --backend weaviate the data lives in the cluster; use Weaviate's backups: "+
		"start every node with a backup module (ENABLE_MODULES=backup-s3, -gcs or -azure; backup-filesystem with "+
		"BACKUP_FILESYSTEM_PATH on a single node), then POST /v1/backups/<backend> {\"id\": NAME, \"include\": [the %s_* classes]} "+
		"and, to restore, POST /v1/backups/<backend>/NAME/restore (the classes must not exist)", cmd, errRemoteBackup, ns)
}

// newBackupCmd is `imglish backup --out FILE`: a full, consistent backup of
// the store in --data (Badger's stream backup format). The store holds
// everything the API shows (label sets and uploaded originals included, see
// server/state.go), so no file beside it is needed; thumbnails are a cache.
// It opens the store read-only: it runs beside other readers but not while
// a writer (`imglish serve`, `imglish index`) holds the store, and a data
// dir with no store fails with store.ErrNoStore, creating nothing (a
// writable open created an empty store there and backed that up).
// With --backend weaviate it refuses (errRemoteBackup), naming Weaviate's
// own backups.
func newBackupCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Write a full backup of the store to FILE",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := refuseRemote(g, "backup"); err != nil {
				return err
			}
			if out == "" {
				return errors.New("backup: --out is required")
			}
			db, err := openStore(cmd.Context(), g, store.Options{ReadOnly: true}, "a backup cannot read the store while it writes")
			if err != nil {
				return err
			}
			werr := writeBackup(cmd.Context(), db, out)
			if err := errors.Join(werr, db.Close()); err != nil {
				return fmt.Errorf("backup %s: %w", out, err)
			}
			g.logger.Info("backup written", "file", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "backup file to write (replaced atomically)")
	return cmd
}

// newRestoreCmd is `imglish restore FILE`: loads a backup into --data,
// which must not hold a store yet. A FILE that is no complete backup fails
// with store.ErrNotBackup and leaves --data as it was. With --backend
// weaviate it refuses (errRemoteBackup).
func newRestoreCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "restore FILE",
		Short: "Restore a backup into the (empty) --data directory",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := refuseRemote(g, "restore"); err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			defer f.Close()
			if err := store.Restore(cmd.Context(), g.data, bufio.NewReaderSize(f, 1<<20), store.Options{Logger: g.logger}); err != nil {
				return err
			}
			g.logger.Info("restored", "dir", g.data)
			return nil
		},
	}
}

// writeBackup writes db's backup to path atomically, so an interrupted
// backup never replaces a good one.
func writeBackup(ctx context.Context, db *store.DB, path string) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := db.Backup(ctx, f); err != nil {
		return err
	}
	return f.Commit()
}
