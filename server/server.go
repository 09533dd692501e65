package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"imglish/app"
	"imglish/internal/fspath"
)

// Server is the imglish HTTP API and web page. It is safe for concurrent use.
// New builds it, Handler serves it (tests use httptest), Run listens on
// Options.Addr until its context ends and then drains. Close releases the
// coalescers; the caller owns and closes the store, encoder and indexer.
type Server struct {
	opts   Options
	deps   Deps
	log    *slog.Logger
	m      *metrics
	engine *gin.Engine
	keys   keyring
	rl     *rateLimiter
	// admitH bounds the work in flight across both doors (API and vectorizer).
	admitH    gin.HandlerFunc
	vecEngine *gin.Engine
	vecBound  atomic.Pointer[string] // the vectorizer door's bound address, once listening

	// app is the core over deps (nil without an encoder): searches, query
	// embeddings and their coalescers.
	app *app.App

	draining  atomic.Bool
	closeOnce sync.Once
	thumbMu   sync.Mutex
	bg        sync.WaitGroup
	rootDirs  []string // see roots
}

// New validates opts and builds the server around deps (see Deps).
func New(deps Deps, opts Options) (*Server, error) {
	if deps.DataDir != "" {
		dir, err := fspath.Canonical(deps.DataDir)
		if err != nil {
			return nil, fmt.Errorf("%w: data dir: %w", ErrConfig, err)
		}
		deps.DataDir = dir
	}
	opts, err := opts.withDefaults(deps.DataDir)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics()
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, deps: deps, log: opts.Logger, m: m, keys: newKeyring(opts.Keys),
		rootDirs: rootDirs(opts.IndexRoots, opts.WatchFolders)}
	if opts.RateLimit > 0 {
		s.rl = &rateLimiter{limit: rate.Limit(opts.RateLimit), burst: opts.RateBurst}
	}
	if err := s.initDeps(); err != nil {
		return nil, err
	}
	// No gin.SetMode: gin's mode is global, the program's to set (imglish's
	// main sets release mode). In debug mode gin prints the routes.
	e := gin.New()
	if err := e.SetTrustedProxies(opts.TrustedProxies); err != nil {
		return nil, fmt.Errorf("%w: trusted proxies: %w", ErrConfig, err)
	}
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.NoRoute(func(c *gin.Context) { s.writeError(c, fmt.Errorf("%w: %s", ErrNotFound, c.Request.URL.Path)) })
	e.NoMethod(s.noMethod)
	e.Use(s.recoverJSON(), s.observe(), s.cors(), s.limits())
	s.engine = e
	s.admitH = s.admit()
	s.routes()
	s.vecEngine = s.newVectorizerEngine()
	return s, nil
}

// Handler returns the HTTP handler (for httptest or a custom listener).
func (s *Server) Handler() http.Handler { return headAsGet(s.engine) }

// headAsGet answers HEAD as GET on every route (RFC 9110 §9.3.2: the same
// status and headers), which gin does not do by itself: the request is
// routed as a GET, and net/http, which knows the request was a HEAD, sends
// no body.
func headAsGet(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			r = r.Clone(r.Context())
			r.Method = http.MethodGet
		}
		h.ServeHTTP(w, r)
	})
}

// Addr is the configured listen address.
func (s *Server) Addr() string { return s.opts.Addr }

// VectorizerAddr is the address the vectorizer door listens on: the bound
// one once Run listens (so port 0 reads as the port chosen), before that the
// configured Options.VectorizerAddr ("" when the door is not served).
func (s *Server) VectorizerAddr() string {
	if a := s.vecBound.Load(); a != nil {
		return *a
	}
	return s.opts.VectorizerAddr
}

// Run listens on Options.Addr (and on Options.VectorizerAddr when set) and
// serves until ctx ends; then it stops taking connections, waits up to 15 s
// for requests in flight, stops the coalescers and returns. ready, if not
// nil, receives the API's bound address once listening.
func (s *Server) Run(ctx context.Context, ready func(addr net.Addr)) error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.opts.Addr, err)
	}
	var vln net.Listener
	if s.opts.VectorizerAddr != "" {
		if vln, err = net.Listen("tcp", s.opts.VectorizerAddr); err != nil {
			ln.Close()
			return fmt.Errorf("listen %s (vectorizer): %w", s.opts.VectorizerAddr, err)
		}
	}
	return s.serve(ctx, ln, vln, ready)
}

// Serve is Run on an existing listener for the API, which it closes; the
// vectorizer door is not served (see VectorizerHandler).
func (s *Server) Serve(ctx context.Context, ln net.Listener, ready func(addr net.Addr)) error {
	return s.serve(ctx, ln, nil, ready)
}

