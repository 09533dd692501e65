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

	texts  *Coalescer[string, []float32]
	images *Coalescer[[]float32, []float32]

	draining  atomic.Bool
	closeOnce sync.Once
	thumbMu   sync.Mutex
	bg        sync.WaitGroup
	jobs      *jobTable
}

// New validates opts and builds the server around deps (see Deps).
func New(deps Deps, opts Options) (*Server, error) {
	opts, err := opts.withDefaults(deps.DataDir)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics()
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, deps: deps, log: opts.Logger, m: m, keys: newKeyring(opts.Keys), jobs: newJobTable()}
	if opts.RateLimit > 0 {
		s.rl = &rateLimiter{limit: rate.Limit(opts.RateLimit), burst: opts.RateBurst}
	}
	if err := s.initDeps(); err != nil {
		return nil, err
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	if err := e.SetTrustedProxies(opts.TrustedProxies); err != nil {
		return nil, fmt.Errorf("%w: trusted proxies: %w", ErrConfig, err)
	}
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.NoRoute(func(c *gin.Context) { s.writeError(c, fmt.Errorf("%w: %s", ErrNotFound, c.Request.URL.Path)) })
	e.NoMethod(func(c *gin.Context) { s.writeError(c, errMethodNotAllowed) })
	e.Use(s.recoverJSON(), s.observe(), s.cors(), s.limits())
	s.engine = e
	s.routes()
	return s, nil
}

// Handler returns the HTTP handler (for httptest or a custom listener).
func (s *Server) Handler() http.Handler { return s.engine }

// Addr is the configured listen address.
func (s *Server) Addr() string { return s.opts.Addr }

// Run listens on Options.Addr and serves until ctx ends; then it stops taking
// connections, waits up to 15 s for requests in flight, stops the coalescers and
// returns. ready, if not nil, receives the bound address once listening.
func (s *Server) Run(ctx context.Context, ready func(addr net.Addr)) error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.opts.Addr, err)
	}
	return s.Serve(ctx, ln, ready)
}

// Serve is Run on an existing listener, which it closes.
func (s *Server) Serve(ctx context.Context, ln net.Listener, ready func(addr net.Addr)) error {
	hs := &http.Server{
		Handler:           s.engine,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Duration(s.opts.RequestTimeout),
		WriteTimeout:      time.Duration(s.opts.RequestTimeout) + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "auth", !s.opts.NoAuth, "keys", len(s.keys.keys))
	if ready != nil {
		ready(ln.Addr())
	}
	s.startWatching(ctx)
	select {
	case err := <-errc:
		s.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("shutting down: draining requests")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	s.Close()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Close stops the coalescers and waits for background work (index jobs) the
// server started. It is idempotent. It does not close Deps.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.draining.Store(true)
		s.jobs.cancelAll()
		s.bg.Wait()
		if s.texts != nil {
			s.texts.Close()
		}
		if s.images != nil {
			s.images.Close()
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
	admit := s.admit()
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

func (s *Server) handleReadyz(c *gin.Context) {
	if err := s.ready(); err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

func (s *Server) handleMetrics(c *gin.Context) {
	s.refreshGauges()
	promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}).ServeHTTP(c.Writer, c.Request)
}
