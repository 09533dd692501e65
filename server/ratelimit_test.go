package server

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// TestRateLimitDefaults: the limit's default per mode, then through the real
// handler: concurrent loopback clients under NoAuth are not limited by default
// (they share one address, so a per-address budget starved them: 8 clients got
// 99.7% 429s), keys have a budget each, and X-Forwarded-For picks the address
// only when the peer is a configured proxy.
func TestRateLimitDefaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      Options
		wantLimit float64
		wantBurst int
	}{
		{"keys, default", Options{}, DefaultRateLimit, 2 * DefaultRateLimit},
		{"no auth, default off", Options{NoAuth: true}, -1, 0},
		{"no auth, set", Options{NoAuth: true, RateLimit: 10}, 10, 20},
		{"off", Options{RateLimit: -1}, -1, 0},
		{"burst set", Options{RateLimit: 5, RateBurst: 7}, 5, 7},
	} {
		got, err := tc.opts.withDefaults(t.TempDir())
		if err != nil || got.RateLimit != tc.wantLimit || got.RateBurst != tc.wantBurst {
			t.Errorf("%s: rate %v burst %d (%v), want %v burst %d", tc.name, got.RateLimit, got.RateBurst, err, tc.wantLimit, tc.wantBurst)
		}
	}

	// send has each client send n requests at once; it returns the 429s per client.
	send := func(e *env, n int, keys []string, forwarded []string) []int {
		limited := make([]int, max(len(keys), len(forwarded)))
		var wg sync.WaitGroup
		for c := range limited {
			wg.Go(func() {
				for range n {
					req, _ := http.NewRequest("GET", e.ts.URL+"/v1/labelsets/none", nil)
					if keys != nil {
						req.Header.Set("X-API-Key", keys[c])
					}
					if forwarded != nil {
						req.Header.Set("X-Forwarded-For", forwarded[c])
					}
					resp, err := e.ts.Client().Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusTooManyRequests {
						limited[c]++
					}
				}
			})
		}
		wg.Wait()
		return limited
	}
	clients := make([]string, 8)
	var keys []APIKey
	for i := range clients {
		clients[i] = fmt.Sprintf("client-key-%02d-0123456789", i)
		keys = append(keys, APIKey{Key: clients[i], Scope: ScopeRead})
	}
	addrs := []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"}

	noauth := newEnv(t, envConfig{rateLimitDefault: true, opts: Options{NoAuth: true, Addr: "127.0.0.1:0"}})
	if got := send(noauth, 60, make([]string, 8), nil); fmt.Sprint(got) != fmt.Sprint(make([]int, 8)) {
		t.Errorf("8 loopback clients under no-auth, default limit: 429s per client %v, want none", got)
	}
	// A rate of one token per 1,000 s: no refill can happen during the
	// test, so "past its burst" holds however slowly the requests run
	// (with 1 per second a one-second stall under load refilled a token).
	const noRefill = 1e-3
	perKey := newEnv(t, envConfig{opts: Options{Keys: keys, RateLimit: noRefill, RateBurst: 10}})
	if got := send(perKey, 10, clients, nil); fmt.Sprint(got) != fmt.Sprint(make([]int, 8)) {
		t.Errorf("8 keys, each within its burst: 429s per key %v, want none", got)
	}
	if got := send(perKey, 5, clients[:1], nil); got[0] == 0 {
		t.Errorf("one key past its burst: no 429 in 5 requests")
	}
	// Wrong keys spend their address's budget: guessing is rate-limited too.
	guesses := make([]string, 15)
	for i := range guesses {
		guesses[i] = fmt.Sprintf("guess-%02d-0123456789abcdef", i)
	}
	limited := 0
	for i := range guesses {
		limited += send(perKey, 1, guesses[i:i+1], nil)[0]
	}
	if limited != len(guesses)-10 {
		t.Errorf("%d wrong keys from one address, burst 10: %d answered 429, want %d", len(guesses), limited, len(guesses)-10)
	}
	for _, tc := range []struct {
		name    string
		proxies []string
		want    []int
	}{
		{"forwarded address ignored from an unconfigured peer", nil, []int{0, 1, 1}},
		{"forwarded address believed from a configured proxy", []string{"127.0.0.1/8", "::1"}, []int{0, 0, 0}},
	} {
		e := newEnv(t, envConfig{opts: Options{Keys: []APIKey{}, RateLimit: noRefill, RateBurst: 1, TrustedProxies: tc.proxies}})
		// Sequential, so that "the first request passes" is deterministic.
		var got []int
		for i := range addrs {
			got = append(got, send(e, 1, nil, addrs[i:i+1])...)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: 429s per forwarded address %v, want %v", tc.name, got, tc.want)
		}
	}
}
