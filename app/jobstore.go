package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"imglish/store"
	"imglish/vstore"
)

// Job records live in the store's application values, one per job:
//
//	value job/<job id>  the Job (JSON)
//
// A record is written when the job starts (state running) and when it ends,
// not on progress ticks. Ending a job also deletes, in the same batch, the
// oldest ended records beyond maxJobRecords (the running jobs of this App do
// not count). A record still "running" that no job of this App runs was left
// by a process that stopped before the job ended (one imglish holds a store
// for writing at a time): it reads as failed with errInterrupted.
const jobPrefix = "job/"

// maxJobRecords is how many ended jobs the store keeps (a variable for the
// tests).
var maxJobRecords = 100

// errInterrupted is the Error of a job whose process stopped while it ran.
const errInterrupted = "interrupted: imglish stopped before the job ended"

// jobWriteTimeout bounds one write of job records.
const jobWriteTimeout = 30 * time.Second

// jobStore is the store that keeps the job records: the App's own, or for an
// App of New the store under its Catalog; nil (records in memory only) for
// any other Catalog.
func (a *App) jobStore() vstore.Store {
	if a.db != nil {
		return a.db
	}
	if c, ok := a.cat.(*storeCatalog); ok {
		return c.db
	}
	return nil
}

// decodeJob parses a stored record, marking a running one interrupted (the
// caller checks that no job of this App runs it).
func decodeJob(raw []byte) (Job, error) {
	var j Job
	if err := json.Unmarshal(raw, &j); err != nil {
		return Job{}, err
	}
	if j.State == JobRunning {
		j.State, j.Error = JobFailed, errInterrupted
	}
	return j, nil
}

// storedJob reads the record of job id; an error wrapping ErrNotFound when
// there is none.
func storedJob(db vstore.Store, id string) (Job, error) {
	raw, err := db.Value(jobPrefix + id)
	if errors.Is(err, store.ErrNotFound) {
		return Job{}, fmt.Errorf("%w: job %s", ErrNotFound, id)
	}
	if err != nil {
		return Job{}, fmt.Errorf("read job %s: %w", id, err)
	}
	j, err := decodeJob(raw)
	if err != nil {
		return Job{}, fmt.Errorf("parse job %s: %w", id, err)
	}
	return j, nil
}

// scanJobs calls fn with every stored record (running ones as stored, not
// yet marked interrupted), by id; records that do not parse are skipped.
func scanJobs(ctx context.Context, db vstore.Store, fn func(j Job)) error {
	return db.ScanValues(ctx, jobPrefix, func(key string, raw []byte) bool {
		var j Job
		if err := json.Unmarshal(raw, &j); err == nil && j.ID == strings.TrimPrefix(key, jobPrefix) {
			fn(j)
		}
		return true
	})
}

// saveJob stores j's record; when j has ended it also deletes the oldest
// ended records beyond maxJobRecords, in the same batch. A failed write is
// logged: the job goes on, its record only in memory.
func (a *App) saveJob(j Job) {
	db := a.jobStore()
	if db == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), jobWriteTimeout)
	defer cancel()
	a.jobs.saveMu.Lock()
	defer a.jobs.saveMu.Unlock()
	if err := a.writeJob(ctx, db, j); err != nil {
		a.log.Warn("store job record", "job", j.ID, "err", err)
	}
}

func (a *App) writeJob(ctx context.Context, db vstore.Store, j Job) error {
	raw, err := json.Marshal(j)
	if err != nil {
		return err
	}
	var b vstore.Batch
	b.SetValue(jobPrefix+j.ID, raw)
	if j.State != JobRunning {
		var ended []Job
		err := scanJobs(ctx, db, func(s Job) {
			if s.ID == j.ID {
				return
			}
			if s.State == JobRunning {
				if m, ok := a.jobs.get(s.ID); ok && m.State == JobRunning {
					return // running here: not ended
				}
			}
			ended = append(ended, s)
		})
		if err != nil {
			return err
		}
		ended = append(ended, j)
		if len(ended) > maxJobRecords {
			slices.SortFunc(ended, func(x, y Job) int { return cmp.Or(jobEnd(y).Compare(jobEnd(x)), strings.Compare(y.ID, x.ID)) })
			for _, old := range ended[maxJobRecords:] {
				if old.ID != j.ID {
					b.SetValue(jobPrefix+old.ID, nil)
				}
			}
		}
	}
	return db.Apply(ctx, &b)
}

// jobEnd orders ended records: when they finished, or for an interrupted
// one (no finish time) when it started.
func jobEnd(j Job) time.Time {
	if j.Finished.IsZero() {
		return j.Started
	}
	return j.Finished
}
