package app

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"imglish/encoder/convert"
	"imglish/internal/testenv"
	"imglish/store"
	"imglish/vstore"
)

// putJobRecord writes a job record straight into the store, as a process
// that stopped while the job ran leaves it.
func putJobRecord(t *testing.T, db vstore.Store, j Job) {
	t.Helper()
	raw, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var b vstore.Batch
	b.SetValue(jobPrefix+j.ID, raw)
	if err := db.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
}

// storedJobIDs lists the ids of the stored job records.
func storedJobIDs(t *testing.T, db vstore.Store) []string {
	t.Helper()
	var ids []string
	if err := scanJobs(t.Context(), db, func(j Job) { ids = append(ids, j.ID) }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

// TestJobRecordsSurviveRestart: an index job's record, counters included,
// is in the store after Close, so a new App on the same data folder answers
// Job, Jobs and IndexStatus with it; a record left running by a process that
// died reads as failed, interrupted.
func TestJobRecordsSurviveRestart(t *testing.T) {
	demo := testenv.Path(t, "testdata", "models", "demo")
	modelDir := filepath.Join(t.TempDir(), "model")
	if _, err := convert.Convert(t.Context(), convert.Options{
		Checkpoint: filepath.Join(demo, "demo.pth"), OutDir: modelDir, Tokenizer: filepath.Join(demo, "demo.model"),
	}); err != nil {
		t.Fatalf("convert the demo model: %v", err)
	}
	photos := t.TempDir()
	const images = 3
	for i := range images {
		img := image.NewRGBA(image.Rect(0, 0, 64, 48))
		for p := 0; p < len(img.Pix); p += 4 {
			img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = uint8(80*i), uint8(p/4%200), 200-uint8(60*i), 255
		}
		f, err := os.Create(filepath.Join(photos, string(rune('a'+i))+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	photos, err := filepath.EvalSymlinks(photos)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	cfg := Config{ModelDir: modelDir, DataDir: data, StoreOptions: store.Options{MemTableSize: 4 << 20},
		Options: Options{IndexRoots: []string{photos}}}

	a, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	j, err := a.StartIndexJob(t.Context(), photos)
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for j.State == JobRunning && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if j, err = a.Job(j.ID); err != nil {
			t.Fatal(err)
		}
	}
	if j.State != JobDone || j.Progress.Embedded != images {
		a.Close()
		t.Fatalf("index job ended %+v; want done with %d embedded", j, images)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	// A process that died left this job running.
	crashed := Job{ID: "deadbeefdeadbeef", Folder: photos, State: JobRunning, Started: j.Started.Add(-time.Hour)}
	db, err := store.Open(t.Context(), data, store.Options{MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	putJobRecord(t, db, crashed)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	b, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	got, err := b.Job(j.ID)
	if err != nil {
		t.Fatalf("job of the earlier run: %v", err)
	}
	if got.State != JobDone || got.Folder != photos || got.Progress.Embedded != j.Progress.Embedded ||
		got.Progress.Files != j.Progress.Files || !got.Started.Equal(j.Started) || !got.Finished.Equal(j.Finished) {
		t.Errorf("job after restart %+v\nwant %+v", got, j)
	}
	c, err := b.Job(crashed.ID)
	if err != nil || c.State != JobFailed || !strings.HasPrefix(c.Error, "interrupted") {
		t.Errorf("crashed job after restart: %+v, %v; want failed, interrupted", c, err)
	}
	if _, err := b.Job("0123456789abcdef"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown job: %v, want ErrNotFound", err)
	}
	st, err := b.IndexStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Jobs) != 2 || st.Jobs[0].ID != crashed.ID || st.Jobs[0].State != JobFailed ||
		st.Jobs[1].ID != j.ID || st.Jobs[1].State != JobDone {
		t.Errorf("status jobs after restart %+v; want the crashed one (failed), then the done one", st.Jobs)
	}
}

// TestJobRecordsPruned: ending a job keeps only the newest maxJobRecords
// ended records (an interrupted one counts as ended, by its start), never
// the record of a job still running.
func TestJobRecordsPruned(t *testing.T) {
	defer func(n int) { maxJobRecords = n }(maxJobRecords)
	maxJobRecords = 3
	db, err := store.Open(t.Context(), t.TempDir(), store.Options{MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	crashed := Job{ID: "deadbeefdeadbeef", State: JobRunning, Started: time.Now().UTC().Add(-time.Hour)}
	putJobRecord(t, db, crashed)

	a := &App{db: db, log: slog.New(slog.DiscardHandler), jobs: &jobTable{byID: map[string]*Job{}}}
	run := func(block bool) string {
		done := make(chan struct{})
		j, err := a.jobs.start(&Job{Folder: "/f"}, a.saveJob, func(ctx context.Context, id string) {
			if block {
				close(done)
				<-ctx.Done()
			}
			a.endJob(id, func(j *Job) { j.finish(ctx, nil) })
			if !block {
				close(done)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		<-done
		return j.ID
	}
	running := run(true)
	var ended []string
	for range 5 {
		ended = append(ended, run(false))
		if n := len(storedJobIDs(t, db)); n > maxJobRecords+1 {
			t.Fatalf("%d records stored after %d jobs ended; want at most %d and the running one", n, len(ended), maxJobRecords)
		}
	}
	want := append([]string{running}, ended[2:]...)
	slices.Sort(want)
	if got := storedJobIDs(t, db); !slices.Equal(got, want) {
		t.Errorf("stored after 5 jobs ended: %v; want the running job and the newest 3 %v", got, want)
	}
	a.jobs.close() // the running job ends (canceled): the oldest ended record goes
	want = []string{running, ended[3], ended[4]}
	slices.Sort(want)
	if got := storedJobIDs(t, db); !slices.Equal(got, want) {
		t.Errorf("stored after the running job ended: %v; want %v", got, want)
	}
	if j, err := a.Job(running); err != nil || j.State != JobCanceled {
		t.Errorf("canceled job: %+v, %v", j, err)
	}
}
