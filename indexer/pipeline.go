package indexer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"imglish/vstore"
)

// imageCodec turns file bytes into the encoder's input.
type imageCodec interface {
	// pixels reads the header only and returns the decoded pixel count (for the
	// decode budget) or a typed error.
	pixels(data []byte) (int64, error)
	// decode returns the CHW tensor of side size and the image's metadata.
	decode(ctx context.Context, data []byte, size int) ([]float32, vstore.Meta, error)
	// meta returns the metadata decode would, from the header and EXIF
	// only (for an image its caller decoded, AddImage).
	meta(data []byte) (vstore.Meta, error)
}

// scope is a part of a root to bring in step: the root itself (Run, reconcile)
// or a path below it (a watch event).
type scope struct{ root, path string }

// pending is content being embedded: the first file that brought it and every
// other path with the same hash found meanwhile.
type pending struct {
	hash   Hash
	meta   vstore.Meta
	tensor []float32
	files  []fileRecord
	sealed bool // the committer took files; later paths must be linked
}

// op is one unit sent from the workers to the batcher: an image to embed or a
// bare file record (a link to existing content, or an error).
type op struct {
	item *pending
	file fileRecord
}

// encodedBatch is what the batcher hands the committer.
type encodedBatch struct {
	items   []*pending
	vectors [][]float32
	files   []fileRecord
}

// maxFileOps flushes a batch of link/error records even without images; it
// also bounds the records of one group commit.
const maxFileOps = 1024

// maxGroupBatches is how many encoded batches may wait for the committer,
// and the most it merges into one transaction (group commit, see commitAll).
// Waiting batches hold only vectors and records, not tensors.
const maxGroupBatches = 8

// run is the state of one pass over some scopes.
type run struct {
	ix  *Indexer
	sem *semaphore.Weighted
	ops chan op

	mu       sync.Mutex // guards inflight
	inflight map[Hash]*pending
}

// Run indexes roots (folders or single files): new and changed images are
// embedded, renamed and copied ones linked, vanished ones removed. It returns
// when everything found has been committed, or ctx is done (then with
// ctx.Err() and the partial summary; what was committed stays).
func (ix *Indexer) Run(ctx context.Context, roots ...string) (Summary, error) {
	if len(roots) == 0 {
		return Summary{}, fmt.Errorf("%w: no roots", ErrRoot)
	}
	var resolved []string
	for _, r := range roots {
		p, _, err := resolveRoot(r)
		if err != nil {
			return Summary{}, err
		}
		resolved = append(resolved, p)
	}
	resolved = dedupeRoots(resolved)
	scopes := make([]scope, len(resolved))
	for i, r := range resolved {
		scopes[i] = scope{root: r, path: r}
	}
	ix.runMu.Lock()
	defer ix.runMu.Unlock()
	ix.prog.reset(ix.opts.Clock(), "indexing")
	err := ix.sync(ctx, scopes)
	sum := Summary{Roots: resolved}
	if err != nil {
		ix.prog.setPhase("failed")
	} else {
		ix.prog.setPhase("done")
	}
	sum.Progress = ix.Progress()
	sum.Batches = ix.prog.batches.Load()
	sum.Commits = ix.prog.commits.Load()
	sum.EncoderSeconds = time.Duration(ix.prog.encodeNanos.Load()).Seconds()
	ix.opts.Logger.Info("index run", "roots", resolved, "files", sum.Files, "skipped", sum.Skipped,
		"embedded", sum.Embedded, "linked", sum.Linked, "failed", sum.Failed, "deleted", sum.Deleted,
		"elapsed_s", sum.Elapsed, "err", err)
	return sum, err
}

