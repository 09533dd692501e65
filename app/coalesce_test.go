package app

import (
	"context"
	"errors"
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
