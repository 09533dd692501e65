package store

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"imglish/search"
	"imglish/vstore"
)

// SchemaVersion is the layout version this build writes. Opening a store
// with a higher version fails with ErrSchemaVersion.
const SchemaVersion = 1

// Key layout. Node and vector keys end in the big-endian internal id, so a
// prefix scan restores a space in id order.
const (
	keySchema   = "meta/schema"
	prefixItem  = "item/"
	prefixSpace = "space/"
	prefixNode  = "node/" // node/<space>\x00<id BE32> → key, level, links
	prefixVec   = "vec/"  // vec/<space>\x00<id BE32>  → float32 LE
	prefixText  = "text/" // text/<space>\x00<text id> → text
	prefixValue = "kv/"
	prefixBlob  = "blob/"
)

// Options configure Open. The zero value is the default: synced writes,
// no compression, logs discarded.
type Options struct {
	// Logger receives store and Badger messages (Badger's info is logged at
	// debug level). nil discards them.
	Logger *slog.Logger
	// NoSync skips the fsync on commit: writes are then acknowledged before
	// they are durable. Only for tests and benchmarks that rebuild anyway.
	NoSync bool
	// ReadOnly opens without writing (no schema key is created).
	ReadOnly bool
	// MemTableSize is Badger's memtable size in bytes; 0 = Badger's default
	// (64 MiB). Smaller values suit small test stores.
	MemTableSize int64
	// Quantize keeps every image space of QuantizeAfter or more vectors as
	// int8 codes in memory (a quarter of the float vectors' RAM), walking
	// the graph on codes and re-ranking the best candidates exactly with
	// their full vectors read from disk (quant.go). Off: float vectors in
	// memory, as always; a quantised space opens as floats again.
	Quantize bool
	// QuantizeAfter is the vector count at which a space is quantised
	// (its quantizer trained); 0 = 4096.
	QuantizeAfter int
	// Rerank is how many of a quantised walk's best candidates are
	// re-ranked with full vectors (at least k, at most ef): 0 = 4·k but at
	// least 32, search.RerankAll = all of them (search.Options.Rerank).
	Rerank int
	// ValueLogGCInterval is how often an open store reclaims value-log
	// space left by replaced and deleted vectors (see CompactValueLog);
	// 0 = every 10 minutes, negative = never (call CompactValueLog).
	ValueLogGCInterval time.Duration
}

// DB is an imglish store: one Badger directory holding items, vectors per
// space, text collections and each space's HNSW graph, with the graphs and
// item metadata mirrored in memory for search. It is safe for concurrent
// use: searches and reads run alongside one writer at a time.
type DB struct {
	opts Options
	dir  string
	log  *slog.Logger
	bdb  *badger.DB

	wmu sync.Mutex // serialises Apply and space changes

	mu     sync.RWMutex // guards the maps below and closed
	items  map[string]*Item
	byPath map[string]string // path → id; nil until ItemByPath needs it
	byHash map[string]string // hash → id where the hash is not the id
	spaces map[string]*space
	closed bool
	broken error

	// gen counts commits, for the read transactions pooled in txns
	// (quantised re-ranking: quant.go).
	gen  atomic.Uint64
	txns chan *pooledTxn

	// vfiles are the quantised spaces' vector files, by space name
	// (vecfile.go); guarded by wmu (load runs under it or before Open
	// returns).
	vfiles map[string]*vecFile

	gcStop context.CancelFunc // stops gcLoop; nil when it does not run
	gcDone chan struct{}      // closed when gcLoop returns

	closeOnce sync.Once
	closeErr  error
}

// DB is the embedded vstore.Store, with a stream backup, a consistency
// check and a recall measurement.
var (
	_ vstore.Store         = (*DB)(nil)
	_ vstore.Backuper      = (*DB)(nil)
	_ vstore.Checker       = (*DB)(nil)
	_ vstore.RecallChecker = (*DB)(nil)
)

// The space types are vstore's; these names keep store's API.
type (
	// SpaceKind is vstore.SpaceKind.
	SpaceKind = vstore.SpaceKind
	// Space is vstore.Space.
	Space = vstore.Space
)

