package convert

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"imglish/encoder/convert/onnxpb"
)

const (
	tFloat   = onnxpb.TensorProto_FLOAT
	tFloat16 = onnxpb.TensorProto_FLOAT16
	tInt64   = onnxpb.TensorProto_INT64
	tBool    = onnxpb.TensorProto_BOOL
	tInt8    = onnxpb.TensorProto_INT8
)

// initializer is a graph constant whose bytes are produced only when the file
// is written, so that at most one tensor is in memory at a time.
type initializer struct {
	name  string
	dims  []int64
	dtype onnxpb.TensorProto_DataType
	fill  func() ([]byte, error)
}

func (in *initializer) size() int64 {
	n := int64(1)
	for _, d := range in.dims {
		n *= d
	}
	switch in.dtype {
	case tFloat16:
		return 2 * n
	case tInt64:
		return 8 * n
	case tBool, tInt8:
		return n
	default:
		return 4 * n
	}
}

func (in *initializer) bytes() ([]byte, error) { return in.fill() }

// builder accumulates the nodes and initializers of one graph. act is the
// dtype of activations and weights (float or float16).
type builder struct {
	act   onnxpb.TensorProto_DataType
	nodes []*onnxpb.NodeProto
	inits []*initializer
	seq   int
	names map[string]bool
	// int8 emits linear layers as DynamicQuantizeMatMul (quantize.go);
	// unfused keeps attention in standard ops (fuse.go).
	int8, unfused bool
}

func newBuilder(act onnxpb.TensorProto_DataType) *builder {
	return &builder{act: act, names: map[string]bool{}}
}

func (b *builder) fresh(hint string) string {
	b.seq++
	return fmt.Sprintf("%s_%d", hint, b.seq)
}

// op adds a node with one output and returns the output's name.
func (b *builder) op(opType string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	return b.opN(opType, inputs, 1, attrs...)[0]
}

// opN adds a node with n outputs.
func (b *builder) opN(opType string, inputs []string, n int, attrs ...*onnxpb.AttributeProto) []string {
	outs := make([]string, n)
	for i := range outs {
		outs[i] = b.fresh(opType)
	}
	b.nodes = append(b.nodes, &onnxpb.NodeProto{
		Name:      proto.String(outs[0]),
		OpType:    proto.String(opType),
		Input:     inputs,
		Output:    outs,
		Attribute: attrs,
	})
	return outs
}

// weight adds a float initializer stored in the activation dtype.
func (b *builder) weight(name string, dims []int64, fill func() ([]float32, error)) string {
	b.addInit(name, dims, b.act, func() ([]byte, error) {
		v, err := fill()
		if err != nil {
			return nil, err
		}
		return encodeFloats(v, b.act), nil
	})
	return name
}

// weightF32 adds a float initializer that stays float32 whatever the precision.
func (b *builder) weightF32(name string, dims []int64, v []float32) string {
	b.addInit(name, dims, tFloat, func() ([]byte, error) { return encodeFloats(v, tFloat), nil })
	return name
}

// scalar adds a 0-dim constant in the activation dtype.
func (b *builder) scalar(v float32) string {
	name := b.fresh("const")
	b.addInit(name, nil, b.act, func() ([]byte, error) { return encodeFloats([]float32{v}, b.act), nil })
	return name
}

// ints adds an int64 constant; a nil dims makes a 1-D tensor of len(v).
func (b *builder) ints(dims []int64, v ...int64) string {
	if dims == nil {
		dims = []int64{int64(len(v))}
	}
	name := b.fresh("ints")
	b.addInit(name, dims, tInt64, func() ([]byte, error) {
		out := make([]byte, 8*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint64(out[8*i:], uint64(x))
		}
		return out, nil
	})
	return name
}

func (b *builder) addInit(name string, dims []int64, dt onnxpb.TensorProto_DataType, fill func() ([]byte, error)) {
	if b.names[name] {
		name = b.fresh(name) // never happens with the names used here
	}
	b.names[name] = true
	b.inits = append(b.inits, &initializer{name: name, dims: dims, dtype: dt, fill: fill})
}

func encodeFloats(v []float32, dt onnxpb.TensorProto_DataType) []byte {
	if dt == tFloat16 {
		out := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(out[2*i:], floatToHalf(x))
		}
		return out
	}
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return out
}

func attrInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func attrInts(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

func attrFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// valueInfo describes a graph input or output; a dim is either a size or a
// symbolic name (string).
func valueInfo(name string, dt onnxpb.TensorProto_DataType, dims ...interface{}) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		switch x := d.(type) {
		case int:
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(x)}})
		case string:
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: x}})
		}
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(dt)),
			Shape:    shape,
		}}},
	}
}
