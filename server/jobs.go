package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"imglish/app"
)

// job is the core's Job (an index, watch or retag job) under server's
// older name.
type job = app.Job

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
	j, err := s.app.StartIndexJob(c.Request.Context(), req.Folder)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, j)
}

func (s *Server) handleGetJob(c *gin.Context) {
	id := c.Param("id")
	if s.app == nil {
		// No core, so no jobs: only the id is checked.
		if err := validName("job id", id); err != nil {
			s.writeError(c, err)
			return
		}
		s.writeError(c, fmt.Errorf("%w: job %s", ErrNotFound, id))
		return
	}
	j, err := s.app.Job(id)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, j)
}

// handleIndexStatus summarises the index for the page: item count, model, jobs.
func (s *Server) handleIndexStatus(c *gin.Context) {
	if err := s.ready(); err != nil {
		s.writeError(c, err)
		return
	}
	st, err := s.app.IndexStatus(c.Request.Context())
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

// startWatching starts the configured watched folders as the core's jobs
// (they stop with Close) and the periodic recall self-check (it stops with
// ctx).
func (s *Server) startWatching(ctx context.Context) {
	if s.app != nil && s.deps.Indexer != nil {
		for _, f := range s.opts.WatchFolders {
			if _, err := s.app.StartWatch(f); err != nil { // canonical since New
				s.log.Warn("watch folder", "folder", f, "err", err)
			}
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
