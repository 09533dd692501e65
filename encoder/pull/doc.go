// Package pull downloads the official BEiT-3 retrieval checkpoints and their
// SentencePiece model, and turns them into imglish model folders under
// <data>/models/<name>/ with the converter (encoder/convert).
//
// Downloads are resumable: bytes go to <file>.partial; after an interruption
// (a dropped connection, a cancelled context, a killed process) the next
// attempt asks for the rest with an HTTP Range request and checks the
// server's Content-Range. A server that ignores Range (200 instead of 206) makes
// the download restart from byte zero. A finished file is fsynced, its length
// checked against Content-Length (and the catalogue size when known), its
// sha256 computed (and compared when the catalogue knows it), and only then
// renamed into place; model.json records the sha256 and the URL.
//
// Two mirror layouts exist: the official blob store keeps files in sub-folders
// (coco_retrieval/…, sentencepiece/beit3.spm), the GitHub release mirror keeps
// them flat. Options.Layout picks one; the zero value guesses from the URL.
//
// Concurrency: a Puller is safe for concurrent use on different model names;
// two pulls of the same name into one data folder race on its .partial file
// and must not run at once. Every blocking call takes a context and returns
// promptly with ctx.Err() (wrapped) when it is cancelled.
//
// Security: downloads are plain HTTPS GETs to the configured base URL; the
// checkpoint is parsed by the converter's restricted unpickler (no code runs).
package pull
