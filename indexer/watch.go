package indexer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch indexes roots, then keeps them in step until ctx is done: filesystem
// events (fsnotify; create, write, remove, rename, a folder moved in or out)
// are debounced by Options.Debounce and the paths they name are synced; every
// Options.Reconcile the whole roots are rescanned, which catches what inotify
// misses (network filesystems, queue overflows, watch limits). Watch returns
// nil when ctx is cancelled, or the first error that stops it. Progress
// reports the cumulative counters with phase "watching" between syncs.
//
// A root removed or moved away loses its records at the next sync, as a
// folder below it would, and is then looked for every debounce period (but
// at least once a second, see rootPoll): once a folder stands at its path
// again (re-created, moved back, or a symlink to a folder, followed as a
// root given as a symlink is at the start), it is watched again and synced
// whole, without waiting for the reconcile.
func (ix *Indexer) Watch(ctx context.Context, roots ...string) error {
	if len(roots) == 0 {
		return fmt.Errorf("%w: no roots", ErrRoot)
	}
	var resolved []string
	for _, r := range roots {
		p, st, err := resolveRoot(r)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			return fmt.Errorf("%w: %s is not a folder", ErrRoot, r)
		}
		resolved = append(resolved, p)
	}
	resolved = dedupeRoots(resolved)

	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer w.Close()
	ws := &watchState{ix: ix, w: w, watched: map[string]bool{}}
	for _, r := range resolved {
		ws.roots = append(ws.roots, &watchRoot{origin: r, path: r})
	}
	// Watches go in before the first scan, so that nothing created during it is missed.
	for _, r := range resolved {
		ws.addTree(ctx, r, r)
	}
	ix.runMu.Lock()
	ix.prog.reset(ix.opts.Clock(), "indexing")
	err = ix.sync(ctx, ws.rootScopes())
	ix.prog.setPhase("watching")
	ix.runMu.Unlock()
	if err != nil {
		return cleanStop(ctx, err)
	}
	return cleanStop(ctx, ws.loop(ctx))
}

// cleanStop maps the cancellation of ctx to a nil error.
func cleanStop(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil
	}
	return err
}

// watchState is Watch's state; only loop's goroutine touches it.
type watchState struct {
	ix      *Indexer
	w       *fsnotify.Watcher
	roots   []*watchRoot
	watched map[string]bool // folders with an inotify watch
}

// watchRoot is one of Watch's roots.
type watchRoot struct {
	origin  string // canonical at Watch's start: where a gone root is looked for
	path    string // canonical now (origin, or where a symlink put there led); its records lie below it
	gone    bool   // path is no folder any more: unwatched, looked for on every rootPoll
	stale   bool   // gone, and its records not deleted yet
	refused string // the last target that came back inside or around another root, warned about once
}

// rootScopes returns the roots that are there, whole.
func (ws *watchState) rootScopes() []scope {
	var s []scope
	for _, r := range ws.roots {
		if !r.gone {
			s = append(s, scope{root: r.path, path: r.path})
		}
	}
	return s
}

// rootOf returns the root p lies in, or "" (also for a gone root's path,
// whose records go whole: see flush).
func (ws *watchState) rootOf(p string) string {
	for _, r := range ws.roots {
		if !r.gone && within(p, r.path) {
			return r.path
		}
	}
	return ""
}

// rootAt returns the root whose path is p, or nil.
func (ws *watchState) rootAt(p string) *watchRoot {
	for _, r := range ws.roots {
		if !r.gone && r.path == p {
			return r
		}
	}
	return nil
}

// anyGone reports whether a root is gone (and so polled for).
func (ws *watchState) anyGone() bool {
	for _, r := range ws.roots {
		if r.gone {
			return true
		}
	}
	return false
}

// lose marks r gone: its watches go, and the next flush deletes its records.
func (ws *watchState) lose(r *watchRoot) {
	ws.dropTree(r.path)
	r.gone, r.stale = true, true
}

// back reports where gone root r is a folder again: its origin made
// canonical anew, so that a symlink put in its place leads to the target,
// as a root given as a symlink does at Watch's start (records keep
// canonical paths). A target inside another root, or holding one, is
// refused, since its files would be walked twice; that is logged once per
// target.
func (ws *watchState) back(r *watchRoot) (string, bool) {
	p, st, err := resolveRoot(r.origin)
	if err != nil || !st.IsDir() {
		return "", false
	}
	for _, o := range ws.roots {
		if o != r && (within(p, o.path) || within(o.path, p)) {
			if r.refused != p {
				ws.ix.opts.Logger.Warn("watch root came back overlapping another root; not watched", "root", r.origin, "target", p, "other", o.path)
				r.refused = p
			}
			return "", false
		}
	}
	r.refused = ""
	return p, true
}

