// Package weaviate is a vstore.Store kept in a Weaviate cluster (tested
// against wvcluster.Version): the remote alternative to the embedded
// Badger store, for a search service that several indexers and servers
// share. It passes the vstore conformance suite unchanged
// (TestConformance runs it on a real node).
//
// # Transport
//
// Object batches — nearly all of an indexer's bytes — go over Weaviate's
// gRPC API when Options.GRPC names the nodes' gRPC addresses (imglish's
// --weaviate-grpc; `make run BACKEND=weaviate` and the test clusters set
// them): the request is built by weaviate-go-client's batch encoder (the
// one its ObjectsBatcher uses), so vectors travel as raw float32 bytes
// rather than JSON numbers that the node must parse, on connections this
// package owns (one per node, closed by Close) and retries under the same
// node rule as every other request. TestGRPCWritesAsREST holds the two
// paths to the same stored objects. Exact scans (Exact searches, the pages
// after the first, the date order's relevant set, MeanScore) read the
// vectors over gRPC Search with a cursor too, as raw bytes
// (TestGRPCScanAsREST: the same answers, about 5× faster than the REST
// listing on 3,000 768-d vectors). Without gRPC addresses both go over
// REST.
//
// Everything else speaks REST and GraphQL with net/http: the store needs
// few calls (schema, batch deletes by id, cursor listing, Get with
// nearVector and where, Aggregate), sets the consistency level per
// request, and keeps its own retry rule (client).
//
// # Data model
//
// Every class name starts with Options.Namespace (default "Imglish"):
//
//   - <ns>_Items holds one object per item, without a vector: the item as
//     JSON (the truth every read decodes) and, indexed, the fields filters
//     use: itemId, hash, paths (text[]), folders (every ancestor folder of
//     every path, text[], for folder prefixes), mediaType, camera (the
//     lower-case "make model"), tags (text[]), date (Item.Date), size,
//     width, height. An item without any vector lives only here.
//   - <ns>_S<16 hex of sha256(space name)> holds one space (a space name
//     may hold characters a class name cannot). Its description is the
//     space's JSON (name, kind, model, dim, M, ef), so a store opened later
//     finds every space in the schema; CreateSpace of an existing name
//     with another kind, model, dimension or M/ef fails with ErrExists,
//     which is how a store started for another model refuses the space.
//     An image space's object per item carries the vector (cosine
//     distance, normalised) and the same item properties as the items
//     class, so Weaviate filters and returns the item with the hit; an
//     item put rewrites those copies. A text collection's object carries
//     textId, text and the vector.
//   - <ns>_Values and <ns>_Blobs hold one object per key (key, data as
//     Weaviate's base64 blob).
//
// Object ids are UUIDv5 in a fixed namespace of the item id, text id or
// key. Item ids are content hashes and the class is the model's space, so
// an object id is in effect UUIDv5(model, content hash): writes are
// idempotent, and two indexers that see the same photo write one object.
//
// Classes are created with Options.Replicas (default: the existing items
// class's, else min(3, live nodes)) and Options.Shards (likewise, else the
// live node count), and with Weaviate's async replication when replicated:
// a node back from an outage then catches up on the writes it missed in
// the background (without it, only objects read again were repaired, and
// TestNodeKilledWhileIndexing's restarted node never held them). Every
// write, object read and (on
// replicated classes) GraphQL Get uses Options.Consistency (default
// QUORUM). Cursor listings (scans) and aggregate counts take no
// consistency level in Weaviate.
//
// # Writes
//
// Apply validates the whole batch first (spaces, kinds, dimensions, the
// items of vectors, reading stored items as needed), so an invalid batch
// writes nothing; then it deletes (vectors before items) and puts (items
// before vectors), each request retried with exponential backoff on the
// next node after a transport error, 5xx or 429 (or an answer whose
// message says a replica or the Raft leader is out of reach, which
// Weaviate may send as 403 while it notices a node is gone), or after an
// attempt outlasts Options.AttemptTimeout (a schema read that reached a
// node while its Raft leader was killed waits for that leader without a
// deadline), and each batch response
// checked object by object. It returns nil only when Weaviate acknowledged
// every object at the consistency level. Weaviate has no transactions: a
// batch that fails mid-way (a cluster down past every retry) leaves what
// it wrote visible; every write being idempotent, applying the batch again
// completes it. This is the one documented difference from the embedded
// store's atomicity, and the suite's atomicity test (invalid batches)
// holds. Writes are serialised per Store.
//
// # Reads and search
//
// Weaviate cannot page by score or sort ties by id. An approximate Search
// asks the HNSW index for 2k+16 neighbours under a where filter that
// selects a superset of the Filter's matches, applies the exact Filter,
// After, Until and Exclude here, drops the neighbours tied with the last
// one returned (a tie may have been cut off), and asks for four times as
// many until k remain or the neighbours run out; past Options.MaxResults
// (the cluster's QUERY_MAXIMUM_RESULTS, default 10,000) it falls back to
// the exact path. An exact Search, MeanScore, Items, Texts and ScanValues
// read the whole class with Weaviate's cursor and work here: O(objects)
// per call, with every vector transferred for the searches. That is
// exact and fine for the suite and for pages of a few thousand items; a
// large collection wants Weaviate-side filtering for them (future work).
// The exact path and an approximate Search with After or Until score here
// from the returned vectors, so a cursor and the hits it bounds are scored
// alike and pages are stable. An approximate Search without a cursor (the
// app's page 1, the common query; its later pages are exact) asks for
// Weaviate's cosine distance instead of the vectors and scores 1 − distance:
// the vectors' transfer and decoding were most of its time, and the two
// scores agree to float32 rounding (within the suite's 1e-5).
//
// The lookups without a context (Item, ItemByPath, ItemCount, Spaces,
// Vector, Texts, Value, Blob) are bounded by Options.Timeout; ItemCount and
// Spaces, which cannot return an error, log it and report what they have.
//
// # Outages
//
// A request that fails past every retry wraps ErrUnavailable, which wraps
// vstore.ErrUnavailable: the HTTP API answers it 503 with Retry-After
// (server's TestWeaviateRoutes stops the node and checks), where the
// embedded store has no such failure; /readyz asks the store (Ping) and
// answers 503 likewise.
//
// # Backups
//
// A Store is no vstore.Backuper: `imglish backup` and `restore` refuse the
// Weaviate backend, and Weaviate's own backup modules back up and restore
// the namespace's classes (the README has the recipe, and
// cmd/imglish's TestWeaviateBackupRecipe follows it). Open creates the
// items, values and blobs classes, so nothing may open the namespace while
// a restore runs.
//
// # Faults
//
// TestNodeKilledWhileIndexing (in make test) indexes 2,000 images into a
// real 3-node cluster (3 shards × 3 replicas, QUORUM) and SIGKILLs node3,
// then node1 (the node the others joined through), mid-run: the run
// completes on retries, every acknowledged item is there, searches from
// another store answer all through the outage, and after the restart
// every node holds every object (async replication), checked per node by
// id. TestIndexerKilledResumes SIGKILLs an indexer child mid-run: the
// resumed run embeds exactly what the child had not committed, with no
// duplicate. They shaped the client: a retry goes to the node after the
// one that failed (not wherever other failing requests moved the shared
// choice), and every attempt has a deadline (Options.AttemptTimeout).
//
// # Concurrency and ownership
//
// A Store is safe for concurrent use. The caller that opens it closes it;
// Close only stops this client (the data stays in Weaviate).
//
// # Security
//
// Options.APIKey is sent as a bearer token; use https URLs beyond
// loopback. Filter values reach GraphQL only as JSON-quoted string
// literals.
package weaviate
