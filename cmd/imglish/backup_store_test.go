package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"imglish/store"
)

// TestBackupRestoreStoreStates runs `imglish backup` and `imglish restore`
// against the states a data dir can be in, on a real store: a backup of a
// dir with no store fails with store.ErrNoStore and creates neither the dir
// nor the file (it created an empty store there and backed that up, exit
// 0); a backup runs beside a read-only reader (it opens read-only); a
// restore of a file that is no backup fails with store.ErrNotBackup and
// leaves --data absent (a text file panicked in Badger and left a store
// that blocked the retry); the backup restores and holds the store's value.
func TestBackupRestoreStoreStates(t *testing.T) {
	dir := t.TempDir()
	data, restored := filepath.Join(dir, "data"), filepath.Join(dir, "restored")
	db, err := store.Open(t.Context(), data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b store.Batch
	b.SetValue("labelset/colours", []byte(`{"labels":["red"]}`))
	if err := db.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	reader, err := store.Open(t.Context(), data, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	text := filepath.Join(dir, "captions.tsv")
	if err := os.WriteFile(text, []byte("filename\tcaption\nimg001.jpg\ta red circle\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing, good := filepath.Join(dir, "missing"), filepath.Join(dir, "good.backup")
	cases := []struct {
		name   string
		args   []string
		want   error
		absent []string // paths that must not exist afterwards
	}{
		{"backup of no store", []string{"--data", missing, "backup", "--out", filepath.Join(dir, "typo.backup")}, store.ErrNoStore,
			[]string{missing, filepath.Join(dir, "typo.backup")}},
		{"backup beside a reader", []string{"--data", data, "backup", "--out", good}, nil, nil},
		{"restore of a text file", []string{"--data", restored, "restore", text}, store.ErrNotBackup, []string{restored}},
		{"restore of an empty file", []string{"--data", restored, "restore", os.DevNull}, store.ErrNotBackup, []string{restored}},
		{"restore of the backup", []string{"--data", restored, "restore", good}, nil, nil},
	}
	for _, tc := range cases {
		_, err := runCLI(t.Context(), t, tc.args...)
		if !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
		for _, p := range tc.absent {
			if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: %s exists afterwards (%v)", tc.name, p, err)
			}
		}
	}
	got, err := store.Open(t.Context(), restored, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if v, err := got.Value("labelset/colours"); err != nil || string(v) != `{"labels":["red"]}` {
		t.Errorf("restored value: %q, %v", v, err)
	}
}