// rootPoll is how often gone roots are looked for: the debounce, so that a
// root's return is synced about as soon as an event would have been, but at
// least 50 ms apart and at most 1 s. Polling, rather than watching each gone
// root's parent for its name, also works when the parent is gone too (rm -rf
// of a grandparent, the parent moved), needs no second kind of watch whose
// events must not index the parent's other content, and sees a symlink's
// target appear; its cost is one resolveRoot (a few stat calls) per gone
// root and period, nothing for roots that are there.
func (ws *watchState) rootPoll() time.Duration {
	return min(max(ws.ix.opts.Debounce, 50*time.Millisecond), time.Second)
}

// addTree watches dir and every folder below it that the rules admit.
func (ws *watchState) addTree(ctx context.Context, root, dir string) {
	if ws.ix.rules.excluded(relTo(root, dir)) {
		return
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil || !d.IsDir() {
			if err != nil && d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if p != dir && ws.ix.rules.skipName(d.Name(), relTo(root, p)) {
			return fs.SkipDir
		}
		if ws.watched[p] {
			return nil
		}
		if err := ws.w.Add(p); err != nil {
			// Usually fs.inotify.max_user_watches: the periodic reconcile still covers it.
			ws.ix.opts.Logger.Warn("watch folder", "path", p, "err", err)
			return nil
		}
		ws.watched[p] = true
		return nil
	})
}

// dropTree forgets the watches on dir and below (a folder removed or moved out).
func (ws *watchState) dropTree(dir string) {
	for p := range ws.watched {
		if within(p, dir) {
			_ = ws.w.Remove(p) // already gone with the folder, mostly
			delete(ws.watched, p)
		}
	}
}

func (ws *watchState) loop(ctx context.Context) error {
	ix := ws.ix
	dirty := map[string]bool{}
	var (
		debounce  *time.Timer
		fire      <-chan time.Time
		firstDirt time.Time
		full      bool
	)
	reconcile := time.NewTicker(ix.opts.Reconcile)
	defer reconcile.Stop()
	// poll runs only while a root is gone (see rootPoll).
	var (
		poll  *time.Ticker
		polls <-chan time.Time
	)
	defer func() {
		if poll != nil {
			poll.Stop()
		}
	}()
	setPoll := func() {
		switch gone := ws.anyGone(); {
		case gone && poll == nil:
			poll = time.NewTicker(ws.rootPoll())
			polls = poll.C
		case !gone && poll != nil:
			poll.Stop()
			poll, polls = nil, nil
		}
	}
	arm := func() {
		// Events keep pushing the sync back, but never more than 10 debounce
		// periods after the first one, so a long copy still shows up.
		now := time.Now()
		if debounce == nil {
			firstDirt = now
			debounce = time.NewTimer(ix.opts.Debounce)
			fire = debounce.C
			return
		}
		if now.Sub(firstDirt) < 10*ix.opts.Debounce {
			debounce.Reset(ix.opts.Debounce)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-ws.w.Events:
			if !ok {
				return nil
			}
			root := ws.rootOf(ev.Name)
			if root == "" {
				continue
			}
			if ev.Has(fsnotify.Create) {
				if st, err := os.Lstat(ev.Name); err == nil && st.IsDir() {
					ws.addTree(ctx, root, ev.Name) // a folder created or moved in
				}
			}
			if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
				if r := ws.rootAt(ev.Name); r != nil {
					// The root itself went (IN_DELETE_SELF, IN_MOVE_SELF): its
					// parent is not watched, so only polling sees it come back.
					ws.lose(r)
					setPoll()
				} else {
					ws.dropTree(ev.Name) // no-op for files
				}
			}
			if ev.Has(fsnotify.Chmod) && !ev.Has(fsnotify.Create|fsnotify.Write|fsnotify.Remove|fsnotify.Rename) {
				// touch(1) changes the mtime through a Chmod event (IN_ATTRIB).
				if st, err := os.Lstat(ev.Name); err != nil || st.IsDir() {
					continue
				}
			}
			dirty[ev.Name] = true
			arm()
		case err, ok := <-ws.w.Errors:
			if !ok {
				return nil
			}
			// fsnotify.ErrEventOverflow and friends: events were lost, rescan everything.
			ix.opts.Logger.Warn("watch events lost; rescanning", "err", err)
			full = true
			arm()
		case <-reconcile.C:
			full = true
			if err := ws.flush(ctx, dirty, &full); err != nil {
				return err
			}
			setPoll()
		case <-fire:
			debounce, fire = nil, nil
			if err := ws.flush(ctx, dirty, &full); err != nil {
				return err
			}
			setPoll()
		case <-polls:
			if debounce != nil {
				continue // the pending flush takes any root that is back
			}
			for _, r := range ws.roots {
				if !r.gone {
					continue
				}
				if _, ok := ws.back(r); ok {
					arm()
					break
				}
			}
		}
	}
}

