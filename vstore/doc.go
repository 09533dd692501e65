// Package vstore is the vector-store seam: the data types and the Store
// interface that the indexer and the server speak, whatever engine holds
// the data. A store keeps items (one per content hash, with every path that
// holds it and the metadata filters use), vectors in named spaces (one per
// kind and model, so a search never mixes models), text collections for
// image→text search, small application values and blobs.
//
// Package store (Badger plus its own HNSW, embedded in the process) is the
// default implementation; a remote engine implements the same interface.
// Package vstoretest holds the conformance suite every implementation runs
// (as database/sql drivers are tested), so what this package documents is
// what callers may rely on.
//
// Writes go through a Batch, applied atomically by Store.Apply: all of it
// or (on any error) none of it. A Batch is plain data: implementations
// read its operations with Batch.Items, Batch.Vectors and Batch.Values.
//
// Results are ordered by score descending, then id ascending (Hit.Before),
// a total order, so a (score, id) cursor pages through a ranking stably.
//
// Optional abilities that only some engines have (a stream backup, an
// internal consistency check, a graph recall measurement) are separate
// interfaces (Backuper, Checker, RecallChecker) found by type assertion.
//
// Concurrency: implementations are safe for concurrent use. Ownership: the
// caller that opens a Store closes it.
package vstore
