package convert

import (
	"fmt"
	"math"
	"sync"

	"imglish/encoder/modelfile"
)

// PrecisionInt8 quantises the weights of every linear layer (q/k/v, out_proj,
// fc1, fc2) to int8 with one scale per output column; activations are
// quantised to uint8 at run time, per tensor, by ORT's DynamicQuantizeMatMul
// (VNNI int8 GEMM on x86). Everything else — embeddings, attention scores,
// LayerNorm, GELU, the heads and normalisation — stays float32.
//
// Measured on a 2-core AVX-512 VNNI machine: DynamicQuantizeMatMul ran ~2×
// faster per CPU-second than MatMulNBits with 8 bits and accuracy level 4
// (bench/ortinspect -gemm … -nbits8). Caveat: on x86 CPUs without VNNI,
// ORT's u8×s8 kernels use VPMADDUBSW, whose int16 sums can saturate with
// full-range int8 weights (ORT's quantisation notes suggest 7-bit weights
// there); the cosine checks were run on VNNI hardware only.
const PrecisionInt8 = modelfile.PrecisionInt8

// quantized is one weight's int8 values and per-column scales, computed once
// and shared by the two initializers that write them.
type quantized struct {
	once  sync.Once
	q     []byte
	scale []float32
	err   error
}

// quantizeColumns quantises w [k, n] (row-major, MatMul layout) symmetrically
// per output column: scale_j = max_i |w_ij| / 127, q_ij = round(w_ij/scale_j)
// in [-127, 127] (−128 is never used, so the range is symmetric). An all-zero
// column gets scale 1.
func quantizeColumns(w []float32, k, n int) ([]byte, []float32) {
	scale := make([]float32, n)
	for i := 0; i < k; i++ {
		row := w[i*n : (i+1)*n]
		for j, v := range row {
			scale[j] = max(scale[j], float32(math.Abs(float64(v))))
		}
	}
	for j := range scale {
		if scale[j] == 0 {
			scale[j] = 1
		} else {
			scale[j] /= 127
		}
	}
	q := make([]byte, k*n)
	for i := 0; i < k; i++ {
		for j := 0; j < n; j++ {
			v := math.RoundToEven(float64(w[i*n+j] / scale[j]))
			q[i*n+j] = byte(int8(max(-127, min(127, v))))
		}
	}
	return q, scale
}

// dense is x·W (+ bias when bias != "") for a weight [k, n] in MatMul layout
// produced by fill. Float graphs use MatMul and Add (ORT fuses the pair);
// int8 graphs one DynamicQuantizeMatMul with the bias folded in.
func (g *graphGen) dense(x, name string, k, n int, fill func() ([]float32, error), bias string) string {
	b := g.b
	if !b.int8 {
		y := b.op("MatMul", []string{x, b.weight(name, []int64{int64(k), int64(n)}, fill)})
		if bias != "" {
			y = b.op("Add", []string{y, bias})
		}
		return y
	}
	qw := &quantized{}
	load := func() error {
		qw.once.Do(func() {
			w, err := fill()
			if err != nil {
				qw.err = err
				return
			}
			if len(w) != k*n {
				qw.err = fmt.Errorf("weight %s has %d values, want %d×%d", name, len(w), k, n)
				return
			}
			qw.q, qw.scale = quantizeColumns(w, k, n)
		})
		return qw.err
	}
	wName, sName := name+".int8", name+".scale"
	b.addInit(wName, []int64{int64(k), int64(n)}, tInt8, func() ([]byte, error) {
		if err := load(); err != nil {
			return nil, err
		}
		return qw.q, nil
	})
	b.addInit(sName, []int64{int64(n)}, tFloat, func() ([]byte, error) {
		if err := load(); err != nil {
			return nil, err
		}
		s := encodeFloats(qw.scale, tFloat)
		qw.q, qw.scale = nil, nil // written in this order; free the weight
		return s, nil
	})
	in := []string{x, wName, sName}
	if bias != "" {
		in = append(in, "", bias) // no zero point: symmetric weights
	}
	return b.msOp("DynamicQuantizeMatMul", in)
}
