package convert

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// dtype is the element type of a checkpoint storage.
type dtype int

const (
	dtFloat32 dtype = iota + 1
	dtFloat16
	dtBFloat16
	dtFloat64
	dtOther // a storage we can reference but not convert (ints, bools, ...)
)

func (d dtype) size() int {
	switch d {
	case dtFloat32:
		return 4
	case dtFloat16, dtBFloat16:
		return 2
	case dtFloat64:
		return 8
	default:
		return 0
	}
}

func (d dtype) String() string {
	switch d {
	case dtFloat32:
		return "float32"
	case dtFloat16:
		return "float16"
	case dtBFloat16:
		return "bfloat16"
	case dtFloat64:
		return "float64"
	default:
		return "unsupported"
	}
}

// storageClass stands for torch.<X>Storage (or a dtype) found by the unpickler.
type storageClass struct{ dt dtype }

func (s *storageClass) PyNew(...interface{}) (interface{}, error) { return s, nil }

// storageRef is one persistent storage of the archive: data/<key>, numel elements.
type storageRef struct {
	key   string
	dt    dtype
	numel int64
}

// tensorRef is a tensor's view into a storage; its bytes stay in the zip until read.
type tensorRef struct {
	st     *storageRef
	offset int64 // in elements
	shape  []int
	stride []int64
}

func (t *tensorRef) numel() int64 {
	n := int64(1)
	for _, d := range t.shape {
		n *= int64(d)
	}
	return n
}

// callable adapts a Go func to a pickle callable (torch._utils._rebuild_*).
type callable func(args ...interface{}) (interface{}, error)

func (c callable) Call(args ...interface{}) (interface{}, error) { return c(args...) }

// opaqueClass stands for every Python class the converter does not care about
// (argparse.Namespace, torch.device, optimiser state, ...). Its instances accept
// any construction, state and items, so junk entries never break loading.
type opaqueClass struct{ module, name string }

type opaqueObject struct{ class *opaqueClass }

func (c *opaqueClass) Call(...interface{}) (interface{}, error)  { return &opaqueObject{c}, nil }
func (c *opaqueClass) PyNew(...interface{}) (interface{}, error) { return &opaqueObject{c}, nil }
func (o *opaqueObject) PySetState(interface{}) error             { return nil }
func (o *opaqueObject) PyDictSet(_, _ interface{}) error         { return nil }
func (o *opaqueObject) PySetAttr(string, interface{}) error      { return nil }
func (o *opaqueObject) Set(_, _ interface{})                     {}
func (o *opaqueObject) Append(interface{})                       {}

// Checkpoint is an open torch.save zip archive whose state_dict tensors are
// read lazily, one at a time, so that converting a model needs little more
// memory than its largest tensor. Not safe for concurrent use.
type Checkpoint struct {
	path    string
	f       *os.File
	zr      *zip.Reader
	files   map[string]*zip.File // "data/<key>" relative to the archive root
	tensors map[string]*tensorRef
	scalars map[string]float64 // 0-dim float tensors and plain numbers, e.g. logit_scale
}

// OpenCheckpoint opens a torch.save zip archive and indexes its state_dict:
// the value under "model", else "module", else the whole top-level dict.
// Non-tensor entries are ignored. Errors are *CheckpointError.
func OpenCheckpoint(path string) (_ *Checkpoint, err error) {
	fail := func(op string, e error) error { return &CheckpointError{Path: path, Op: op, Err: e} }
	f, err := os.Open(path)
	if err != nil {
		return nil, fail("open", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, fail("open", err)
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return nil, fail("open", fmt.Errorf("not a torch.save zip archive (legacy pickle files are not supported): %w", err))
	}
	c := &Checkpoint{path: path, f: f, zr: zr, files: map[string]*zip.File{}}
	var pkl *zip.File
	for _, zf := range zr.File {
		root, rest, ok := strings.Cut(zf.Name, "/")
		if !ok {
			continue
		}
		_ = root
		switch {
		case rest == "data.pkl":
			pkl = zf
		case strings.HasPrefix(rest, "data/"):
			c.files[rest] = zf
		case rest == "byteorder":
			b, err := readSmall(zf)
			if err != nil {
				return nil, fail("open", err)
			}
			if s := strings.TrimSpace(string(b)); s != "little" {
				return nil, fail("open", fmt.Errorf("byte order %q is not supported", s))
			}
		}
	}
	if pkl == nil {
		return nil, fail("open", errors.New("no data.pkl in archive"))
	}
	rc, err := pkl.Open()
	if err != nil {
		return nil, fail("unpickle", err)
	}
	defer rc.Close()
	u := pickle.NewUnpickler(rc)
	u.FindClass = findClass
	u.PersistentLoad = persistentLoad
	top, err := u.Load()
	if err != nil {
		return nil, fail("unpickle", err)
	}
	sd := stateDict(top)
	if sd == nil {
		return nil, fail("unpickle", fmt.Errorf("top-level object is %T, want a dict", top))
	}
	c.tensors = map[string]*tensorRef{}
	c.scalars = map[string]float64{}
	for k, v := range sd {
		switch x := v.(type) {
		case *tensorRef:
			c.tensors[k] = x
		case float64:
			c.scalars[k] = x
		case int:
			c.scalars[k] = float64(x)
		}
	}
	return c, nil
}

func readSmall(zf *zip.File) ([]byte, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 1<<10))
}

