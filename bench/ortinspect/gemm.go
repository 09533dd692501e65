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

// gemmModel writes a one-node model computing [M,K]·[K,N]: a float MatMul, or
// (int8) com.microsoft DynamicQuantizeMatMul with per-column int8 weights —
// the operator the int8 converter emits.
func gemmModel(dir string, k, n int, int8, nbits bool) (string, error) {
	w := make([]byte, 0, 4*k*n)
	var init []*onnxpb.TensorProto
	node := &onnxpb.NodeProto{Name: proto.String("mm"), Input: []string{"a", "w"}, Output: []string{"y"}}
	if nbits {
		// MatMulNBits, 8 bits, blocks of 32 along K, accuracy_level 4 (int8
		// compute with per-row, per-block activation quantisation).
		const blk = 32
		nb := (k + blk - 1) / blk
		q := make([]byte, n*nb*blk)
		for i := range q {
			q[i] = byte(int8Val(i)) + 128
		}
		scale := make([]byte, 4*n*nb)
		for i := 0; i < n*nb; i++ {
			binary.LittleEndian.PutUint32(scale[4*i:], math.Float32bits(0.01))
		}
		init = append(init,
			&onnxpb.TensorProto{Name: proto.String("w"), Dims: []int64{int64(n), int64(nb), blk}, DataType: proto.Int32(int32(onnxpb.TensorProto_UINT8)), RawData: q},
			&onnxpb.TensorProto{Name: proto.String("s"), Dims: []int64{int64(n * nb)}, DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: scale})
		node.OpType, node.Domain = proto.String("MatMulNBits"), proto.String("com.microsoft")
		node.Input = append(node.Input, "s")
		node.Attribute = []*onnxpb.AttributeProto{
			{Name: proto.String("K"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(int64(k))},
			{Name: proto.String("N"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(int64(n))},
			{Name: proto.String("bits"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(8)},
			{Name: proto.String("block_size"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(blk)},
			{Name: proto.String("accuracy_level"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(4)},
		}
	} else if int8 {
		for i := 0; i < k*n; i++ {
			w = append(w, byte(int8Val(i)))
		}
		scale := make([]byte, 4*n)
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(scale[4*i:], math.Float32bits(0.01))
		}
		init = append(init,
			&onnxpb.TensorProto{Name: proto.String("w"), Dims: []int64{int64(k), int64(n)}, DataType: proto.Int32(int32(onnxpb.TensorProto_INT8)), RawData: w},
			&onnxpb.TensorProto{Name: proto.String("s"), Dims: []int64{int64(n)}, DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: scale})
		node.OpType, node.Domain = proto.String("DynamicQuantizeMatMul"), proto.String("com.microsoft")
		node.Input = append(node.Input, "s")
	} else {
		for i := 0; i < k*n; i++ {
			w = binary.LittleEndian.AppendUint32(w, math.Float32bits(float32(int8Val(i))/100))
		}
		init = append(init, &onnxpb.TensorProto{Name: proto.String("w"), Dims: []int64{int64(k), int64(n)}, DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: w})
		node.OpType = proto.String("MatMul")
	}
	vi := func(name string, dims ...any) *onnxpb.ValueInfoProto {
		sh := &onnxpb.TensorShapeProto{}
		for _, d := range dims {
			dim := &onnxpb.TensorShapeProto_Dimension{}
			switch x := d.(type) {
			case int:
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(x)}
			case string:
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: x}
			}
			sh.Dim = append(sh.Dim, dim)
		}
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: sh}}}}
	}
	m := &onnxpb.ModelProto{
		IrVersion: proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{
			{Domain: proto.String(""), Version: proto.Int64(17)},
			{Domain: proto.String("com.microsoft"), Version: proto.Int64(1)},
		},
		Graph: &onnxpb.GraphProto{Name: proto.String("gemm"), Node: []*onnxpb.NodeProto{node}, Initializer: init,
			Input: []*onnxpb.ValueInfoProto{vi("a", "m", k)}, Output: []*onnxpb.ValueInfoProto{vi("y", "m", n)}},
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("gemm-%d-%d-%v-%v.onnx", k, n, int8, nbits))
	return path, os.WriteFile(path, b, 0o644)
}

var nbits8 = flag.Bool("nbits8", false, "-gemm: also time MatMulNBits (8 bits, block 32, accuracy level 4)")

func int8Val(i int) int8 { return int8((i*7919)%255 - 127) }

// calibrate times an M×K×N GEMM (fp32 and int8) in this process, now: the
// GEMM-bound ceiling under the machine's present load.
func calibrate(so *ort.SessionOptions, m, k, n, runs int) []gemmResult {
	var res []gemmResult
	dir, err := os.MkdirTemp("", "gemm")
	must(err)
	defer os.RemoveAll(dir)
	a := make([]float32, m*k)
	for i := range a {
		a[i] = float32((i*31)%97)/48 - 1
	}
	in, err := ort.NewTensor(ort.NewShape(int64(m), int64(k)), a)
	must(err)
	defer in.Destroy()
	for _, v := range []struct{ q, nbits bool }{{false, false}, {true, false}, {true, true}} {
		if v.nbits && !*nbits8 {
			continue
		}
		q := v.q
		path, err := gemmModel(dir, k, n, q, v.nbits)
		must(err)
		s, err := ort.NewDynamicAdvancedSession(path, []string{"a"}, []string{"y"}, so)
		must(err)
		out := []ort.Value{nil}
		must(s.Run([]ort.Value{in}, out))
		out[0].Destroy()
		t0, c0 := time.Now(), cpuTime()
		for i := 0; i < runs; i++ {
			out[0] = nil
			must(s.Run([]ort.Value{in}, out))
			out[0].Destroy()
		}
		el, cpu := time.Since(t0), cpuTime()-c0
		ops := 2 * float64(m) * float64(k) * float64(n) * float64(runs)
		r := gemmResult{M: m, K: k, N: n, Int8: q, NBits: v.nbits, GFLOPSWall: ops / el.Seconds() / 1e9, GFLOPPerCPUSecond: ops / cpu.Seconds() / 1e9}
		fmt.Printf("gemm %dx%dx%d int8=%v matmulnbits=%v: %.0f GFLOP/s wall, %.0f GFLOP per cpu-s\n", m, k, n, q, v.nbits, r.GFLOPSWall, r.GFLOPPerCPUSecond)
		res = append(res, r)
		must(s.Destroy())
	}
	return res
}

// gemmResult is one calibration line (GOP for int8).
type gemmResult struct {
	M                 int     `json:"m"`
	K                 int     `json:"k"`
	N                 int     `json:"n"`
	Int8              bool    `json:"int8"`
	NBits             bool    `json:"matmulnbits,omitempty"`
	GFLOPSWall        float64 `json:"gflops_wall"`
	GFLOPPerCPUSecond float64 `json:"gflop_per_cpu_s"`
}
