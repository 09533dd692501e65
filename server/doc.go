// Package server is imglish's HTTP API and web page: a gin engine serving JSON
// under /v1 (described by the embedded OpenAPI document at /v1/openapi.json),
// /healthz, /readyz, Prometheus /metrics, and a plain HTML/JS page at / that is
// embedded in the binary (no build step).
//
// # What it holds
//
// A Server wraps Deps: an Encoder (app.Model adapts model.Model, the encoder
// every door shares: tokenizer, text window, preprocessing), a Catalog
// (app.NewCatalog adapts a vstore.Store and indexer.Indexer: one model's
// image space and its text collections) and an optional Indexer for index
// jobs, uploads and watched folders; the types are package app's, the
// transport-free core, under their old names. The server imports the core
// (and internal helpers) only, never the store, search, indexer or encoder
// packages: errors arrive classified by app.ErrorRules, images are decoded
// by app.DecodeImage, and items and filters are app's forms (app.Item
// embeds the stored metadata, vstore.Meta, so the JSON carries each field
// the store keeps; TestOpenAPISchemasMatchTypes holds openapi.json to it). The server never opens or
// closes them: the caller (imglish serve, through app.Open) opens them, runs
// the server, and closes them after Run returns, in reverse order.
//
// # State
//
// Everything the API shows is in the store (see app/state.go): items, vectors,
// tags, text collections, label sets with their auto-tag settings, and the
// bytes of uploaded images, so `imglish backup` and `imglish restore`
// reproduce it. app.MigrateLabelSets moves label sets an older version kept as
// files into the store. Uploads are also files under Options.UploadDir (what
// the indexer reads) and thumbnails a file cache under Options.ThumbDir;
// files are written with internal/atomicfile. Index, watch and retag jobs
// keep a record in the store (written when they start and end; the newest
// 100 ended ones are kept), so GET /v1/index/jobs/:id and the index status
// answer for jobs of an earlier run; one that was running when the process
// stopped reads as failed, its error "interrupted: ...".
//
// Search (package app, the core: app.App.Search; this package binds the
// request and adds the hits' URLs) — queries are sums of weighted terms (text, base64 or uploaded image,
// indexed image id, raw vector; negative weights subtract), normalised, and
// searched in the image space or a text collection. Page 1 is a graph
// search; every later page is an exact scan in the order (score desc, id
// asc) of the items page 1 did not serve, after the previous page's last hit
// (the cursor carries both), scored with page 1's query vector, which the
// cursor also carries bit for bit (a query embedded again can differ in its
// last bits, and the page bounds compare scores exactly; see cursor). So
// paging to the end serves exactly once every item that existed when page 1
// was served and was neither deleted nor given another vector meanwhile,
// also while items are added (see pageAfter) — short of a collision among
// the 8-byte hashes the cursor keeps of page 1's ids (about 10⁻¹¹ per
// query, see cursor.idHash), which would leave one item out. sort=date
// pages a relevant set fixed on page 1 by (date, id) (see searchByDate).
//
// A filter's path_prefix is absolute, or relative to the roots (the index
// roots and watched folders): resolvePrefix turns it into absolute prefixes
// within them, and GET /v1/folders lists the indexed folders under the roots
// by those relative names, with image counts.
//
// An upload (POST /v1/images) is decoded once, by the core (app.App.Upload),
// which then writes the original and has the indexer embed that tensor and
// commit the item (Catalog.AddImage, indexer.Indexer.AddImage) beside any
// index job or watch sync instead of after it. Uploads of the same content take turns, so
// the second finds the first's item; an upload whose request ends first
// leaves neither item nor file.
//
// Concurrent encoder requests are merged by a Coalescer (max batch, max wait)
// into one encoder run, so many clients asking for one vector each cost one
// batch instead of many single runs. A lone request never waits for mates;
// under load a batch waits at most MaxWait and at most a quarter of the
// previous run (the encoder idles meanwhile), and texts of similar length run
// together, since a text batch is padded to its longest text. `make
// bench-server` (TestServeLatency) compares this default with the fixed wait
// it replaced and with no coalescing, on the demo and a 768-wide model.
//
// # Auto-tags
//
// An app.AutoTagger runs label sets (Options.AutoTags from the config, and every
// stored set with "auto_tag": true) on image vectors: a zero-shot
// classification as /v1/classify does, whose top label becomes a tag when its
// probability reaches the set's min_prob (default 0.5). It is handed to the
// indexer as indexer.Options.Tagger, so the tags ("auto:<label>") are written
// in the indexer's own commit of each newly embedded image, never by a
// second writer that could lose a path; other tags are kept. Storing a label
// set reloads the tagger (Deps.AutoTagger); when the set is or was an
// auto-tag set, a retag job (indexer.Retag, under the indexer's run lock)
// brings the indexed images in step, named by the X-Retag-Job header.
//
// The label set "default" (DefaultLabelSet), which the page runs on a query
// image when no labels are typed, is the stored set of that name, else the
// first auto-tag set, else on the demo model (ModelInfo.Demo) the built-in
// BuiltinDemoLabelSet.
//
// # Errors
//
// Every error response is {"error":{"code","message"}}. statusOf is the one
// place mapping errors to statuses, server's own sentinels by name and the
// core's vocabulary (app.ErrorRules) by app.Kind: ErrNotFound and the
// store's not-found 404,
// malformed input 400, an unsupported format or content type 415,
// *http.MaxBytesError 413, the pixel limit 422, the rate limit 429, not ready or
// draining 503, a remote store out of reach after its retries
// (vstore.ErrUnavailable: the Weaviate backend) 503 with Retry-After and
// a request id, its details only in the log, a request past its timeout
// 504. A handler panic becomes a
// logged 500; bad input is never a 500. A 500's message is only "internal
// error (request id …)", with the id also in "request_id" and in the log line
// that holds the cause. Other messages say what was wrong in the request's own
// terms (publicMessage): a JSON body's field path and the type expected
// ("field \"query[1].weight\": expected a number, got the string \"x\""), or the
// line, column and byte of a syntax error; never Go type names or the package
// prefixes of error texts.
// An error about one element of a list names it the same way, 0-based
// ("query[1].weight must be finite", "texts[0] must be 1..2000 bytes",
// "images[2]: …"). A method a path does not take is a 405 whose Allow header
// lists the ones it does (HEAD with GET, and OPTIONS); OPTIONS is answered 204
// with that header on every path, CORS or not.
//
// # Security
//
// API keys carry a read or write scope and are compared in constant time
// (sha256 of the presented key against each configured key's, all compared).
// Write routes (uploads, deletes, text collections, label sets, index jobs)
// always need a write key; Options.NoAuth lifts that only on a loopback
// address. Read routes need a key once any key is configured. Index jobs may
// only read folders under Options.IndexRoots (symlinks resolved first); item
// files are served only from paths recorded in the store, never from a path in
// the request, and ids are restricted to [A-Za-z0-9_.-]. Bodies are capped by
// Options.MaxUpload, decoded images by Options.MaxPixels (checked from the
// header before pixels are decoded), requests by Options.RequestTimeout, and
// each key (or client address) by a token-bucket rate limit (Options.RateLimit;
// off by default under NoAuth). The client address is the peer's; a forwarded
// one is believed only from Options.TrustedProxies. The page, its
// assets, /healthz, /readyz and /metrics need no key (metrics expose counts and
// latencies, no content); put them behind the network's own controls if that matters.
//
// # Concurrency
//
// A Server is safe for concurrent use. Run serves until its context ends, then
// drains requests in flight (up to 15 s), cancels index jobs and stops the
// coalescers; Close does the last two and is idempotent.
package server