// Close releases the file.
func (c *Checkpoint) Close() error { return c.f.Close() }

// Keys returns the tensor names of the state_dict, sorted.
func (c *Checkpoint) Keys() []string {
	keys := make([]string, 0, len(c.tensors))
	for k := range c.tensors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Shape returns a tensor's shape and whether the tensor exists.
func (c *Checkpoint) Shape(key string) ([]int, bool) {
	t, ok := c.tensors[key]
	if !ok {
		return nil, false
	}
	return append([]int(nil), t.shape...), true
}

// Scalar returns a one-element float tensor (or a plain number) as float64.
func (c *Checkpoint) Scalar(key string) (float64, bool) {
	if v, ok := c.scalars[key]; ok {
		return v, true
	}
	t, ok := c.tensors[key]
	if !ok || t.numel() != 1 {
		return 0, false
	}
	v, err := c.Float32(key)
	if err != nil {
		return 0, false
	}
	return float64(v[0]), true
}

// Float32 reads a tensor, converting fp16/bf16/fp64 to float32 and any strided
// view to a contiguous row-major slice.
func (c *Checkpoint) Float32(key string) ([]float32, error) {
	t, ok := c.tensors[key]
	if !ok {
		return nil, &CheckpointError{Path: c.path, Op: "read tensor", Missing: []string{key}}
	}
	out, err := c.read(t)
	if err != nil {
		return nil, &CheckpointError{Path: c.path, Op: "read tensor", Err: fmt.Errorf("%s: %w", key, err)}
	}
	return out, nil
}

func (c *Checkpoint) read(t *tensorRef) ([]float32, error) {
	es := t.st.dt.size()
	if es == 0 {
		return nil, fmt.Errorf("storage dtype %v is not a float type", t.st.dt)
	}
	n := t.numel()
	if n == 0 {
		return []float32{}, nil
	}
	// The span of storage elements this view touches.
	lo, hi := t.offset, t.offset
	for i, d := range t.shape {
		if t.stride[i] < 0 {
			return nil, fmt.Errorf("negative stride %v", t.stride)
		}
		hi += int64(d-1) * t.stride[i]
	}
	if lo < 0 || hi >= t.st.numel {
		return nil, fmt.Errorf("view [%d,%d] outside storage of %d elements", lo, hi, t.st.numel)
	}
	if n > math.MaxInt32*4 {
		return nil, fmt.Errorf("tensor of %d elements is too large", n)
	}
	raw, err := c.readSpan(t.st, lo*int64(es), (hi-lo+1)*int64(es))
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	if contiguous(t.shape, t.stride) {
		decode(out, raw, t.st.dt)
		return out, nil
	}
	// General strided gather, row-major over the view's index space.
	idx := make([]int, len(t.shape))
	for i := range out {
		var off int64
		for a, v := range idx {
			off += int64(v) * t.stride[a]
		}
		decode(out[i:i+1], raw[off*int64(es):(off+1)*int64(es)], t.st.dt)
		for a := len(idx) - 1; a >= 0; a-- {
			idx[a]++
			if idx[a] < t.shape[a] {
				break
			}
			idx[a] = 0
		}
	}
	return out, nil
}

func contiguous(shape []int, stride []int64) bool {
	want := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 && stride[i] != want {
			return false
		}
		want *= int64(shape[i])
	}
	return true
}

