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
// the operator the int8 converter emits — or (integer) MatMulInteger on an
// input already quantised to uint8, int32 out: the same int8 GEMM without
// quantising the activations or scaling the result.
func gemmModel(dir string, k, n int, int8, nbits, integer bool) (string, error) {
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
	} else if integer {
		for i := 0; i < k*n; i++ {
			w = append(w, byte(int8Val(i)))
		}
		init = append(init, &onnxpb.TensorProto{Name: proto.String("w"), Dims: []int64{int64(k), int64(n)}, DataType: proto.Int32(int32(onnxpb.TensorProto_INT8)), RawData: w})
		node.OpType = proto.String("MatMulInteger")
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
	vi := valueInfo
	in, out := onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_FLOAT
	if integer {
		in, out = onnxpb.TensorProto_UINT8, onnxpb.TensorProto_INT32
	}
	m := &onnxpb.ModelProto{
		IrVersion: proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{
			{Domain: proto.String(""), Version: proto.Int64(17)},
			{Domain: proto.String("com.microsoft"), Version: proto.Int64(1)},
		},
		Graph: &onnxpb.GraphProto{Name: proto.String("gemm"), Node: []*onnxpb.NodeProto{node}, Initializer: init,
			Input: []*onnxpb.ValueInfoProto{vi("a", in, "m", k)}, Output: []*onnxpb.ValueInfoProto{vi("y", out, "m", n)}},
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("gemm-%d-%d-%v-%v-%v.onnx", k, n, int8, nbits, integer))
	return path, os.WriteFile(path, b, 0o644)
}

// valueInfo declares a graph input or output of type typ; each dimension is
// an int (fixed) or a string (named, any size).
func valueInfo(name string, typ onnxpb.TensorProto_DataType, dims ...any) *onnxpb.ValueInfoProto {
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
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(typ)), Shape: sh}}}}
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
	a8 := make([]uint8, m*k)
	for i := range a8 {
		a8[i] = uint8(i * 31 % 251)
	}
	in8, err := ort.NewTensor(ort.NewShape(int64(m), int64(k)), a8)
	must(err)
	defer in8.Destroy()
	for _, v := range []struct{ q, nbits, integer bool }{{false, false, false}, {true, false, false}, {true, true, false}, {true, false, true}} {
		if v.nbits && !*nbits8 {
			continue
		}
		q := v.q
		path, err := gemmModel(dir, k, n, q, v.nbits, v.integer)
		must(err)
		s, err := ort.NewDynamicAdvancedSession(path, []string{"a"}, []string{"y"}, so)
		must(err)
		x := []ort.Value{in}
		if v.integer {
			x = []ort.Value{in8}
		}
		// One output tensor for every run: letting ORT allocate a fresh
		// [M,N] result each time adds page faults the graph, which reuses
		// its arena, never pays (a 577×768×3072 fp32 MatMul took about
		// 1.4× as long that way, here).
		var y ort.Value
		if v.integer {
			y, err = ort.NewEmptyTensor[int32](ort.NewShape(int64(m), int64(n)))
		} else {
			y, err = ort.NewEmptyTensor[float32](ort.NewShape(int64(m), int64(n)))
		}
		must(err)
		out := []ort.Value{y}
		must(s.Run(x, out))
		t0, c0 := time.Now(), cpuTime()
		for i := 0; i < runs; i++ {
			must(s.Run(x, out))
		}
		el, cpu := time.Since(t0), cpuTime()-c0
		y.Destroy()
		ops := 2 * float64(m) * float64(k) * float64(n) * float64(runs)
		r := gemmResult{M: m, K: k, N: n, Int8: q, NBits: v.nbits, GFLOPSWall: ops / el.Seconds() / 1e9, GFLOPPerCPUSecond: ops / cpu.Seconds() / 1e9}
		if v.integer {
			r.Op = "MatMulInteger"
		}
		fmt.Printf("gemm %dx%dx%d int8=%v matmulnbits=%v matmulinteger=%v: %.0f GFLOP/s wall, %.0f GFLOP per cpu-s\n", m, k, n, q, v.nbits, v.integer, r.GFLOPSWall, r.GFLOPPerCPUSecond)
		res = append(res, r)
		must(s.Destroy())
	}
	return res
}

// gemmResult is one calibration line (GOP for int8).
type gemmResult struct {
	M     int  `json:"m"`
	K     int  `json:"k"`
	N     int  `json:"n"`
	Int8  bool `json:"int8"`
	NBits bool `json:"matmulnbits,omitempty"`
	// Op is "MatMulInteger" for the GEMM alone on uint8 input (no
	// activation quantisation, int32 out); empty for the graph's operators.
	Op                string  `json:"op,omitempty"`
	GFLOPSWall        float64 `json:"gflops_wall"`
	GFLOPPerCPUSecond float64 `json:"gflop_per_cpu_s"`
}
