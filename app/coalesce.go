package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// BatchFunc runs one batch: out[i] must answer in[i].
type BatchFunc[In, Out any] func(ctx context.Context, in []In) ([]Out, error)

// CoalescerOptions tunes a Coalescer. The zero value means: batches of up to 16,
// a 3 ms wait for batch mates, one batch running at a time.
type CoalescerOptions struct {
	// MaxBatch caps a batch; 1 disables coalescing (every call runs alone).
	MaxBatch int
	// MaxWait is how long the first call of a batch waits for mates while a
	// worker is idle, under load only: when the previous batch held a single
	// call, a new call goes to a free worker at once, so a lone client pays no
	// wait. Negative means never wait. Either way, while every worker is busy
	// the batch keeps filling up to MaxBatch.
	MaxWait time.Duration
	// Workers is how many batches may run at once.
	Workers int
	// Observe, when set, is called after each batch with its size and duration.
	Observe func(size int, d time.Duration, err error)
	// Queue, when set, is called with the number of calls waiting for a batch.
	Queue func(depth int)
}

type coalesceCall[In, Out any] struct {
	ctx  context.Context
	in   In
	out  Out
	err  error
	done chan struct{}
}

// Coalescer merges concurrent calls into batches so that N clients asking for one
// vector each cost one encoder run of N instead of N runs of one. It is safe for
// concurrent use. Close stops it; calls after Close return ErrClosed.
type Coalescer[In, Out any] struct {
	run  BatchFunc[In, Out]
	opts CoalescerOptions

	calls chan *coalesceCall[In, Out]
	work  chan []*coalesceCall[In, Out]
	stop  chan struct{}
	ctx   context.Context
	abort context.CancelFunc
	wg    sync.WaitGroup
	once  sync.Once
}

// NewCoalescer starts a coalescer around run.
func NewCoalescer[In, Out any](run BatchFunc[In, Out], opts CoalescerOptions) *Coalescer[In, Out] {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 16
	}
	if opts.MaxWait == 0 {
		opts.MaxWait = 3 * time.Millisecond
	}
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Coalescer[In, Out]{
		run:   run,
		opts:  opts,
		calls: make(chan *coalesceCall[In, Out]),
		work:  make(chan []*coalesceCall[In, Out]),
		stop:  make(chan struct{}),
		ctx:   ctx,
		abort: cancel,
	}
	c.wg.Add(1 + opts.Workers)
	go c.collect()
	for range opts.Workers {
		go c.worker()
	}
	return c
}

// Do submits one input and waits for its output, its batch's error, or ctx.
func (c *Coalescer[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	var zero Out
	call := &coalesceCall[In, Out]{ctx: ctx, in: in, done: make(chan struct{})}
	select {
	case c.calls <- call:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-c.stop:
		return zero, ErrClosed
	}
	select {
	case <-call.done:
		return call.out, call.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// Close lets running batches finish, fails queued calls with ErrClosed and
// stops the goroutines. It is idempotent.
func (c *Coalescer[In, Out]) Close() {
	c.once.Do(func() {
		close(c.stop)
		c.wg.Wait()
		c.abort()
	})
}

// collect gathers calls into batches. A batch is handed to a worker when it is
// full, or when MaxWait has passed since its first call; while no worker is free
// it keeps growing up to MaxBatch, which is what makes throughput under load
// approach the encoder's batch throughput.
func (c *Coalescer[In, Out]) collect() {
	defer c.wg.Done()
	defer close(c.work)
	var (
		batch []*coalesceCall[In, Out]
		timer = time.NewTimer(time.Hour)
		ready bool
		last  int // size of the previous batch handed to a worker
	)
	timer.Stop()
	for {
		var work chan []*coalesceCall[In, Out]
		if len(batch) > 0 && (ready || len(batch) >= c.opts.MaxBatch) {
			work = c.work
		}
		calls := c.calls
		if len(batch) >= c.opts.MaxBatch {
			calls = nil
		}
		if c.opts.Queue != nil {
			c.opts.Queue(len(batch))
		}
		select {
		case call := <-calls:
			batch = append(batch, call)
			if len(batch) == 1 {
				ready = c.opts.MaxWait < 0 || last <= 1
				if !ready {
					timer.Reset(c.opts.MaxWait)
				}
			}
		case <-timer.C:
			ready = true
		case work <- batch:
			last = len(batch)
			batch, ready = nil, false
			timer.Stop()
		case <-c.stop:
			timer.Stop()
			for _, call := range batch {
				call.err = ErrClosed
				close(call.done)
			}
			return
		}
	}
}

func (c *Coalescer[In, Out]) worker() {
	defer c.wg.Done()
	for batch := range c.work {
		c.runBatch(batch)
	}
}

func (c *Coalescer[In, Out]) runBatch(batch []*coalesceCall[In, Out]) {
	// Calls whose caller already gave up are dropped before the encoder runs.
	live := batch[:0]
	for _, call := range batch {
		if err := call.ctx.Err(); err != nil {
			call.err = err
			close(call.done)
			continue
		}
		live = append(live, call)
	}
	if len(live) == 0 {
		return
	}
	in := make([]In, len(live))
	for i, call := range live {
		in[i] = call.in
	}
	start := time.Now()
	out, err := c.safeRun(in)
	if err == nil && len(out) != len(in) {
		err = fmt.Errorf("coalesce: batch of %d returned %d results: %w", len(in), len(out), ErrInternal)
	}
	if c.opts.Observe != nil {
		c.opts.Observe(len(in), time.Since(start), err)
	}
	for i, call := range live {
		if err != nil {
			call.err = err
		} else {
			call.out = out[i]
		}
		close(call.done)
	}
}

// safeRun turns a panic in the batch function into an error so one bad batch
// never takes the server down.
func (c *Coalescer[In, Out]) safeRun(in []In) (out []Out, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, errors.Join(ErrInternal, fmt.Errorf("batch panicked: %v", r))
		}
	}()
	return c.run(c.ctx, in)
}
