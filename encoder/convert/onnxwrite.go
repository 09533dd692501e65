package convert

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"imglish/encoder/convert/onnxpb"
	"imglish/internal/atomicfile"
)

// Protobuf field numbers used when streaming a ModelProto (onnx.proto).
const (
	fieldModelGraph      = 7 // ModelProto.graph
	fieldGraphInit       = 5 // GraphProto.initializer
	fieldTensorRawData   = 9 // TensorProto.raw_data
	externalAlign        = 4096
	defaultExternalLimit = 1800 << 20 // protobuf's hard limit is 2 GiB; keep a margin for the graph itself
	minExternalBytes     = 1024       // smaller tensors stay inline even in external-data mode
)

// writtenFile is a file the writer produced, with its sha256.
type writtenFile struct {
	name   string
	sha256 string
	size   int64
}

// writeModel streams model (whose graph's initializers come from g.inits) to
// dir/name without ever holding more than one tensor's bytes. When the
// initializers exceed externalLimit bytes they go to dir/name+".data" as ONNX
// external data (4 KiB-aligned, so ORT can map them). Both files are written
// atomically.
func writeModel(ctx context.Context, dir, name string, model *onnxpb.ModelProto, g *builder, externalLimit int64) (_ []writtenFile, err error) {
	var total int64
	for _, in := range g.inits {
		total += in.size()
	}
	external := total > externalLimit
	dataName := name + ".data"

	var files []writtenFile
	var data *atomicFile
	var dataOff int64
	if external {
		if data, err = createAtomic(filepath.Join(dir, dataName)); err != nil {
			return nil, err
		}
		defer data.abort()
	}

	// Tensor headers (everything but raw_data), and where external data goes.
	// Small tensors (shapes, scalars) stay inline: ORT's shape inference reads
	// Reshape/Slice shape inputs only from inline data.
	isExt := func(in *initializer) bool { return external && in.dtype != tInt64 && in.size() >= minExternalBytes }
	headers := make([][]byte, len(g.inits))
	for i, in := range g.inits {
		tp := &onnxpb.TensorProto{Name: proto.String(in.name), Dims: in.dims, DataType: proto.Int32(int32(in.dtype))}
		if isExt(in) {
			if pad := dataOff % externalAlign; pad != 0 {
				dataOff += externalAlign - pad
			}
			tp.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
			tp.ExternalData = []*onnxpb.StringStringEntryProto{
				{Key: proto.String("location"), Value: proto.String(dataName)},
				{Key: proto.String("offset"), Value: proto.String(fmt.Sprint(dataOff))},
				{Key: proto.String("length"), Value: proto.String(fmt.Sprint(in.size()))},
			}
			dataOff += in.size()
		}
		headers[i], err = marshal(tp)
		if err != nil {
			return nil, fmt.Errorf("encode tensor %s: %w", in.name, err)
		}
	}
	tensorLen := func(i int) int64 {
		n := int64(len(headers[i]))
		if !isExt(g.inits[i]) {
			sz := g.inits[i].size()
			n += tagLen(fieldTensorRawData) + varintLen(uint64(sz)) + sz
		}
		return n
	}

	graph := proto.Clone(model.Graph).(*onnxpb.GraphProto)
	graph.Initializer = nil
	graphHead, err := marshal(graph)
	if err != nil {
		return nil, fmt.Errorf("encode graph: %w", err)
	}
	graphLen := int64(len(graphHead))
	for i := range g.inits {
		tl := tensorLen(i)
		graphLen += tagLen(fieldGraphInit) + varintLen(uint64(tl)) + tl
	}
	shell := proto.Clone(model).(*onnxpb.ModelProto)
	shell.Graph = nil
	modelHead, err := marshal(shell)
	if err != nil {
		return nil, fmt.Errorf("encode model: %w", err)
	}

	mf, err := createAtomic(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	defer mf.abort()
	w := mf.w
	put := func(b []byte) {
		if err == nil {
			_, err = w.Write(b)
		}
	}
	put(modelHead)
	put(appendTag(nil, fieldModelGraph, uint64(graphLen)))
	put(graphHead)
	var dataPos int64
	for i, in := range g.inits {
		if err != nil {
			break
		}
		if err = ctx.Err(); err != nil {
			break
		}
		put(appendTag(nil, fieldGraphInit, uint64(tensorLen(i))))
		put(headers[i])
		var raw []byte
		if raw, err = in.bytes(); err != nil {
			err = fmt.Errorf("tensor %s: %w", in.name, err)
			break
		}
		if int64(len(raw)) != in.size() {
			err = fmt.Errorf("tensor %s: produced %d bytes, want %d", in.name, len(raw), in.size())
			break
		}
		if isExt(in) {
			if pad := dataPos % externalAlign; pad != 0 {
				if _, err = data.w.Write(make([]byte, externalAlign-pad)); err != nil {
					break
				}
				dataPos += externalAlign - pad
			}
			_, err = data.w.Write(raw)
			dataPos += int64(len(raw))
		} else {
			put(appendTag(nil, fieldTensorRawData, uint64(len(raw))))
			put(raw)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", name, err)
	}
	if external {
		f, err := data.commit()
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	f, err := mf.commit()
	if err != nil {
		return nil, err
	}
	return append(files, f), nil
}

func marshal(m proto.Message) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

func tagLen(field int) int64 { return varintLen(uint64(field<<3 | 2)) }

func varintLen(v uint64) int64 {
	n := int64(1)
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// appendTag appends a length-delimited field's tag and length.
func appendTag(b []byte, field int, length uint64) []byte {
	b = binary.AppendUvarint(b, uint64(field<<3|2))
	return binary.AppendUvarint(b, length)
}

// atomicFile is an atomicfile.File whose content is hashed and counted as it
// is written, for the manifest.
type atomicFile struct {
	path string
	f    *atomicfile.File
	w    io.Writer
	h    hash.Hash
	n    *countWriter
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func createAtomic(path string) (*atomicFile, error) {
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, err
	}
	a := &atomicFile{path: path, f: f, h: sha256.New(), n: &countWriter{}}
	a.w = io.MultiWriter(f, a.h, a.n)
	return a, nil
}

func (a *atomicFile) commit() (writtenFile, error) {
	if err := a.f.Commit(); err != nil {
		return writtenFile{}, err
	}
	return writtenFile{name: filepath.Base(a.path), sha256: hex.EncodeToString(a.h.Sum(nil)), size: a.n.n}, nil
}

// abort removes the temp file unless commit succeeded; safe to defer.
func (a *atomicFile) abort() { a.f.Abort() }
