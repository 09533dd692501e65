package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// square is a batch function whose output depends only on its own input, so
// batched and unbatched results must be identical.
func square(calls *atomic.Int64, sizes *sync.Map, delay time.Duration) BatchFunc[int, int] {
	return func(ctx context.Context, in []int) ([]int, error) {
		calls.Add(1)
		n, _ := sizes.LoadOrStore(len(in), new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		out := make([]int, len(in))
		for i, x := range in {
			out[i] = x * x
		}
		return out, nil
	}
}

func TestCoalescerBatches(t *testing.T) {
	tests := []struct {
		name      string
		opts      CoalescerOptions
		clients   int
		maxRuns   int64 // upper bound on batch runs
		wantBatch bool  // some batch must hold more than one call
	}{
		{"coalesced", CoalescerOptions{MaxBatch: 16, MaxWait: 20 * time.Millisecond}, 64, 16, true},
		{"unbatched", CoalescerOptions{MaxBatch: 1}, 16, 16, false},
		{"small max batch", CoalescerOptions{MaxBatch: 4, MaxWait: 20 * time.Millisecond}, 32, 32, true},
		{"no wait, batches while busy", CoalescerOptions{MaxBatch: 16, MaxWait: -1}, 64, 40, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			var sizes sync.Map
			c := NewCoalescer(square(&calls, &sizes, 5*time.Millisecond), tc.opts)
			defer c.Close()
			var wg sync.WaitGroup
			errs := make(chan error, tc.clients)
			for i := range tc.clients {
				wg.Go(func() {
					got, err := c.Do(t.Context(), i)
					if err != nil {
						errs <- err
						return
					}
					if got != i*i {
						errs <- errors.New("wrong result for its input")
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if calls.Load() > tc.maxRuns {
				t.Errorf("%d batch runs for %d calls, want at most %d", calls.Load(), tc.clients, tc.maxRuns)
			}
			biggest := 0
			sizes.Range(func(k, _ any) bool {
				biggest = max(biggest, k.(int))
				return true
			})
			if biggest > max(1, tc.opts.MaxBatch) {
				t.Errorf("batch of %d exceeds MaxBatch %d", biggest, tc.opts.MaxBatch)
			}
			if tc.wantBatch != (biggest > 1) {
				t.Errorf("largest batch %d, want batching %v", biggest, tc.wantBatch)
			}
		})
	}
}

func TestCoalescerErrorsAndCancel(t *testing.T) {
	boom := errors.New("boom")
	c := NewCoalescer(func(ctx context.Context, in []int) ([]int, error) { return nil, boom }, CoalescerOptions{})
	if _, err := c.Do(t.Context(), 1); !errors.Is(err, boom) {
		t.Fatalf("batch error: got %v, want %v", err, boom)
	}
	c.Close()
	if _, err := c.Do(t.Context(), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: got %v, want ErrClosed", err)
	}
	c.Close() // idempotent

	short := NewCoalescer(func(ctx context.Context, in []int) ([]int, error) { return in[:0], nil }, CoalescerOptions{})
	defer short.Close()
	if _, err := short.Do(t.Context(), 1); !errors.Is(err, ErrInternal) {
		t.Fatalf("short result: got %v, want ErrInternal", err)
	}

	panicky := NewCoalescer(func(ctx context.Context, in []int) ([]int, error) { panic("bad batch") }, CoalescerOptions{})
	defer panicky.Close()
	if _, err := panicky.Do(t.Context(), 1); !errors.Is(err, ErrInternal) {
		t.Fatalf("panic: got %v, want ErrInternal", err)
	}

	release := make(chan struct{})
	slow := NewCoalescer(func(ctx context.Context, in []int) ([]int, error) {
		<-release
		return in, nil
	}, CoalescerOptions{})
	defer slow.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := slow.Do(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled caller: got %v, want DeadlineExceeded", err)
	}
}

// TestCoalescerWait: a call never waits for mates after a lone call (a single
// client pays nothing), and after a batch it waits at most MaxWait and, unless
// WaitShare is negative, at most that share of the previous run's time, so a
// fast encoder is not left idle for a fixed wait.
func TestCoalescerWait(t *testing.T) {
	const run = 2 * time.Millisecond
	tests := []struct {
		name       string
		opts       CoalescerOptions
		afterBatch bool          // a batch of several calls ran before the timed call
		atLeast    time.Duration // the timed call takes at least this
		below      time.Duration // and less than this
	}{
		{"lone client, long MaxWait", CoalescerOptions{MaxBatch: 16, MaxWait: 10 * time.Second}, false, run, 5 * time.Second},
		{"after a batch, share of run time", CoalescerOptions{MaxBatch: 16, MaxWait: 10 * time.Second}, true, run, 5 * time.Second},
		{"after a batch, no wait", CoalescerOptions{MaxBatch: 16, MaxWait: -1}, true, run, 5 * time.Second},
		{"after a batch, fixed wait", CoalescerOptions{MaxBatch: 16, MaxWait: 300 * time.Millisecond, WaitShare: -1}, true, 300 * time.Millisecond, 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			var sizes sync.Map
			var last atomic.Int64 // the size of the latest batch
			sq := square(&calls, &sizes, run)
			c := NewCoalescer(func(ctx context.Context, in []int) ([]int, error) {
				last.Store(int64(len(in)))
				return sq(ctx, in)
			}, tc.opts)
			defer c.Close()
			if tc.afterBatch {
				// The first call runs alone; the others gather while it runs
				// and go as one batch after a lone one, so without waiting.
				// What the timed call does depends on the latest batch
				// holding several calls; on a loaded machine the others may
				// not all gather in time and the latest run alone, so the
				// round is repeated until it did not.
				for round := 0; last.Load() < 2; round++ {
					if round == 20 {
						t.Fatalf("no batch of several calls in %d rounds (latest %d)", round, last.Load())
					}
					var wg sync.WaitGroup
					for i := range 8 {
						wg.Go(func() {
							if _, err := c.Do(t.Context(), i); err != nil {
								t.Error(err)
							}
						})
					}
					wg.Wait()
				}
			} else if _, err := c.Do(t.Context(), 1); err != nil { // a lone call before
				t.Fatal(err)
			}
			start := time.Now()
			got, err := c.Do(t.Context(), 9)
			took := time.Since(start)
			if err != nil || got != 81 {
				t.Fatalf("Do(9) = %d, %v", got, err)
			}
			if took < tc.atLeast || took >= tc.below {
				t.Errorf("call took %v, want [%v, %v)", took, tc.atLeast, tc.below)
			}
		})
	}
}

// TestCoalescerConcurrentOrder: under real concurrency with a wait, every
// caller gets the answer to its own input, batches never exceed MaxBatch, and
// a caller that gives up gets its context's error while the others succeed.
func TestCoalescerConcurrentOrder(t *testing.T) {
	var calls atomic.Int64
	var sizes sync.Map
	c := NewCoalescer(square(&calls, &sizes, time.Millisecond), CoalescerOptions{MaxBatch: 5, MaxWait: 5 * time.Millisecond, Workers: 2})
	defer c.Close()
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			ctx := t.Context()
			if i%10 == 0 { // gives up at once
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				if _, err := c.Do(cctx, i); !errors.Is(err, context.Canceled) {
					t.Errorf("cancelled call %d: got %v, want context.Canceled", i, err)
				}
				return
			}
			got, err := c.Do(ctx, i)
			if err != nil || got != i*i {
				t.Errorf("Do(%d) = %d, %v", i, got, err)
			}
		})
	}
	wg.Wait()
	sizes.Range(func(k, _ any) bool {
		if k.(int) > 5 {
			t.Errorf("batch of %d exceeds MaxBatch 5", k.(int))
		}
		return true
	})
}