func (s *Server) serve(ctx context.Context, ln, vln net.Listener, ready func(addr net.Addr)) error {
	httpServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       time.Duration(s.opts.RequestTimeout),
			WriteTimeout:      time.Duration(s.opts.RequestTimeout) + 5*time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		}
	}
	servers := []*http.Server{httpServer(s.Handler())}
	listeners := []net.Listener{ln}
	if vln != nil {
		servers = append(servers, httpServer(s.vecEngine))
		listeners = append(listeners, vln)
		bound := vln.Addr().String()
		s.vecBound.Store(&bound)
	}
	errc := make(chan error, len(servers))
	for i, hs := range servers {
		go func() { errc <- hs.Serve(listeners[i]) }()
	}
	s.log.Info("serving", "addr", ln.Addr().String(), "auth", !s.opts.NoAuth, "keys", len(s.keys.keys),
		"rate_limit", max(0, s.opts.RateLimit), "trusted_proxies", len(s.opts.TrustedProxies))
	if vln != nil {
		s.log.Info("serving the Weaviate vectorizer contract", "addr", vln.Addr().String(), "auth", !s.opts.NoAuth && !s.opts.VectorizerNoAuth)
	}
	if ready != nil {
		ready(ln.Addr())
	}
	// The recall self-check stops with wctx, also when a listener fails
	// first, so that Close does not wait for ctx.
	wctx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	s.startWatching(wctx)
	var first error
	select {
	case first = <-errc:
	case <-ctx.Done():
	}
	stopWatching()
	s.draining.Store(true)
	s.log.Info("shutting down: draining requests")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var errs []error
	for _, hs := range servers {
		if err := hs.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
	}
	s.Close()
	if first != nil {
		return errors.Join(append(errs, fmt.Errorf("serve: %w", first))...)
	}
	for range servers {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("serve: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Close stops taking work, waits for the server's background work (the
// recall self-check, which stops with Run's context), then closes its core,
// which cancels the index, watch and retag jobs, waits for them and stops the
// coalescers. It is idempotent. It does not close Deps; close them after it.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.draining.Store(true)
		s.bg.Wait()
		if s.app != nil {
			_ = s.app.Close() // an App of app.New stops only its jobs and coalescers, which cannot fail
		}
	})
}

func (s *Server) routes() {
	e := s.engine
	e.GET("/", s.handleIndexPage)
	e.GET("/assets/*file", s.handleAsset)
	e.GET("/healthz", s.handleHealthz)
	e.GET("/readyz", s.handleReadyz)
	e.GET("/metrics", s.handleMetrics)

	read := s.require(ScopeRead)
	write := s.require(ScopeWrite)
	v1 := e.Group("/v1")
	v1.GET("/openapi.json", s.handleOpenAPI)
	admit := s.admitH
	r := v1.Group("", read, s.rateLimit())
	w := v1.Group("", write, s.rateLimit())
	heavy := r.Group("", admit)

	heavy.POST("/search", s.handleSearch)
	heavy.POST("/classify", s.handleClassify)
	heavy.POST("/embed", s.handleEmbed)
	r.GET("/items/:id", s.handleGetItem)
	r.GET("/items/:id/thumbnail", s.handleThumbnail)
	r.GET("/items/:id/original", s.handleOriginal)
	r.GET("/texts/:collection", s.handleGetTexts)
	r.GET("/labelsets/:name", s.handleGetLabelSet)
	r.GET("/folders", s.handleFolders)
	r.GET("/index/jobs/:id", s.handleGetJob)
	r.GET("/index/status", s.handleIndexStatus)

	w.POST("/images", admit, s.handleUploadImage)
	w.DELETE("/items/:id", s.handleDeleteItem)
	w.POST("/texts/:collection", s.handleAddTexts)
	w.DELETE("/texts/:collection", s.handleDeleteTexts)
	w.PUT("/labelsets/:name", s.handlePutLabelSet)
	w.POST("/index/jobs", s.handleCreateJob)
}

func (s *Server) handleHealthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// handleReadyz answers 200 when the server takes requests: its parts are
// set, it is not draining, and its store answers (a remote store is asked,
// within readyzTimeout: a cluster out of reach reads 503, so that a load
// balancer sends requests elsewhere).
func (s *Server) handleReadyz(c *gin.Context) {
	if err := s.ready(); err != nil {
		s.writeError(c, err)
		return
	}
	if s.app != nil {
		ctx, cancel := context.WithTimeout(c.Request.Context(), readyzTimeout)
		defer cancel()
		if err := s.app.Ping(ctx); err != nil {
			s.writeError(c, err)
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// readyzTimeout bounds /readyz's question to a remote store.
const readyzTimeout = 3 * time.Second

func (s *Server) handleMetrics(c *gin.Context) {
	s.refreshGauges()
	promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}).ServeHTTP(c.Writer, c.Request)
}