// Space kinds (see vstore).
const (
	KindImages = vstore.KindImages
	KindTexts  = vstore.KindTexts
)

// spaceRecord is the persisted form of a space.
type spaceRecord struct {
	Space
	Entry uint32       `json:"entry"`
	Top   int          `json:"top"`
	Quant *quantRecord `json:"quant,omitempty"` // quantised spaces' quantizer
}

type space struct {
	cfg   Space
	idx   *search.Index
	texts map[string]string // KindTexts: id → text; guarded by DB.mu
	// quant is the quantizer of a quantised space's index (nil: floats);
	// set by load or, under DB.wmu, maybeQuantize.
	quant *search.Quantizer

	pmu     sync.RWMutex
	pending map[string][]float32 // quantised: the vectors of the commit in flight, by key

	// vf is a quantised space's vector file (nil: re-rank from Badger).
	vf *vecFile
}

// ImageSpace is the conventional name of the image space of a model
// (vstore.ImageSpace).
func ImageSpace(model string) string { return vstore.ImageSpace(model) }

func spaceKey(name string) []byte { return []byte(prefixSpace + name) }

func nodeKey(prefix, name string, n uint32) []byte {
	k := make([]byte, 0, len(prefix)+len(name)+5)
	k = append(k, prefix...)
	k = append(k, name...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, n)
}

func textKey(name, id string) []byte { return []byte(prefixText + name + "\x00" + id) }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// badgerLogger adapts slog to Badger's logger.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Debugf(string, ...any) {}

// valueLogAbove is Badger's value threshold: larger values (vectors of 256
// or more dimensions, long application values) go to the value log, the
// rest (items, nodes, texts) stay in the LSM tree. Badger hands out a value
// from the value log without copying it (the log is mapped), while an
// inline value is copied twice per read, and the LSM tree of a 1M×768
// store shrinks from 3.4 GB of blocks to the small records. Measured with
// TestOpenLarge: see store/doc.go. The price is garbage in the value log
// when vectors are replaced or deleted, which gcValueLog reclaims.
const valueLogAbove = 1 << 10

func badgerOptions(dir string, opts Options, log *slog.Logger) badger.Options {
	bo := badger.DefaultOptions(dir).
		WithSyncWrites(!opts.NoSync).
		WithCompression(options.None).
		WithLogger(badgerLogger{log}).
		WithReadOnly(opts.ReadOnly).
		WithDetectConflicts(false).
		// Uncompressed, unencrypted blocks are read straight from the
		// mapped tables; Badger's block cache would only copy them through
		// its admission policy, which cost about a second of CPU opening a
		// 1M-vector store (TestOpenLarge profile).
		WithBlockCacheSize(0).
		WithValueThreshold(valueLogAbove).
		// Move the memtables flushed at close out of level 0, so the next
		// Open neither merges overlapping tables nor competes with that
		// compaction (the first open after a 1M bulk write took 13.5 s of
		// which about 4 s went to compaction; TestOpenLarge).
		WithCompactL0OnClose(true)
	if opts.MemTableSize > 0 {
		// Badger refuses a value threshold above its max batch size (15% of
		// the memtable).
		bo = bo.WithMemTableSize(opts.MemTableSize).
			WithValueThreshold(min(valueLogAbove, opts.MemTableSize*15/100/2))
	}
	return bo
}