// readSpan reads length bytes at byte offset off of a storage. torch.save stores
// entries uncompressed, so they are read in place; compressed entries are streamed.
func (c *Checkpoint) readSpan(st *storageRef, off, length int64) ([]byte, error) {
	zf, ok := c.files["data/"+st.key]
	if !ok {
		return nil, fmt.Errorf("storage data/%s missing from archive", st.key)
	}
	if int64(zf.UncompressedSize64) < st.numel*int64(st.dt.size()) {
		return nil, fmt.Errorf("storage data/%s holds %d bytes, want %d", st.key, zf.UncompressedSize64, st.numel*int64(st.dt.size()))
	}
	buf := make([]byte, length)
	if zf.Method == zip.Store {
		base, err := zf.DataOffset()
		if err != nil {
			return nil, err
		}
		if _, err := c.f.ReadAt(buf, base+off); err != nil {
			return nil, fmt.Errorf("read storage %s: %w", st.key, err)
		}
		return buf, nil
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if _, err := io.CopyN(io.Discard, rc, off); err != nil {
		return nil, fmt.Errorf("read storage %s: %w", st.key, err)
	}
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, fmt.Errorf("read storage %s: %w", st.key, err)
	}
	return buf, nil
}

// decode converts little-endian raw elements of dt to float32.
func decode(dst []float32, raw []byte, dt dtype) {
	switch dt {
	case dtFloat32:
		for i := range dst {
			dst[i] = math.Float32frombits(le32(raw[4*i:]))
		}
	case dtFloat16:
		for i := range dst {
			dst[i] = halfToFloat(uint16(raw[2*i]) | uint16(raw[2*i+1])<<8)
		}
	case dtBFloat16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(uint16(raw[2*i])|uint16(raw[2*i+1])<<8) << 16)
		}
	case dtFloat64:
		for i := range dst {
			lo, hi := uint64(le32(raw[8*i:])), uint64(le32(raw[8*i+4:]))
			dst[i] = float32(math.Float64frombits(lo | hi<<32))
		}
	}
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// findClass resolves the globals a torch.save pickle names. Tensors and
// parameters rebuild to *tensorRef; every other class becomes an opaque object.
func findClass(module, name string) (interface{}, error) {
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
		return callable(rebuildTensor), nil
	case "torch._utils._rebuild_tensor_v3":
		// (untyped storage, offset, size, stride, requires_grad, hooks, dtype, ...):
		// the storage counts bytes and the dtype comes separately.
		return callable(func(args ...interface{}) (interface{}, error) {
			if len(args) < 7 {
				return nil, fmt.Errorf("_rebuild_tensor_v3: %d arguments", len(args))
			}
			st, ok := args[0].(*storageRef)
			dt, ok2 := args[6].(*storageClass)
			if !ok || !ok2 {
				return nil, fmt.Errorf("_rebuild_tensor_v3: storage %T, dtype %T", args[0], args[6])
			}
			typed := &storageRef{key: st.key, dt: dt.dt, numel: st.numel}
			if st.dt == dtOther && dt.dt.size() > 0 {
				typed.numel = st.numel / int64(dt.dt.size())
			}
			return rebuildTensor(append([]interface{}{typed}, args[1:4]...)...)
		}), nil
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		return callable(func(args ...interface{}) (interface{}, error) {
			if len(args) == 0 {
				return nil, errors.New("_rebuild_parameter without arguments")
			}
			return args[0], nil
		}), nil
	case "torch._tensor._rebuild_from_type_v2":
		// (func, new_type, args, state): a tensor subclass; rebuild the plain tensor.
		return callable(func(args ...interface{}) (interface{}, error) {
			if len(args) < 3 {
				return nil, errors.New("_rebuild_from_type_v2: too few arguments")
			}
			fn, ok := args[0].(types.Callable)
			tup, ok2 := args[2].(*types.Tuple)
			if !ok || !ok2 {
				return &opaqueObject{&opaqueClass{module, name}}, nil
			}
			return fn.Call(*tup...)
		}), nil
	case "collections.OrderedDict":
		return &types.OrderedDictClass{}, nil
	case "torch.FloatStorage":
		return &storageClass{dtFloat32}, nil
	case "torch.HalfStorage":
		return &storageClass{dtFloat16}, nil
	case "torch.BFloat16Storage":
		return &storageClass{dtBFloat16}, nil
	case "torch.DoubleStorage":
		return &storageClass{dtFloat64}, nil
	case "torch.float32":
		return &storageClass{dtFloat32}, nil
	case "torch.float16":
		return &storageClass{dtFloat16}, nil
	case "torch.bfloat16":
		return &storageClass{dtBFloat16}, nil
	case "torch.float64":
		return &storageClass{dtFloat64}, nil
	}
	if module == "torch" && strings.HasSuffix(name, "Storage") {
		return &storageClass{dtOther}, nil
	}
	return &opaqueClass{module, name}, nil
}

