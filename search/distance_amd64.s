#include "textflag.h"

// Dot-product kernels for package search (see distance.go). Each reads
// len(q) (or len(a)) floats from every vector; the Go wrappers check that the
// other slices are at least that long, and that len(vs) is a multiple of 4.

// func dotAVX512(a, b []float32) float32
// Four 16-lane accumulators (64 floats per iteration), then 16-float
// blocks, then one masked load for the last len%16 floats.
TEXT ·dotAVX512(SB), NOSPLIT, $0-52
	MOVQ a_base+0(FP), SI
	MOVQ b_base+24(FP), DI
	MOVQ a_len+8(FP), CX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3

d512loop64:
	CMPQ CX, $64
	JB   d512loop16
	VMOVUPS     (SI), Z4
	VMOVUPS     64(SI), Z5
	VMOVUPS     128(SI), Z6
	VMOVUPS     192(SI), Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	JMP         d512loop64

d512loop16:
	CMPQ CX, $16
	JB   d512tail
	VMOVUPS     (SI), Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         d512loop16

d512tail:
	TESTQ CX, CX
	JZ    d512reduce
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K1
	VMOVUPS.Z   (SI), K1, Z4
	VFMADD231PS (DI), Z4, K1, Z1

d512reduce:
	VADDPS        Z1, Z0, Z0
	VADDPS        Z3, Z2, Z2
	VADDPS        Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VHADDPS       X0, X0, X0
	VHADDPS       X0, X0, X0
	VZEROUPPER
	MOVSS         X0, ret+48(FP)
	RET

// func dotBatchAVX512(q []float32, vs [][]float32, out []float32)
// out[i] = q·vs[i] for len(vs) vectors, four at a time: each 16-float
// block of q is loaded once and multiplied into four accumulators, and the
// matching cache line of each of the next four vectors is prefetched, so
// their loads from memory overlap with this group's arithmetic.
//
// Registers: SI q, DI out, DX current group's slice headers, R13 groups
// left, CX bytes in whole 16-float blocks, AX byte offset, R8–R11 this
// group's vectors, BX R12 R14 R15 the next group's (R14 and R15 are scratch
// in ABI0), K1 the tail mask.
TEXT ·dotBatchAVX512(SB), NOSPLIT, $0-72
	MOVQ q_base+0(FP), SI
	MOVQ vs_base+24(FP), DX
	MOVQ vs_len+32(FP), R13
	MOVQ out_base+48(FP), DI
	SHRQ $2, R13
	JZ   b512done
	MOVQ q_len+8(FP), CX
	ANDQ $15, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	MOVQ q_len+8(FP), CX
	ANDQ $-16, CX
	SHLQ $2, CX
	MOVQ 0(DX), R8
	MOVQ 24(DX), R9
	MOVQ 48(DX), R10
	MOVQ 72(DX), R11

b512group:
	CMPQ R13, $1
	JEQ  b512last
	MOVQ 96(DX), BX
	MOVQ 120(DX), R12
	MOVQ 144(DX), R14
	MOVQ 168(DX), R15
	JMP  b512start

b512last:
	MOVQ R8, BX
	MOVQ R9, R12
	MOVQ R10, R14
	MOVQ R11, R15

b512start:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	XORQ   AX, AX
	CMPQ   AX, CX
	JAE    b512tail

b512block:
	VMOVUPS     (SI)(AX*1), Z4
	VFMADD231PS (R8)(AX*1), Z4, Z0
	VFMADD231PS (R9)(AX*1), Z4, Z1
	VFMADD231PS (R10)(AX*1), Z4, Z2
	VFMADD231PS (R11)(AX*1), Z4, Z3
	PREFETCHT0  (BX)(AX*1)
	PREFETCHT0  (R12)(AX*1)
	PREFETCHT0  (R14)(AX*1)
	PREFETCHT0  (R15)(AX*1)
	ADDQ        $64, AX
	CMPQ        AX, CX
	JB          b512block

b512tail:
	KORTESTW    K1, K1
	JZ          b512reduce
	VMOVUPS.Z   (SI)(AX*1), K1, Z4
	VFMADD231PS (R8)(AX*1), Z4, K1, Z0
	VFMADD231PS (R9)(AX*1), Z4, K1, Z1
	VFMADD231PS (R10)(AX*1), Z4, K1, Z2
	VFMADD231PS (R11)(AX*1), Z4, K1, Z3

b512reduce:
	VEXTRACTF64X4 $1, Z0, Y4
	VADDPS        Y4, Y0, Y0
	VEXTRACTF64X4 $1, Z1, Y5
	VADDPS        Y5, Y1, Y1
	VEXTRACTF64X4 $1, Z2, Y6
	VADDPS        Y6, Y2, Y2
	VEXTRACTF64X4 $1, Z3, Y7
	VADDPS        Y7, Y3, Y3
	VEXTRACTF128  $1, Y0, X4
	VADDPS        X4, X0, X0
	VEXTRACTF128  $1, Y1, X5
	VADDPS        X5, X1, X1
	VEXTRACTF128  $1, Y2, X6
	VADDPS        X6, X2, X2
	VEXTRACTF128  $1, Y3, X7
	VADDPS        X7, X3, X3
	VHADDPS       X1, X0, X0
	VHADDPS       X3, X2, X2
	VHADDPS       X2, X0, X0
	VMOVUPS       X0, (DI)
	ADDQ          $16, DI
	ADDQ          $96, DX
	MOVQ          BX, R8
	MOVQ          R12, R9
	MOVQ          R14, R10
	MOVQ          R15, R11
	DECQ          R13
	JNZ           b512group

