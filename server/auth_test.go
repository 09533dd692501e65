package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// writeRoutes lists every write route with a body that would succeed or fail
// on its merits: what matters here is that auth answers first.
func writeRoutes(e *env) []struct{ method, path string } {
	var out []struct{ method, path string }
	for _, r := range e.srv.engine.Routes() {
		if isWriteRoute(r.Method, r.Path) {
			p := strings.NewReplacer(":id", "0123", ":collection", "c1", ":name", "n1").Replace(r.Path)
			out = append(out, struct{ method, path string }{r.Method, p})
		}
	}
	return out
}

// isWriteRoute is the rule the tests hold the router to: every route that is
// not a GET is a write, except the read-only POSTs (search, classify, embed).
func isWriteRoute(method, path string) bool {
	switch path {
	case "/v1/search", "/v1/classify", "/v1/embed":
		return false
	}
	return method != http.MethodGet
}

func TestAuthOnEveryWriteRoute(t *testing.T) {
	e := newEnv(t, envConfig{})
	routes := writeRoutes(e)
	if len(routes) < 6 {
		t.Fatalf("found %d write routes, want at least 6", len(routes))
	}
	for _, r := range routes {
		for _, tc := range []struct {
			key  string
			want int
		}{
			{"", http.StatusUnauthorized},
			{"wrong-key-0123456789abcdef", http.StatusUnauthorized},
			{readKey, http.StatusForbidden},
		} {
			var eb errorBody
			if st, _ := e.call(r.method, r.path, tc.key, map[string]any{}, &eb); st != tc.want {
				t.Errorf("%s %s with key %q: %d, want %d", r.method, r.path, tc.key, st, tc.want)
			}
		}
		if st, _ := e.call(r.method, r.path, writeKey, map[string]any{}, nil); st == 401 || st == 403 {
			t.Errorf("%s %s with the write key: %d", r.method, r.path, st)
		}
	}
	// Read routes need a key once keys are configured; X-API-Key works too.
	for _, tc := range []struct {
		name   string
		header string
		value  string
		want   int
	}{
		{"none", "", "", 401},
		{"bearer read", "Authorization", "Bearer " + readKey, 200},
		{"x-api-key write", "X-API-Key", writeKey, 200},
		{"basic", "Authorization", "Basic " + readKey, 401},
		{"bearer in lower case", "Authorization", "bearer " + readKey, 200},
		{"bearer without a key", "Authorization", "Bearer ", 401},
	} {
		req, _ := http.NewRequest("POST", e.ts.URL+"/v1/embed", strings.NewReader(`{"texts":["a"]}`))
		if tc.header != "" {
			req.Header.Set(tc.header, tc.value)
		}
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("read route, %s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}

func TestAuthModes(t *testing.T) {
	// No keys configured: reads are open, writes refused.
	open := newEnv(t, envConfig{opts: Options{Keys: []APIKey{}}})
	if st, _ := open.call("POST", "/v1/embed", "", map[string]any{"texts": []string{"a"}}, nil); st != 200 {
		t.Errorf("read without keys configured: %d", st)
	}
	if st, _ := open.call("PUT", "/v1/labelsets/x", "", map[string]any{"labels": []string{"a"}}, nil); st != 401 {
		t.Errorf("write without keys configured: %d, want 401", st)
	}
	// Auth explicitly disabled on loopback: writes open.
	noauth := newEnv(t, envConfig{opts: Options{NoAuth: true, Addr: "127.0.0.1:0"}})
	if st, _ := noauth.call("PUT", "/v1/labelsets/x", "", map[string]any{"labels": []string{"a"}}, nil); st != 200 {
		t.Errorf("write with auth disabled: %d", st)
	}
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"no auth on all interfaces", Options{NoAuth: true, Addr: ":0"}},
		{"no auth on a public address", Options{NoAuth: true, Addr: "10.1.2.3:80"}},
		{"short key", Options{Keys: []APIKey{{Key: "short", Scope: ScopeRead}}}},
		{"bad scope", Options{Keys: []APIKey{{Key: "0123456789abcdefgh", Scope: "admin"}}}},
		{"duplicate key", Options{Keys: []APIKey{{Key: readKey, Scope: ScopeRead}, {Key: readKey, Scope: ScopeWrite}}}},
	} {
		if _, err := New(Deps{DataDir: t.TempDir()}, tc.opts); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", tc.name, err)
		}
	}
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "localhost:1": true, "[::1]:1": true, ":1": false, "0.0.0.0:1": false, "example.com:1": false} {
		if IsLoopback(addr) != want {
			t.Errorf("IsLoopback(%q) = %v", addr, !want)
		}
	}
}

