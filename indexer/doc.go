// Package indexer keeps a store's image space in step with folders of photos:
// it walks them, decodes and embeds new or changed images with an encoder, and
// commits vectors, file paths and metadata to the store in durable batches.
//
// # Pipeline
//
// A walker lists regular files under each root (recursively, in lexical order)
// and drops those whose (path, size, mtime) match the store's record: unchanged
// files are never opened. The rest go through a bounded queue to Workers
// goroutines that read each file, sniff its format by content, hash it
// (xxh3-128) and, only when no vector for that content exists yet in the
// model's space and no other worker is already embedding it, decode and
// preprocess it into the encoder's input tensor. Concurrent decodes are capped by
// Options.PixelBudget, a semaphore weighted by each image's pixel count taken
// from its header, so a folder of 50-megapixel scans does not multiply memory by
// the worker count. A batcher groups tensors (BatchSize, MaxWait), the encoder
// embeds them, and a single committer writes them — vectors, item metadata,
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
// skipped. Images are recognised by content, never by extension; a file that is
// not an image, or that is corrupt or too large, is recorded with its reason
// (Errors lists them) and retried only when its size or mtime changes.
//
// # Store layout and model spaces
//
// In the store an item is one content hash (ID = hex xxh3-128) listing every
// path that holds it with the size and mtime seen; error records are store
// values under "indexer/error:"+path. Both are shared by all models. Vectors
// live in the model's space, store.ImageSpace(model id): indexing with another
// model fills a separate space (a path counts as unchanged only when its
// content has a vector in this model's space), and search uses one space at a
// time. Deleting an item's last path deletes the item and its vectors in every
// space. The store has no read-modify-write primitive, so another writer
// editing the same item's paths during a commit could lose that edit; within
// one Indexer, runs are serialised.
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
// indexing img/s, encoder-only img/s on tensors made beforehand, and
// files→vectors img/s: the same files read, preprocessed and embedded by the
// same workers and encoder without walker, hashing, dedup or store — the part
// of indexing no pipeline can avoid. Measured 27 Nov 2026 on the shared 2-core
// machine (load average 4.0–7.1 during the run, best of 2), 1,000 images:
//
//	model/collection        index  encoder-only  files→vectors  ratio-enc  ratio-f2v
//	demo/scenes (128 px)      852        2005            941         0.43       0.91
//	demo/photos (320–640)     427        1733            507         0.25       0.84
//	base-shaped/scenes       56.7        67.8           56.6         0.84       1.00
//	base-shaped/photos       47.4        62.6           45.9         0.76       1.03
//
// On the idle machine the same command gave (12:56 UTC, nothing else running):
//
//	model/collection        index  encoder-only  files→vectors  ratio-enc  ratio-f2v
//	demo/scenes (128 px)     1177        1884           1409         0.62       0.84
//	demo/photos (320–640)     655        1969            748         0.33       0.88
//	base-shaped/scenes      101.0       123.6           99.4         0.82       1.02
//	base-shaped/photos       72.6       111.6           81.3         0.65       0.89
//
// After the demo world's objects were enlarged and the demo model retrained
// (same architecture), idle again (15:20 UTC, load average 0.8 at the start):
//
//	model/collection        index  encoder-only  files→vectors  ratio-enc  ratio-f2v
//	demo/scenes (128 px)     1134        1986           1336         0.57       0.85
//	demo/photos (320–640)     761        2109            828         0.36       0.92
//	base-shaped/scenes       98.3       136.4          105.2         0.72       0.93
//	base-shaped/photos       92.4       136.7           94.6         0.68       0.98
//
// The pipeline's own cost is small: with the demo model on the demo scenes it
// used 1.30 ms of CPU per image against 1.22 for files→vectors (0.08 ms: the
// HNSW insert and Badger write ~0.06, walk, lookups and hashing ~0.02). Before
// group commit, one transaction per batch of 16 cost 0.14–0.24 ms per image
// (ratio-f2v 0.67–0.87 over three interleaved runs, 0.78–1.03 with it); with
// commits skipped altogether indexing ran as fast as files→vectors.
//
// With the demo model the target "indexing at ≥ 90% of encoder-only" cannot be
// met on 2 cores: preprocessing a 128 px PNG scene (decode, resize to 80 px,
// normalise) costs 0.60 ms of CPU per image (1,657 img/s on one core), as much
// as the encoder's 0.64 ms, so a CPU-bound run reaches at most about half the
// encoder-only rate. In the demo/scenes CPU profile of Run, ORT took 59%,
// preprocessing 33% (the resize alone 18%, PNG decoding 7%), the store commit
// 5% (HNSW insert 4%) and walk and lookups 2%. The base-shaped model (384 px,
// ~15 ms per image) is encoder-bound and comes within 0.76–0.84 of
// encoder-only, and level with files→vectors. ORT intra-op threads 1 or 2
// against 1–3 workers made no difference beyond the load's noise; the
// defaults (ORT: one thread per core; Workers: one per CPU) stay. A re-run
// over 10,000 unchanged files took 0.118 s (BenchmarkRerunUnchanged).
//
// # Concurrency
//
// An Indexer is safe for concurrent use, but runs over the same store are
// serialised: Run and Watch hold a per-Indexer lock while they write. Progress
// may be called at any time from any goroutine. The Indexer does not own the
// store or the encoder; the caller closes them after the last Run returns.
package indexer
