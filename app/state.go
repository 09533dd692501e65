package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"imglish/store"
	"imglish/vstore"
)

// The server's own state lives in the store, beside the items, so one Badger
// transaction makes it durable and `imglish backup` carries it:
//
//	value labelset/<name>  a label set (JSON), auto-tag settings included
//	blob  upload/<item id> the bytes of an image uploaded with POST /v1/images
//
// Uploads are also written as files under Options.UploadDir, the form the
// indexer reads (it indexes paths, like every folder) and the path the item
// records. The store's copy is what survives a backup: after `imglish
// restore` into an empty data folder the uploads folder is not there (and the
// item's recorded path may name the old data folder), so GET original and the
// thumbnail fall back to the stored bytes. A copy in the store doubles the
// disk an upload takes; the alternative, a backup format that carries the
// uploads folder beside Badger's stream, would have been a second, unsynced
// source of truth that a backup taken during an upload could catch half way.
// Thumbnails are a cache, rebuilt from the original, and are not stored.
const (
	labelSetPrefix = "labelset/"
	uploadPrefix   = "upload/"
)

// getLabelSet reads the stored label set name; an error wrapping ErrNotFound
// when there is none.
func getLabelSet(db vstore.Store, name string) (LabelSet, error) {
	var ls LabelSet
	if err := ValidName("label set", name); err != nil {
		return ls, err
	}
	b, err := db.Value(labelSetPrefix + name)
	if errors.Is(err, store.ErrNotFound) {
		return ls, fmt.Errorf("%w: label set %q", ErrNotFound, name)
	}
	if err != nil {
		return ls, fmt.Errorf("read label set: %w", err)
	}
	if err := json.Unmarshal(b, &ls); err != nil {
		return ls, fmt.Errorf("parse label set %s: %w", name, err)
	}
	return ls, nil
}

// putLabelSets stores label sets in one synced transaction.
func putLabelSets(ctx context.Context, db vstore.Store, sets map[string]LabelSet) error {
	var b store.Batch
	for name, ls := range sets {
		if err := ValidName("label set", name); err != nil {
			return err
		}
		v, err := json.Marshal(ls)
		if err != nil {
			return fmt.Errorf("encode label set %s: %w", name, err)
		}
		b.SetValue(labelSetPrefix+name, v)
	}
	if err := db.Apply(ctx, &b); err != nil {
		return fmt.Errorf("store label sets: %w", err)
	}
	return nil
}

// scanLabelSets calls fn with the name and stored bytes of every label set,
// by name.
func scanLabelSets(ctx context.Context, db vstore.Store, fn func(name string, raw []byte)) error {
	return db.ScanValues(ctx, labelSetPrefix, func(key string, val []byte) bool {
		fn(strings.TrimPrefix(key, labelSetPrefix), val)
		return true
	})
}

// MigrateLabelSets moves the label sets an older imglish kept as files
// (dataDir/labelsets/<name>.json) into the store, so nothing is lost on
// upgrade: each set is stored (one synced transaction), then its file is
// removed, then the folder when it is empty. A set already in the store
// keeps the stored version (its file is removed all the same). A file that
// does not parse, or whose name is no label set name, is left where it is
// and logged. It returns how many sets were stored; it is cheap when there
// is no folder, so `imglish serve` calls it on every start. It is not safe
// to run alongside PUT /v1/labelsets of the same store.
func MigrateLabelSets(ctx context.Context, db vstore.Store, dataDir string, log *slog.Logger) (int, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Join(dataDir, "labelsets")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list label set files: %w", err)
	}
	sets := map[string]LabelSet{}
	var done []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		path := filepath.Join(dir, e.Name())
		if !ok || e.IsDir() || ValidName("label set", name) != nil {
			log.Warn("label set migration: not a label set file; left in place", "file", path)
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, fmt.Errorf("read label set file: %w", err)
		}
		var ls LabelSet
		if err := json.Unmarshal(b, &ls); err != nil {
			log.Warn("label set migration: file does not parse; left in place", "file", path, "err", err)
			continue
		}
		done = append(done, path)
		if _, err := getLabelSet(db, name); err == nil {
			log.Warn("label set migration: the store already holds this set; keeping the stored one", "file", path)
			continue
		} else if !errors.Is(err, ErrNotFound) {
			return 0, err
		}
		sets[name] = ls
	}
	if len(sets) > 0 {
		if err := putLabelSets(ctx, db, sets); err != nil {
			return 0, err
		}
	}
	for _, p := range done {
		if err := os.Remove(p); err != nil {
			return len(sets), fmt.Errorf("remove migrated label set file: %w", err)
		}
	}
	if rest, err := os.ReadDir(dir); err == nil && len(rest) == 0 {
		_ = os.Remove(dir)
	}
	if len(sets) > 0 {
		log.Info("label sets moved from files into the store", "count", len(sets), "folder", dir)
	}
	return len(sets), nil
}