func TestRateLimitCORSAndTimeout(t *testing.T) {
	e := newEnv(t, envConfig{opts: Options{RateLimit: 1, RateBurst: 2, CORSOrigins: []string{"https://app.example"}}})
	codes := []int{}
	var hdr http.Header
	for range 4 {
		st, h := e.call("GET", "/v1/texts/none", readKey, nil, nil)
		codes = append(codes, st)
		hdr = h
	}
	if codes[0] != 404 || codes[1] != 404 || codes[3] != 429 || hdr.Get("Retry-After") == "" {
		t.Errorf("rate limit burst 2: %v (Retry-After %q)", codes, hdr.Get("Retry-After"))
	}
	// A spoofed X-Forwarded-For does not buy a fresh bucket.
	anon := newEnv(t, envConfig{opts: Options{Keys: []APIKey{}, RateLimit: 1, RateBurst: 1}})
	spoofed := 0
	for i := range 3 {
		req, _ := http.NewRequest("GET", anon.ts.URL+"/v1/labelsets/none", nil)
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.0.0.%d", i))
		resp, err := anon.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			spoofed++
		}
	}
	if spoofed != 2 {
		t.Errorf("spoofed X-Forwarded-For: %d of 3 requests limited, want 2", spoofed)
	}
	// The limit is per key: another key still passes.
	if st, _ := e.call("GET", "/v1/texts/none", writeKey, nil, nil); st != 404 {
		t.Errorf("other key: %d", st)
	}
	for _, tc := range []struct {
		origin, method string
		wantAllow      string
		wantStatus     int
	}{
		{"https://app.example", "OPTIONS", "https://app.example", 204},
		// Answered (the methods in Allow), but without the header that
		// lets a browser go on.
		{"https://evil.example", "OPTIONS", "", 204},
		{"https://app.example", "GET", "https://app.example", 200},
	} {
		req, _ := http.NewRequest(tc.method, e.ts.URL+"/healthz", nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.wantStatus || resp.Header.Get("Access-Control-Allow-Origin") != tc.wantAllow {
			t.Errorf("CORS %s from %s: %d, allow %q", tc.method, tc.origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	slow := newEnv(t, envConfig{scenes: 1, opts: Options{RequestTimeout: Duration(time.Nanosecond)}})
	if st, _ := slow.call("POST", "/v1/search", readKey, map[string]any{"text": "a"}, nil); st != http.StatusGatewayTimeout {
		t.Errorf("request past its timeout: %d, want 504", st)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "imglish.json")
	cfg := `{"addr":"127.0.0.1:9999","keys":[{"name":"app","key":"0123456789abcdefgh","scope":"write"}],"request_timeout":"5s","max_wait":0.002,"cors_origins":["*"]}`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(KeysEnv, "env-key-0123456789ab:read, other-key-0123456789:write")
	o, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if o.Addr != "127.0.0.1:9999" || len(o.Keys) != 3 || o.Keys[1].Scope != ScopeRead || o.Keys[2].Scope != ScopeWrite ||
		time.Duration(o.RequestTimeout) != 5*time.Second || time.Duration(o.MaxWait) != 2*time.Millisecond {
		t.Errorf("config: %+v", o)
	}
	if err := os.WriteFile(path, []byte(`{"adr":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); !errors.Is(err, ErrConfig) {
		t.Errorf("unknown field: %v, want ErrConfig", err)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing config file: no error")
	}
}

// TestOpenAPICoversRoutes fails when a registered route is missing from the
// OpenAPI document (or the document lists a route that does not exist).
func TestOpenAPICoversRoutes(t *testing.T) {
	s, err := New(Deps{DataDir: t.TempDir()}, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	param := regexp.MustCompile(`[:*]([a-z_]+)`)
	registered := map[string]bool{}
	for _, r := range s.engine.Routes() {
		p := param.ReplaceAllString(r.Path, "{$1}")
		key := strings.ToLower(r.Method) + " " + p
		registered[key] = true
		if _, ok := doc.Paths[p][strings.ToLower(r.Method)]; !ok {
			t.Errorf("route %s %s missing from openapi.json", r.Method, p)
		}
	}
	for p, ops := range doc.Paths {
		for m := range ops {
			if !registered[m+" "+p] {
				t.Errorf("openapi.json lists %s %s, which is not registered", m, p)
			}
		}
	}
	if doc.OpenAPI == "" || len(registered) < 20 {
		t.Errorf("openapi %q, %d routes", doc.OpenAPI, len(registered))
	}
}
