package weaviate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"imglish/vstore"
)

// Consistency levels of Weaviate's replicated reads and writes.
const (
	ConsistencyOne    = "ONE"
	ConsistencyQuorum = "QUORUM"
	ConsistencyAll    = "ALL"
)

// Options configures Open. The zero value of every field but URLs means
// its default.
type Options struct {
	// URLs are the HTTP base addresses of the cluster's nodes
	// (http://host:8080); requests go to one and move to the next when it
	// fails. Required.
	URLs []string
	// GRPC are the nodes' gRPC addresses (host:port; Weaviate's GRPC_PORT,
	// 50051 unless set), one per URL in the same order. When set, object
	// batches and the exact scans' vector reads go over gRPC, with vectors
	// as raw float32 bytes instead of JSON numbers; everything else stays
	// REST and GraphQL. Empty: REST for both.
	GRPC []string
	// APIKey is sent as a bearer token when set.
	APIKey string
	// Namespace prefixes every class this store uses (a capital letter,
	// then letters, digits and '_'); default "Imglish". Two stores with
	// different namespaces share a cluster without seeing each other.
	Namespace string
	// Replicas is the replication factor of the classes this store
	// creates; default: the store's existing items class's, else
	// min(3, live nodes). Existing classes keep theirs.
	Replicas int
	// Shards is the shard count of the classes this store creates;
	// default: the store's existing items class's, else the live node
	// count.
	Shards int
	// Consistency is the level of every write and of the reads that take
	// one (ONE, QUORUM, ALL); default QUORUM.
	Consistency string
	// Timeout bounds each lookup that has no context (Item, Value, ...);
	// default 30 s.
	Timeout time.Duration
	// AttemptTimeout bounds each attempt of a request to one node; when it
	// passes, the request is retried on the next node like a failed one.
	// Schema and node-list reads get at most 10 s of it. Default 20 s: a
	// third of the server's request timeout, so that a write to a node
	// that lost its quorum is tried elsewhere and a request that cannot be
	// served ends as unavailable (503), not as its own deadline.
	//
	// A node that takes a request and never answers must not stall the
	// store: Weaviate forwards a schema read to the Raft leader and waits
	// for it without a deadline, so one sent while the leader is being
	// killed waits until that leader comes back
	// (TestNodeKilledWhileIndexing: the indexer stalled for minutes with
	// the killed node down).
	AttemptTimeout time.Duration
	// Retries is how many times a failed request is retried (on the next
	// node, after an exponential backoff from Backoff, capped at 5 s);
	// default 5, negative: none.
	Retries int
	// Backoff is the first retry's wait; default 200 ms.
	Backoff time.Duration
	// BatchSize is the number of objects per batch request; default 500.
	BatchSize int
	// MaxResults is the cluster's QUERY_MAXIMUM_RESULTS (default 10,000):
	// an approximate search asks for at most this many neighbours before
	// it falls back to an exact scan.
	MaxResults int
	// HTTPClient sends the requests; nil uses a client of its own.
	HTTPClient *http.Client
	// Logger receives retries and lookup failures; nil discards them.
	Logger *slog.Logger
}

var namespaceRE = regexp.MustCompile(`^[A-Z][_0-9A-Za-z]{0,80}$`)

// Store is a vstore.Store kept in a Weaviate cluster. It is safe for
// concurrent use: reads and searches run alongside, writes (Apply,
// CreateSpace, DropSpace) one at a time per Store.
type Store struct {
	c           *client
	grpc        *grpcNodes // nil: REST batches and scans
	opts        Options
	cl          string
	replicated  bool // classes have a replication factor > 1: GraphQL takes consistencyLevel
	itemsClass  string
	valuesClass string
	blobsClass  string

	wmu    sync.Mutex // serialises writes
	mu     sync.RWMutex
	spaces map[string]spaceInfo // guarded by mu
	closed atomic.Bool
}

// spaceInfo is a space and the class that holds it.
type spaceInfo struct {
	vstore.Space
	class string
}

// spaceDesc is what a space's class description holds, so that a store
// opened later (or another indexer) finds the space's configuration in
// the schema itself.
type spaceDesc struct {
	Imglish string `json:"imglish"`
	vstore.Space
}

