package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"imglish/app"
	"imglish/demo/scene"
	"imglish/encoder"
	"imglish/encoder/convert"
	"imglish/indexer"
	"imglish/internal/testenv"
	"imglish/model"
	"imglish/store"
	"imglish/vstore"
)

// Test keys (16+ characters, as Options requires).
const (
	readKey  = "read-key-0123456789abcdef"
	writeKey = "write-key-0123456789abcdef"
)

func repoRoot(t testing.TB) string { return testenv.RepoRoot(t) }

// testModel converts the model the tests run: the trained demo model when its
// checkpoint is in testdata/models/demo and tiny is false, else the tiny
// reference fixture (random weights, so only vector-level assertions hold)
// with the demo tokenizer. trained reports which.
func testModel(t testing.TB, tiny bool) (dir string, trained bool) {
	t.Helper()
	root := repoRoot(t)
	demoDir := filepath.Join(root, "testdata", "models", "demo")
	ckpt, size := filepath.Join(root, "testdata", "reference", "tiny.pth"), 32
	if m, _ := filepath.Glob(filepath.Join(demoDir, "*.pth")); len(m) == 1 && !tiny {
		ckpt, size, trained = m[0], 0, true
	}
	// A checkpoint being trained can be tried before it is committed.
	if p := os.Getenv("IMGLISH_TEST_DEMO_CHECKPOINT"); p != "" && !tiny {
		ckpt, size, trained = p, 0, true
	}
	dir = filepath.Join(t.TempDir(), "model")
	_, err := convert.Convert(context.Background(), convert.Options{
		Checkpoint: ckpt, OutDir: dir, ImageSize: size, Tokenizer: filepath.Join(demoDir, "demo.model"),
	})
	if err != nil {
		t.Fatalf("convert %s: %v", ckpt, err)
	}
	return dir, trained
}

// env is a running server on a real store on disk, a real ORT model and a
// demo collection indexed by the real indexer.
type env struct {
	t       testing.TB
	srv     *Server
	ts      *httptest.Server
	db      vstore.Store
	model   *Model
	ix      *indexer.Indexer
	cat     Catalog
	data    string
	photos  string
	trained bool
	scenes  []scene.Scene
	tagger  *AutoTagger
	spec    *specChecker
}

type envConfig struct {
	scenes int
	opts   Options
	// data is the data dir as the server is given it (relative, through a
	// symlink, with ".."); default an absolute temp dir.
	data string
	// rateLimitDefault keeps opts.RateLimit 0 (the server's default);
	// otherwise a zero RateLimit is turned off for the test.
	rateLimitDefault bool
	// labelSets are stored before indexing; opts.AutoTags (and sets with
	// AutoTag) then tag the scenes through an AutoTagger. tagHook, if set,
	// runs before each image is tagged.
	labelSets map[string]LabelSet
	tagHook   func()
	// tinyModel runs the tiny reference fixture instead of the demo model
	// (a model that is not the demo model).
	tinyModel bool
	// embedHook, if set, runs before each batch of n images the indexer
	// embeds (its runs and uploads alike); an error fails the batch.
	embedHook func(ctx context.Context, n int) error
	// encoder, if set, wraps the model the server is given (not the
	// indexer's encoder).
	encoder func(*Model) Encoder
	// store, if set, is the vector store the env runs on instead of an
	// embedded store under data (the test opens and closes it; a store
	// that is a vstore.Checker is checked at cleanup all the same).
	store vstore.Store
	// embedded keeps the env on the embedded store whatever
	// IMGLISH_TEST_BACKEND says (a test comparing the backends).
	embedded bool
}

// hookedEmbedder is the real model with envConfig.embedHook before each batch.
type hookedEmbedder struct {
	*model.Model
	hook func(ctx context.Context, n int) error
}

func (h hookedEmbedder) EmbedImages(ctx context.Context, pixels []float32, n int) ([][]float32, error) {
	if err := h.hook(ctx, n); err != nil {
		return nil, err
	}
	return h.Model.EmbedImages(ctx, pixels, n)
}

