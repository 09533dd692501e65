// Package fspath makes file paths canonical: the one form in which imglish
// records, looks up and compares paths, so that the indexer, the store's path
// records, the server's uploads, deletes, index roots and allow-list checks,
// and the command line all agree whatever form a user typed (relative,
// through a symlink, with "..").
//
// A canonical path is absolute, cleaned, and has every symlink resolved, as
// the kernel resolves it (".." after a symlink climbs from its target). A
// path that does not exist yet (a data dir before the first run, an upload
// folder not yet created) keeps its missing tail: its longest existing
// ancestor is resolved and the rest appended, so the folder created later at
// that path has the same canonical form (unless a symlink is created on the
// way). Nothing is created, opened or written.
//
// Functions are safe for concurrent use; their answers depend on the working
// directory and on the file system at the time of the call.
package fspath
