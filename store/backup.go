package store

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"
)

// Backup writes a full backup of the store to w (Badger's stream backup
// format: a consistent snapshot at the call, taken while reads and writes
// continue). It returns the Badger version (timestamp) backed up. A
// read-only DB can be backed up.
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

// Restore loads a backup made by Backup into dir, which must be missing or
// empty (else ErrNotEmpty), checks it holds an imglish store (its schema
// record, then every record as Open does) and closes it. Open the store
// afterwards to use it.
//
// Input that is not a complete backup fails with ErrNotBackup: an empty
// stream, a frame length no backup has, a stream that ends inside a frame,
// a frame that does not decode, or a stream with no schema record. A newer
// schema fails with ErrSchemaVersion and a bad record with ErrCorrupt. On
// any failure Restore removes what it created (the store's files, and dir
// and its parents when it made them) and leaves dir as it found it; a
// directory another process holds open (ErrLocked) is not touched.
func Restore(ctx context.Context, dir string, r io.Reader, opts Options) (err error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("restore into %s: %w", dir, ErrNotEmpty)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("restore into %s: %w", dir, err)
	}
	// Refuse what is plainly no backup before creating anything.
	br := &backupReader{ctx: ctx, r: bufio.NewReaderSize(r, 64<<10)}
	if _, err := br.frame(); errors.Is(err, io.EOF) {
		return fmt.Errorf("restore into %s: %w: the stream is empty", dir, ErrNotBackup)
	} else if err != nil {
		return fmt.Errorf("restore into %s: %w", dir, err)
	}

	created, err := makeDirs(dir)
	if err != nil {
		return fmt.Errorf("restore into %s: %w", dir, err)
	}
	log := opts.Logger
	if log == nil {
		log = discardLogger()
	}
	bdb, err := badger.Open(badgerOptions(dir, opts, log))
	if err != nil {
		if pid, held := lockedBy(dir, false); held {
			// Another Restore (or Open) got here first: its files are not
			// ours to remove.
			return fmt.Errorf("restore into %s: %w", dir, &LockedError{Dir: dir, PID: pid, Err: err})
		}
		return errors.Join(fmt.Errorf("restore into %s: open badger: %w", dir, err), undoRestore(dir, created))
	}
	// From here the store's files in dir are ours: Badger holds the lock.
	defer func() {
		if err != nil {
			err = errors.Join(err, undoRestore(dir, created))
		}
	}()
	err = load(bdb, br)
	if err == nil {
		err = bdb.Sync()
	}
	if err == nil {
		err = requireSchema(bdb)
	}
	if cerr := bdb.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close badger: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("restore into %s: %w", dir, err)
	}
	// Validate by opening: schema version and every record.
	db, err := Open(ctx, dir, opts)
	if err != nil {
		return fmt.Errorf("restore into %s: %w", dir, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("restore into %s: %w", dir, err)
	}
	return nil
}

// load runs Badger's Load on br. A frame that does not decode is
// ErrNotBackup. Load panics on some input that passes br's checks (a
// decoded list whose entries Badger cannot take), so a panic is recovered
// as ErrNotBackup too rather than killing the process.
func load(bdb *badger.DB, br *backupReader) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: badger load panicked: %v", ErrNotBackup, p)
		}
	}()
	err = bdb.Load(br, 256)
	if errors.Is(err, proto.Error) {
		err = fmt.Errorf("%w: %w", ErrNotBackup, err)
	}
	if err != nil {
		return fmt.Errorf("load backup: %w", err)
	}
	return nil
}

// requireSchema fails with ErrNotBackup unless the loaded store holds the
// schema record every imglish store has from its first Open: without it an
// empty stream, or another program's Badger backup, would restore as a
// store (Open creates the record in an empty one).
func requireSchema(bdb *badger.DB) error {
	err := bdb.View(func(txn *badger.Txn) error {
		_, err := txn.Get([]byte(keySchema))
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return fmt.Errorf("%w: the backup holds no schema record (%s)", ErrNotBackup, keySchema)
	}
	if err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	return nil
}

// maxBackupFrame bounds the length a backup frame may claim. Badger's Load
// allocates a frame's length before reading it, so a text file read as a
// backup (its first 8 bytes as a length ≥ 2^56) panicked with "makeslice:
// len out of range". A frame is one protobuf KVList, and protobuf messages
// are limited to 2 GiB; Backup's are far smaller (Badger cuts a stream
// batch once it passes 100 MiB, Stream.MaxSize, plus one key's versions of
// at most MaxBlobSize each).
const maxBackupFrame = 2 << 30

// backupReader hands Load a backup stream (frames of an 8-byte
// little-endian length and that many bytes of KVList) only after checking
// each frame's length: at most maxBackupFrame, and the stream must not end
// inside a frame (Load's own error there, io.ErrUnexpectedEOF, would not
// say the input is no backup). It stops with ctx's error once ctx is done.
type backupReader struct {
	ctx  context.Context
	r    *bufio.Reader
	off  int64 // bytes passed on
	left int64 // bytes of the current frame, header included, not yet passed on
}

// frame checks the header of the frame at the reader's position without
// consuming it and returns the frame's length, header included. At the end
// of the stream it returns io.EOF; a short or oversized header is
// ErrNotBackup.
func (b *backupReader) frame() (int64, error) {
	hdr, err := b.r.Peek(8)
	switch {
	case len(hdr) == 0 && errors.Is(err, io.EOF):
		return 0, io.EOF
	case errors.Is(err, io.EOF):
		return 0, fmt.Errorf("%w: %d bytes at byte %d, too short for a frame header: %w", ErrNotBackup, len(hdr), b.off, io.ErrUnexpectedEOF)
	case err != nil:
		return 0, fmt.Errorf("read backup: %w", err)
	}
	n := binary.LittleEndian.Uint64(hdr)
	if n > maxBackupFrame {
		return 0, fmt.Errorf("%w: frame at byte %d claims %d bytes (at most %d)", ErrNotBackup, b.off, n, maxBackupFrame)
	}
	return 8 + int64(n), nil
}

func (b *backupReader) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	if b.left == 0 {
		n, err := b.frame()
		if err != nil {
			return 0, err
		}
		b.left = n
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.off += int64(n)
	b.left -= int64(n)
	if errors.Is(err, io.EOF) {
		err = nil
		if b.left > 0 {
			err = fmt.Errorf("%w: the stream ends %d bytes into its last frame, at byte %d: %w", ErrNotBackup, b.left, b.off, io.ErrUnexpectedEOF)
		}
	}
	if err != nil && !errors.Is(err, ErrNotBackup) {
		err = fmt.Errorf("read backup: %w", err)
	}
	return n, err
}

// makeDirs creates dir and returns the directories it created, deepest
// first, for undoRestore.
func makeDirs(dir string) ([]string, error) {
	var created []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create store dir: %w", err)
	}
	return created, nil
}

// undoRestore empties dir, which was missing or empty before the restore,
// and removes the directories the restore created (os.Remove, so one
// another process has put files into since stays).
func undoRestore(dir string, created []string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("undo restore: %w", err)
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
	}
	for _, d := range created {
		errs = append(errs, os.Remove(d))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("undo restore: %w", err)
	}
	return nil
}
