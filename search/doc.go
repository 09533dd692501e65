// Package search is imglish's in-memory vector index: an HNSW graph
// (Malkov & Yashunin, "Efficient and robust approximate nearest neighbor
// search using Hierarchical Navigable Small World graphs", 2016/2018),
// written from the paper, over unit vectors scored by dot product (cosine).
//
// What it holds: per node a key (the caller's string id), a vector in
// contiguous chunked memory (chunks of 1024 vectors, never copied when the
// index grows), a level drawn with mL = 1/ln(M), and neighbour lists per
// layer capped at M (layer ≥ 1) and 2·M (layer 0), chosen by the paper's
// neighbour-selection heuristic (algorithm 4). Dense uint32 internal ids map
// to keys; freed slots are reused.
//
// Writes: Add inserts (or, for an existing key with a different vector,
// replaces) a node; Delete removes nodes and repairs in the same call every
// link that pointed at them, so no tombstones accumulate. With
// Options.TrackChanges the index records which nodes each write touched;
// the store package persists exactly those (TakeChanges, Node,
// AppendVector, GraphMeta) in the same Badger transaction as the data they
// index, and rebuilds the index on open through Restore without re-running
// any insertion (Reserve sizes it once; SetNode/SetVector may then run from
// several goroutines over disjoint ids, and MapKeys alongside SetVector).
//
// Search: Search(ctx, query, k, opts) returns hits sorted by score
// descending, then key ascending — a total order, so a cursor (the last
// hit) passed as SearchOptions.After pages stably, also while nodes are
// added. Filters (IDSet, from Select or SelectKeys), the cursor, Until and
// Exclude are applied during the layer-0 walk: rejected nodes still route
// but never enter the result set. When the filter keeps less than
// ExactFraction (2%) of the nodes, or fewer than ExactBelow nodes, Search
// scans exactly instead. A walk is approximate, so keyset paging over walks
// can skip a node for good; exact pages (SearchOptions.Exact) with Exclude
// (the keys an approximate first page served) and After enumerate the rest
// of a ranking exactly once. MeanScore is a query's mean score over the
// (filtered) nodes. RecallCheck measures recall@k of the graph against the
// scan.
//
// Distances: dot products run in Go assembly (distance_amd64.s), AVX-512
// or AVX2+FMA, chosen once at start-up by CPU feature (Kernel names it),
// with a pure-Go loop elsewhere. The walk scores a node's unvisited
// neighbours in one batch call, four vectors per pass over the query, and
// prefetches the next four vectors and the best candidate's link list. A
// search allocates only its result: its buffers travel with the pooled
// visited set.
//
// Quantised mode (Options.Quantizer, trained by TrainQuantizer on a
// sample): the index keeps one int8 code per dimension (quant.go) instead
// of the float32 vector, about 1 KB per 768-d node with its links instead
// of 3.3 KB. The walk and the build score codes with int8 dot products
// (distance_i8*.go: AVX-512 VNNI, or AVX-512BW or AVX2 sign-extend and
// VPMADDWD, exact in int32); a search then re-ranks its best candidates
// (Options.Rerank, by default 4·k and at least 32, at most ef) exactly with
// full vectors read through Options.Source, a VectorSource (the store's
// mapped vector file), and returns exact scores. Exact scans (small
// filters, SearchOptions.Exact) read every matching vector through the
// source; MeanScore and RecallCheck's sample queries use the codes.
// Re-adding a key always replaces its node (there is no stored vector to
// compare).
//
// Concurrency: an Index is safe for concurrent use. Searches share a read
// lock; writers are serialised, compute their changes without blocking
// searches (only the writer mutates the graph) and take the write lock only
// to install them. A search may observe a write that its caller has not yet
// acknowledged (the store commits after installing).
//
// Caveats: Delete scans every node's links once per call (to find
// in-links without keeping a reverse index), O(nodes·M); batch deletions.
// Nothing here is durable; see package store.
package search