b512done:
	VZEROUPPER
	RET

// func dotAVX2(a, b []float32) float32
// Four 8-lane accumulators (32 floats per iteration), then 8-float blocks,
// then a scalar tail into X8.
TEXT ·dotAVX2(SB), NOSPLIT, $0-52
	MOVQ a_base+0(FP), SI
	MOVQ b_base+24(FP), DI
	MOVQ a_len+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS X8, X8, X8

d256loop32:
	CMPQ CX, $32
	JB   d256loop8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         d256loop32

d256loop8:
	CMPQ CX, $8
	JB   d256tail
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         d256loop8

d256tail:
	TESTQ CX, CX
	JZ    d256reduce
	VMOVSS      (SI), X4
	VFMADD231SS (DI), X4, X8
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         d256tail

d256reduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VADDSS       X8, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+48(FP)
	RET

// func dotBatchAVX2(q []float32, vs [][]float32, out []float32)
// dotBatchAVX512 on 8-lane registers, with a scalar tail (X8–X11) for the
// last len(q)%8 floats. Registers as in dotBatchAVX512, except that AX
// counts floats and CX is the number of floats in whole 8-float blocks.
TEXT ·dotBatchAVX2(SB), NOSPLIT, $0-72
	MOVQ q_base+0(FP), SI
	MOVQ vs_base+24(FP), DX
	MOVQ vs_len+32(FP), R13
	MOVQ out_base+48(FP), DI
	SHRQ $2, R13
	JZ   b256done
	MOVQ q_len+8(FP), CX
	ANDQ $-8, CX
	MOVQ 0(DX), R8
	MOVQ 24(DX), R9
	MOVQ 48(DX), R10
	MOVQ 72(DX), R11

b256group:
	CMPQ R13, $1
	JEQ  b256last
	MOVQ 96(DX), BX
	MOVQ 120(DX), R12
	MOVQ 144(DX), R14
	MOVQ 168(DX), R15
	JMP  b256start

b256last:
	MOVQ R8, BX
	MOVQ R9, R12
	MOVQ R10, R14
	MOVQ R11, R15

b256start:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS X8, X8, X8
	VXORPS X9, X9, X9
	VXORPS X10, X10, X10
	VXORPS X11, X11, X11
	XORQ   AX, AX
	CMPQ   AX, CX
	JAE    b256tail

b256block:
	VMOVUPS     (SI)(AX*4), Y4
	VFMADD231PS (R8)(AX*4), Y4, Y0
	VFMADD231PS (R9)(AX*4), Y4, Y1
	VFMADD231PS (R10)(AX*4), Y4, Y2
	VFMADD231PS (R11)(AX*4), Y4, Y3
	PREFETCHT0  (BX)(AX*4)
	PREFETCHT0  (R12)(AX*4)
	PREFETCHT0  (R14)(AX*4)
	PREFETCHT0  (R15)(AX*4)
	ADDQ        $8, AX
	CMPQ        AX, CX
	JB          b256block

b256tail:
	CMPQ        AX, q_len+8(FP)
	JAE         b256reduce
	VMOVSS      (SI)(AX*4), X4
	VFMADD231SS (R8)(AX*4), X4, X8
	VFMADD231SS (R9)(AX*4), X4, X9
	VFMADD231SS (R10)(AX*4), X4, X10
	VFMADD231SS (R11)(AX*4), X4, X11
	INCQ        AX
	JMP         b256tail

b256reduce:
	VEXTRACTF128 $1, Y0, X4
	VADDPS       X4, X0, X0
	VADDSS       X8, X0, X0
	VEXTRACTF128 $1, Y1, X5
	VADDPS       X5, X1, X1
	VADDSS       X9, X1, X1
	VEXTRACTF128 $1, Y2, X6
	VADDPS       X6, X2, X2
	VADDSS       X10, X2, X2
	VEXTRACTF128 $1, Y3, X7
	VADDPS       X7, X3, X3
	VADDSS       X11, X3, X3
	VHADDPS      X1, X0, X0
	VHADDPS      X3, X2, X2
	VHADDPS      X2, X0, X0
	VMOVUPS      X0, (DI)
	ADDQ         $16, DI
	ADDQ         $96, DX
	MOVQ         BX, R8
	MOVQ         R12, R9
	MOVQ         R14, R10
	MOVQ         R15, R11
	DECQ         R13
	JNZ          b256group

b256done:
	VZEROUPPER
	RET

// func prefetch(p *uint32)
// Asks for the three cache lines from p on (a layer-0 link list of up to
// 2·M+1 = 33 uint32s spans at most three), without waiting for them.
TEXT ·prefetch(SB), NOSPLIT, $0-8
	MOVQ       p+0(FP), AX
	PREFETCHT0 (AX)
	PREFETCHT0 64(AX)
	PREFETCHT0 128(AX)
	RET

// func prefetchSpan(v []float32)
// Asks for every cache line of v without waiting for any: a re-ranked
// vector (3 KB at 768-d) is 48 lines, more than the hardware prefetcher
// runs ahead of by itself.
TEXT ·prefetchSpan(SB), NOSPLIT, $0-24
	MOVQ v_base+0(FP), AX
	MOVQ v_len+8(FP), CX
	SHLQ $2, CX
	ADDQ AX, CX

pfloop:
	CMPQ       AX, CX
	JAE        pfdone
	PREFETCHT0 (AX)
	ADDQ       $64, AX
	JMP        pfloop

pfdone:
	RET
