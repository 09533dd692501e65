package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"imglish/store"
	"imglish/vstore"
)

// LocalCatalogDir is the folder under a data directory that holds this
// host's file records when the vector store is shared (indexer
// Options.Local).
const LocalCatalogDir = "catalog"

// OpenLocalCatalog opens (creating it) the embedded store under
// dataDir/LocalCatalogDir that keeps this host's file records beside a
// shared vector store, so that a rescan asks the cluster only about new and
// changed files. When another process holds it (an `imglish serve` and an
// `imglish index` on one data folder), it logs that and returns nil: the
// indexer then asks the shared store about every path, which is slower
// and as correct. The caller closes what it returns.
func OpenLocalCatalog(ctx context.Context, dataDir string, log *slog.Logger) (vstore.Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Join(dataDir, LocalCatalogDir)
	db, err := store.Open(ctx, dir, store.Options{Logger: log, MemTableSize: 8 << 20})
	var locked *store.LockedError
	if errors.As(err, &locked) {
		log.Warn("local file catalog held by another process: this one asks the shared store about every file", "dir", dir, "pid", locked.PID)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open local file catalog: %w", err)
	}
	return db, nil
}