func newEnv(t testing.TB, cfg envConfig) *env {
	t.Helper()
	ctx := context.Background()
	mdir, trained := testModel(t, cfg.tinyModel)
	// The scenes' images folder; their captions.tsv and scenes.jsonl lie beside it.
	e := &env{t: t, data: cfg.data, photos: filepath.Join(t.TempDir(), "scenes", scene.ImagesDir), trained: trained}
	if e.data == "" {
		e.data = filepath.Join(t.TempDir(), "data")
	}
	var err error
	e.db = cfg.store
	if e.db == nil && !cfg.embedded {
		e.db = backendStore(t) // nil: the embedded store
	}
	if e.db == nil {
		db, err := store.Open(ctx, filepath.Join(e.data, "store"), store.Options{MemTableSize: 4 << 20})
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		e.db = db
		t.Cleanup(func() {
			if err := db.Close(); err != nil {
				t.Errorf("close store: %v", err)
			}
		})
	}
	core, err := model.Open(ctx, mdir, model.Options{Encoder: encoder.Options{Threads: 1}})
	if err != nil {
		t.Fatalf("open model: %v", err)
	}
	t.Cleanup(func() {
		if c, ok := e.db.(vstore.Checker); ok {
			if err := c.Check(context.Background()); err != nil {
				t.Errorf("store check: %v", err)
			}
		}
		if err := core.Close(); err != nil {
			t.Errorf("close model: %v", err)
		}
	})
	if e.model, err = app.NewModel(core); err != nil {
		t.Fatal(err)
	}
	ixOpts := indexer.Options{Store: e.db, Encoder: core, Workers: 2, MaxWait: 20e6}
	if cfg.embedHook != nil {
		ixOpts.Encoder = hookedEmbedder{Model: core, hook: cfg.embedHook}
	}
	if e.tagger = e.autoTagger(cfg); e.tagger != nil {
		ixOpts.Tagger = indexer.TaggerFunc(func(ctx context.Context, vec []float32) ([]string, error) {
			if cfg.tagHook != nil {
				cfg.tagHook()
			}
			return e.tagger.Tags(ctx, vec)
		})
	}
	if e.ix, err = indexer.New(ixOpts); err != nil {
		t.Fatal(err)
	}
	info := e.model.Info()
	if e.cat, err = app.NewCatalog(e.db, e.ix, info.ID, info.Dim); err != nil {
		t.Fatal(err)
	}
	if cfg.scenes > 0 {
		gen, err := scene.New(scene.Options{Seed: 7, Split: scene.Test})
		if err != nil {
			t.Fatal(err)
		}
		if err := scene.WriteDataset(ctx, filepath.Dir(e.photos), gen, scene.DatasetOptions{N: cfg.scenes, Size: 96}); err != nil {
			t.Fatalf("write scenes: %v", err)
		}
		for i := range cfg.scenes {
			e.scenes = append(e.scenes, gen.Scene(i))
			// Distinct dates (scene i is i hours after the base) for date sorting and filters.
			mt := sceneTime(i)
			if err := os.Chtimes(e.scenePath(i), mt, mt); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.ix.Run(ctx, e.photos); err != nil {
			t.Fatalf("index scenes: %v", err)
		}
	}
	opts := cfg.opts
	if opts.Keys == nil && !opts.NoAuth {
		opts.Keys = []APIKey{{Name: "reader", Key: readKey, Scope: ScopeRead}, {Name: "writer", Key: writeKey, Scope: ScopeWrite}}
	}
	if opts.RateLimit == 0 && !cfg.rateLimitDefault {
		opts.RateLimit = -1
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Addr == "" {
		// Never the default 127.0.0.1:8080: a test that Runs the server must
		// not collide with `make run` or another test.
		opts.Addr = "127.0.0.1:0"
	}
	if opts.IndexRoots == nil {
		opts.IndexRoots = []string{e.photos}
	}
	var srvEnc Encoder = e.model
	if cfg.encoder != nil {
		srvEnc = cfg.encoder(e.model)
	}
	e.srv, err = New(Deps{DataDir: e.data, Encoder: srvEnc, Catalog: e.cat, Indexer: e.ix, AutoTagger: e.tagger}, opts)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	// Every response the tests get is checked against openapi.json.
	e.spec = newSpecChecker(t, e.srv.engine)
	e.ts = httptest.NewServer(e.spec.handler(t, e.srv.Handler()))
	t.Cleanup(func() {
		e.ts.Close()
		e.srv.Close()
	})
	return e
}

// setAutoTags changes the server's configured auto-tag label sets
// (Options.AutoTags), which its core takes at New, by building the core
// again; no request may be in flight.
func (e *env) setAutoTags(names ...string) {
	e.t.Helper()
	e.srv.opts.AutoTags = names
	old := e.srv.app
	if err := e.srv.initDeps(); err != nil {
		e.t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		e.t.Fatal(err)
	}
}

// call sends a request with an optional key and JSON body (or raw bytes with
// contentType) and decodes a JSON answer into out when out is not nil.
func (e *env) call(method, path, key string, body any, out any) (int, http.Header) {
	e.t.Helper()
	return e.callWith(method, path, key, body, nil, out)
}

// callWith is call with extra request headers.
func (e *env) callWith(method, path, key string, body any, header map[string]string, out any) (int, http.Header) {
	e.t.Helper()
	var r io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case rawBody:
		r, ct = bytes.NewReader(b.data), b.contentType
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, e.ts.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: decode %q: %v", method, path, truncate(data), err)
		}
	}
	if resp.StatusCode >= 400 {
		var eb errorBody
		if err := json.Unmarshal(data, &eb); err != nil || eb.Error.Code == "" {
			e.t.Errorf("%s %s: status %d without a JSON error body: %q", method, path, resp.StatusCode, truncate(data))
		} else if m := goInternals.FindString(eb.Error.Message); m != "" {
			e.t.Errorf("%s %s: status %d: message %q shows Go internals (%q)", method, path, resp.StatusCode, eb.Error.Message, m)
		}
	}
	return resp.StatusCode, resp.Header
}

type rawBody struct {
	data        []byte
	contentType string
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// scenePath is the file of demo scene i.
func (e *env) scenePath(i int) string {
	return filepath.Join(e.photos, fmt.Sprintf("test-%06d.png", i))
}

// sceneTime is the modification time given to scene i.
func sceneTime(i int) time.Time {
	return time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
}

// itemID is the id of scene i's item.
func (e *env) itemID(i int) string {
	e.t.Helper()
	it, err := e.db.ItemByPath(e.scenePath(i))
	if err != nil {
		e.t.Fatalf("scene %d not indexed: %v", i, err)
	}
	return it.ID
}
