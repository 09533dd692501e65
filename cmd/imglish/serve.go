package main

import (
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"imglish/app"
	"imglish/server"
)

func init() { register(newServeCmd) }

func newServeCmd(g *globals) *cobra.Command {
	var (
		addr, config      string
		vecAddr           string
		noAuth, vecNoAuth bool
		roots, watch      []string
		threads, maxBatch int
		maxWait           time.Duration
		cors, proxies     []string
		rateLimit         float64
	)
	cmd := &cobra.Command{
		Use:   "serve [--addr 127.0.0.1:8080] [--config FILE] [--no-auth]",
		Short: "Serve the JSON API (/v1, OpenAPI at /v1/openapi.json) and the web page",
		Long: `serve opens the store at --data and the model at --model and serves the HTTP API and the web page.

API keys come from the config file ("keys": [{"key", "scope": "read"|"write"}]) and from
$IMGLISH_API_KEYS ("key:read,key:write"). Write routes always need a write key; --no-auth
opens every route and is refused unless --addr is a loopback address. Index jobs over HTTP
may only read folders under --index-root (repeatable); --watch folders are indexed on start
and kept in step. Label sets named in the config's "auto_tags" (or stored with "auto_tag": true)
tag every newly indexed image ("auto:<label>"). SIGINT/SIGTERM drain requests in flight, then close the store.

Rate limit (--rate-limit, config "rate_limit" and "rate_burst"): requests/s on /v1 per API key, or
per client address for requests without one; default 50 (burst 100), off with --no-auth (loopback
clients all share one address); a negative value turns it off. The client address is the peer's
unless the peer is a reverse proxy named with --trusted-proxy (config "trusted_proxies"), whose
X-Forwarded-For / X-Real-IP is then believed; from anyone else those headers are ignored.

--vectorizer-addr also serves Weaviate's multi2vec-clip inference contract (POST /vectorize,
GET /meta, /.well-known/live and /ready) on a second address, so a Weaviate collection with
"vectorizer": "multi2vec-clip" gets its vectors from this model (start Weaviate with
ENABLE_MODULES=multi2vec-clip CLIP_INFERENCE_API=http://<that address>). Weaviate sends no API
key: --vectorizer-no-auth opens that door without one; otherwise it takes the read keys (for a
proxy that adds the header). Whenever the door would answer without a key (--vectorizer-no-auth,
--no-auth, or no keys configured), an address that is not loopback or private is refused.
Config keys: "vectorizer_addr", "vectorizer_no_auth".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			opts, err := server.LoadConfig(config)
			if err != nil {
				return err
			}
			fl := cmd.Flags()
			if fl.Changed("addr") || opts.Addr == "" {
				opts.Addr = addr
			}
			if noAuth {
				opts.NoAuth = true
			}
			if fl.Changed("vectorizer-addr") {
				opts.VectorizerAddr = vecAddr
			}
			if vecNoAuth {
				opts.VectorizerNoAuth = true
			}
			opts.IndexRoots = append(opts.IndexRoots, roots...)
			opts.WatchFolders = append(opts.WatchFolders, watch...)
			opts.CORSOrigins = append(opts.CORSOrigins, cors...)
			opts.TrustedProxies = append(opts.TrustedProxies, proxies...)
			if fl.Changed("rate-limit") {
				opts.RateLimit = rateLimit
			}
			if fl.Changed("max-batch") {
				opts.MaxBatch = maxBatch
			}
			if fl.Changed("max-wait") {
				opts.MaxWait = server.Duration(maxWait)
			}
			opts.Logger = g.logger
			dir, err := modelDir(g)
			if err != nil {
				return err
			}
			a, err := openApp(ctx, g, app.Config{
				ModelDir: dir, Model: g.modelOptions(threads), DataDir: g.data,
				AutoTags: opts.AutoTags, AutoTagMinProb: opts.AutoTagMinProb, Logger: g.logger,
			}, "one server per store: use that one, or give this one another --data")
			if err != nil {
				return err
			}
			// Closed (store, then model) after the server has drained.
			defer func() {
				if cerr := a.Close(); cerr != nil {
					g.logger.Error("close", "err", cerr)
				}
			}()
			info := a.Info()
			srv, err := server.New(server.Deps{DataDir: g.data, Encoder: a.Encoder(), Catalog: a.Catalog(), Indexer: a.Indexer(), AutoTagger: a.AutoTagger()}, opts)
			if err != nil {
				return err
			}
			return srv.Run(ctx, func(a net.Addr) {
				fmt.Fprintf(cmd.ErrOrStderr(), "imglish: serving http://%s/ (model %s, %s)\n", a, info.ID, g.storeDesc())
				if va := srv.VectorizerAddr(); va != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "imglish: Weaviate vectorizer (multi2vec-clip contract) on http://%s\n", va)
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address")
	f.StringVar(&config, "config", "", "JSON config file (keys, limits, CORS, index roots, watched folders)")
	f.BoolVar(&noAuth, "no-auth", false, "open every route without a key (only on a loopback --addr)")
	f.StringVar(&vecAddr, "vectorizer-addr", "", "also serve Weaviate's multi2vec-clip vectorizer contract on this address (e.g. 127.0.0.1:8081)")
	f.BoolVar(&vecNoAuth, "vectorizer-no-auth", false, "no API key on the vectorizer address (Weaviate sends none; only on a loopback or private address)")
	f.StringArrayVar(&roots, "index-root", nil, "folder that POST /v1/index/jobs may index (repeatable)")
	f.StringArrayVar(&watch, "watch", nil, "folder to index on start and keep in step (repeatable)")
	f.StringArrayVar(&cors, "cors-origin", nil, "origin allowed to call the API from a browser (repeatable; * for any)")
	f.Float64Var(&rateLimit, "rate-limit", 0, "requests/s per API key (per client address without one); 0: the default (50, off with --no-auth), negative: off")
	f.StringArrayVar(&proxies, "trusted-proxy", nil, "reverse proxy (IP or CIDR) whose X-Forwarded-For names the client (repeatable)")
	f.IntVar(&threads, "threads", 0, "ONNX Runtime threads (default: one per core)")
	f.IntVar(&maxBatch, "max-batch", 16, "most concurrent requests merged into one encoder batch (1 turns coalescing off)")
	f.DurationVar(&maxWait, "max-wait", 3*time.Millisecond, "most a request waits for batch mates under load (never more than a quarter of the last batch's run; a lone request never waits; negative: never)")
	return cmd
}
