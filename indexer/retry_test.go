package indexer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"imglish/encoder/preprocess"
	"imglish/store"
	"imglish/vstore"
)

// TestContentError: the errors of a file's content (not an image, too
// large, refused by preprocess) are sticky; any error that may pass without
// the file changing is not, nor is one the indexer does not know.
func TestContentError(t *testing.T) {
	pathErr := func(op string, errno syscall.Errno) error {
		return fmt.Errorf("read: %w", &fs.PathError{Op: op, Path: "/p/u.png", Err: errno})
	}
	for _, tc := range []struct {
		name   string
		err    error
		sticky bool
	}{
		{"unknown signature", fmt.Errorf("read: %w: unknown signature", ErrNotImage), true},
		{"video", notImage(videoHeader), true},
		{"over the size limit, which may be raised", fmt.Errorf("read: %w: 300 bytes (limit 200)", ErrFileTooLarge), false},
		{"HEIC", &preprocess.Error{Op: "probe", Err: fmt.Errorf("format heif: %w", preprocess.ErrUnsupported)}, true},
		{"corrupt", &preprocess.Error{Op: "decode", Err: preprocess.ErrCorrupt}, true},
		{"too many pixels", &preprocess.Error{Op: "probe", Err: preprocess.ErrTooLarge}, true},
		{"permission denied (EACCES)", pathErr("open", syscall.EACCES), false},
		{"operation not permitted (EPERM)", pathErr("open", syscall.EPERM), false},
		{"I/O error mid-read (EIO)", pathErr("read", syscall.EIO), false},
		{"EAGAIN", pathErr("read", syscall.EAGAIN), false},
		{"EBUSY", pathErr("open", syscall.EBUSY), false},
		{"gone during the walk (ENOENT)", pathErr("open", syscall.ENOENT), false},
		{"stale NFS handle", pathErr("read", syscall.ESTALE), false},
		{"too many open files", pathErr("open", syscall.EMFILE), false},
		{"read cut short", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), false},
		{"cancelled", context.Canceled, false},
		{"deadline", fmt.Errorf("decode: %w", context.DeadlineExceeded), false},
		{"unknown", errors.New("something new"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := contentError(tc.err); got != tc.sticky {
				t.Errorf("contentError(%v) = %v, want %v", tc.err, got, tc.sticky)
			}
		})
	}
}

// faultyFile fails every read past its first after bytes with EIO: a disk
// error mid-way through a file whose head passed the sniff.
type faultyFile struct {
	fs.File
	path  string
	after int
	read  int
}

func (f *faultyFile) Read(p []byte) (int, error) {
	if f.read >= f.after {
		return 0, &fs.PathError{Op: "read", Path: f.path, Err: syscall.EIO}
	}
	p = p[:min(len(p), f.after-f.read)]
	n, err := f.File.Read(p)
	f.read += n
	return n, err
}

// TestTransientErrorRetried: a file whose open failed with permission
// denied and one whose read failed mid-way with EIO are error records
// after the first run (root ignores permissions, so Indexer.open injects
// both), and the next run, with the faults gone and neither file touched,
// indexes them and clears their records; a file that is not an image stays
// an error record and is not read again. An error record written before
// records carried Sticky is retried once. The same with a local catalog
// (Options.Local), which keeps its own copy of the records.
func TestTransientErrorRetried(t *testing.T) {
	for _, tc := range []struct {
		name  string
		local bool
	}{
		{"store", false},
		{"local catalog", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts Options
			if tc.local {
				db, err := store.Open(t.Context(), t.TempDir(), store.Options{MemTableSize: 8 << 20})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = db.Close() })
				opts.Local = db
			}
			e := newEnv(t, opts)
			root := t.TempDir()
			collection(t, root, 2, 11)
			denied, eio := filepath.Join(root, "denied.png"), filepath.Join(root, "eio.jpg")
			genImage(t, denied, 31, 70, 50)
			genImage(t, eio, 32, 90, 60)
			junk := filepath.Join(root, "notes.png")
			write(t, junk, "not an image, whatever the name says")
			size := func(p string) int64 {
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				return st.Size()
			}

			var faulty atomic.Bool
			faulty.Store(true)
			e.ix.open = func(name string) (fs.File, error) {
				if faulty.Load() && name == denied {
					return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EACCES}
				}
				f, err := openFile(name)
				if err != nil || !faulty.Load() || name != eio {
					return f, err
				}
				return &faultyFile{File: f, path: name, after: sniffLen}, nil
			}
			sum := e.run(root)
			if sum.Embedded != 2 || sum.Failed != 3 {
				t.Fatalf("first run: %+v; want 2 embedded, 3 failed", sum.Progress)
			}
			recs := e.records()
			for p, sticky := range map[string]bool{denied: false, eio: false, junk: true} {
				if r := recs[p]; r.Err == "" || r.Sticky != sticky {
					t.Errorf("%s: record %+v, want an error, sticky %v", p, r, sticky)
				}
			}

			faulty.Store(false)
			sum = e.run(root)
			if want := size(denied) + size(eio); sum.Embedded != 2 || sum.Failed != 0 || sum.Skipped != 3 || sum.Bytes != want {
				t.Errorf("second run: %+v; want the 2 retried files embedded (%d bytes read), 3 skipped", sum.Progress, want)
			}
			e.checkConsistent(root, map[string]bool{junk: true})
			fe, err := e.ix.Errors(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(fe) != 1 || fe[0].Path != junk {
				t.Errorf("errors after the retry: %+v, want only %s", fe, junk)
			}
			if sum := e.run(root); sum.Skipped != sum.Files || sum.Bytes != 0 {
				t.Errorf("third run: %+v; want everything skipped", sum.Progress)
			}

			// An error record of an older indexer, without Sticky (here
			// in the store and, with a local catalog, in its copy too).
			old, _ := json.Marshal(map[string]any{"size": size(junk), "mtime_ns": recs[junk].ModTime, "reason": recs[junk].Err})
			var b vstore.Batch
			b.SetValue(errValuePrefix+junk, old)
			if err := e.db.Apply(t.Context(), &b); err != nil {
				t.Fatal(err)
			}
			if tc.local {
				old, _ := json.Marshal(map[string]any{"size": size(junk), "mtime_ns": recs[junk].ModTime, "err": recs[junk].Err})
				var b vstore.Batch
				b.SetValue(localPrefix+e.ix.Space()+"\x00"+junk, old)
				if err := opts.Local.Apply(t.Context(), &b); err != nil {
					t.Fatal(err)
				}
			}
			if sum := e.run(root); sum.Failed != 1 || sum.Skipped != 4 {
				t.Errorf("run after an old record: %+v; want %s tried again and failed, the rest skipped", sum.Progress, junk)
			}
			if sum := e.run(root); sum.Skipped != sum.Files || sum.Bytes != 0 {
				t.Errorf("run after that: %+v; want everything skipped", sum.Progress)
			}
		})
	}
}

