package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"imglish/internal/fspath"
)

// Scope is what an API key may do.
type Scope string

// Scopes. Write implies read.
const (
	ScopeRead  Scope = "read"
	ScopeWrite Scope = "write"
)

// APIKey is one accepted key and its scope.
type APIKey struct {
	Name  string `json:"name"`
	Key   string `json:"key"`
	Scope Scope  `json:"scope"`
}

// Options configures a Server. The zero value of every field means its default.
type Options struct {
	// Addr is where Run listens; default 127.0.0.1:8080.
	Addr string `json:"addr"`
	// Keys are the accepted API keys. With none, read routes are open and write
	// routes are refused unless NoAuth is set.
	Keys []APIKey `json:"keys"`
	// NoAuth opens every route without a key. New refuses it unless Addr is a
	// loopback address (the `make run` demo).
	NoAuth bool `json:"no_auth"`
	// MaxUpload caps request bodies in bytes; default 32 MiB (→ 413).
	MaxUpload int64 `json:"max_upload"`
	// MaxPixels caps decoded image size; default 50 megapixels (→ 422).
	MaxPixels int64 `json:"max_pixels"`
	// DecodeBudget caps the pixels of query and uploaded images decoded at
	// once over all requests (app.Options.DecodeBudget; default 64 Mi).
	DecodeBudget int64 `json:"decode_budget"`
	// RequestTimeout bounds each request; default 60 s.
	RequestTimeout Duration `json:"request_timeout"`
	// BodyTimeout is how long a work route (search, classify, embed,
	// uploads) waits for each further 64 KiB of a request body before it
	// answers 408; default 10 s. Bodies are received before a request waits
	// for a max_in_flight slot, so a client that sends slowly holds no slot.
	BodyTimeout Duration `json:"body_timeout"`
	// RateLimit is requests per second on the /v1 routes, counted per API key
	// when the request authenticates with one, else per client address.
	// Zero means the default: 50, except with NoAuth, where it is off (NoAuth
	// is loopback only, where every client has the same address and would
	// share one budget). Negative turns it off. RateBurst is how many requests
	// a key or address may send at once; default 2×RateLimit.
	RateLimit float64 `json:"rate_limit"`
	RateBurst int     `json:"rate_burst"`
	// TrustedProxies are the reverse proxies (IPs or CIDRs) whose
	// X-Forwarded-For or X-Real-IP header is believed for the client address
	// (per-address rate limits, logs). None by default: the client address is
	// then the peer's, and a client cannot pick its own by sending the header.
	TrustedProxies []string `json:"trusted_proxies"`
	// MaxInFlight caps the API requests doing work at once (search, classify,
	// embed, uploads), bounding the memory decodes and encodes take under
	// overload; the rest queue in arrival order until their timeout. Default 4
	// per CPU; negative disables.
	MaxInFlight int `json:"max_in_flight"`
	// CORSOrigins lists the origins allowed to call the API from a browser; "*" allows any.
	CORSOrigins []string `json:"cors_origins"`
	// IndexRoots is the allow-list of folders index jobs may read; /v1/index/jobs
	// refuses others with 403. Empty means no index jobs over HTTP.
	//
	// IndexRoots, WatchFolders, UploadDir and ThumbDir (and Deps.DataDir) may
	// be relative (to the working directory), go through symlinks or hold
	// "..": New makes each canonical (absolute, clean, symlinks resolved),
	// the form the indexer records paths in.
	IndexRoots []string `json:"index_roots"`
	// WatchFolders are indexed on start and watched while the server runs.
	WatchFolders []string `json:"watch_folders"`
	// AutoTags names stored label sets run on every newly indexed image (as
	// well as sets stored with "auto_tag": true); see NewAutoTagger. The
	// caller builds the AutoTagger from these (imglish serve does).
	AutoTags []string `json:"auto_tags"`
	// AutoTagMinProb is the top-label probability a set without its own
	// min_prob needs to tag (default DefaultAutoTagMinProb).
	AutoTagMinProb float64 `json:"auto_tag_min_prob"`
	// UploadDir is where POST /v1/images stores uploads; default <data>/uploads.
	UploadDir string `json:"upload_dir"`
	// ThumbDir caches generated thumbnails; default <data>/thumbs.
	ThumbDir string `json:"thumb_dir"`
	// ThumbSize is the longest side of a thumbnail in pixels; default 256.
	ThumbSize int `json:"thumb_size"`
	// Batch tunes request coalescing for the encoder; MaxBatch 1 turns it off.
	Batch CoalescerOptions `json:"-"`
	// MaxBatch and MaxWait set Batch from a config file (MaxWait negative: no
	// wait, batches form only while the encoder is busy; positive: at most
	// that, and at most a quarter of the previous batch's run; see
	// CoalescerOptions).
	MaxBatch int      `json:"max_batch"`
	MaxWait  Duration `json:"max_wait"`
	// VectorizerAddr, when set, is where Run also serves Weaviate's
	// multi2vec-clip inference contract (/vectorize, /meta, /.well-known/*;
	// see VectorizerHandler), so a Weaviate collection can use imglish as its
	// vectorizer. Empty: not served.
	VectorizerAddr string `json:"vectorizer_addr"`
	// VectorizerNoAuth opens the vectorizer door without an API key, which is
	// how Weaviate's module calls it (it sends no key). Without it the door
	// takes the API's read keys (for a proxy that adds the header). Whenever
	// the door answers without a key (this, NoAuth, or no keys configured),
	// New refuses a VectorizerAddr that is not loopback or private.
	VectorizerNoAuth bool `json:"vectorizer_no_auth"`
	// Logger receives request and lifecycle logs; default slog.Default().
	Logger *slog.Logger `json:"-"`
}

