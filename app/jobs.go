package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"imglish/indexer"
	"imglish/internal/fspath"
)

// Job states.
const (
	JobRunning  = "running"
	JobDone     = "done"
	JobFailed   = "failed"
	JobCanceled = "canceled"
)

// Job is one background run of the App: indexing a folder (StartIndexJob),
// watching one (StartWatch) or re-tagging every item after an auto-tag label
// set changed (PutLabelSet). It is a snapshot; Job and Jobs return fresh ones.
// Its record is kept in the store when it starts and when it ends (see
// jobPrefix), so Job and Jobs find it after a restart: one that was running
// when the process stopped reads as JobFailed with an Error starting
// "interrupted".
type Job struct {
	ID       string           `json:"id"`
	Folder   string           `json:"folder"`
	State    string           `json:"state"` // JobRunning, JobDone, JobFailed, JobCanceled
	Progress indexer.Progress `json:"progress"`
	Error    string           `json:"error,omitempty"`
	Started  time.Time        `json:"started"`
	Finished time.Time        `json:"finished,omitzero"`
	Watch    bool             `json:"watch,omitempty"`
	// Retag marks a job re-tagging the whole space after an auto-tag label
	// set changed; Retagged is how many items' auto-tags changed.
	Retag    bool `json:"retag,omitempty"`
	Retagged int  `json:"retagged,omitempty"`

	cancel context.CancelFunc
}

// IndexStatus summarises the index: how many items, the model, the jobs.
type IndexStatus struct {
	Items int       `json:"items"`
	Model ModelInfo `json:"model"`
	Jobs  []Job     `json:"jobs"`
}

// jobTable tracks the App's jobs and the goroutines running them; it is
// safe for concurrent use. Once closed it starts no more: wg.Add happens
// under mu only while open, so Close's wg.Wait never races an Add.
type jobTable struct {
	mu     sync.Mutex
	byID   map[string]*Job
	closed bool
	wg     sync.WaitGroup
	// saveMu serialises the writes of job records (App.saveJob), so a
	// job's pruning sees the records the others wrote; taken before mu.
	saveMu sync.Mutex
}

// start records j, calls save with a copy (before the work can end) and runs
// work(ctx, j.ID) in a goroutine until it returns or the table closes; it
// returns a copy of j, or ErrClosed.
func (t *jobTable) start(j *Job, save func(Job), work func(ctx context.Context, id string)) (Job, error) {
	ctx, cancel := context.WithCancel(context.Background())
	j.ID, j.State, j.Started, j.cancel = newJobID(), JobRunning, time.Now().UTC(), cancel
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		cancel()
		return Job{}, fmt.Errorf("%w: no new jobs", ErrClosed)
	}
	t.byID[j.ID] = j
	t.wg.Add(1)
	snap := *j
	t.mu.Unlock()
	save(snap)
	go func() {
		defer t.wg.Done()
		defer cancel()
		work(ctx, snap.ID)
	}()
	return snap, nil
}

// get returns a copy of the job.
func (t *jobTable) get(id string) (Job, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	j, ok := t.byID[id]
	if !ok {
		return Job{}, false
	}
	return *j, true
}

func (t *jobTable) update(id string, f func(j *Job)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if j, ok := t.byID[id]; ok {
		f(j)
	}
}

func (t *jobTable) list() []Job {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Job, 0, len(t.byID))
	for _, j := range t.byID {
		out = append(out, *j)
	}
	slices.SortFunc(out, func(a, b Job) int { return a.Started.Compare(b.Started) })
	return out
}

func (t *jobTable) running() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, j := range t.byID {
		if j.State == JobRunning {
			n++
		}
	}
	return n
}

// close refuses new jobs, cancels the running ones and waits for them.
func (t *jobTable) close() {
	t.mu.Lock()
	t.closed = true
	for _, j := range t.byID {
		if j.cancel != nil {
			j.cancel()
		}
	}
	t.mu.Unlock()
	t.wg.Wait() // unlocked: the jobs' last updates take mu
}

