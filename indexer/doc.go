// Package indexer keeps a store's image space in step with folders of photos:
// it walks them, decodes and embeds new or changed images with an encoder, and
// commits vectors, file paths and metadata to the store in durable batches.
//
// # Pipeline
//
// A walker lists regular files under each root (recursively, in lexical order)
// and drops those whose (path, size, mtime) match the store's record (unless
// it records a failure that may pass, see Rules of the walk): unchanged
// files are never opened. The rest go through a bounded queue to Workers
// goroutines that read each file, sniff its format from its first bytes
// (reading and allocating the rest only for an image), hash it
// (xxh3-128) and, only when no vector for that content exists yet in the
// model's space and no other worker is already embedding it, decode and
// preprocess it into the encoder's input tensor. Concurrent decodes are capped by
// Options.PixelBudget, a semaphore weighted by each image's pixel count taken
// from its header, so a folder of 50-megapixel scans does not multiply memory by
// the worker count. A batcher groups tensors (BatchSize, MaxWait), the encoder
// embeds them (two batches at once when images are cheap to embed, see
// Options.Encoders), and a single committer writes them — vectors, item metadata,
// path records and error records — in synced store transactions. Embedded
// batches that arrive within MaxWait of each other share one transaction
// (group commit, at most 8 batches): each transaction costs a sync and
// rewrites the HNSW nodes its new vectors linked to, which with a small model
// cost as much as the rest of the pipeline (see Throughput). Every queue is
// bounded, so memory does not grow with the collection size.
//
// After the walk, records under the roots whose files have gone (or are now
// excluded by the rules) are deleted; an item's vector goes with its last path.
//
// # Metadata
//
// What an image says about itself (displayed size, format, EXIF time with
// its offset, camera, lens, GPS position, orientation) is read into a
// vstore.Meta in one place (metaOf), the same struct the store keeps in the
// item and the API shows (app.Item embeds it): a field added there needs no
// mapping in between. Each commit of new content replaces the item's
// metadata whole, so a field its file no longer has is cleared.
//
// # Deduplication
//
// Items are keyed by content hash within a model's space: a renamed, moved or
// copied file costs no inference, its path is linked to the existing vector.
//
// # Crash safety
//
// A path record is written in the same transaction as the vector it points to,
// and only synced batches are acknowledged. A process killed at any moment loses
// at most the batches in flight; running again re-walks, skips everything
// committed and embeds only the rest, so nothing acknowledged is lost and
// nothing committed is embedded twice.
//
// # Rules of the walk
//
// Hidden entries (a name starting with "."), well-known system folders
// (@eaDir, $RECYCLE.BIN, lost+found, System Volume Information, #recycle,
// #snapshot, @Recycle, __MACOSX) and Options.Ignore globs are skipped below a
// root; the root itself is always walked. Symbolic links are never followed,
// neither to files nor to folders: this rules out loops, and it keeps an index
// job inside the folder it was allowed to read (the server's allow-list).
// A root given as a symlink is resolved once. Devices, sockets and FIFOs are
// skipped. Images are recognised by content, never by extension, from their
// first bytes before the rest is read: an ISO-BMFF file (HEIF, AVIF, but also
// MP4, MOV and 3GP videos) counts only with an image brand in its ftyp box.
// A file that is not an image, or that is corrupt or too large, is recorded
// with its reason (Errors lists them) and retried only when its size or mtime
// changes, or, refused for its pixels, when a run allows more. A file over
// MaxFileBytes is retried by every run, since its size tells without reading
// it. A file that could not be read (permission denied, an I/O error, a
// read cut short) is recorded too, but retried on every run: chmod, which
// makes it readable, changes neither its size nor its mtime.
//
// # Store layout and model spaces
//
// The store is any vstore.Store (Options.Store; the embedded store.DB by
// default), used only through that interface. In it an item is one content
// hash (ID = ContentHash(data).String(), hex xxh3-128; the server's upload
// ids use the same function) listing every path that holds it with the size
// and mtime seen; error records are store values under
// "indexer/error:"+path. Both are shared by all models. Vectors live in the
// model's space, vstore.ImageSpace(model id): indexing with another
// model fills a separate space (a path counts as unchanged only when its
// content has a vector in this model's space), and search uses one space at a
// time. Deleting an item's last path deletes the item and its vectors in every
// space. The store has no read-modify-write primitive, so another writer
// editing the same item's paths during a commit could lose that edit; within
// one Indexer, commits are serialised (runs, Retag and AddImage alike).
//
// # Auto-tags
//
// With Options.Tagger set, the committer asks it for tags for every newly
// embedded image and writes them as AutoTagPrefix+tag ("auto:red") into the
// item's Tags in the same transaction as the item and its vector, replacing
// the item's earlier auto-tags and keeping other tags. Tagging happens
// inside the indexer's own read-modify-write of the item, so it can not lose
// a path (or a tag) written by another commit. Retag re-tags every item of
// the space (after a label set changed) under the run lock.
//
// # Throughput
//
// BenchmarkIndexVsEncoder (`make bench-index`, or go test -run xxx -bench
// IndexVsEncoder -benchtime 2x ./indexer/) reports, per model and collection,
// indexing img/s, encoder-only img/s on tensors made beforehand (the better
// of one caller and two at once), and files→vectors img/s: the same files
// read, preprocessed and embedded by the same workers and as many encoders,
// without walker, hashing, dedup or store — the part of indexing no pipeline
// can avoid. With a base-sized model indexing runs level with files→vectors;
// with the tiny demo model decoding a scene costs more than half of what
// embedding it does, so on 2 cores indexing cannot come near encoder-only. The
// dated runs behind these statements and the second-encoder rule are in
// bench/HISTORY.md ("Indexing throughput").
//
// # Single images
//
// AddImage indexes one image its caller has already decoded (the server's
// uploads): it hashes the bytes, reads the metadata from the header and
// EXIF, embeds the given tensor with the same encoder, tags it and commits
// item, vector and path record in one synced transaction, like a run. It
// does not wait for runs: it only waits for the commit in progress, and
// gives up with its context before its own commit. When it and a run embed
// the same content at once, the commit that comes second finds the vector
// of the first and only links its path (an upsert by content id), so the
// content still makes one item with both paths.
//
// # Concurrency
//
// An Indexer is safe for concurrent use, but runs over the same store are
// serialised: Run, Watch and Retag hold a per-Indexer run lock while they
// write. Every commit (those of runs, Retag and AddImage) reads and writes
// its items under a second, per-Indexer commit lock, which AddImage takes
// without the run lock. Progress (of runs; AddImage is not counted) may be
// called at any time from any goroutine. The Indexer does not own the
// store or the encoder; the caller closes them after the last Run returns.
package indexer