// Open opens (creating if needed) the store in dir and loads every space's
// graph, the item metadata and the text collections into memory; nothing
// is rebuilt. A store written by a newer schema fails with
// ErrSchemaVersion; a record that fails its checksum with ErrCorrupt. A
// store another process (or another DB of this one) holds open fails with
// a *LockedError (ErrLocked); a read-only Open of a directory that is
// missing or holds no store fails with ErrNoStore and creates nothing.
func Open(ctx context.Context, dir string, opts Options) (*DB, error) {
	log := opts.Logger
	if log == nil {
		log = discardLogger()
	}
	if opts.ReadOnly {
		// Badger would create the directory, then refuse it ("no manifest
		// found, required for read-only db").
		if _, err := os.Stat(filepath.Join(dir, badgerManifest)); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open %s: %w", dir, ErrNoStore)
		}
	} else {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create store dir: %w", err)
		}
		if err := removeEmptyMemtables(dir, log); err != nil {
			return nil, err
		}
	}
	bdb, err := badger.Open(badgerOptions(dir, opts, log))
	if err != nil {
		// Badger's lock error keeps no chain to test; probe the lock itself.
		if pid, held := lockedBy(dir, opts.ReadOnly); held {
			return nil, &LockedError{Dir: dir, PID: pid, Err: err}
		}
		return nil, fmt.Errorf("open badger %s: %w", dir, err)
	}
	db := &DB{opts: opts, dir: dir, log: log, bdb: bdb, txns: make(chan *pooledTxn, readTxnPool), vfiles: map[string]*vecFile{}}
	if err := db.checkSchema(); err != nil {
		return nil, errors.Join(err, bdb.Close())
	}
	if err := db.load(ctx); err != nil {
		return nil, errors.Join(err, db.closeVecFiles(), bdb.Close())
	}
	if !opts.ReadOnly {
		keep := map[string]bool{}
		for name := range db.vfiles {
			keep[vecFileName(name)] = true
		}
		if err := removeStrayVecFiles(dir, keep); err != nil {
			log.Warn("store: remove unused vector files", "err", err)
		}
	}
	if iv := cmp.Or(opts.ValueLogGCInterval, defaultValueLogGC); iv > 0 && !opts.ReadOnly {
		gctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		db.gcStop, db.gcDone = stop, make(chan struct{})
		go db.gcLoop(gctx, iv)
	}
	return db, nil
}

// Badger's file names: its manifest (present in every store it has
// opened for writing) and the pid file it writes beside its directory lock.
const (
	badgerManifest = "MANIFEST"
	badgerPIDFile  = "LOCK"
)

// lockPID reads the pid Badger's writer recorded in dir; 0 when none.
func lockPID(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, badgerPIDFile))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// removeEmptyMemtables deletes zero-length Badger memtable files (*.mem). A
// process killed between creating a memtable's write-ahead file and sizing it
// leaves one behind, and Badger then refuses to open the directory ("while
// opening memtables … Create a new file", dgraph-io/badger#2207). An empty
// file holds no entries, so nothing acknowledged is lost by removing it.
func removeEmptyMemtables(dir string, log *slog.Logger) error {
	mems, err := filepath.Glob(filepath.Join(dir, "*.mem"))
	if err != nil {
		return fmt.Errorf("list memtables: %w", err)
	}
	for _, m := range mems {
		st, err := os.Stat(m)
		if err != nil || st.Size() != 0 {
			continue
		}
		if err := os.Remove(m); err != nil {
			return fmt.Errorf("remove empty memtable %s: %w", m, err)
		}
		log.Warn("removed an empty memtable file left by a crash", "file", m)
	}
	return nil
}

func (db *DB) checkSchema() error {
	var ver uint32
	var found, empty bool
	err := db.bdb.View(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte(keySchema))
		if errors.Is(err, badger.ErrKeyNotFound) {
			iter := txn.NewIterator(badger.IteratorOptions{})
			defer iter.Close()
			iter.Rewind()
			empty = !iter.Valid()
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return it.Value(func(v []byte) error {
			if len(v) != 4 {
				return corrupt([]byte(keySchema), "schema value of %d bytes", len(v))
			}
			ver = binary.BigEndian.Uint32(v)
			return nil
		})
	})
	switch {
	case err != nil:
		return fmt.Errorf("read schema: %w", err)
	case found && ver > SchemaVersion:
		return fmt.Errorf("store schema %d, this build reads ≤ %d: %w", ver, SchemaVersion, ErrSchemaVersion)
	case found && ver == 0:
		return corrupt([]byte(keySchema), "schema version 0")
	case found:
		return nil
	case !empty:
		return fmt.Errorf("store holds data but no schema version: %w", ErrCorrupt)
	case db.opts.ReadOnly:
		return nil
	}
	err = db.bdb.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte(keySchema), binary.BigEndian.AppendUint32(nil, SchemaVersion))
	})
	if err != nil {
		return fmt.Errorf("write schema: %w", err)
	}
	return nil
}

