package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"
)

// ctxKey is the gin context key holding the authenticated key's name.
const ctxKeyName = "imglish.key"

// recoverJSON turns a handler panic into a logged 500 JSON error, so bad input
// can never take the process down.
func (s *Server) recoverJSON() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.writeError(c, fmt.Errorf("%w: panic: %v", ErrInternal, r))
			}
		}()
		c.Next()
	}
}

// observe records per-route latency; the route label is the pattern, never the
// raw path, so ids do not explode the label space.
func (s *Server) observe() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		s.m.requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).
			Observe(time.Since(start).Seconds())
	}
}

// limits bounds every request's body and duration. A body whose declared
// length is over MaxUpload is refused (413) before any of it is read.
func (s *Server) limits() gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > s.opts.MaxUpload {
			c.Header("Connection", "close")
			s.writeError(c, &http.MaxBytesError{Limit: s.opts.MaxUpload})
			return
		}
		if c.Request.Body != nil {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.opts.MaxUpload)
		}
		ctx, cancel := context.WithTimeout(c.Request.Context(), time.Duration(s.opts.RequestTimeout))
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// cors answers preflights and sets Access-Control-Allow-Origin for allowed origins.
func (s *Server) cors() gin.HandlerFunc {
	any := slices.Contains(s.opts.CORSOrigins, "*")
	return func(c *gin.Context) {
		origin := c.GetHeader("Origin")
		if origin == "" || len(s.opts.CORSOrigins) == 0 {
			c.Next()
			return
		}
		if !any && !slices.Contains(s.opts.CORSOrigins, origin) {
			c.Next()
			return
		}
		h := c.Writer.Header()
		if any {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
		}
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-API-Key")
		h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
		h.Set("Access-Control-Expose-Headers", "ETag, Retry-After")
		h.Set("Access-Control-Max-Age", "600")
		if c.Request.Method == http.MethodOptions {
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		c.Next()
	}
}

// keyring checks presented keys in constant time: every configured key is
// compared (by sha256, so lengths never leak) whatever matches first.
type keyring struct {
	keys []hashedKey
}

type hashedKey struct {
	name  string
	sum   [32]byte
	scope Scope
}

func newKeyring(keys []APIKey) keyring {
	var k keyring
	for i, key := range keys {
		name := key.Name
		if name == "" {
			name = "key-" + strconv.Itoa(i+1)
		}
		k.keys = append(k.keys, hashedKey{name: name, sum: sha256.Sum256([]byte(key.Key)), scope: key.Scope})
	}
	return k
}

// lookup returns the key's name and scope, or ok false.
func (k keyring) lookup(presented string) (name string, scope Scope, ok bool) {
	sum := sha256.Sum256([]byte(presented))
	for _, hk := range k.keys {
		if subtle.ConstantTimeCompare(sum[:], hk.sum[:]) == 1 {
			name, scope, ok = hk.name, hk.scope, true
		}
	}
	return name, scope, ok
}

// presentedKey reads "Authorization: Bearer KEY" or "X-API-Key: KEY".
func presentedKey(c *gin.Context) string {
	if v := c.GetHeader("X-API-Key"); v != "" {
		return v
	}
	// The scheme is case-insensitive (RFC 9110 §11.1).
	scheme, v, ok := strings.Cut(strings.TrimSpace(c.GetHeader("Authorization")), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(v)
	}
	return ""
}

// require enforces a scope. Write routes need a write key unless NoAuth (only
// possible on loopback); read routes need a key only when keys are configured.
func (s *Server) require(scope Scope) gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.opts.NoAuth {
			c.Next()
			return
		}
		key := presentedKey(c)
		if key == "" {
			if scope == ScopeRead && len(s.keys.keys) == 0 {
				c.Next()
				return
			}
			s.writeError(c, fmt.Errorf("%w: send Authorization: Bearer <key> or X-API-Key", ErrUnauthorized))
			return
		}
		name, have, ok := s.keys.lookup(key)
		if !ok {
			// A wrong key counts against its address's budget, so that
			// keys cannot be guessed faster than the rate limit.
			if s.rl != nil && !s.rl.allow("ip:"+c.ClientIP(), time.Now()) {
				s.writeError(c, ErrRateLimited)
				return
			}
			s.writeError(c, ErrUnauthorized)
			return
		}
		if scope == ScopeWrite && have != ScopeWrite {
			s.writeError(c, fmt.Errorf("%w: key %q has scope %s, route needs write", ErrForbidden, name, have))
			return
		}
		c.Set(ctxKeyName, name)
		c.Next()
	}
}

// rateLimiter keeps one token bucket per key (or client address without one).
type rateLimiter struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	byKey map[string]*limiterEntry
	sweep time.Time
}

type limiterEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

func (r *rateLimiter) allow(who string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byKey == nil {
		r.byKey = map[string]*limiterEntry{}
	}
	// Forget idle clients now and then so the map stays bounded.
	if now.Sub(r.sweep) > time.Minute {
		for k, e := range r.byKey {
			if now.Sub(e.seen) > 10*time.Minute {
				delete(r.byKey, k)
			}
		}
		r.sweep = now
	}
	e, ok := r.byKey[who]
	if !ok {
		e = &limiterEntry{lim: rate.NewLimiter(r.limit, r.burst)}
		r.byKey[who] = e
	}
	e.seen = now
	return e.lim.AllowN(now, 1)
}

