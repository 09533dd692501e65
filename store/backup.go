package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/dgraph-io/badger/v4"
)

// Backup writes a full backup of the store to w (Badger's stream backup
// format: a consistent snapshot at the call, taken while reads and writes
// continue). It returns the Badger version (timestamp) backed up.
func (db *DB) Backup(ctx context.Context, w io.Writer) (uint64, error) {
	db.mu.RLock()
	err := db.usable()
	db.mu.RUnlock()
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	stream := db.bdb.NewStream()
	stream.LogPrefix = "imglish.Backup"
	stream.SinceTs = 0
	// Stream.Backup has no context parameter; cancelling via ctx stops the
	// writer with an error on the next write.
	ts, err := stream.Backup(ctxWriter{ctx: ctx, w: w}, 0)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	return ts, nil
}

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// Restore loads a backup made by Backup into dir, which must not hold a
// store yet, checks its schema version and closes it. Open the store
// afterwards to use it (Open validates every record).
func Restore(ctx context.Context, dir string, r io.Reader, opts Options) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("restore into %s: %w", dir, ErrNotEmpty)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("restore into %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create store dir: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = discardLogger()
	}
	bdb, err := badger.Open(badgerOptions(dir, opts, log))
	if err != nil {
		return fmt.Errorf("open badger %s: %w", dir, err)
	}
	err = bdb.Load(ctxReader{ctx: ctx, r: r}, 256)
	if err == nil {
		err = bdb.Sync()
	}
	if cerr := bdb.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// Validate by opening: schema version and every record.
	db, err := Open(ctx, dir, opts)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return db.Close()
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
