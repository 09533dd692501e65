package indexer

import (
	"context"
	"fmt"
	"os"

	"imglish/internal/fspath"
)

// AddImage indexes one image its caller has already read and preprocessed,
// such as an upload the server has written to path: data is the file's
// content, pixels its encoder input (a CHW tensor of side ImageSize, made
// as the encoder's manifest says, so nothing is decoded twice). The item,
// its vector (when the content has none in this space yet), auto-tags
// (Options.Tagger) and the path record are committed in one synced
// transaction, as a run commits them, with the same id (content hash) and
// metadata (read from data's header and EXIF) as the file would get from a
// folder run. It returns the item's id.
//
// AddImage does not wait for runs, watch syncs or Retag: it embeds beside
// them and waits only for the one commit in progress. An image that a run
// embeds at the same time becomes one item with both paths (the first
// vector stays, see storeCatalog.commit). When ctx ends before the commit
// AddImage returns ctx.Err() and has written nothing; once the commit has
// begun it finishes. Safe for concurrent use.
func (ix *Indexer) AddImage(ctx context.Context, path string, data []byte, pixels []float32) (string, error) {
	if side := ix.opts.Encoder.ImageSize(); len(pixels) != 3*side*side {
		return "", fmt.Errorf("add %s: %w: %d values, want 3×%d×%d", path, ErrTensor, len(pixels), side, side)
	}
	p, err := fspath.Canonical(path)
	if err != nil {
		return "", fmt.Errorf("add %s: %w", path, err)
	}
	st, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("add %s: %w", p, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("add %s: %w: not a regular file", p, ErrNotImage)
	}
	meta, err := ix.codec.meta(data)
	if err != nil {
		return "", fmt.Errorf("add %s: %w", p, err)
	}
	rec := fileRecord{Path: p, Size: st.Size(), ModTime: st.ModTime().UnixNano(), Hash: ContentHash(data)}
	meta.Size = rec.Size
	if old, ok, err := ix.cat.lookup(ctx, p); err != nil {
		return "", fmt.Errorf("add %s: look up: %w", p, err)
	} else if ok && old.Err != "" {
		rec.hadErr = true // the commit clears the error record
	}
	if err := ix.cat.ensureSpace(ctx, ix.opts.Encoder.Dim()); err != nil {
		return "", fmt.Errorf("add %s: %w", p, err)
	}
	b := batch{Files: []fileRecord{rec}}
	known, err := ix.cat.hasContent(ctx, rec.Hash)
	if err != nil {
		return "", fmt.Errorf("add %s: look up content: %w", p, err)
	}
	if !known {
		vecs, err := ix.opts.Encoder.EmbedImages(ctx, pixels, 1)
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if err != nil {
			return "", fmt.Errorf("add %s: embed: %w", p, err)
		}
		if len(vecs) != 1 {
			return "", fmt.Errorf("add %s: embed: got %d vectors", p, len(vecs))
		}
		b.Items = []newItem{{Hash: rec.Hash, Vector: vecs[0], Meta: meta}}
		ix.tag(ctx, b.Items)
	}
	if err := ix.lockCommit(ctx); err != nil {
		return "", err
	}
	defer ix.unlockCommit()
	if err := ctx.Err(); err != nil {
		return "", err
	}
	// From here the commit is all or nothing and short: it is not cut off.
	if err := ix.cat.commit(context.WithoutCancel(ctx), &b); err != nil {
		return "", fmt.Errorf("add %s: %w", p, err)
	}
	ix.opts.Logger.Debug("add image", "path", p, "id", rec.Hash.String(), "embedded", !known)
	return rec.Hash.String(), nil
}

// lockCommit takes commitMu, giving up when ctx ends first.
func (ix *Indexer) lockCommit(ctx context.Context) error {
	select {
	case ix.commitMu <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unlockCommit releases commitMu.
func (ix *Indexer) unlockCommit() { <-ix.commitMu }

// commit applies b under commitMu, so that no other commit of this Indexer
// reads or writes the same items meanwhile (the store has no
// read-modify-write primitive of its own).
func (ix *Indexer) commit(ctx context.Context, b *batch) error {
	if err := ix.lockCommit(ctx); err != nil {
		return err
	}
	defer ix.unlockCommit()
	return ix.cat.commit(ctx, b)
}