// Open connects to the cluster at opts.URLs, creates the store's fixed
// classes (items, values, blobs) when absent, and loads the spaces. It
// fails with ErrConfig for unusable options and ErrUnavailable when no
// node answers.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if len(opts.URLs) == 0 {
		return nil, fmt.Errorf("%w: no URL", ErrConfig)
	}
	urls := make([]string, len(opts.URLs))
	for i, u := range opts.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, fmt.Errorf("%w: url %q", ErrConfig, u)
		}
		urls[i] = strings.TrimRight(u, "/")
	}
	if len(opts.GRPC) > 0 && len(opts.GRPC) != len(opts.URLs) {
		return nil, fmt.Errorf("%w: %d gRPC addresses for %d URLs (one per node, in the same order)", ErrConfig, len(opts.GRPC), len(opts.URLs))
	}
	for _, a := range opts.GRPC {
		if h, p, err := net.SplitHostPort(a); err != nil || h == "" || p == "" {
			return nil, fmt.Errorf("%w: grpc address %q (host:port)", ErrConfig, a)
		}
	}
	if opts.Namespace == "" {
		opts.Namespace = "Imglish"
	}
	if !namespaceRE.MatchString(opts.Namespace) {
		return nil, fmt.Errorf("%w: namespace %q", ErrConfig, opts.Namespace)
	}
	if opts.Consistency == "" {
		opts.Consistency = ConsistencyQuorum
	}
	switch opts.Consistency {
	case ConsistencyOne, ConsistencyQuorum, ConsistencyAll:
	default:
		return nil, fmt.Errorf("%w: consistency %q", ErrConfig, opts.Consistency)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = 20 * time.Second
	}
	if opts.Retries == 0 {
		opts.Retries = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 200 * time.Millisecond
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.MaxResults <= 0 {
		opts.MaxResults = 10000
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Minute}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts.Logger = log
	s := &Store{
		c: &client{urls: urls, apiKey: opts.APIKey, http: hc, retries: max(opts.Retries, 0), backoff: opts.Backoff,
			timeout: opts.AttemptTimeout, log: log},
		opts:        opts,
		cl:          opts.Consistency,
		itemsClass:  opts.Namespace + "_Items",
		valuesClass: opts.Namespace + "_Values",
		blobsClass:  opts.Namespace + "_Blobs",
		spaces:      map[string]spaceInfo{},
	}
	var nodes struct {
		Nodes []struct {
			Name string `json:"name"`
		} `json:"nodes"`
	}
	if err := s.c.do(ctx, http.MethodGet, "/v1/nodes", nil, &nodes); err != nil {
		return nil, fmt.Errorf("open weaviate store: %w", err)
	}
	// /v1/nodes lists the live nodes only. When the store's items class
	// exists, its replication factor and shard count are the defaults and
	// are not checked against the live nodes: a store opened while a node
	// is down (TestNodeKilledWhileIndexing) must neither fail nor create
	// later spaces with fewer replicas than the rest.
	n := max(len(nodes.Nodes), 1)
	var items classSchema
	err := s.c.do(ctx, http.MethodGet, "/v1/schema/"+s.itemsClass, nil, &items)
	exists := err == nil
	if err != nil && !errors.Is(err, errNotFoundStatus) {
		return nil, fmt.Errorf("open weaviate store: read class %s: %w", s.itemsClass, err)
	}
	switch {
	case s.opts.Replicas == 0 && exists:
		s.opts.Replicas = items.ReplicationConfig.Factor
	case s.opts.Replicas == 0:
		s.opts.Replicas = min(3, n)
	}
	if s.opts.Replicas < 0 || (!exists && s.opts.Replicas > n) {
		return nil, fmt.Errorf("%w: %d replicas on %d nodes", ErrConfig, s.opts.Replicas, n)
	}
	switch {
	case s.opts.Shards == 0 && exists && items.ShardingConfig.DesiredCount > 0:
		s.opts.Shards = items.ShardingConfig.DesiredCount
	case s.opts.Shards == 0:
		s.opts.Shards = n
	}
	if s.opts.Shards < 0 {
		return nil, fmt.Errorf("%w: %d shards", ErrConfig, s.opts.Shards)
	}
	for _, c := range []struct {
		name  string
		props []map[string]any
	}{
		{s.itemsClass, itemProperties()},
		{s.valuesClass, keyProperties()},
		{s.blobsClass, keyProperties()},
	} {
		factor, err := s.ensureClass(ctx, c.name, c.props)
		if err != nil {
			return nil, err
		}
		if c.name == s.itemsClass {
			s.replicated = factor > 1
		}
	}
	classes, err := s.readSchema(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.upgradeDeletion(ctx, classes, s.cacheSpaces(classes)); err != nil {
		return nil, err
	}
	if len(opts.GRPC) > 0 {
		var meta struct {
			Version string `json:"version"`
		}
		if err := s.c.do(ctx, http.MethodGet, "/v1/meta", nil, &meta); err != nil {
			return nil, fmt.Errorf("open weaviate store: %w", err)
		}
		if s.grpc, err = newGRPCNodes(opts.GRPC, opts.APIKey, meta.Version); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// deletionStrategy is how the classes this store creates resolve a delete
// against a replica that still holds the object (Weaviate's
// replicationConfig.deletionStrategy).
const deletionStrategy = "TimeBasedResolution"

// upgradeDeletion gives deletionStrategy to the store's classes that an
// earlier imglish created without it (Weaviate's default,
// NoAutomatedResolution, under which a delete acknowledged while a replica
// was down comes back with it): each such class is written back whole with
// only that field changed. A class the cluster refuses to change is logged
// and kept as it is; the store works on, with the old behaviour for it.
// classes is the schema as readSchema gave it, spaces the spaces in it.
func (s *Store) upgradeDeletion(ctx context.Context, classes []json.RawMessage, spaces map[string]spaceInfo) error {
	ours := map[string]bool{s.itemsClass: true, s.valuesClass: true, s.blobsClass: true}
	for _, sp := range spaces {
		ours[sp.class] = true
	}
	for _, raw := range classes {
		var c map[string]any
		if json.Unmarshal(raw, &c) != nil {
			continue
		}
		name, _ := c["class"].(string)
		if !ours[name] {
			continue
		}
		rc, _ := c["replicationConfig"].(map[string]any)
		if rc == nil || rc["deletionStrategy"] == deletionStrategy {
			continue
		}
		was := rc["deletionStrategy"]
		rc["deletionStrategy"] = deletionStrategy
		if err := s.c.do(ctx, http.MethodPut, "/v1/schema/"+name, c, nil); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.opts.Logger.Warn("weaviate class keeps its delete resolution", "class", name, "deletionStrategy", was, "err", err)
			continue
		}
		s.opts.Logger.Info("weaviate class now resolves deletes by time", "class", name, "was", was)
	}
	return nil
}

// classDef is the definition of a class this store creates.
func (s *Store) classDef(name, desc string, props []map[string]any, vector map[string]any) map[string]any {
	if vector == nil {
		vector = map[string]any{"skip": true}
	}
	return map[string]any{
		"class": name, "description": desc, "vectorizer": "none",
		"vectorIndexType": "hnsw", "vectorIndexConfig": vector,
		"properties": props,
		// A delete and a replica that missed it resolve to the later of the
		// two: without a strategy (NoAutomatedResolution) a delete
		// acknowledged while replicas were down came back with them, or its
		// object answered errors at QUORUM for good.
		"replicationConfig": map[string]any{"factor": s.opts.Replicas, "asyncEnabled": s.opts.Replicas > 1, "deletionStrategy": deletionStrategy},
		"shardingConfig":    map[string]any{"desiredCount": s.opts.Shards},
	}
}

type classSchema struct {
	Class             string `json:"class"`
	Description       string `json:"description"`
	ReplicationConfig struct {
		Factor int `json:"factor"`
	} `json:"replicationConfig"`
	ShardingConfig struct {
		DesiredCount int `json:"desiredCount"`
	} `json:"shardingConfig"`
}

// ensureClass creates a fixed class unless it exists, and returns its
// replication factor.
func (s *Store) ensureClass(ctx context.Context, name string, props []map[string]any) (int, error) {
	var cs classSchema
	err := s.c.do(ctx, http.MethodGet, "/v1/schema/"+name, nil, &cs)
	if err == nil {
		return cs.ReplicationConfig.Factor, nil
	}
	if !errors.Is(err, errNotFoundStatus) {
		return 0, fmt.Errorf("read class %s: %w", name, err)
	}
	if err := s.c.do(ctx, http.MethodPost, "/v1/schema", s.classDef(name, "imglish "+name, props, nil), nil); err != nil {
		// Another store may have created it meanwhile.
		if err2 := s.c.do(ctx, http.MethodGet, "/v1/schema/"+name, nil, &cs); err2 == nil {
			return cs.ReplicationConfig.Factor, nil
		}
		return 0, fmt.Errorf("create class %s: %w", name, err)
	}
	return s.opts.Replicas, nil
}

func textProp(name string, array, indexed bool) map[string]any {
	dt := "text"
	if array {
		dt = "text[]"
	}
	p := map[string]any{"name": name, "dataType": []string{dt}, "tokenization": "field", "indexSearchable": false, "indexFilterable": indexed}
	return p
}

// itemProperties are the properties of the items class and of every image
// space's class: the item as JSON (data, the truth) and the fields filters
// use, indexed.
func itemProperties() []map[string]any {
	return []map[string]any{
		textProp("itemId", false, true),
		textProp("hash", false, true),
		textProp("paths", true, true),
		textProp("folders", true, true),
		textProp("mediaType", false, true),
		textProp("camera", false, true),
		textProp("tags", true, true),
		{"name": "date", "dataType": []string{"date"}, "indexRangeFilters": true},
		{"name": "size", "dataType": []string{"int"}},
		{"name": "width", "dataType": []string{"int"}},
		{"name": "height", "dataType": []string{"int"}},
		textProp("data", false, false),
	}
}

func textProperties() []map[string]any {
	return []map[string]any{textProp("textId", false, true), textProp("text", false, false)}
}

func keyProperties() []map[string]any {
	return []map[string]any{textProp("key", false, true), {"name": "data", "dataType": []string{"blob"}}}
}

// spaceClass is the class name of a space: the namespace and a hash of
// the name (space names hold characters class names cannot).
func (s *Store) spaceClass(name string) string {
	h := sha256.Sum256([]byte(name))
	return s.opts.Namespace + "_S" + hex.EncodeToString(h[:8])
}

// loadSpaces reads the spaces from the schema into the cache and returns
// them.
func (s *Store) loadSpaces(ctx context.Context) (map[string]spaceInfo, error) {
	classes, err := s.readSchema(ctx)
	if err != nil {
		return nil, err
	}
	return s.cacheSpaces(classes), nil
}

// readSchema reads the cluster's class definitions, each whole.
func (s *Store) readSchema(ctx context.Context) ([]json.RawMessage, error) {
	var schema struct {
		Classes []json.RawMessage `json:"classes"`
	}
	if err := s.c.do(ctx, http.MethodGet, "/v1/schema", nil, &schema); err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	return schema.Classes, nil
}

// cacheSpaces puts the spaces among classes into the cache and returns them.
func (s *Store) cacheSpaces(classes []json.RawMessage) map[string]spaceInfo {
	spaces := map[string]spaceInfo{}
	prefix := s.opts.Namespace + "_S"
	for _, raw := range classes {
		var c classSchema
		if json.Unmarshal(raw, &c) != nil || !strings.HasPrefix(c.Class, prefix) {
			continue
		}
		var d spaceDesc
		if json.Unmarshal([]byte(c.Description), &d) != nil || d.Imglish != "space" || s.spaceClass(d.Name) != c.Class {
			s.opts.Logger.Warn("weaviate class is not an imglish space; ignored", "class", c.Class)
			continue
		}
		spaces[d.Name] = spaceInfo{Space: d.Space, class: c.Class}
	}
	s.mu.Lock()
	s.spaces = spaces
	s.mu.Unlock()
	return spaces
}

// space returns the named space, reading the schema again when the cache
// does not have it (another store may have created it).
func (s *Store) space(ctx context.Context, name string) (spaceInfo, error) {
	s.mu.RLock()
	sp, ok := s.spaces[name]
	s.mu.RUnlock()
	if ok {
		return sp, nil
	}
	spaces, err := s.loadSpaces(ctx)
	if err != nil {
		return spaceInfo{}, err
	}
	if sp, ok := spaces[name]; ok {
		return sp, nil
	}
	return spaceInfo{}, fmt.Errorf("space %s: %w", name, vstore.ErrNotFound)
}

// forget drops a space from the cache after Weaviate said its class is
// gone.
func (s *Store) forget(name string) {
	s.mu.Lock()
	delete(s.spaces, name)
	s.mu.Unlock()
}

func withDefaults(sp vstore.Space) vstore.Space {
	if sp.M == 0 {
		sp.M = 32 // Weaviate's maxConnections default
	}
	if sp.EfConstruction == 0 {
		sp.EfConstruction = 128
	}
	sp.Count = 0
	return sp
}

// CreateSpace creates a space as a class of its own (cosine distance, the
// space's M and EfConstruction, the store's replicas and shards), or
// succeeds when the same space exists; ErrExists when it exists with
// another kind, model, dimension or index parameters: a store opened for
// another model refuses to use the space.
func (s *Store) CreateSpace(ctx context.Context, sp vstore.Space) error {
	if err := s.usable(); err != nil {
		return err
	}
	if err := vstore.ValidSpace(sp); err != nil {
		return err
	}
	sp = withDefaults(sp)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	old, err := s.space(ctx, sp.Name)
	if err == nil {
		if withDefaults(old.Space) != sp {
			return fmt.Errorf("space %s: %w with %+v", sp.Name, vstore.ErrExists, old.Space)
		}
		return nil
	}
	if !errors.Is(err, vstore.ErrNotFound) {
		return err
	}
	desc, err := json.Marshal(spaceDesc{Imglish: "space", Space: sp})
	if err != nil {
		return err
	}
	props := itemProperties()
	if sp.Kind == vstore.KindTexts {
		props = textProperties()
	}
	class := s.spaceClass(sp.Name)
	def := s.classDef(class, string(desc), props, map[string]any{
		"distance": "cosine", "maxConnections": sp.M, "efConstruction": sp.EfConstruction,
	})
	if err := s.c.do(ctx, http.MethodPost, "/v1/schema", def, nil); err != nil {
		// Another store (another indexer) may have created it meanwhile:
		// the same space is success, another configuration ErrExists.
		if spaces, lerr := s.loadSpaces(ctx); lerr == nil {
			if old, ok := spaces[sp.Name]; ok {
				if withDefaults(old.Space) != sp {
					return fmt.Errorf("space %s: %w with %+v", sp.Name, vstore.ErrExists, old.Space)
				}
				return nil
			}
		}
		return fmt.Errorf("create space %s: %w", sp.Name, err)
	}
	s.mu.Lock()
	s.spaces[sp.Name] = spaceInfo{Space: sp, class: class}
	s.mu.Unlock()
	return nil
}

// DropSpace deletes a space's class with its objects. Items stay.
func (s *Store) DropSpace(ctx context.Context, name string) error {
	if err := s.usable(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	sp, err := s.space(ctx, name)
	if err != nil {
		return err
	}
	err = s.c.do(ctx, http.MethodDelete, "/v1/schema/"+sp.class, nil, nil)
	if err != nil && !errors.Is(err, errNotFoundStatus) {
		return fmt.Errorf("drop space %s: %w", name, err)
	}
	s.forget(name)
	if err != nil {
		return fmt.Errorf("space %s: %w", name, vstore.ErrNotFound)
	}
	return nil
}

// Spaces lists the spaces by name with their object counts (one
// aggregate query per space).
func (s *Store) Spaces() []vstore.Space {
	if s.usable() != nil {
		return nil
	}
	ctx, cancel := s.lookupCtx()
	defer cancel()
	spaces, err := s.loadSpaces(ctx)
	if err != nil {
		s.opts.Logger.Warn("list weaviate spaces", "err", err)
		s.mu.RLock()
		spaces = s.spaces
		s.mu.RUnlock()
	}
	out := make([]vstore.Space, 0, len(spaces))
	for _, sp := range spaces {
		n, err := s.count(ctx, sp.class)
		if err != nil {
			s.opts.Logger.Warn("count weaviate space", "space", sp.Name, "err", err)
		}
		v := sp.Space
		v.Count = n
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b vstore.Space) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// count returns the number of objects in a class.
func (s *Store) count(ctx context.Context, class string) (int, error) {
	var out struct {
		Aggregate map[string][]struct {
			Meta struct {
				Count int `json:"count"`
			} `json:"meta"`
		} `json:"Aggregate"`
	}
	if err := s.c.graphQL(ctx, "{ Aggregate { "+class+" { meta { count } } } }", &out); err != nil {
		return 0, fmt.Errorf("count %s: %w", class, err)
	}
	rows := out.Aggregate[class]
	if len(rows) == 0 {
		return 0, nil
	}
	return rows[0].Meta.Count, nil
}

// lookupCtx bounds a call that has no context of its own.
func (s *Store) lookupCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.opts.Timeout)
}

func (s *Store) usable() error {
	if s.closed.Load() {
		return vstore.ErrClosed
	}
	return nil
}

// Close marks the store closed (later calls fail with ErrClosed) and
// drops idle connections. The data stays in Weaviate. It is idempotent.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.c.http.CloseIdleConnections()
	if s.grpc != nil {
		s.grpc.close()
	}
	return nil
}

var _ vstore.Store = (*Store)(nil)