// persistentLoad resolves ('storage', storage_type, key, location, numel).
func persistentLoad(pid interface{}) (interface{}, error) {
	tup, ok := pid.(*types.Tuple)
	if !ok || tup.Len() < 5 {
		return nil, fmt.Errorf("persistent id %#v is not a storage tuple", pid)
	}
	if s, _ := tup.Get(0).(string); s != "storage" {
		return nil, fmt.Errorf("persistent id kind %v is not storage", tup.Get(0))
	}
	sc, ok := tup.Get(1).(*storageClass)
	if !ok {
		return nil, fmt.Errorf("storage type %#v", tup.Get(1))
	}
	key, ok := tup.Get(2).(string)
	if !ok {
		return nil, fmt.Errorf("storage key %#v", tup.Get(2))
	}
	numel, ok := toInt(tup.Get(4))
	if !ok || numel < 0 {
		return nil, fmt.Errorf("storage numel %#v", tup.Get(4))
	}
	return &storageRef{key: key, dt: sc.dt, numel: int64(numel)}, nil
}

// rebuildTensor is torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...).
func rebuildTensor(args ...interface{}) (interface{}, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: %d arguments", len(args))
	}
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage is %T", args[0])
	}
	off, ok := toInt(args[1])
	if !ok || off < 0 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: offset %#v", args[1])
	}
	size, ok1 := ints(args[2])
	stride, ok2 := ints(args[3])
	if !ok1 || !ok2 || len(size) != len(stride) {
		return nil, fmt.Errorf("_rebuild_tensor_v2: size %#v stride %#v", args[2], args[3])
	}
	t := &tensorRef{st: st, offset: int64(off), shape: make([]int, len(size)), stride: make([]int64, len(size))}
	for i := range size {
		if size[i] < 0 {
			return nil, fmt.Errorf("_rebuild_tensor_v2: negative size %v", size)
		}
		t.shape[i], t.stride[i] = size[i], int64(stride[i])
	}
	return t, nil
}

func toInt(v interface{}) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	}
	return 0, false
}

func ints(v interface{}) ([]int, bool) {
	tup, ok := v.(*types.Tuple)
	if !ok {
		return nil, false
	}
	out := make([]int, tup.Len())
	for i := range out {
		n, ok := toInt(tup.Get(i))
		if !ok {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// entries lists the string-keyed items of a pickled dict or OrderedDict.
func entries(v interface{}) (map[string]interface{}, bool) {
	out := map[string]interface{}{}
	switch d := v.(type) {
	case *types.Dict:
		for _, e := range *d {
			if k, ok := e.Key.(string); ok {
				out[k] = e.Value
			}
		}
	case *types.OrderedDict:
		for el := d.List.Front(); el != nil; el = el.Next() {
			e := el.Value.(*types.OrderedDictEntry)
			if k, ok := e.Key.(string); ok {
				out[k] = e.Value
			}
		}
	default:
		return nil, false
	}
	return out, true
}

// stateDict picks the state_dict as load_model_and_may_interpolate does: the
// first of "model" and "module" present, else the whole dict (spec §3.1).
func stateDict(top interface{}) map[string]interface{} {
	m, ok := entries(top)
	if !ok {
		return nil
	}
	for _, k := range []string{"model", "module"} {
		if v, ok := m[k]; ok {
			if sd, ok := entries(v); ok {
				return sd
			}
			return nil
		}
	}
	return m
}
