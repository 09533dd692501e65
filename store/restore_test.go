package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"imglish/internal/testenv"
	"imglish/search/synth"
)

// TestRestoreRefusesNonBackups restores input that is no complete imglish
// backup into a missing directory, one below a missing parent and an empty
// one: each fails with its sentinel, without a panic (a text file panicked
// in Badger's Load with "makeslice: len out of range"), and leaves the
// target as it was, so a retry with the right file works (a failed restore
// left a store, or Badger's files, that made the retry fail with
// ErrNotEmpty; an empty file restored an empty store).
func TestRestoreRefusesNonBackups(t *testing.T) {
	db := openT(t, t.TempDir())
	fill(t, db, 300, synth.Clustered(300, tDim, 10, 0.8, 3))
	var good bytes.Buffer
	if _, err := db.Backup(t.Context(), &good); err != nil {
		t.Fatal(err)
	}
	full := good.Bytes()
	frame := func(payload []byte) []byte {
		return append(binary.LittleEndian.AppendUint64(nil, uint64(len(payload))), payload...)
	}
	noSchema := rawBackup(t, func(txn *badger.Txn) error { return txn.Set([]byte("other/program"), []byte("x")) })
	newer := rawBackup(t, func(txn *badger.Txn) error {
		return txn.Set([]byte(keySchema), binary.BigEndian.AppendUint32(nil, SchemaVersion+1))
	})
	tests := []struct {
		name  string
		input []byte
		want  error
	}{
		{"text file", []byte("filename\tcaption\nimg001.jpg\ta red circle on a table\n"), ErrNotBackup},
		{"empty", nil, ErrNotBackup},
		{"shorter than a frame header", []byte{3, 0, 0}, ErrNotBackup},
		{"length past MaxInt64", bytes.Repeat([]byte{0xff}, 8), ErrNotBackup},
		{"truncated real backup", full[:len(full)/2], ErrNotBackup},
		{"real backup and stray bytes", append(bytes.Clone(full), 1, 2, 3), ErrNotBackup},
		{"frame that does not decode", frame(bytes.Repeat([]byte{0xff}, 40)), ErrNotBackup},
		{"empty frame only", frame(nil), ErrNotBackup},
		{"badger backup of another program", noSchema, ErrNotBackup},
		{"newer schema", newer, ErrSchemaVersion},
	}
	targets := []struct {
		name    string
		prepare func(t *testing.T) (dir, top string) // top: what must stay as it was
		existed bool                                 // top was an empty directory before
	}{
		{"missing dir", func(t *testing.T) (string, string) {
			d := filepath.Join(t.TempDir(), "data")
			return d, d
		}, false},
		{"missing parents", func(t *testing.T) (string, string) {
			top := filepath.Join(t.TempDir(), "a")
			return filepath.Join(top, "b", "data"), top
		}, false},
		{"empty dir", func(t *testing.T) (string, string) {
			d := t.TempDir()
			return d, d
		}, true},
	}
	for _, tc := range tests {
		for _, tg := range targets {
			t.Run(tc.name+"/"+tg.name, func(t *testing.T) {
				dir, top := tg.prepare(t)
				err := Restore(t.Context(), dir, bytes.NewReader(tc.input), testOpts())
				if !errors.Is(err, tc.want) {
					t.Fatalf("restore: %v, want %v", err, tc.want)
				}
				entries, serr := os.ReadDir(top)
				switch {
				case tg.existed && (serr != nil || len(entries) > 0):
					t.Errorf("%s after a failed restore: %d entries, %v; want it empty", top, len(entries), serr)
				case !tg.existed && !errors.Is(serr, fs.ErrNotExist):
					t.Errorf("%s after a failed restore: %v; want it absent", top, serr)
				}
				// The right file restores into the same place.
				if err := Restore(t.Context(), dir, bytes.NewReader(full), testOpts()); err != nil {
					t.Fatalf("restore of the good backup after a failed one: %v", err)
				}
				if n := openT(t, dir).ItemCount(); n != 300 {
					t.Fatalf("restored %d items, want 300", n)
				}
			})
		}
	}
}

// TestRestoreRefusesFrameLength: a frame claiming more than any backup
// frame (here 4 GiB) is refused at its header, before its payload is read:
// Badger's Load would allocate the claimed length first (a claimed 1 TiB
// kills the process with "runtime: out of memory", which no recover
// catches).
func TestRestoreRefusesFrameLength(t *testing.T) {
	payload := make([]byte, 1<<20) // more than Restore buffers ahead
	in := &testenv.CountingReader{R: bytes.NewReader(append(binary.LittleEndian.AppendUint64(nil, 4<<30), payload...))}
	dir := filepath.Join(t.TempDir(), "data")
	if err := Restore(t.Context(), dir, in, testOpts()); !errors.Is(err, ErrNotBackup) {
		t.Fatalf("restore: %v, want ErrNotBackup", err)
	}
	if in.N >= int64(len(payload)) {
		t.Errorf("read %d bytes of a %d-byte payload, want it refused at the header", in.N, len(payload))
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s after a failed restore: %v, want it absent", dir, err)
	}
}

// TestRestoreKeepsNonEmptyDir: a directory holding anything is refused
// before the input is read, and nothing in it is removed.
func TestRestoreKeepsNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Restore(t.Context(), dir, bytes.NewReader([]byte("not a backup")), testOpts()); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("restore into a non-empty dir: %v, want ErrNotEmpty", err)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "mine" {
		t.Fatalf("%s after a refused restore: %q, %v", keep, b, err)
	}
}

// rawBackup is Badger's own backup of a store written by fn alone, with no
// imglish Open (so no schema record unless fn writes one).
func rawBackup(t *testing.T, fn func(txn *badger.Txn) error) []byte {
	t.Helper()
	bdb, err := badger.Open(badgerOptions(t.TempDir(), testOpts(), discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	if err := bdb.Update(fn); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := bdb.Backup(&buf, 0); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
