package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"imglish/search"
)

// Vector files: where a quantised space re-ranks from.
//
// A quantised space keeps int8 codes in memory and re-ranks a walk's best
// candidates with their full vectors. Reading those from Badger costs an
// LSM lookup each (a few microseconds, more than the walk spends per
// candidate), so the store also keeps each quantised space's vectors in a
// file of its own, slot n at n·dim·4 bytes, mapped read-only: a re-rank
// read is a slice of the mapping, and the pages it touches are the OS's
// page cache, which it may evict, not the process's heap.
//
// Badger stays the truth. The file is written with the commit (before it,
// under the writer's lock, and never synced), so after a crash it may hold
// vectors of a commit that did not land or miss ones that did: every open
// compares each stored vector with its slot while it loads them anyway and
// rewrites the slots that differ, so a loaded space's file matches Badger.
// The reload after a failed commit first points the indexes it replaces at
// Badger (retireVecFiles), so no search still running on them reads a slot
// while the reload rewrites it, and the file keeps no old index alive. A
// store opened read-only, or on a platform without mmap or little-endian
// float32, re-ranks from Badger as before.

// vecDir is the folder, inside the store's directory, of the vector files.
const vecDir = "imglish-vectors"

// errNoVecFile reports that this platform keeps no vector files.
var errNoVecFile = errors.New("vector files need mmap and a little-endian CPU")

// littleEndian is whether float32s in memory are laid out as the store
// writes them (little-endian), so a slot can be read in place.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// vecFileName is the file of space name: a hash, since names may hold any
// character.
func vecFileName(name string) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:12]) + ".f32"
}

// vecFile is one quantised space's vector file, mapped read-only. Readers
// (VectorSources) take slices of the current mapping without locking;
// the writer (under DB.wmu, or one loading goroutine per slot range)
// writes slots with WriteAt and grows the file. A mapping outgrown is kept
// until close, since a search may still read a slice of it.
type vecFile struct {
	path string
	dim  int
	row  int64 // bytes per slot

	mu   sync.Mutex // guards f, maps, closed and size's changes
	f    *os.File
	maps [][]byte // every mapping made, the last the current one

	// users are the indexes that read through the file, one per load or
	// quantisation of the space (retireVecFiles clears them); guarded by
	// DB.wmu.
	users []*search.Index

	cur    atomic.Pointer[[]byte] // the current mapping (nil until reserve)
	size   atomic.Int64           // file size in bytes (written under mu)
	closed bool
}

// openVecFile opens (creating) the vector file at path for vectors of dim.
func openVecFile(path string, dim int) (*vecFile, error) {
	if !littleEndian || !canMap {
		return nil, errNoVecFile
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("vector file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("vector file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("vector file: %w", err)
	}
	v := &vecFile{path: path, dim: dim, row: int64(dim) * 4, f: f}
	v.size.Store(st.Size())
	return v, nil
}

// reserve makes slots [0, slots) writable and readable: the file grows to
// hold them (by at least an eighth, so that adding one vector at a time
// does not truncate each time), and the mapping to cover the file.
func (v *vecFile) reserve(slots int) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return fmt.Errorf("vector file: %w", ErrClosed)
	}
	need, size := int64(slots)*v.row, v.size.Load()
	if need > size {
		size = max(need, size+size/8, 1024*v.row)
		if err := v.f.Truncate(size); err != nil {
			return fmt.Errorf("vector file: grow to %d bytes: %w", size, err)
		}
		v.size.Store(size)
	}
	if m := v.cur.Load(); m != nil && int64(len(*m)) >= size {
		return nil
	}
	// A mapping is never remapped in place: searches may hold slices of it.
	// Doubling keeps the mappings kept until close under twice the file.
	length := size
	if m := v.cur.Load(); m != nil {
		length = max(length, 2*int64(len(*m)))
	}
	m, err := mapFile(v.f, length)
	if err != nil {
		return fmt.Errorf("vector file: map %d bytes: %w", length, err)
	}
	v.maps = append(v.maps, m)
	v.cur.Store(&m)
	return nil
}

// slot returns slot n's bytes in the current mapping, nil when the slot
// lies past the file.
func (v *vecFile) slot(n uint32) []byte {
	m := v.cur.Load()
	off := int64(n) * v.row
	if m == nil || off+v.row > int64(len(*m)) || off+v.row > v.size.Load() {
		return nil
	}
	return (*m)[off : off+v.row : off+v.row]
}

// vector returns slot n as float32s (read-only memory of the mapping), nil
// when the slot lies past the file.
func (v *vecFile) vector(n uint32) []float32 {
	b := v.slot(n)
	if b == nil {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), v.dim)
}