// sync walks and indexes scopes, then prunes records of files gone from them.
// The caller holds runMu.
func (ix *Indexer) sync(ctx context.Context, scopes []scope) error {
	if err := ix.cat.ensureSpace(ctx, ix.opts.Encoder.Dim()); err != nil {
		return err
	}
	// A run over whole roots (Run, Watch's first sync and its periodic
	// rescans) checks a cached catalog first. A watch sync of changed paths
	// does not: a changed file's record no longer matches it anyway.
	if rc, ok := ix.cat.(refresher); ok && wholeRoots(scopes) {
		paths := make([]string, len(scopes))
		for i, s := range scopes {
			paths[i] = s.path
		}
		if err := rc.refresh(ctx, paths); err != nil {
			return err
		}
	}
	r := &run{
		ix:       ix,
		sem:      semaphore.NewWeighted(ix.opts.PixelBudget),
		ops:      make(chan op, ix.opts.BatchSize),
		inflight: make(map[Hash]*pending),
	}
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan encodedBatch, maxGroupBatches)
	committerDone := make(chan struct{})
	g.Go(func() error {
		err := r.walkAll(gctx, scopes)
		close(r.ops)
		return err
	})
	g.Go(func() error {
		defer close(batches)
		return r.batch(gctx, batches, committerDone)
	})
	g.Go(func() error {
		defer close(committerDone)
		return r.commitAll(gctx, batches)
	})
	if err := g.Wait(); err != nil {
		return err
	}
	ix.prog.setPhase("pruning")
	return ix.prune(ctx, scopes)
}

// wholeRoots reports whether every scope is a whole root.
func wholeRoots(scopes []scope) bool {
	for _, s := range scopes {
		if s.path != s.root {
			return false
		}
	}
	return true
}

// walkAll walks every scope and queues changed files for Workers worker
// goroutines; it returns once all of them have finished. The queue
// (walkQueue entries) lets the walker, which looks every file up in the
// store, run ahead of the workers instead of handing over one file at a time:
// on a loaded machine a worker would otherwise wait for the walker to be
// scheduled before each file.
func (r *run) walkAll(ctx context.Context, scopes []scope) error {
	ix := r.ix
	work, wctx := errgroup.WithContext(ctx)
	queue := make(chan queued, walkQueue(ix.opts.Workers))
	for range ix.opts.Workers {
		work.Go(func() error {
			for q := range queue {
				if err := wctx.Err(); err != nil {
					return err
				}
				if err := r.process(wctx, q.e, q.hadErr); err != nil {
					return err
				}
			}
			return nil
		})
	}
	var walkErr error
	for _, s := range scopes {
		err := ix.rules.walk(wctx, s.root, s.path, func(e fileEntry) error {
			ix.prog.files.Add(1)
			rec, ok, err := ix.cat.lookup(wctx, e.Path)
			if err != nil {
				return fmt.Errorf("look up %s: %w", e.Path, err)
			}
			if ok && unchanged(rec, e, ix.opts.Preprocess) {
				ix.prog.skipped.Add(1)
				return nil
			}
			ix.prog.pending.Add(1)
			select {
			case queue <- queued{e: e, hadErr: ok && rec.Err != ""}: // blocks while the queue is full: backpressure
				return nil
			case <-wctx.Done():
				return wctx.Err()
			}
		}, func(we walkError) {
			ix.prog.walkErrs.Add(1)
			ix.opts.Logger.Warn("skip unreadable folder", "path", we.Path, "err", we.Err)
		})
		if err != nil {
			walkErr = err
			break
		}
	}
	close(queue)
	ix.prog.walkDone.Store(walkErr == nil)
	return errors.Join(walkErr, work.Wait())
}

// queued is a changed file waiting for a worker.
type queued struct {
	e      fileEntry
	hadErr bool // an error record exists for the path
}

// walkQueue is how many changed files the walker may find ahead of the
// workers: a few per worker, at least a batch's worth (paths only, no content).
func walkQueue(workers int) int { return max(64, 4*workers) }

