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