// TestChmodRetry is the report's case with real permissions: a file that
// could not be opened (chmod 000) is indexed by the run after chmod 644,
// which changes neither its size nor its mtime. Root ignores permissions;
// TestTransientErrorRetried injects the failure instead.
func TestChmodRetry(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("skipping: root reads a chmod 000 file; TestTransientErrorRetried injects a permission error instead")
	}
	e := newEnv(t, Options{})
	root := t.TempDir()
	u := filepath.Join(root, "u.png")
	genImage(t, u, 41, 64, 48)
	if err := os.Chmod(u, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(u, 0o644) }) // so that TempDir's removal works
	if sum := e.run(root); sum.Failed != 1 {
		t.Fatalf("unreadable file: %+v; want it failed", sum.Progress)
	}
	if err := os.Chmod(u, 0o644); err != nil {
		t.Fatal(err)
	}
	if sum := e.run(root); sum.Embedded != 1 || sum.Failed != 0 {
		t.Errorf("after chmod 644: %+v; want it embedded", sum.Progress)
	}
	e.checkConsistent(root, map[string]bool{})
}

// TestFileSizeLimitRaised: files refused for Options.MaxFileBytes are
// indexed by a later run under a larger limit, though they did not change.
func TestFileSizeLimitRaised(t *testing.T) {
	e := newEnv(t, Options{MaxFileBytes: 64})
	root := t.TempDir()
	collection(t, root, 3, 91)
	if sum := e.run(root); sum.Failed != 3 || sum.Embedded != 0 {
		t.Fatalf("under a 64-byte limit: %d failed, %d embedded; want 3 failed", sum.Failed, sum.Embedded)
	}
	sum, err := e.indexer(e.enc, Options{}).Run(t.Context(), root)
	if err != nil || sum.Embedded != 3 || sum.Failed != 0 {
		t.Errorf("under the default limit: %d embedded, %d failed (%v); want 3 embedded", sum.Embedded, sum.Failed, err)
	}
}

// TestPixelLimitRaised: a file refused for its pixels stays refused, unread,
// while the limit stays, and is indexed by a run that allows more, though it
// did not change; the same through a local catalog (the records of a store
// that several hosts share).
func TestPixelLimitRaised(t *testing.T) {
	for _, withLocal := range []bool{false, true} {
		t.Run(map[bool]string{false: "store", true: "local"}[withLocal], func(t *testing.T) {
			e := newEnv(t, Options{})
			var local vstore.Store
			if withLocal {
				db, err := store.Open(t.Context(), t.TempDir(), store.Options{MemTableSize: 8 << 20})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = db.Close() })
				local = db
			}
			root := t.TempDir()
			genImage(t, filepath.Join(root, "small.png"), 1, 40, 32)
			genImage(t, filepath.Join(root, "wide.png"), 2, 120, 40) // 4,800 px
			run := func(maxPixels int64) Summary {
				t.Helper()
				x := e.indexer(e.enc, Options{Local: local, Preprocess: preprocess.Options{MaxPixels: maxPixels}})
				sum, err := x.Run(t.Context(), root)
				if err != nil {
					t.Fatal(err)
				}
				return sum
			}
			if sum := run(2000); sum.Embedded != 1 || sum.Failed != 1 {
				t.Fatalf("under 2,000 px: %+v; want 1 embedded, 1 failed", sum.Progress)
			}
			if sum := run(2000); sum.Skipped != 2 || sum.Failed != 0 {
				t.Errorf("again under 2,000 px: %+v; want both skipped, unread", sum.Progress)
			}
			if sum := run(1000); sum.Skipped != 2 {
				t.Errorf("under 1,000 px: %+v; want both skipped", sum.Progress)
			}
			if sum := run(0); sum.Embedded != 1 || sum.Skipped != 1 || sum.Failed != 0 {
				t.Errorf("under the default limit: %+v; want the wide one embedded", sum.Progress)
			}
		})
	}
}