// send hands o to the batcher, giving up when ctx is done.
func (r *run) send(ctx context.Context, o op) error {
	select {
	case r.ops <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fail records path as not indexable: until it changes when err is the
// content's, else only until the next run (contentError).
func (r *run) fail(ctx context.Context, rec fileRecord, err error) error {
	rec.Hash = Hash{}
	rec.Err = err.Error()
	rec.Sticky = contentError(err)
	rec.Limits = limitsOf(err, r.ix.opts.Preprocess)
	return r.send(ctx, op{file: rec})
}

// process reads, hashes and (when its content is new) decodes one file.
func (r *run) process(ctx context.Context, e fileEntry, hadErr bool) error {
	ix := r.ix
	rec := fileRecord{Path: e.Path, Size: e.Size, ModTime: e.ModTime, hadErr: hadErr}
	data, err := r.read(&rec)
	switch {
	case errors.Is(err, os.ErrNotExist):
		ix.prog.pending.Add(-1) // gone since the walk; pruning removes any record
		ix.prog.files.Add(-1)
		return nil
	case err != nil:
		return r.fail(ctx, rec, fmt.Errorf("read: %w", err))
	}
	rec.Hash = ContentHash(data)

	r.mu.Lock()
	if p := r.inflight[rec.Hash]; p != nil {
		if !p.sealed {
			p.files = append(p.files, rec)
			r.mu.Unlock()
			return nil
		}
		r.mu.Unlock()
		return r.send(ctx, op{file: rec})
	}
	// Checked under r.mu so that content committed by another worker is either
	// still in inflight or already in the store, never neither.
	known, err := ix.cat.hasContent(ctx, rec.Hash)
	if err != nil {
		r.mu.Unlock()
		return fmt.Errorf("look up content of %s: %w", rec.Path, err)
	}
	if known {
		r.mu.Unlock()
		return r.send(ctx, op{file: rec})
	}
	p := &pending{hash: rec.Hash, files: []fileRecord{rec}}
	r.inflight[rec.Hash] = p
	r.mu.Unlock()

	tensor, meta, err := r.decode(ctx, data)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.mu.Lock()
		delete(r.inflight, rec.Hash)
		files := p.files
		r.mu.Unlock()
		for _, f := range files {
			if err := r.fail(ctx, f, err); err != nil {
				return err
			}
		}
		return nil
	}
	meta.Size = rec.Size
	p.tensor, p.meta = tensor, meta
	return r.send(ctx, op{item: p})
}

// read returns the file's content after checking its size and signature; it
// refreshes rec's size and mtime from the open file, so that a file changed
// during the read is seen as changed again next time.
func (r *run) read(rec *fileRecord) ([]byte, error) {
	f, err := r.ix.open(rec.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	rec.Size, rec.ModTime = st.Size(), st.ModTime().UnixNano()
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: not a regular file", ErrNotImage)
	}
	if st.Size() > r.ix.opts.MaxFileBytes {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrFileTooLarge, st.Size(), r.ix.opts.MaxFileBytes)
	}
	// The signature is checked before the buffer for the whole file is
	// allocated, so a file it refuses costs sniffLen bytes, not up to
	// MaxFileBytes: 16 phone videos of 250 MB, read whole before preprocess
	// refused them, took the process to 2.9 GB of RSS.
	head, err := readHead(f, st.Size())
	switch {
	case errors.Is(err, io.EOF):
		return nil, fmt.Errorf("%w: empty file", ErrNotImage)
	case err != nil:
		return nil, err
	case !looksLikeImage(head):
		return nil, notImage(head)
	}
	data := make([]byte, st.Size())
	n := copy(data, head)
	m, err := io.ReadFull(f, data[n:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	data = data[:n+m] // shrunk since the stat: hash what was read
	r.ix.prog.bytes.Add(int64(len(data)))
	return data, nil
}

// decode preprocesses data within the pixel budget.
func (r *run) decode(ctx context.Context, data []byte) ([]float32, vstore.Meta, error) {
	px, err := r.ix.codec.pixels(data)
	if err != nil {
		return nil, vstore.Meta{}, err
	}
	weight := max(1, min(px, r.ix.opts.PixelBudget))
	if err := r.sem.Acquire(ctx, weight); err != nil {
		return nil, vstore.Meta{}, err
	}
	defer r.sem.Release(weight)
	return r.ix.codec.decode(ctx, data, r.ix.opts.Encoder.ImageSize())
}

// batch groups ops into encoder batches and has encoders embed them,
// handing results to the committer.
//
// A batch that the encoder has embedded is always handed over, even when ctx
// is done meanwhile (unless the committer has stopped): committing it costs
// milliseconds and saves the inference on the next run.
func (r *run) batch(ctx context.Context, out chan<- encodedBatch, committerDone <-chan struct{}) error {
	ix := r.ix
	size := ix.opts.Encoder.ImageSize()
	per := 3 * size * size
	todo := make(chan encodedBatch)
	enc, ectx := errgroup.WithContext(ctx)
	second := newLatch()
	if n := ix.opts.Encoders; n > 0 {
		for range n {
			enc.Go(func() error { return r.encode(ectx, todo, out, committerDone, per, nil) })
		}
	} else {
		// Auto: a second encoder joins once a batch shows images are cheap.
		enc.Go(func() error {
			defer second.decide(false)
			return r.encode(ectx, todo, out, committerDone, per, second)
		})
		enc.Go(func() error {
			if !second.wait() {
				return nil
			}
			return r.encode(ectx, todo, out, committerDone, per, nil)
		})
	}
	err := r.gather(ectx, todo, per)
	close(todo)
	// An encoder's failure cancels ectx, so gather then returns only
	// context.Canceled: the encoder's error is the one to report.
	if werr := enc.Wait(); werr != nil {
		return werr
	}
	return err
}

// cheapImage is the encoder time per image below which Options.Encoders'
// default embeds two batches at once (see there); only a batch of at least
// cheapBatch images is timed, as a lone image's time is mostly overhead.
const (
	cheapImage = 2 * time.Millisecond
	cheapBatch = 4
)

// latch is a decision taken once: the first decide wins, and wait blocks
// until then.
type latch struct {
	once sync.Once
	done chan struct{}
	yes  bool
}

// newLatch returns an undecided latch.
func newLatch() *latch { return &latch{done: make(chan struct{})} }

// decide sets the decision unless one was set before, and releases wait.
func (l *latch) decide(yes bool) {
	l.once.Do(func() {
		l.yes = yes
		close(l.done)
	})
}

// wait blocks until decide and returns the decision.
func (l *latch) wait() bool {
	<-l.done
	return l.yes
}

// gather collects ops into batches of at most BatchSize images (or
// maxFileOps records), waiting at most MaxWait after the first, and sends
// them to todo.
func (r *run) gather(ctx context.Context, todo chan<- encodedBatch, per int) error {
	ix := r.ix
	var (
		items []*pending
		files []fileRecord
		timer *time.Timer
		wait  <-chan time.Time
	)
	flush := func() error {
		if timer != nil {
			timer.Stop()
			timer, wait = nil, nil
		}
		if len(items) == 0 && len(files) == 0 {
			return nil
		}
		b := encodedBatch{items: items, files: files}
		items, files = nil, nil
		select {
		case todo <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		select {
		case o, ok := <-r.ops:
			if !ok {
				return flush()
			}
			if o.item != nil {
				if len(o.item.tensor) != per {
					return fmt.Errorf("preprocess %s: tensor of %d values, want %d", o.item.files[0].Path, len(o.item.tensor), per)
				}
				items = append(items, o.item)
			} else {
				files = append(files, o.file)
			}
			if len(items) >= ix.opts.BatchSize || len(files) >= maxFileOps {
				if err := flush(); err != nil {
					return err
				}
			} else if timer == nil {
				timer = time.NewTimer(ix.opts.MaxWait)
				wait = timer.C
			}
		case <-wait:
			timer, wait = nil, nil
			if err := flush(); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// encode embeds the batches from todo (per values an image) and hands them
// to the committer. With second set, it opens that latch once a batch of at
// least cheapBatch images took under Indexer.cheap (cheapImage) per image.
func (r *run) encode(ctx context.Context, todo <-chan encodedBatch, out chan<- encodedBatch, committerDone <-chan struct{}, per int, second *latch) error {
	ix := r.ix
	var buf []float32
	for b := range todo {
		if len(b.items) > 0 {
			need := len(b.items) * per
			if cap(buf) < need {
				buf = make([]float32, need)
			}
			buf = buf[:need]
			for i, p := range b.items {
				copy(buf[i*per:(i+1)*per], p.tensor)
				p.tensor = nil
			}
			start := time.Now()
			vecs, err := ix.opts.Encoder.EmbedImages(ctx, buf, len(b.items))
			if err != nil {
				return fmt.Errorf("embed %d images: %w", len(b.items), err)
			}
			if len(vecs) != len(b.items) {
				return fmt.Errorf("embed %d images: got %d vectors", len(b.items), len(vecs))
			}
			took := time.Since(start)
			ix.prog.encodeNanos.Add(int64(took))
			if second != nil && len(b.items) >= cheapBatch && took < ix.cheap*time.Duration(len(b.items)) {
				second.decide(true)
				second = nil
			}
			ix.prog.batches.Add(1)
			b.vectors = vecs
		}
		select {
		case out <- b:
		case <-committerDone:
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// commitAll writes encoded batches in synced transactions, even when ctx is
// cancelled meanwhile (see batch). It merges up to maxGroupBatches batches
// (and about maxFileOps records) into one transaction, waiting at most
// MaxWait after the first for the others (group commit); the end of the
// input commits at once. Per transaction the store pays a sync and rewrites
// every HNSW node the new vectors linked to, so with the demo model, whose
// batch of 16 embeds in ~10 ms, one commit per batch cost about as much as
// the pipeline's whole remaining overhead (indexer BenchmarkIndexVsEncoder,
// doc.go). Nothing is acknowledged before its transaction has synced.
func (r *run) commitAll(ctx context.Context, in <-chan encodedBatch) error {
	for eb := range in {
		group := []encodedBatch{eb}
		ops := len(eb.items) + len(eb.files)
		timer := time.NewTimer(r.ix.opts.MaxWait)
	collect:
		for len(group) < maxGroupBatches && ops < maxFileOps {
			select {
			case eb, ok := <-in:
				if !ok {
					break collect
				}
				group = append(group, eb)
				ops += len(eb.items) + len(eb.files)
			case <-timer.C:
				break collect
			}
		}
		timer.Stop()
		err := r.commitGroup(ctx, group)
		if errors.Is(err, vstore.ErrBatchTooLarge) && len(group) > 1 {
			// Too big for one Badger transaction: one batch at a time, as
			// each was sized to fit.
			for _, eb := range group {
				if err = r.commitGroup(ctx, []encodedBatch{eb}); err != nil {
					break
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// commitGroup writes the encoded batches of group in one synced transaction
// and only then counts them as done.
func (r *run) commitGroup(ctx context.Context, group []encodedBatch) error {
	ix := r.ix
	var b batch
	var embedded, linked, failed int64
	r.mu.Lock()
	for _, eb := range group {
		for i, p := range eb.items {
			p.sealed = true
			b.Items = append(b.Items, newItem{Hash: p.hash, Vector: eb.vectors[i], Meta: p.meta})
			b.Files = append(b.Files, p.files...)
			embedded++
			linked += int64(len(p.files) - 1)
		}
	}
	r.mu.Unlock()
	for _, eb := range group {
		for _, f := range eb.files {
			if f.Err != "" {
				failed++
			} else {
				linked++
			}
		}
		b.Files = append(b.Files, eb.files...)
	}
	ix.tag(context.WithoutCancel(ctx), b.Items)
	if err := ix.commit(context.WithoutCancel(ctx), &b); err != nil {
		return fmt.Errorf("commit batch: %w", err)
	}
	ix.prog.commits.Add(1)
	r.mu.Lock()
	for _, eb := range group {
		for _, p := range eb.items {
			delete(r.inflight, p.hash)
		}
	}
	r.mu.Unlock()
	ix.prog.embedded.Add(embedded)
	ix.prog.linked.Add(linked)
	ix.prog.failed.Add(failed)
	ix.prog.pending.Add(-(embedded + linked + failed))
	return nil
}

// tag runs Options.Tagger on each new item. It runs in the committer, so the
// tags go into the same transaction as the item; a failure is logged and
// leaves the item's auto-tags as they were.
func (ix *Indexer) tag(ctx context.Context, items []newItem) {
	if ix.opts.Tagger == nil {
		return
	}
	for i := range items {
		tags, err := ix.opts.Tagger.Tags(ctx, items[i].Vector)
		if err != nil {
			ix.opts.Logger.Warn("auto-tag", "item", items[i].Hash.String(), "err", err)
			continue
		}
		items[i].Tags, items[i].Tagged = tags, true
	}
}

// prune deletes the records under the scopes whose files the walker would
// no longer visit (deleted, moved away, now excluded, replaced by a folder
// or symlink). One listing serves every scope: a watch sync has one per
// changed path, and a shared store (Weaviate) lists its items whole
// whatever the prefix. Scopes do not nest (a parent's sync covers its
// children).
func (ix *Indexer) prune(ctx context.Context, scopes []scope) error {
	list := "/"
	if len(scopes) == 1 {
		list = scopes[0].path
	}
	var gone []string
	err := ix.cat.rangeFiles(ctx, list, func(rec fileRecord) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, s := range scopes {
			if within(rec.Path, s.path) {
				if !ix.rules.present(s.root, rec.Path) {
					gone = append(gone, rec.Path)
				}
				break
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("prune %s: %w", list, err)
	}
	for len(gone) > 0 {
		n := min(len(gone), maxFileOps)
		if err := ix.commit(ctx, &batch{Deletes: gone[:n]}); err != nil {
			return fmt.Errorf("prune %s: %w", list, err)
		}
		ix.prog.deleted.Add(int64(n))
		gone = gone[n:]
	}
	return nil
}