// DefaultRateLimit is Options.RateLimit's default in requests per second per
// API key (or client address), when auth is on.
const DefaultRateLimit = 50

// Duration is a time.Duration that reads "250ms" or "5s" from JSON.
type Duration time.Duration

// UnmarshalJSON accepts a Go duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("parse duration %q: %w", s, errors.Join(ErrConfig, err))
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("parse duration %s: %w", b, errors.Join(ErrConfig, err))
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// KeysEnv names the environment variable holding API keys as
// "key:scope,key:scope" (scope read or write).
const KeysEnv = "IMGLISH_API_KEYS"

// LoadConfig reads a JSON config file into Options (path "" gives the zero
// Options) and appends keys from $IMGLISH_API_KEYS.
func LoadConfig(path string) (Options, error) {
	var o Options
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return o, fmt.Errorf("read config: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			return o, fmt.Errorf("parse config %s: %w", path, errors.Join(ErrConfig, err))
		}
	}
	keys, err := ParseKeys(os.Getenv(KeysEnv))
	if err != nil {
		return o, err
	}
	o.Keys = append(o.Keys, keys...)
	return o, nil
}

// ParseKeys parses "key:scope,key:scope"; a key without a scope is read-only.
func ParseKeys(s string) ([]APIKey, error) {
	var out []APIKey
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, scope, _ := strings.Cut(part, ":")
		if scope == "" {
			scope = string(ScopeRead)
		}
		out = append(out, APIKey{Name: fmt.Sprintf("env-%d", i+1), Key: key, Scope: Scope(scope)})
	}
	return out, nil
}

// withDefaults fills defaults and validates.
func (o Options) withDefaults(dataDir string) (Options, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8080"
	}
	if o.MaxUpload <= 0 {
		o.MaxUpload = 32 << 20
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = 50_000_000
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = Duration(60 * time.Second)
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = Duration(10 * time.Second)
	}
	if o.RateLimit == 0 {
		o.RateLimit = DefaultRateLimit
		if o.NoAuth {
			o.RateLimit = -1
		}
	}
	if o.RateBurst <= 0 && o.RateLimit > 0 {
		o.RateBurst = max(1, int(2*o.RateLimit))
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = 4 * runtime.GOMAXPROCS(0)
	}
	if o.ThumbSize <= 0 {
		o.ThumbSize = 256
	}
	if o.UploadDir == "" {
		o.UploadDir = filepath.Join(dataDir, "uploads")
	}
	if o.ThumbDir == "" {
		o.ThumbDir = filepath.Join(dataDir, "thumbs")
	}
	if o.Batch.MaxBatch == 0 {
		o.Batch.MaxBatch = o.MaxBatch
	}
	if o.Batch.MaxWait == 0 {
		o.Batch.MaxWait = time.Duration(o.MaxWait)
	}
	if o.Batch.MaxBatch == 1 && o.Batch.Workers == 0 {
		// Coalescing off: every request runs its own encoder call, concurrently,
		// as a server without a batcher would.
		o.Batch.Workers = 64
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	seen := map[string]bool{}
	for i, k := range o.Keys {
		switch k.Scope {
		case ScopeRead, ScopeWrite:
		default:
			return o, fmt.Errorf("%w: key %d has scope %q (want read or write)", ErrConfig, i+1, k.Scope)
		}
		if len(k.Key) < 16 {
			return o, fmt.Errorf("%w: key %d is shorter than 16 characters", ErrConfig, i+1)
		}
		if seen[k.Key] {
			return o, fmt.Errorf("%w: key %d is listed twice", ErrConfig, i+1)
		}
		seen[k.Key] = true
	}
	if o.NoAuth && !IsLoopback(o.Addr) {
		return o, fmt.Errorf("%w: auth can only be disabled on a loopback address, not %q", ErrConfig, o.Addr)
	}
	// The vectorizer door answers without a key under NoAuth, under
	// VectorizerNoAuth, and (as the read routes do) when no keys are
	// configured: then it must not listen beyond loopback or a private range.
	keyless := o.NoAuth || o.VectorizerNoAuth || len(o.Keys) == 0
	if (o.VectorizerAddr != "" || o.VectorizerNoAuth) && keyless && !isPrivate(o.VectorizerAddr) {
		return o, fmt.Errorf("%w: the vectorizer door answers without an API key here (--no-auth, --vectorizer-no-auth or no keys configured), so it must listen on a loopback or private address, not %q", ErrConfig, o.VectorizerAddr)
	}
	o.Keys = slices.Clone(o.Keys)
	// Every path is made canonical here, once, in the form the indexer
	// records (fspath.Canonical: absolute, clean, symlinks resolved), so that
	// upload lookups, delete cleanups and allow-list checks compare like with
	// like whatever form the flag, config or caller used.
	for _, p := range []*string{&o.UploadDir, &o.ThumbDir} {
		c, err := fspath.Canonical(*p)
		if err != nil {
			return o, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		*p = c
	}
	var err error
	if o.IndexRoots, err = canonicalAll("index root", o.IndexRoots); err != nil {
		return o, err
	}
	if o.WatchFolders, err = canonicalAll("watch folder", o.WatchFolders); err != nil {
		return o, err
	}
	return o, nil
}

// canonicalAll returns a canonical copy of paths.
func canonicalAll(what string, paths []string) ([]string, error) {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		c, err := fspath.Canonical(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %s %q: %w", ErrConfig, what, p, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// IsLoopback reports whether addr ("host:port") binds only to the loopback
// interface. An empty host (all interfaces) is not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isPrivate reports whether addr ("host:port") binds only to a loopback or
// private-range (RFC 1918, RFC 4193) address.
func isPrivate(addr string) bool {
	if IsLoopback(addr) {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsPrivate()
}