// put writes raw (a vector's little-endian bytes) into slot n. Writer only.
func (v *vecFile) put(n uint32, raw []byte) error {
	if int64(len(raw)) != v.row {
		return fmt.Errorf("vector file: slot %d: %d bytes, want %d", n, len(raw), v.row)
	}
	if err := v.reserve(int(n) + 1); err != nil {
		return err
	}
	if _, err := v.f.WriteAt(raw, int64(n)*v.row); err != nil {
		return fmt.Errorf("vector file: write slot %d: %w", n, err)
	}
	return nil
}

// check makes slot n hold raw, writing only when it differs, and reports
// whether it wrote. Slots below reserve's count only; safe for concurrent
// use on distinct slots (a store's load).
func (v *vecFile) check(n uint32, raw []byte) (bool, error) {
	if b := v.slot(n); b != nil && bytes.Equal(b, raw) {
		return false, nil
	}
	if _, err := v.f.WriteAt(raw, int64(n)*v.row); err != nil {
		return false, fmt.Errorf("vector file: write slot %d: %w", n, err)
	}
	return true, nil
}

// close unmaps and closes the file, and removes it when remove is set. The
// caller must first make sure no search reads the mappings any more
// (search.Index.SetSource).
func (v *vecFile) close(remove bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	v.cur.Store(nil)
	var errs []error
	for _, m := range v.maps {
		errs = append(errs, unmapFile(m))
	}
	v.maps = nil
	errs = append(errs, v.f.Close())
	if remove {
		if err := os.Remove(v.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("vector file %s: %w", filepath.Base(v.path), err)
	}
	return nil
}

// removeStrayVecFiles deletes the vector files in dir that belong to no
// space in keep (file names), such as those of spaces now held as floats.
func removeStrayVecFiles(dir string, keep map[string]bool) error {
	ents, err := os.ReadDir(filepath.Join(dir, vecDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".f32") && !keep[e.Name()] {
			errs = append(errs, os.Remove(filepath.Join(dir, vecDir, e.Name())))
		}
	}
	return errors.Join(errs...)
}

// vecFileFor returns the vector file of a space being quantised or loaded
// quantised, opened (created) on first use; nil when the store keeps none
// (read-only, or a platform without them: re-rank from Badger). Caller
// holds wmu.
func (db *DB) vecFileFor(name string, dim int) *vecFile {
	if db.opts.ReadOnly {
		return nil
	}
	if vf := db.vfiles[name]; vf != nil && vf.dim == dim {
		return vf
	}
	vf, err := openVecFile(filepath.Join(db.dir, vecDir, vecFileName(name)), dim)
	if err != nil {
		if !errors.Is(err, errNoVecFile) {
			db.log.Warn("store: vector file, re-ranking from the store instead", "space", name, "err", err)
		}
		return nil
	}
	db.vfiles[name] = vf
	return vf
}

// closedSource is the source of a quantised index whose vector file is
// closed: the DB is closed or the space dropped.
func closedSource(uint32, string, []float32) ([]float32, error) { return nil, ErrClosed }

// dropVecFile closes space name's vector file (removing it when remove is
// set), after pointing every index that read through it at closedSource,
// which waits for their searches in flight. Caller holds wmu.
func (db *DB) dropVecFile(name string, remove bool) error {
	vf := db.vfiles[name]
	if vf == nil {
		return nil
	}
	delete(db.vfiles, name)
	for _, x := range vf.users {
		if err := x.SetSource(closedSource); err != nil {
			return err // not quantised: cannot happen, and keep the mapping
		}
	}
	return vf.close(remove)
}

// retireVecFiles points every index that reads a vector file at Badger
// instead, waiting for their searches in flight, and forgets them: load
// calls it before it replaces the spaces (a reload after a failed commit),
// so searches still running on the old indexes neither read slots the
// reload rewrites nor keep those indexes reachable from the file. Caller
// holds wmu.
func (db *DB) retireVecFiles() error {
	for name, vf := range db.vfiles {
		for _, x := range vf.users {
			err := x.SetSource(func(n uint32, _ string, dst []float32) ([]float32, error) {
				return db.storedVector(name, n, dst)
			})
			if err != nil {
				return err
			}
		}
		vf.users = nil
	}
	return nil
}

// closeVecFiles closes every vector file (Close, or a failed Open).
func (db *DB) closeVecFiles() error {
	var errs []error
	for name := range db.vfiles {
		errs = append(errs, db.dropVecFile(name, false))
	}
	return errors.Join(errs...)
}
