package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"imglish/indexer"
	"imglish/internal/fspath"
)

// job is one index run started over HTTP or for a watched folder.
type job struct {
	ID       string           `json:"id"`
	Folder   string           `json:"folder"`
	State    string           `json:"state"` // running, done, failed, canceled
	Progress indexer.Progress `json:"progress"`
	Error    string           `json:"error,omitempty"`
	Started  time.Time        `json:"started"`
	Finished time.Time        `json:"finished,omitzero"`
	Watch    bool             `json:"watch,omitempty"`
	// Retag marks a job re-tagging the whole space after an auto-tag label
	// set changed; Retagged is how many items' auto-tags changed.
	Retag    bool `json:"retag,omitempty"`
	Retagged int  `json:"retagged,omitempty"`
	cancel   context.CancelFunc
}

// jobTable tracks jobs; it is safe for concurrent use.
type jobTable struct {
	mu   sync.Mutex
	byID map[string]*job
}

func newJobTable() *jobTable { return &jobTable{byID: map[string]*job{}} }

func (t *jobTable) add(j *job) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byID[j.ID] = j
}

// get returns a copy of the job.
func (t *jobTable) get(id string) (job, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	j, ok := t.byID[id]
	if !ok {
		return job{}, false
	}
	return *j, true
}

// withLive fills a running job's progress from the indexer (runs are
// serialised, so the indexer's current progress is the running job's, once it
// has started).
func (s *Server) withLive(j job) job {
	if j.State == "running" && !j.Retag && s.deps.Indexer != nil {
		if p := s.deps.Indexer.Progress(); !p.Started.Before(j.Started) {
			j.Progress = p
		}
	}
	return j
}

func (t *jobTable) update(id string, f func(j *job)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if j, ok := t.byID[id]; ok {
		f(j)
	}
}

func (t *jobTable) list() []job {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]job, 0, len(t.byID))
	for _, j := range t.byID {
		out = append(out, *j)
	}
	slices.SortFunc(out, func(a, b job) int { return a.Started.Compare(b.Started) })
	return out
}

func (t *jobTable) running() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, j := range t.byID {
		if j.State == "running" {
			n++
		}
	}
	return n
}

func (t *jobTable) cancelAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, j := range t.byID {
		if j.cancel != nil {
			j.cancel()
		}
	}
}

func newJobID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// allowedFolder makes folder canonical (symlinks resolved, as the indexer
// will) and checks that it lies inside one of the IndexRoots (canonical too),
// so a request cannot index /etc or climb out with ".." or a symlink.
func (s *Server) allowedFolder(folder string) (string, error) {
	if folder == "" || !filepath.IsAbs(folder) {
		return "", fmt.Errorf("%w: folder must be an absolute path", ErrBadRequest)
	}
	real, err := fspath.Canonical(folder)
	if err != nil {
		return "", fmt.Errorf("%w: folder %s: %w", ErrBadRequest, folder, err)
	}
	if !slices.ContainsFunc(s.opts.IndexRoots, func(root string) bool { return fspath.Within(real, root) }) {
		return "", fmt.Errorf("%w: folder %s is not under an allowed index root", ErrForbidden, folder)
	}
	st, err := os.Stat(real)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("%w: folder %s", ErrNotFound, folder)
	case err != nil:
		return "", fmt.Errorf("%w: folder %s: %w", ErrBadRequest, folder, err)
	case !st.IsDir():
		return "", fmt.Errorf("%w: %s is not a folder", ErrBadRequest, folder)
	}
	return real, nil
}

type createJobRequest struct {
	Folder string `json:"folder"`
}

func (s *Server) handleCreateJob(c *gin.Context) {
	if err := s.ready(); err != nil {
		s.writeError(c, err)
		return
	}
	var req createJobRequest
	if err := readJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	folder, err := s.allowedFolder(req.Folder)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if s.deps.Indexer == nil {
		s.writeError(c, fmt.Errorf("%w: no indexer configured", ErrUnavailable))
		return
	}
	j := s.startJob(folder, false)
	c.JSON(http.StatusAccepted, j)
}

