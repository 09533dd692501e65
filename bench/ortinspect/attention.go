package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"imglish/encoder/convert/onnxpb"
)

var attention = flag.String("attention", "", "T,D,H: instead, time ORT's MultiHeadAttention over [1,T,D] with H heads (as the graph emits it) and a Softmax over its [1,H,T,T] scores alone, the exponentials any attention kernel must compute")

// timeAttention times, on the session options' threads, one
// com.microsoft MultiHeadAttention node over q, k, v [1,T,D] with a packed
// [3D] bias and H heads, and one Softmax over [1,H,T,T]: how far ORT's
// attention kernel is from its two GEMMs (2·2·H·T²·(D/H) FLOP) at the GEMM's
// rate plus the softmax it cannot avoid.
func timeAttention(so *ort.SessionOptions, t, d, h, runs int) {
	dir, err := os.MkdirTemp("", "attention")
	must(err)
	defer os.RemoveAll(dir)
	f32 := func(name string, dims ...any) *onnxpb.ValueInfoProto {
		return valueInfo(name, onnxpb.TensorProto_FLOAT, dims...)
	}
	write := func(name string, g *onnxpb.GraphProto) string {
		m := &onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: g, OpsetImport: []*onnxpb.OperatorSetIdProto{
			{Domain: proto.String(""), Version: proto.Int64(17)}, {Domain: proto.String("com.microsoft"), Version: proto.Int64(1)}}}
		b, err := proto.Marshal(m)
		must(err)
		p := filepath.Join(dir, name)
		must(os.WriteFile(p, b, 0o644))
		return p
	}
	bias := make([]byte, 0, 4*3*d)
	for range 3 * d {
		bias = binary.LittleEndian.AppendUint32(bias, math.Float32bits(0.01))
	}
	mha := write("mha.onnx", &onnxpb.GraphProto{Name: proto.String("mha"),
		Node: []*onnxpb.NodeProto{{OpType: proto.String("MultiHeadAttention"), Domain: proto.String("com.microsoft"),
			Input: []string{"q", "k", "v", "b"}, Output: []string{"y"}, Attribute: []*onnxpb.AttributeProto{
				{Name: proto.String("num_heads"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(int64(h))},
				{Name: proto.String("scale"), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(1)}}}},
		Initializer: []*onnxpb.TensorProto{{Name: proto.String("b"), Dims: []int64{int64(3 * d)}, DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: bias}},
		Input:       []*onnxpb.ValueInfoProto{f32("q", 1, t, d), f32("k", 1, t, d), f32("v", 1, t, d)},
		Output:      []*onnxpb.ValueInfoProto{f32("y", 1, t, d)}})
	softmax := write("softmax.onnx", &onnxpb.GraphProto{Name: proto.String("softmax"),
		Node: []*onnxpb.NodeProto{{OpType: proto.String("Softmax"), Input: []string{"x"}, Output: []string{"y"},
			Attribute: []*onnxpb.AttributeProto{{Name: proto.String("axis"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(-1)}}}},
		Input: []*onnxpb.ValueInfoProto{f32("x", 1, h, t, t)}, Output: []*onnxpb.ValueInfoProto{f32("y", 1, h, t, t)}})
	tensor := func(dims ...int64) *ort.Tensor[float32] {
		n := int64(1)
		for _, x := range dims {
			n *= x
		}
		a := make([]float32, n)
		for i := range a {
			a[i] = float32((i*31)%97)/48 - 1
		}
		v, err := ort.NewTensor(ort.NewShape(dims...), a)
		must(err)
		return v
	}
	run := func(path string, names []string, in []ort.Value, out ort.Value) (wall, cpu float64) {
		s, err := ort.NewDynamicAdvancedSession(path, names, []string{"y"}, so)
		must(err)
		defer s.Destroy()
		o := []ort.Value{out}
		must(s.Run(in, o))
		t0, c0 := time.Now(), cpuTime()
		for range runs {
			must(s.Run(in, o))
		}
		return time.Since(t0).Seconds() * 1e3 / float64(runs), (cpuTime() - c0).Seconds() * 1e3 / float64(runs)
	}
	T, D, H := int64(t), int64(d), int64(h)
	q, k, v, y := tensor(1, T, D), tensor(1, T, D), tensor(1, T, D), tensor(1, T, D)
	x, p := tensor(1, H, T, T), tensor(1, H, T, T)
	gflop := 4 * float64(t) * float64(t) * float64(d) / 1e9
	mw, mc := run(mha, []string{"q", "k", "v"}, []ort.Value{q, k, v}, y)
	sw, sc := run(softmax, []string{"x"}, []ort.Value{x}, p)
	fmt.Printf("MultiHeadAttention [1,%d,%d], %d heads: %.3f ms wall, %.3f CPU-ms per run; its two GEMMs are %.3f GFLOP: %.0f GFLOP/s\n", t, d, h, mw, mc, gflop, gflop/mw*1e3)
	fmt.Printf("Softmax [1,%d,%d,%d] alone (%.1fM exponentials): %.3f ms wall, %.3f CPU-ms per run (%.0f%% of the attention's time)\n", h, t, t, float64(h*t*t)/1e6, sw, sc, 100*sw/mw)
}
