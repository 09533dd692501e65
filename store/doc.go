// Package store is imglish's durable state: one Badger (v4.9.6) directory
// holding the items (one per content hash, with every path), their vectors
// per space (one space per kind and model, so searches never mix models),
// text collections for image→text search, small application values (the
// server's label sets), blobs (uploaded originals), and each space's HNSW
// graph. Everything lives in Badger, so Backup and Restore carry all of it.
//
// A DB is the embedded, default vstore.Store: the data types (Item, Filter,
// Space, Batch, SearchOptions, Hit) and the sentinels it shares with other
// engines are vstore's, re-exported here under their old names, and it
// passes vstore/vstoretest's conformance suite (TestConformance).
//
// Badger is the truth; package search's Index is its in-memory mirror.
// Apply installs a Batch in the Index (which records the nodes it touched)
// and then writes the items, the new vectors and every touched node's links
// (and the entry point) in ONE Badger transaction, synced before Apply
// returns. So an acknowledged write is durable, a crash cannot leave a
// graph out of step with its vectors, and Open restores each graph as
// stored (a prefix scan) instead of rebuilding it. If a commit fails, the
// in-memory state is reloaded from disk.
//
// Key layout (schema version 1, key "meta/schema"):
//
//	item/<id>                  item metadata (binary, CRC-32C)
//	space/<name>               space config, entry point, top level (JSON, CRC)
//	node/<space>\x00<id BE32>  key, level, neighbour lists (CRC)
//	vec/<space>\x00<id BE32>   float32 little-endian (CRC)
//	text/<space>\x00<text id>  text of a collection entry (CRC)
//	kv/<key>                   application values (CRC)
//	blob/<key>                 application blobs: files' bytes (CRC)
//
// Every value carries a checksum; a mismatch, a malformed record, or a
// restored graph that breaks an invariant fails Open with ErrCorrupt. A
// store with a newer schema fails with ErrSchemaVersion. Compression is
// off (float data does not compress).
//
// Values over 1 KiB (vectors of 256 or more dimensions) live in Badger's
// value log, the rest in its LSM tree: the log is mapped, so Open reads a
// vector without Badger copying it (an inline value is copied twice), and
// the tree stays small. Replaced and deleted vectors leave garbage in the
// log, which CompactValueLog reclaims (every Options.ValueLogGCInterval in
// an open store). Open reads one snapshot with parallel range scans:
// items, then per space nodes and vectors into slots reserved from the
// highest stored id (search.Restorer). The path lookup (ItemByPath) is
// built on its first use. Opening 1M×768 items with vectors and graph is
// measured by make bench-store (TestOpenLarge); bench/HISTORY.md ("Store
// open time") has the dated runs.
//
// Options.Quantize holds image spaces of Options.QuantizeAfter (4096) or
// more vectors as int8 codes in memory, a quarter of the floats' bytes,
// walking the graph on codes and re-ranking the walk's best candidates
// exactly with their vectors read from a mapped file of the space's
// vectors beside Badger (vecfile.go: derived data, checked at every
// open); the quantizer is trained once and kept in the space record
// (quant.go). The vectors in Badger are unchanged, so a store opens
// quantised or as floats at will.
//
// Item metadata and texts are also held in memory (filters and hit
// decoration need them on every query). Filters are evaluated against that
// metadata into a node set, then applied during the graph walk; sets under
// 2% of a space are answered by exact scan (see package search).
//
// Concurrency: a DB is safe for concurrent use; writers (Apply, space
// changes) are serialised, reads and searches run alongside. A search may
// see a batch shortly before Apply acknowledges it.
//
// One process at a time: Badger locks the directory (shared for read-only
// opens), so Open of a store another process or DB holds fails with a
// *LockedError (ErrLocked) naming the writer's pid; a read-only Open never
// creates anything and fails with ErrNoStore where there is no store.
//
// Ownership: Open returns a DB the caller must Close (idempotent). Backup
// streams a consistent snapshot; Restore loads one into an empty directory.
package store