func newIndex(s Space) (*search.Index, error) {
	return search.New(indexOptions(s))
}

func indexOptions(s Space) search.Options {
	return search.Options{Dim: s.Dim, M: s.M, EfConstruction: s.EfConstruction, TrackChanges: true}
}

func encodeNode(nd search.Node) []byte {
	b := make([]byte, 0, 16+len(nd.Key)+4*33)
	b = append(b, 1)
	b = appendString(b, nd.Key)
	b = append(b, byte(nd.Level))
	for _, l := range nd.Links {
		b = appendUvarint(b, uint64(len(l)))
		for _, e := range l {
			b = binary.LittleEndian.AppendUint32(b, e)
		}
	}
	return seal(b)
}

// Close flushes and closes the store. It is idempotent; later calls return
// the first call's result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		if db.gcStop != nil {
			db.gcStop()
			<-db.gcDone
		}
		db.wmu.Lock()
		defer db.wmu.Unlock()
		db.mu.Lock()
		db.closed = true
		db.mu.Unlock()
		db.gen.Add(1)
		db.dropTxns()
		verr := db.closeVecFiles()
		if err := db.bdb.Close(); err != nil {
			db.closeErr = fmt.Errorf("close badger: %w", err)
		}
		db.closeErr = errors.Join(db.closeErr, verr)
	})
	return db.closeErr
}

// usable returns ErrClosed (or the breaking error) once the DB cannot
// serve. Caller holds mu (read or write).
func (db *DB) usable() error {
	if db.closed {
		return ErrClosed
	}
	if db.broken != nil {
		return fmt.Errorf("%w: %w", ErrClosed, db.broken)
	}
	return nil
}

