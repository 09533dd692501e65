// Package app is imglish as a Go library: the transport-free application core
// that `imglish serve` puts behind HTTP and that the CLI and any other program
// call directly. Open assembles one App from one Config — the model
// (model.Open), the vector store (store.Open, or any vstore.Store), the
// indexer that fills it, the auto-tagger the indexer runs, and the Catalog
// that serves one model's image space and its text collections — and Close
// releases them in reverse order.
//
// # Why a package of its own, named app
//
// server used to hold all of this beside gin, so a program that wanted to
// search had to build a gin engine (as `imglish search` did) and server's
// tests were the only tests of query arithmetic and label sets. The core
// imports no HTTP package; server imports it and keeps binding, auth, limits,
// status mapping, OpenAPI and the page. It is not the module root package
// (imglish): the root stays free for a future facade, and "app" reads as
// what it is at call sites (app.Open, app.Config, *app.App) without
// stuttering; "core" was taken, informally, by model.Model (the encoder
// core every door shares). Data flows indexer → encoder → store/search ← app
// ← server, cmd/imglish.
//
// # What it holds
//
// The domain types the doors share (Item, Filter, Hit, TextEntry, LabelSet,
// ModelInfo), the Encoder and Catalog interfaces with their default
// implementations (Model over model.Model, NewCatalog over a vstore.Store),
// search with query composition, cursor paging and the date order
// (App.Search), zero-shot classification and label sets (App.Classify,
// App.LabelSet, App.PutLabelSet; stored in the store, see state.go), the
// AutoTagger, text collections and /v1/embed's logic (App.AddTexts, Texts,
// DeleteTexts, Embed), and index, watch and retag jobs with the index-root
// allow-list (App.StartIndexJob, Job, Jobs, IndexStatus; Close cancels and
// waits for them; their records are kept in the store, see jobstore.go),
// items and their originals (App.Item, DeleteItem, Original: the file, else
// the upload bytes kept in the store), uploads (App.Upload under
// Options.UploadDir: per-content lock, dedupe, one decode) and the folder
// listing (App.Folders). Package server only binds requests, streams
// originals and renders; thumbnails (size, JPEG, their file cache under its
// ThumbDir) are presentation and stay there, decoding the original with
// DecodeImage.
//
// # One item form, one filter form
//
// An item's metadata is declared once, as vstore.Meta: the indexer fills it
// from the image's header and EXIF, vstore.Item embeds it (and the stores
// keep it: Weaviate as the item's JSON, the embedded store in its binary
// codec), and Item, the API's form, embeds it again beside the fields the
// API derives (path, paths, mtime, camera) in one mapping (itemOf). So a
// metadata field is added to vstore.Meta, the store codec, the OpenAPI Item
// schema and the page; TestItemShowsEveryStoredField and server's
// TestOpenAPISchemasMatchTypes fail until it shows. A Filter, the API's
// terms, becomes the store's vstore.Filter in one place (App.storeFilter,
// which alone resolves a relative path prefix against the roots); a
// Catalog only ever sees the store's form.
//
// # Errors
//
// Every error wraps a sentinel of errors.go (ErrInvalid, ErrNotFound,
// ErrConfig, ErrUnavailable, ErrInternal) or of a package below (vstore and
// store, search, indexer, encoder, preprocess, tokenizer). ErrorRules and
// KindOf classify both by Kind, with a client-facing phrase for each
// sentinel, so a transport maps errors in one place without importing the
// packages below (server's statusRules).
//
// # Concurrency and ownership
//
// An App is safe for concurrent use. What Open opened, Close closes (a Store
// given in Config stays the caller's); call Close once everything using the
// App has stopped. Badger allows one process per store: Open of a store
// another process holds fails with store.ErrLocked.
package app
