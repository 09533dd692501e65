package weaviate

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestClientRetriesPastFailedNode: requests that fail together on one node
// (as when a node is killed under them) each retry on the node after it.
// With as many requests in flight as there are nodes, the client used to
// advance its preferred node once per failure, all the way round back to
// the failed node, where every retry failed again (the intermittent
// failure of TestNodeKilledWhileIndexing). One retry must now be enough,
// and the failed node is not asked again.
func TestClientRetriesPastFailedNode(t *testing.T) {
	tests := []struct {
		name     string
		nodes    int // the first one fails
		inFlight int
	}{
		{"3 nodes, 3 in flight", 3, 3},
		{"3 nodes, 6 in flight", 3, 6},
		{"2 nodes, 4 in flight", 2, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The failing node answers 503 once every request has
			// reached it, so they all fail before any retries.
			var arrived sync.WaitGroup
			arrived.Add(tc.inFlight)
			var failedHits, okHits atomic.Int64
			sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if failedHits.Add(1) <= int64(tc.inFlight) {
					arrived.Done()
					arrived.Wait()
				}
				http.Error(w, `{"error":[{"message":"node down"}]}`, http.StatusServiceUnavailable)
			}))
			t.Cleanup(sick.Close)
			urls := []string{sick.URL}
			for range tc.nodes - 1 {
				ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					okHits.Add(1)
					_, _ = w.Write([]byte(`{}`))
				}))
				t.Cleanup(ok.Close)
				urls = append(urls, ok.URL)
			}
			c := &client{urls: urls, http: &http.Client{Timeout: 10 * time.Second}, retries: 1,
				backoff: time.Millisecond, log: slog.New(slog.DiscardHandler)}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			errs := make([]error, tc.inFlight)
			var wg sync.WaitGroup
			for i := range tc.inFlight {
				wg.Go(func() { errs[i] = c.do(ctx, http.MethodGet, "/v1/nodes", nil, nil) })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Errorf("requests failed with one retry: %v", err)
			}
			if got := failedHits.Load(); got != int64(tc.inFlight) {
				t.Errorf("the failed node was asked %d times, want %d (once per request)", got, tc.inFlight)
			}
			if got := okHits.Load(); got != int64(tc.inFlight) {
				t.Errorf("the healthy nodes answered %d requests, want %d", got, tc.inFlight)
			}
			// Later requests start past the failed node.
			if err := c.do(ctx, http.MethodGet, "/v1/nodes", nil, nil); err != nil {
				t.Errorf("request after the failures: %v", err)
			}
			if got := failedHits.Load(); got != int64(tc.inFlight) {
				t.Errorf("a later request went to the failed node")
			}
		})
	}
}

// TestClientAttemptTimeout: a node that takes a request and never answers
// (as a Weaviate node does with a schema read forwarded to a Raft leader
// that was killed) costs one attempt timeout, then the request goes to
// the next node; schema reads get the shorter metadata bound.
func TestClientAttemptTimeout(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		timeout time.Duration
		want    time.Duration // the bound of the attempt on the hung node
	}{
		{"data read", "/v1/objects", 300 * time.Millisecond, 300 * time.Millisecond},
		{"schema read", "/v1/schema", time.Hour, metaTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{timeout: tc.timeout}
			if got := c.attemptTimeout(tc.path); got != tc.want {
				t.Errorf("attempt timeout of %s = %v, want %v", tc.path, got, tc.want)
			}
		})
	}

	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(release) })
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"n":1}`))
	}))
	t.Cleanup(ok.Close)
	c := &client{urls: []string{hung.URL, ok.URL}, http: &http.Client{}, retries: 1, backoff: time.Millisecond,
		timeout: 300 * time.Millisecond, log: slog.New(slog.DiscardHandler)}
	start := time.Now()
	var out struct{ N int }
	if err := c.do(t.Context(), http.MethodGet, "/v1/objects", nil, &out); err != nil || out.N != 1 {
		t.Fatalf("request past a hung node: %v, %+v", err, out)
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("request past a hung node took %v, want one attempt timeout (300ms) and a little", took)
	}
}
