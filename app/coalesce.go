package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// BatchFunc runs one batch: out[i] must answer in[i].
type BatchFunc[In, Out any] func(ctx context.Context, in []In) ([]Out, error)

// CoalescerOptions tunes a Coalescer. The zero value means: batches of up to 16,
// a wait for batch mates of at most 3 ms and at most a quarter of the previous
// batch's run time, one batch running at a time, texts of similar length
// batched together.
type CoalescerOptions struct {
	// MaxBatch caps a batch; 1 disables coalescing (every call runs alone).
	MaxBatch int
	// MaxWait is how long the first call of a batch waits for mates while a
	// worker is idle, under load only: when the previous batch held a single
	// call, a new call goes to a free worker at once, so a lone client pays no
	// wait. Negative means never wait. Either way, while every worker is busy
	// the batch keeps filling up to MaxBatch.
	MaxWait time.Duration
	// WaitShare bounds that wait further, to this share of the previous
	// batch's run time: 0 means 0.25, negative leaves MaxWait alone. Why: the
	// worker idles while a batch waits. A fixed wait costs little beside the
	// runs of a 768-wide model, but much beside the demo model's short runs,
	// and under load its batches, kept below MaxBatch by the server's
	// in-flight cap, each waited the whole MaxWait: that made coalescing the
	// slowest request path at 32 clients (TestServeLatency, issue 18).
	WaitShare float64
	// Workers is how many batches may run at once.
	Workers int
	// MaxPad bounds the padding of a batch of inputs of different sizes (the
	// text coalescer's texts, padded to the longest in an encoder run): a
	// batch runs as consecutive runs of inputs of similar size, each padded
	// to at most (1+MaxPad)× its real size. 0 means 0.5; negative never
	// splits. The App's text coalescer applies it (SplitBySize); images, all
	// of one size, run as one batch. Observe sees the batch, not its runs.
	MaxPad float64
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
	// lastRun is the run time of the latest batch, in nanoseconds.
	lastRun atomic.Int64
	stop    chan struct{}
	ctx     context.Context
	abort   context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
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
	if opts.WaitShare == 0 {
		opts.WaitShare = 0.25
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
				wait := c.wait(last)
				ready = wait <= 0
				if !ready {
					timer.Reset(wait)
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

// minWait is the shortest wait worth a timer: below it a batch goes at once.
const minWait = 50 * time.Microsecond

// wait is how long a batch whose first call just came waits for mates, after
// a batch of last calls: none after a lone call or with MaxWait negative, else
// MaxWait bounded by WaitShare of the latest run time.
func (c *Coalescer[In, Out]) wait(last int) time.Duration {
	if c.opts.MaxWait < 0 || last <= 1 {
		return 0
	}
	w := c.opts.MaxWait
	if c.opts.WaitShare > 0 {
		w = min(w, time.Duration(c.opts.WaitShare*float64(c.lastRun.Load())))
	}
	if w < minWait {
		return 0
	}
	return w
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
	c.lastRun.Store(int64(time.Since(start)))
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

// SplitBySize wraps run so that a batch runs as consecutive runs of inputs
// of similar size, shortest first: a run's padded size (its count times its
// largest size) stays within (1+maxPad)× the sum of its sizes, or it holds
// one input. maxPad 0 means 0.5; negative returns run itself.
//
// Why: the encoder pads a text batch to its longest text. With queries of
// mixed lengths, batches of 16 as they came embedded no more texts per second
// than one text per call on a 768-wide model, batches of similar length
// several times more (TestServeLatency's encoder reference, issue 18).
func SplitBySize[In, Out any](run BatchFunc[In, Out], size func(In) int, maxPad float64) BatchFunc[In, Out] {
	if maxPad < 0 {
		return run
	}
	if maxPad == 0 {
		maxPad = 0.5
	}
	return func(ctx context.Context, in []In) ([]Out, error) {
		if len(in) < 2 {
			return run(ctx, in)
		}
		sizes := make([]int, len(in))
		order := make([]int, len(in))
		for i, x := range in {
			sizes[i], order[i] = max(1, size(x)), i
		}
		slices.SortStableFunc(order, func(a, b int) int { return sizes[a] - sizes[b] })
		out := make([]Out, len(in))
		group := make([]In, 0, len(in))
		for start := 0; start < len(order); {
			end, sum := start+1, sizes[order[start]]
			for ; end < len(order); end++ {
				s := sizes[order[end]]
				if float64(s*(end-start+1)) > (1+maxPad)*float64(sum+s) {
					break
				}
				sum += s
			}
			if start > 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			group = group[:0]
			for _, k := range order[start:end] {
				group = append(group, in[k])
			}
			res, err := run(ctx, group)
			if err != nil {
				return nil, err
			}
			if len(res) != len(group) {
				return nil, fmt.Errorf("coalesce: run of %d returned %d results: %w", len(group), len(res), ErrInternal)
			}
			for j, k := range order[start:end] {
				out[k] = res[j]
			}
			start = end
		}
		return out, nil
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