// startJob runs the indexer over folder in the background, tracked in the job table.
func (s *Server) startJob(folder string, watch bool) job {
	ctx, cancel := context.WithCancel(context.Background())
	j := &job{ID: newJobID(), Folder: folder, State: "running", Started: time.Now().UTC(), Watch: watch, cancel: cancel}
	s.jobs.add(j)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer cancel()
		var err error
		if watch {
			err = s.deps.Indexer.Watch(ctx, folder)
		} else {
			var sum indexer.Summary
			sum, err = s.deps.Indexer.Run(ctx, folder)
			s.jobs.update(j.ID, func(j *job) { j.Progress = sum.Progress })
		}
		s.jobs.update(j.ID, func(j *job) {
			j.Finished = time.Now().UTC()
			j.finish(ctx, err)
		})
		if err != nil && ctx.Err() == nil {
			s.log.Error("index job failed", "job", j.ID, "folder", folder, "err", err)
		}
	}()
	out, _ := s.jobs.get(j.ID)
	return out
}

// finish sets a job's final state from how its work ended: canceled when
// ctx was, failed with err's message, else done.
func (j *job) finish(ctx context.Context, err error) {
	switch {
	case ctx.Err() != nil:
		j.State = "canceled"
	case err != nil:
		j.State, j.Error = "failed", err.Error()
	default:
		j.State = "done"
	}
}

// retagger is implemented by *indexer.Indexer.
type retagger interface {
	Retag(ctx context.Context) (int, error)
}

// startRetag re-tags every indexed image in the background (after an auto-tag
// label set changed), tracked in the job table like an index job. It reports
// false when the indexer cannot re-tag.
func (s *Server) startRetag() (job, bool) {
	rt, ok := s.deps.Indexer.(retagger)
	if !ok {
		return job{}, false
	}
	ctx, cancel := context.WithCancel(context.Background())
	j := &job{ID: newJobID(), State: "running", Started: time.Now().UTC(), Retag: true, cancel: cancel}
	s.jobs.add(j)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer cancel()
		n, err := rt.Retag(ctx)
		s.jobs.update(j.ID, func(j *job) {
			j.Finished, j.Retagged = time.Now().UTC(), n
			j.finish(ctx, err)
		})
		if err != nil && ctx.Err() == nil {
			s.log.Error("retag job failed", "job", j.ID, "err", err)
		}
	}()
	out, _ := s.jobs.get(j.ID)
	return out, true
}

func (s *Server) handleGetJob(c *gin.Context) {
	id := c.Param("id")
	if err := validName("job id", id); err != nil {
		s.writeError(c, err)
		return
	}
	j, ok := s.jobs.get(id)
	if !ok {
		s.writeError(c, fmt.Errorf("%w: job %s", ErrNotFound, id))
		return
	}
	c.JSON(http.StatusOK, s.withLive(j))
}

// handleIndexStatus summarises the index for the page: item count, model, jobs.
func (s *Server) handleIndexStatus(c *gin.Context) {
	if err := s.ready(); err != nil {
		s.writeError(c, err)
		return
	}
	n, err := s.deps.Catalog.Count(c.Request.Context())
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": n, "model": s.deps.Encoder.Info(), "jobs": s.liveJobs()})
}

func (s *Server) liveJobs() []job {
	jobs := s.jobs.list()
	for i := range jobs {
		jobs[i] = s.withLive(jobs[i])
	}
	return jobs
}

// startWatching starts the configured watched folders and the periodic recall
// self-check; both stop with ctx (and Close).
func (s *Server) startWatching(ctx context.Context) {
	if s.deps.Indexer != nil {
		for _, f := range s.opts.WatchFolders {
			s.startJob(f, true) // canonical since New
		}
	}
	if s.deps.Catalog == nil {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		t := time.NewTimer(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			s.recallCheck(ctx)
			t.Reset(10 * time.Minute)
		}
	}()
}

// recallCheck measures the graph's recall against exact search and exports it.
func (s *Server) recallCheck(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	r, err := s.deps.Catalog.RecallCheck(cctx, 100)
	if err != nil {
		s.log.Warn("recall self-check", "err", err)
		return
	}
	s.m.recall.Set(r)
}