// rateLimit answers 429 once a key (or address) exceeds its budget.
func (s *Server) rateLimit() gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.rl == nil {
			c.Next()
			return
		}
		who := "ip:" + c.ClientIP()
		if name := c.GetString(ctxKeyName); name != "" {
			who = "key:" + name
		}
		if !s.rl.allow(who, time.Now()) {
			s.writeError(c, ErrRateLimited)
			return
		}
		c.Next()
	}
}

// admit bounds the requests doing work at once. Waiters are released in
// arrival order (a channel's blocked senders queue FIFO); one that reaches its
// deadline while waiting gets 504. A request's body is received first
// (receiveBody), so that a client sending slowly, or not at all, holds no
// slot while the others wait.
func (s *Server) admit() gin.HandlerFunc {
	if s.opts.MaxInFlight < 0 {
		return func(c *gin.Context) { c.Next() }
	}
	slots := make(chan struct{}, s.opts.MaxInFlight)
	// As many body bytes as the slots' requests could hold when bodies were
	// read inside them, so that receiving first bounds memory as before.
	bodies := semaphore.NewWeighted(int64(s.opts.MaxInFlight) * (s.opts.MaxUpload + bodyStep))
	depth := s.m.queueDepth.WithLabelValues("admission")
	return func(c *gin.Context) {
		c.Set(ctxArrived, !s.draining.Load())
		held, err := s.receiveBody(c, bodies)
		defer bodies.Release(held)
		if err != nil {
			// Else net/http would read what is left of the body before
			// answering, with no deadline.
			c.Header("Connection", "close")
			s.writeError(c, err)
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			depth.Inc()
			select {
			case slots <- struct{}{}:
				depth.Dec()
			case <-c.Request.Context().Done():
				depth.Dec()
				s.writeError(c, fmt.Errorf("%w: waiting for a free slot: %w", ErrTimeout, c.Request.Context().Err()))
				return
			}
		}
		defer func() { <-slots }()
		c.Next()
	}
}

// ctxArrived is the gin context key admit sets: whether the request came
// before the server began draining (see readyFor).
const ctxArrived = "imglish.arrived"

// bodyStep is how much of a body receiveBody reads at a time, taking as
// many bytes of the body budget first.
const bodyStep = 64 << 10

// receiveBody reads the request body into memory and gives the request a
// reader over it. Each step of bodyStep bytes waits for room in budget
// (with the request's context: a 504 when it ends first) and must arrive
// within Options.BodyTimeout (else ErrBodyTimeout, a 408), so that a
// stalled client holds its connection and the bytes it sent, for a
// bounded time, and nothing else. It returns the bytes it took from
// budget, which the caller gives back when the request is done, error or
// not.
func (s *Server) receiveBody(c *gin.Context, budget *semaphore.Weighted) (int64, error) {
	r := c.Request
	if r.Body == nil || r.Body == http.NoBody {
		return 0, nil
	}
	rc := http.NewResponseController(c.Writer)
	end := time.Now().Add(time.Duration(s.opts.RequestTimeout))
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	var buf bytes.Buffer
	var held int64
	for {
		if err := budget.Acquire(r.Context(), bodyStep); err != nil {
			return held, fmt.Errorf("%w: waiting for room to receive the body: %w", ErrTimeout, err)
		}
		held += bodyStep
		// Not supported by every writer (a test recorder): then the
		// server's ReadTimeout alone bounds the read.
		dl := time.Now().Add(time.Duration(s.opts.BodyTimeout))
		if dl.After(end) {
			dl = end
		}
		_ = rc.SetReadDeadline(dl)
		_, err := io.CopyN(&buf, r.Body, bodyStep)
		if err == io.EOF {
			break
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return held, fmt.Errorf("%w: no more of the body for %s", ErrBodyTimeout, time.Duration(s.opts.BodyTimeout))
		}
		if err != nil {
			return held, bodyReadError(err)
		}
	}
	r.Body = newReceived(buf.Bytes())
	return held, nil
}

// received is a request body that receiveBody read in full: readBody hands
// its bytes to the handler as they are, where io.ReadAll would copy them
// once more into a buffer of its own.
type received struct {
	*bytes.Reader
	b []byte
}

func newReceived(b []byte) *received { return &received{Reader: bytes.NewReader(b), b: b} }

// Close implements io.Closer; there is nothing to release.
func (*received) Close() error { return nil }

// readBody reads the rest of r: for a received body the unread part of the
// bytes themselves, else io.ReadAll. The caller must not modify the result.
func readBody(r io.Reader) ([]byte, error) {
	if rb, ok := r.(*received); ok {
		rest := rb.b[len(rb.b)-rb.Len():]
		_, _ = rb.Seek(0, io.SeekEnd) // as ReadAll leaves it
		return rest, nil
	}
	return io.ReadAll(r)
}