func newJobID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// finish sets a job's final state from how its work ended: canceled when
// ctx was, failed with err's message, else done.
func (j *Job) finish(ctx context.Context, err error) {
	j.Finished = time.Now().UTC()
	switch {
	case ctx.Err() != nil:
		j.State = JobCanceled
	case err != nil:
		j.State, j.Error = JobFailed, err.Error()
	default:
		j.State = JobDone
	}
}

// allowedFolder makes folder canonical (symlinks resolved, as the indexer
// will) and checks that it lies inside one of Options.IndexRoots, so a
// request cannot index /etc or climb out with ".." or a symlink.
func (a *App) allowedFolder(folder string) (string, error) {
	if folder == "" || !filepath.IsAbs(folder) {
		return "", fmt.Errorf("%w: folder must be an absolute path", ErrInvalid)
	}
	real, err := fspath.Canonical(folder)
	if err != nil {
		return "", fmt.Errorf("%w: folder %s: %w", ErrInvalid, folder, err)
	}
	if !slices.ContainsFunc(a.opts.IndexRoots, func(root string) bool { return fspath.Within(real, root) }) {
		return "", fmt.Errorf("%w: folder %s is not under an allowed index root", ErrForbidden, folder)
	}
	st, err := os.Stat(real)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("%w: folder %s", ErrNotFound, folder)
	case err != nil:
		return "", fmt.Errorf("%w: folder %s: %w", ErrInvalid, folder, err)
	case !st.IsDir():
		return "", fmt.Errorf("%w: %s is not a folder", ErrInvalid, folder)
	}
	return real, nil
}

// StartIndexJob checks that folder (absolute) lies within one of
// Options.IndexRoots once made canonical, and indexes it in the background
// as a Job, which it returns (running). The job runs until it is done or
// Close cancels it; ctx bounds only the start. Errors wrap ErrInvalid for
// a relative or unusable folder, ErrForbidden for one outside the roots,
// ErrNotFound for a missing one, ErrUnavailable without an indexer and
// ErrClosed once Close has begun. It is safe for concurrent use; the
// indexer serialises its runs.
func (a *App) StartIndexJob(ctx context.Context, folder string) (Job, error) {
	if err := ctx.Err(); err != nil {
		return Job{}, err
	}
	real, err := a.allowedFolder(folder)
	if err != nil {
		return Job{}, err
	}
	if a.ix == nil {
		return Job{}, fmt.Errorf("%w: no indexer configured", ErrUnavailable)
	}
	return a.startFolderJob(real, false)
}

// StartWatch indexes folder and keeps it in step (indexer.Watch) as a Job
// until Close. The folder is the caller's to vouch for (no allow-list: it
// comes from the configuration, not a request). Errors wrap ErrUnavailable
// without an indexer and ErrClosed once Close has begun.
func (a *App) StartWatch(folder string) (Job, error) {
	if a.ix == nil {
		return Job{}, fmt.Errorf("%w: no indexer configured", ErrUnavailable)
	}
	return a.startFolderJob(folder, true)
}

func (a *App) startFolderJob(folder string, watch bool) (Job, error) {
	return a.jobs.start(&Job{Folder: folder, Watch: watch}, a.saveJob, func(ctx context.Context, id string) {
		var (
			err      error
			progress indexer.Progress
		)
		if watch {
			err = a.ix.Watch(ctx, folder)
			if j, ok := a.jobs.get(id); ok {
				progress = a.withLive(j).Progress
			}
		} else {
			var sum indexer.Summary
			sum, err = a.ix.Run(ctx, folder)
			progress = sum.Progress
		}
		a.endJob(id, func(j *Job) {
			j.Progress = progress
			j.finish(ctx, err)
		})
		if err != nil && ctx.Err() == nil {
			a.log.Error("index job failed", "job", id, "folder", folder, "err", err)
		}
	})
}

// retagger is implemented by *indexer.Indexer.
type retagger interface {
	Retag(ctx context.Context) (int, error)
}

