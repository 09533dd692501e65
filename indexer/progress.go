package indexer

import (
	"sync"
	"sync/atomic"
	"time"
)

// Progress is a snapshot of the current (or last) run's counters. Files counts
// what the walker found; every file found ends up in exactly one of Skipped,
// Embedded, Linked or Failed once the run is done.
type Progress struct {
	// Phase is "idle", "indexing", "pruning", "done", "failed" or "watching".
	Phase   string    `json:"phase"`
	Started time.Time `json:"started"`
	Elapsed float64   `json:"elapsed_s"`
	// WalkDone is false while the walker may still find files (the total is unknown).
	WalkDone bool `json:"walk_done"`
	// Files is the number of files the walker found so far.
	Files int64 `json:"files"`
	// Skipped files were unchanged since the last run (not opened).
	Skipped int64 `json:"skipped"`
	// Embedded counts distinct images that went through the encoder.
	Embedded int64 `json:"embedded"`
	// Linked counts files whose content was already embedded (renames, copies,
	// touched files): their path was recorded, no inference.
	Linked int64 `json:"linked"`
	// Failed counts files recorded as errors (not images, corrupt, unreadable).
	Failed int64 `json:"failed"`
	// Deleted counts path records removed because their files went away.
	Deleted int64 `json:"deleted"`
	// Pending is files taken from the walk but not yet committed.
	Pending int64 `json:"pending"`
	// Bytes is how many bytes were read from changed files.
	Bytes int64 `json:"bytes"`
	// FilesPerSec is (Skipped+Embedded+Linked+Failed)/Elapsed; ImagesPerSec is Embedded/Elapsed.
	FilesPerSec  float64 `json:"files_per_s"`
	ImagesPerSec float64 `json:"images_per_s"`
	// ETA estimates the remaining time; zero when unknown (walk not done) or done.
	ETA float64 `json:"eta_s"`
	// WalkErrors counts folders the walker could not read (their records are kept).
	WalkErrors int64 `json:"walk_errors"`
}

// Done returns how many found files have been dealt with.
func (p Progress) Done() int64 { return p.Skipped + p.Embedded + p.Linked + p.Failed }

// Summary is what a run did, returned by Run.
type Summary struct {
	Progress
	// Roots are the resolved folders that were walked.
	Roots []string `json:"roots"`
	// EncoderSeconds is the time spent inside the encoder, summed over
	// encoder calls; with two encoders at once (Options.Encoders) it can
	// exceed Elapsed.
	EncoderSeconds float64 `json:"encoder_s"`
	// Batches is the number of encoder calls.
	Batches int64 `json:"batches"`
	// Commits is the number of synced store transactions that wrote them
	// (batches that queued up while the store synced share one).
	Commits int64 `json:"commits"`
}

// counters are the live numbers behind Progress; atomics so that the pipeline
// stages update them without a lock and Progress reads them from any goroutine.
type counters struct {
	files, skipped, embedded, linked, failed, deleted, pending, bytes, walkErrs atomic.Int64
	batches, commits, encodeNanos                                               atomic.Int64
	walkDone                                                                    atomic.Bool

	mu      sync.Mutex // guards phase and started
	phase   string
	started time.Time
}

func (c *counters) reset(now time.Time, phase string) {
	for _, v := range []*atomic.Int64{&c.files, &c.skipped, &c.embedded, &c.linked, &c.failed,
		&c.deleted, &c.pending, &c.bytes, &c.walkErrs, &c.batches, &c.commits, &c.encodeNanos} {
		v.Store(0)
	}
	c.walkDone.Store(false)
	c.mu.Lock()
	c.phase, c.started = phase, now
	c.mu.Unlock()
}

func (c *counters) setPhase(phase string) {
	c.mu.Lock()
	c.phase = phase
	c.mu.Unlock()
}

func (c *counters) snapshot(now time.Time) Progress {
	c.mu.Lock()
	phase, started := c.phase, c.started
	c.mu.Unlock()
	if phase == "" {
		phase = "idle"
	}
	p := Progress{
		Phase:      phase,
		Started:    started,
		WalkDone:   c.walkDone.Load(),
		Files:      c.files.Load(),
		Skipped:    c.skipped.Load(),
		Embedded:   c.embedded.Load(),
		Linked:     c.linked.Load(),
		Failed:     c.failed.Load(),
		Deleted:    c.deleted.Load(),
		Pending:    c.pending.Load(),
		Bytes:      c.bytes.Load(),
		WalkErrors: c.walkErrs.Load(),
	}
	if !started.IsZero() {
		p.Elapsed = now.Sub(started).Seconds()
	}
	if p.Elapsed > 0 {
		p.FilesPerSec = float64(p.Done()) / p.Elapsed
		p.ImagesPerSec = float64(p.Embedded) / p.Elapsed
	}
	if p.WalkDone && p.FilesPerSec > 0 && p.Files > p.Done() {
		p.ETA = float64(p.Files-p.Done()) / p.FilesPerSec
	}
	return p
}
