package indexer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"imglish/encoder/preprocess"
	"imglish/store"
)

// TestAddImage adds single images while the run lock is held (a run in
// progress: no wait), while a commit holds the commit lock past the
// caller's deadline (context.DeadlineExceeded, nothing written), and with a
// tensor that is not the encoder's input (ErrTensor).
func TestAddImage(t *testing.T) {
	e := newEnv(t, Options{})
	man := e.enc.Manifest()
	cases := []struct {
		name    string
		hold    func() (release func())
		timeout time.Duration
		cut     bool // pass a tensor of the wrong size
		wantErr error
	}{
		{"run lock held", func() func() { e.ix.runMu.Lock(); return e.ix.runMu.Unlock }, 30 * time.Second, false, nil},
		{"commit in progress", func() func() { e.ix.commitMu <- struct{}{}; return func() { <-e.ix.commitMu } }, 200 * time.Millisecond, false, context.DeadlineExceeded},
		{"wrong tensor", func() func() { return func() {} }, 30 * time.Second, true, ErrTensor},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), fmt.Sprintf("add%d.png", i))
			genImage(t, p, uint64(100+i), 80, 60)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			pixels, _, err := preprocess.Reader(t.Context(), bytes.NewReader(data), preprocess.Options{
				Size: e.enc.ImageSize(), Mean: man.Image.Mean, Std: man.Image.Std})
			if err != nil {
				t.Fatal(err)
			}
			if tc.cut {
				pixels = pixels[:len(pixels)/2]
			}
			release := tc.hold()
			ctx, cancel := context.WithTimeout(t.Context(), tc.timeout)
			start := time.Now()
			id, err := e.ix.AddImage(ctx, p, data, pixels)
			took := time.Since(start)
			cancel()
			release()
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("AddImage: %v, want %v", err, tc.wantErr)
			}
			if took > tc.timeout+2*time.Second {
				t.Errorf("AddImage returned after %v, deadline %v", took, tc.timeout)
			}
			it, ierr := e.db.ItemByPath(p)
			if tc.wantErr != nil {
				if !errors.Is(ierr, store.ErrNotFound) {
					t.Errorf("item after a failed AddImage: %+v, %v", it, ierr)
				}
				return
			}
			if ierr != nil || it.ID != id || it.Width != 80 || it.Height != 60 || it.MediaType != "image/png" {
				t.Fatalf("item %+v (%v), id %s", it, ierr, id)
			}
			if _, err := e.db.Vector(e.ix.Space(), id); err != nil {
				t.Errorf("no vector: %v", err)
			}
			// A run over the file afterwards finds it unchanged.
			sum, err := e.ix.Run(t.Context(), p)
			if err != nil || sum.Skipped != 1 || sum.Embedded != 0 {
				t.Errorf("run after AddImage: %+v, %v", sum.Progress, err)
			}
		})
	}
}
