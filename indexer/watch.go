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
	ws := &watchState{ix: ix, w: w, roots: resolved, watched: map[string]bool{}}
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

type watchState struct {
	ix      *Indexer
	w       *fsnotify.Watcher
	roots   []string
	watched map[string]bool // folders with an inotify watch; only loop's goroutine touches it
}

func (ws *watchState) rootScopes() []scope {
	s := make([]scope, len(ws.roots))
	for i, r := range ws.roots {
		s[i] = scope{root: r, path: r}
	}
	return s
}

// rootOf returns the root p lies in, or "".
func (ws *watchState) rootOf(p string) string {
	for _, r := range ws.roots {
		if within(p, r) {
			return r
		}
	}
	return ""
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
				ws.dropTree(ev.Name) // no-op for files
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
		case <-fire:
			debounce, fire = nil, nil
			if err := ws.flush(ctx, dirty, &full); err != nil {
				return err
			}
		}
	}
}

// flush syncs the dirty paths (or everything when *full) and clears them.
func (ws *watchState) flush(ctx context.Context, dirty map[string]bool, full *bool) error {
	var scopes []scope
	if *full {
		for _, r := range ws.roots {
			ws.addTree(ctx, r, r)
		}
		scopes = ws.rootScopes()
	} else {
		paths := make([]string, 0, len(dirty))
		for p := range dirty {
			paths = append(paths, p)
		}
		sort.Strings(paths)
	next:
		for _, p := range paths {
			for _, s := range scopes {
				if within(p, s.path) {
					continue next // the parent's sync covers it
				}
			}
			scopes = append(scopes, scope{root: ws.rootOf(p), path: p})
		}
	}
	clear(dirty)
	*full = false
	if len(scopes) == 0 {
		return nil
	}
	ix := ws.ix
	ix.runMu.Lock()
	defer ix.runMu.Unlock()
	ix.prog.walkDone.Store(false)
	ix.prog.setPhase("indexing")
	err := ix.sync(ctx, scopes)
	ix.prog.setPhase("watching")
	if err != nil {
		return err
	}
	ix.opts.Logger.Debug("watch sync", "scopes", len(scopes))
	return nil
}