// startRetag re-tags every indexed image in the background (after an
// auto-tag label set changed) as a Job. It returns nil when the indexer
// cannot re-tag or the App is closing.
func (a *App) startRetag() *Job {
	rt, ok := a.ix.(retagger)
	if !ok {
		return nil
	}
	j, err := a.jobs.start(&Job{Retag: true}, a.saveJob, func(ctx context.Context, id string) {
		n, err := rt.Retag(ctx)
		a.endJob(id, func(j *Job) {
			j.Retagged = n
			j.finish(ctx, err)
		})
		if err != nil && ctx.Err() == nil {
			a.log.Error("retag job failed", "job", id, "err", err)
		}
	})
	if err != nil {
		return nil
	}
	return &j
}

// endJob applies f (which sets the final state) to the job id and stores
// its record.
func (a *App) endJob(id string, f func(j *Job)) {
	a.jobs.update(id, f)
	if j, ok := a.jobs.get(id); ok {
		a.saveJob(j)
	}
}

// Job returns the job id, a running index job with the indexer's live
// progress, one of an earlier run from its stored record; an error wrapping
// ErrNotFound when there is none (ErrInvalid for a malformed id). It is
// safe for concurrent use.
func (a *App) Job(id string) (Job, error) {
	if err := ValidName("job id", id); err != nil {
		return Job{}, err
	}
	if j, ok := a.jobs.get(id); ok {
		return a.withLive(j), nil
	}
	if db := a.jobStore(); db != nil {
		return storedJob(db, id)
	}
	return Job{}, fmt.Errorf("%w: job %s", ErrNotFound, id)
}

// Jobs returns the jobs of this App, with live progress, and the stored
// records of earlier ones (the newest ended ones are kept), oldest first.
// A store that cannot be read is logged and only this App's jobs are
// listed. It is safe for concurrent use.
func (a *App) Jobs() []Job {
	jobs, err := a.listJobs(context.Background())
	if err != nil {
		a.log.Warn("list stored job records", "err", err)
	}
	return jobs
}

// listJobs is Jobs; on an error it returns this App's jobs and the error.
func (a *App) listJobs(ctx context.Context) ([]Job, error) {
	jobs := a.jobs.list()
	for i := range jobs {
		jobs[i] = a.withLive(jobs[i])
	}
	db := a.jobStore()
	if db == nil {
		return jobs, nil
	}
	mine := len(jobs)
	err := scanJobs(ctx, db, func(s Job) {
		if _, ok := a.jobs.get(s.ID); ok {
			return
		}
		if s.State == JobRunning {
			s.State, s.Error = JobFailed, errInterrupted
		}
		jobs = append(jobs, s)
	})
	if err != nil {
		return jobs[:mine], fmt.Errorf("list jobs: %w", err)
	}
	slices.SortStableFunc(jobs, func(x, y Job) int { return x.Started.Compare(y.Started) })
	return jobs, nil
}

// RunningJobs is how many jobs are running.
func (a *App) RunningJobs() int { return a.jobs.running() }

// IndexStatus counts the items and lists the model and the jobs. Errors
// wrap ErrUnavailable without a catalog. It is safe for concurrent use.
func (a *App) IndexStatus(ctx context.Context) (IndexStatus, error) {
	if err := a.ready(); err != nil {
		return IndexStatus{}, err
	}
	n, err := a.cat.Count(ctx)
	if err != nil {
		return IndexStatus{}, err
	}
	jobs, err := a.listJobs(ctx)
	if err != nil {
		return IndexStatus{}, err
	}
	return IndexStatus{Items: n, Model: a.enc.Info(), Jobs: jobs}, nil
}

// withLive fills a running job's progress from the indexer (runs are
// serialised, so the indexer's current progress is the running job's, once
// it has started).
func (a *App) withLive(j Job) Job {
	if j.State == JobRunning && !j.Retag && a.ix != nil {
		if p := a.ix.Progress(); !p.Started.Before(j.Started) {
			j.Progress = p
		}
	}
	return j
}