// flush syncs the dirty paths (or everything when *full) and clears them.
// Roots come first: a gone root that is back is watched again and synced
// whole; one still gone loses its records; and a full flush (the reconcile)
// notices a root gone without an event (its parent moved away).
func (ws *watchState) flush(ctx context.Context, dirty map[string]bool, full *bool) error {
	var (
		scopes []scope
		forget []string
	)
	for _, r := range ws.roots {
		if *full && !r.gone && !isFolder(r.path) {
			ws.lose(r)
		}
		if !r.gone {
			if *full {
				ws.addTree(ctx, r.path, r.path)
				scopes = append(scopes, scope{root: r.path, path: r.path})
			}
			continue
		}
		p, ok := ws.back(r)
		if r.stale && (!ok || p != r.path) {
			forget = append(forget, r.path)
		}
		r.stale = false
		if ok {
			r.path, r.gone = p, false
			ws.addTree(ctx, p, p)
			scopes = append(scopes, scope{root: p, path: p})
		}
	}
	if !*full {
		paths := make([]string, 0, len(dirty))
		for p := range dirty {
			paths = append(paths, p)
		}
		sort.Strings(paths)
	next:
		for _, p := range paths {
			root := ws.rootOf(p)
			if root == "" {
				continue // below a gone root, or where a root was: forget covers it
			}
			for _, s := range scopes {
				if within(p, s.path) {
					continue next // the parent's sync covers it
				}
			}
			scopes = append(scopes, scope{root: root, path: p})
		}
	}
	clear(dirty)
	*full = false
	if len(scopes) == 0 && len(forget) == 0 {
		return nil
	}
	ix := ws.ix
	ix.runMu.Lock()
	defer ix.runMu.Unlock()
	ix.prog.walkDone.Store(false)
	ix.prog.setPhase("indexing")
	// Sync first: content that moved from a gone root's old path to where it
	// is now (a folder moved and a symlink left in its place) is then linked
	// to its vectors, which forgetting the old paths first would delete.
	var err error
	if len(scopes) > 0 {
		err = ix.sync(ctx, scopes)
	}
	if err == nil {
		err = ws.forget(ctx, forget)
	}
	ix.prog.setPhase("watching")
	if err != nil {
		return err
	}
	ix.opts.Logger.Debug("watch sync", "scopes", len(scopes), "forgotten", len(forget))
	return nil
}

// isFolder reports whether p is a folder itself, not a symlink to one. An
// error other than "not there" counts as a folder, so that a root made
// unreadable for a moment keeps its records (as prune keeps them).
func isFolder(p string) bool {
	st, err := os.Lstat(p)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist) && !isNotDir(err)
	}
	return st.IsDir()
}

// forget deletes every record below dirs, the former paths of gone roots.
// Nothing there is walked any more, and prune would not do: it keeps a
// record whose path still reaches a file, as one does through a symlink put
// in a root's place, which would leave a non-canonical path recorded.
// The caller holds runMu.
func (ws *watchState) forget(ctx context.Context, dirs []string) error {
	ix := ws.ix
	var gone []string
	for _, d := range dirs {
		err := ix.cat.rangeFiles(ctx, d, func(rec fileRecord) error {
			gone = append(gone, rec.Path)
			return ctx.Err()
		})
		if err != nil {
			return fmt.Errorf("forget %s: %w", d, err)
		}
	}
	for len(gone) > 0 {
		n := min(len(gone), maxFileOps)
		if err := ix.commit(ctx, &batch{Deletes: gone[:n]}); err != nil {
			return fmt.Errorf("forget %s: %w", dirs, err)
		}
		ix.prog.deleted.Add(int64(n))
		gone = gone[n:]
	}
	return nil
}
