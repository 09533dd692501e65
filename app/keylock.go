package app

import (
	"context"
	"sync"
)

// keyLock is a set of locks by key (an upload's content id), made on demand
// and dropped when released. The zero value is ready; it is safe for
// concurrent use.
type keyLock struct {
	mu   sync.Mutex
	held map[string]chan struct{} // closed when its key is released
}

// lock takes key's lock, waiting while another holder has it, and returns
// its release; it gives up with ctx.Err() when ctx ends first.
func (k *keyLock) lock(ctx context.Context, key string) (unlock func(), err error) {
	for {
		k.mu.Lock()
		ch, busy := k.held[key]
		if !busy {
			if k.held == nil {
				k.held = make(map[string]chan struct{})
			}
			ch = make(chan struct{})
			k.held[key] = ch
			k.mu.Unlock()
			return func() {
				k.mu.Lock()
				delete(k.held, key)
				k.mu.Unlock()
				close(ch)
			}, nil
		}
		k.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