// CreateSpace creates a space, or succeeds when one of the same name and
// configuration exists (ErrExists when the configuration differs). Dim is
// required; M and EfConstruction default to 16 and 128.
func (db *DB) CreateSpace(ctx context.Context, s Space) error {
	if err := vstore.ValidSpace(s); err != nil {
		return err
	}
	if s.M == 0 {
		s.M = 16
	}
	if s.EfConstruction == 0 {
		s.EfConstruction = 128
	}
	s.Count = 0
	idx, err := newIndex(s)
	if err != nil {
		return fmt.Errorf("create space %s: %w: %w", s.Name, ErrInvalid, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	db.wmu.Lock()
	defer db.wmu.Unlock()
	db.mu.RLock()
	err = db.usable()
	old, exists := db.spaces[s.Name]
	db.mu.RUnlock()
	if err != nil {
		return err
	}
	if exists {
		if old.cfg != s {
			return fmt.Errorf("space %s: %w with %+v", s.Name, ErrExists, old.cfg)
		}
		return nil
	}
	if err := db.putSpaceRecord(spaceRecord{Space: s, Entry: ^uint32(0), Top: -1}); err != nil {
		return fmt.Errorf("create space %s: %w", s.Name, err)
	}
	sp := &space{cfg: s, idx: idx}
	if s.Kind == KindTexts {
		sp.texts = make(map[string]string)
	}
	db.mu.Lock()
	db.spaces[s.Name] = sp
	db.mu.Unlock()
	return nil
}

// DropSpace deletes a space with its vectors, graph and texts.
func (db *DB) DropSpace(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	db.wmu.Lock()
	defer db.wmu.Unlock()
	db.mu.RLock()
	err := db.usable()
	_, ok := db.spaces[name]
	db.mu.RUnlock()
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("space %s: %w", name, ErrNotFound)
	}
	// The space record goes first (one synced write), so a crash part-way
	// leaves only unreferenced keys, which the prefix drop below removes.
	if err := db.bdb.Update(func(txn *badger.Txn) error { return txn.Delete(spaceKey(name)) }); err != nil {
		return fmt.Errorf("drop space %s: %w", name, err)
	}
	db.mu.Lock()
	delete(db.spaces, name)
	db.mu.Unlock()
	if verr := db.dropVecFile(name, true); verr != nil {
		db.log.Warn("store: remove vector file", "space", name, "err", verr)
	}
	err = db.bdb.DropPrefix([]byte(prefixNode+name+"\x00"), []byte(prefixVec+name+"\x00"), []byte(prefixText+name+"\x00"))
	db.gen.Add(1) // a space of this name made later must not read these vectors
	if err != nil {
		return fmt.Errorf("drop space %s data: %w", name, err)
	}
	return nil
}

// Spaces lists the spaces, by name, with their vector counts.
func (db *DB) Spaces() []Space {
	db.mu.RLock()
	defer db.mu.RUnlock()
	out := make([]Space, 0, len(db.spaces))
	for _, sp := range db.spaces {
		s := sp.cfg
		s.Count = sp.idx.Len()
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (db *DB) space(name string) (*space, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if err := db.usable(); err != nil {
		return nil, err
	}
	sp, ok := db.spaces[name]
	if !ok {
		return nil, fmt.Errorf("space %s: %w", name, ErrNotFound)
	}
	return sp, nil
}

// Item returns a copy of the item with id.
func (db *DB) Item(id string) (Item, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if err := db.usable(); err != nil {
		return Item{}, err
	}
	it, ok := db.items[id]
	if !ok {
		return Item{}, fmt.Errorf("item %.40q: %w", id, ErrNotFound)
	}
	return it.Clone(), nil
}

// ItemByPath returns the item one of whose files is path. The path lookup
// is built on the first call after Open (about a second for 1M items on
// the 2-core machine), not by Open itself.
func (db *DB) ItemByPath(path string) (Item, error) {
	db.mu.RLock()
	bp := db.byPath
	id, ok := bp[path]
	db.mu.RUnlock()
	if bp == nil {
		db.mu.Lock()
		if db.byPath == nil && db.usable() == nil {
			db.byPath = buildByPath(db.items)
		}
		id, ok = db.byPath[path]
		db.mu.Unlock()
	}
	if !ok {
		return Item{}, fmt.Errorf("path %.80q: %w", path, ErrNotFound)
	}
	return db.Item(id)
}

func buildByPath(items map[string]*Item) map[string]string {
	m := make(map[string]string, len(items))
	for id, it := range items {
		for _, f := range it.Files {
			m[f.Path] = id
		}
	}
	return m
}

// ItemByHash returns the item with content hash h. Hashes equal to their
// item's id (the usual case) are looked up as ids; byHash holds the rest.
func (db *DB) ItemByHash(h string) (Item, error) {
	db.mu.RLock()
	id, ok := db.byHash[h]
	if !ok {
		if it := db.items[h]; it != nil && it.Hash == h {
			id, ok = h, true
		}
	}
	db.mu.RUnlock()
	if !ok {
		return Item{}, fmt.Errorf("hash %.80q: %w", h, ErrNotFound)
	}
	return db.Item(id)
}

// ItemCount returns the number of items.
func (db *DB) ItemCount() int {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return len(db.items)
}

// Items calls fn with a copy of every item matching f (nil = all), in id
// order, until fn returns false. The set is a snapshot taken at the call.
func (db *DB) Items(ctx context.Context, f *Filter, fn func(Item) bool) error {
	db.mu.RLock()
	if err := db.usable(); err != nil {
		db.mu.RUnlock()
		return err
	}
	list := make([]Item, 0, len(db.items))
	for _, it := range db.items {
		if f.Match(it) {
			list = append(list, it.Clone())
		}
	}
	db.mu.RUnlock()
	slices.SortFunc(list, func(a, b Item) int { return strings.Compare(a.ID, b.ID) })
	for i := range list {
		if i&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if !fn(list[i]) {
			break
		}
	}
	return nil
}