// TestSplitBySize: a batch runs as runs of similar size, shortest first, each
// padded to at most (1+maxPad)× its real size or holding one input, and every
// input gets its own output back in place.
func TestSplitBySize(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		in      []int // input sizes
		maxPad  float64
		runs    [][]int // the runs made, in order
		failRun int     // the run (1-based) that fails; 0: none
	}{
		{"one size, one run", []int{4, 4, 4}, 0, [][]int{{4, 4, 4}}, 0},
		{"short and long apart", []int{40, 10, 12, 11, 43}, 0, [][]int{{10, 11, 12}, {40, 43}}, 0},
		{"tight bound", []int{10, 12, 20}, 0.05, [][]int{{10}, {12}, {20}}, 0},
		{"loose bound", []int{10, 12, 20}, 1, [][]int{{10, 12, 20}}, 0},
		{"never split", []int{40, 10, 12}, -1, [][]int{{40, 10, 12}}, 0},
		{"lone input", []int{7}, 0, [][]int{{7}}, 0},
		{"second run fails", []int{40, 10}, 0, [][]int{{10}, {40}}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var runs [][]int
			run := func(ctx context.Context, in []int) ([]int, error) {
				runs = append(runs, append([]int(nil), in...))
				if len(runs) == tc.failRun {
					return nil, boom
				}
				out := make([]int, len(in))
				for i, x := range in {
					out[i] = -x
				}
				return out, nil
			}
			out, err := SplitBySize(run, func(x int) int { return x }, tc.maxPad)(t.Context(), tc.in)
			if tc.failRun > 0 {
				if !errors.Is(err, boom) {
					t.Fatalf("got %v, want %v", err, boom)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(runs) != fmt.Sprint(tc.runs) {
				t.Errorf("runs %v, want %v", runs, tc.runs)
			}
			if tc.failRun > 0 {
				return
			}
			for i, x := range tc.in {
				if out[i] != -x {
					t.Errorf("out[%d] = %d, want %d", i, out[i], -x)
				}
			}
		})
	}
	short := SplitBySize(func(ctx context.Context, in []int) ([]int, error) { return in[:1], nil }, func(x int) int { return x }, 0)
	if _, err := short(t.Context(), []int{5, 5}); !errors.Is(err, ErrInternal) {
		t.Errorf("short result: got %v, want ErrInternal", err)
	}
}
