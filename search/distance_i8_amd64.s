#include "textflag.h"

// HSUM adds the sixteen 32-bit lanes of Z into the low lane of X (Y and X
// are Z's lower halves); Y8 and X8 are scratch.
#define HSUM(Z, Y, X) \
	VEXTRACTI64X4 $1, Z, Y8; \
	VPADDD        Y8, Y, Y;  \
	VEXTRACTI128  $1, Y, X8; \
	VPADDD        X8, X, X;  \
	VPSHUFD       $0x4E, X, X8; \
	VPADDD        X8, X, X;  \
	VPSHUFD       $0xB1, X, X8; \
	VPADDD        X8, X, X

// STORE4 writes the sums of a group's four accumulators Z0–Z3 to out and
// moves DX and DI on to the next group's slice headers and outputs.
#define STORE4 \
	HSUM(Z0, Y0, X0); \
	HSUM(Z1, Y1, X1); \
	HSUM(Z2, Y2, X2); \
	HSUM(Z3, Y3, X3); \
	VMOVD X0, 0(DI);  \
	VMOVD X1, 4(DI);  \
	VMOVD X2, 8(DI);  \
	VMOVD X3, 12(DI); \
	ADDQ  $96, DX;    \
	ADDQ  $16, DI

// Int8 dot-product kernels for the quantised index (see distance_i8.go).
// n is a multiple of 64; the Go wrappers check the slices and add the tail.
// VPMOVSXBW sign-extends 32 codes to 16-bit lanes, VPMADDWD multiplies
// lane pairs and adds each pair into a 32-bit lane: exact, no saturation.

// func dotI8AVX512(a, b *int8, n int) int32
TEXT ·dotI8AVX512(SB), NOSPLIT, $0-28
	MOVQ   a+0(FP), SI
	MOVQ   b+8(FP), DI
	MOVQ   n+16(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	XORQ   AX, AX

i512loop:
	VPMOVSXBW (SI)(AX*1), Z2
	VPMOVSXBW (DI)(AX*1), Z3
	VPMADDWD  Z3, Z2, Z2
	VPADDD    Z2, Z0, Z0
	VPMOVSXBW 32(SI)(AX*1), Z4
	VPMOVSXBW 32(DI)(AX*1), Z5
	VPMADDWD  Z5, Z4, Z4
	VPADDD    Z4, Z1, Z1
	ADDQ      $64, AX
	CMPQ      AX, CX
	JB        i512loop
	VPADDD    Z1, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDD        Y1, Y0, Y0
	VEXTRACTI128  $1, Y0, X1
	VPADDD        X1, X0, X0
	VPSHUFD       $0x4E, X0, X1
	VPADDD        X1, X0, X0
	VPSHUFD       $0xB1, X0, X1
	VPADDD        X1, X0, X0
	VZEROUPPER
	MOVQ X0, AX
	MOVL AX, ret+24(FP)
	RET

// func dotBatchI8AVX512(q *int8, vs [][]int8, out []int32, n int)
// out[i] = q·vs[i], four vectors per pass: each 64-code block of q is
// sign-extended once and multiplied into four accumulators, and the same
// cache line of each of the next four vectors is prefetched.
//
// Registers: SI q, DX current group's slice headers, DI out, R13 groups
// left, CX n, AX offset, R8–R11 this group's vectors, BX R12 R14 R15 the
// next group's (R14 and R15 are scratch in ABI0).
TEXT ·dotBatchI8AVX512(SB), NOSPLIT, $0-64
	MOVQ q+0(FP), SI
	MOVQ vs_base+8(FP), DX
	MOVQ vs_len+16(FP), R13
	MOVQ out_base+32(FP), DI
	MOVQ n+56(FP), CX
	SHRQ $2, R13
	JZ   ib512done

ib512group:
	MOVQ 0(DX), R8
	MOVQ 24(DX), R9
	MOVQ 48(DX), R10
	MOVQ 72(DX), R11
	CMPQ R13, $1
	JEQ  ib512last
	MOVQ 96(DX), BX
	MOVQ 120(DX), R12
	MOVQ 144(DX), R14
	MOVQ 168(DX), R15
	JMP  ib512start

ib512last:
	MOVQ R8, BX
	MOVQ R9, R12
	MOVQ R10, R14
	MOVQ R11, R15

ib512start:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	XORQ   AX, AX

ib512loop:
	PREFETCHT0 (BX)(AX*1)
	PREFETCHT0 (R12)(AX*1)
	PREFETCHT0 (R14)(AX*1)
	PREFETCHT0 (R15)(AX*1)
	VPMOVSXBW  (SI)(AX*1), Z4
	VPMOVSXBW  32(SI)(AX*1), Z5
	VPMOVSXBW (R8)(AX*1), Z6
	VPMOVSXBW 32(R8)(AX*1), Z7
	VPMADDWD  Z6, Z4, Z6
	VPMADDWD  Z7, Z5, Z7
	VPADDD    Z6, Z0, Z0
	VPADDD    Z7, Z0, Z0
	VPMOVSXBW (R9)(AX*1), Z6
	VPMOVSXBW 32(R9)(AX*1), Z7
	VPMADDWD  Z6, Z4, Z6
	VPMADDWD  Z7, Z5, Z7
	VPADDD    Z6, Z1, Z1
	VPADDD    Z7, Z1, Z1
	VPMOVSXBW (R10)(AX*1), Z6
	VPMOVSXBW 32(R10)(AX*1), Z7
	VPMADDWD  Z6, Z4, Z6
	VPMADDWD  Z7, Z5, Z7
	VPADDD    Z6, Z2, Z2
	VPADDD    Z7, Z2, Z2
	VPMOVSXBW (R11)(AX*1), Z6
	VPMOVSXBW 32(R11)(AX*1), Z7
	VPMADDWD  Z6, Z4, Z6
	VPMADDWD  Z7, Z5, Z7
	VPADDD    Z6, Z3, Z3
	VPADDD    Z7, Z3, Z3
	ADDQ $64, AX
	CMPQ AX, CX
	JB   ib512loop
	STORE4
	DECQ  R13
	JNZ   ib512group

ib512done:
	VZEROUPPER
	RET

// func dotI8AVX2(a, b *int8, n int) int32
TEXT ·dotI8AVX2(SB), NOSPLIT, $0-28
	MOVQ  a+0(FP), SI
	MOVQ  b+8(FP), DI
	MOVQ  n+16(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	XORQ  AX, AX

i256loop:
	VPMOVSXBW 0(SI)(AX*1), Y2
	VPMOVSXBW 0(DI)(AX*1), Y3
	VPMADDWD  Y3, Y2, Y2
	VPADDD    Y2, Y0, Y0
	VPMOVSXBW 16(SI)(AX*1), Y2
	VPMOVSXBW 16(DI)(AX*1), Y3
	VPMADDWD  Y3, Y2, Y2
	VPADDD    Y2, Y1, Y1
	VPMOVSXBW 32(SI)(AX*1), Y2
	VPMOVSXBW 32(DI)(AX*1), Y3
	VPMADDWD  Y3, Y2, Y2
	VPADDD    Y2, Y0, Y0
	VPMOVSXBW 48(SI)(AX*1), Y2
	VPMOVSXBW 48(DI)(AX*1), Y3
	VPMADDWD  Y3, Y2, Y2
	VPADDD    Y2, Y1, Y1
	ADDQ $64, AX
	CMPQ AX, CX
	JB   i256loop
	VPADDD       Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0x4E, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xB1, X0, X1
	VPADDD       X1, X0, X0
	VZEROUPPER
	MOVQ X0, AX
	MOVL AX, ret+24(FP)
	RET

// func dotBatchI8VNNI(q *int8, vs [][]int8, out []int32, n int)
// dotBatchI8AVX512 with AVX-512 VNNI: VPDPBUSD multiplies unsigned by
// signed bytes and adds each four products into a 32-bit lane, one
// instruction per 64 codes instead of four. The stored codes c are made
// unsigned as c XOR 0x80 = c + 128, so each sum carries 128·Σq more than
// q·c; every accumulator starts at −128·Σq (Z13, summed once per call
// with the same instruction), so the result is exact, as the others are.
//
// Registers as in dotBatchI8AVX512; Z9 holds 0x80 in every byte, Z4 the
// current 64 codes of q.
TEXT ·dotBatchI8VNNI(SB), NOSPLIT, $0-64
	MOVQ q+0(FP), SI
	MOVQ vs_base+8(FP), DX
	MOVQ vs_len+16(FP), R13
	MOVQ out_base+32(FP), DI
	MOVQ n+56(FP), CX
	SHRQ $2, R13
	JZ   ivdone
	MOVL         $0x80808080, AX
	VPBROADCASTD AX, Z9
	VPXORD       Z12, Z12, Z12
	XORQ         AX, AX

ivsum:
	VMOVDQU64 (SI)(AX*1), Z4
	VPDPBUSD  Z4, Z9, Z12
	ADDQ      $64, AX
	CMPQ      AX, CX
	JB        ivsum
	VPXORD    Z13, Z13, Z13
	VPSUBD    Z12, Z13, Z13

ivgroup:
	MOVQ 0(DX), R8
	MOVQ 24(DX), R9
	MOVQ 48(DX), R10
	MOVQ 72(DX), R11
	CMPQ R13, $1
	JEQ  ivlast
	MOVQ 96(DX), BX
	MOVQ 120(DX), R12
	MOVQ 144(DX), R14
	MOVQ 168(DX), R15
	JMP  ivstart

ivlast:
	MOVQ R8, BX
	MOVQ R9, R12
	MOVQ R10, R14
	MOVQ R11, R15

ivstart:
	VMOVDQA64 Z13, Z0
	VMOVDQA64 Z13, Z1
	VMOVDQA64 Z13, Z2
	VMOVDQA64 Z13, Z3
	XORQ      AX, AX

ivloop:
	PREFETCHT0 (BX)(AX*1)
	PREFETCHT0 (R12)(AX*1)
	PREFETCHT0 (R14)(AX*1)
	PREFETCHT0 (R15)(AX*1)
	VMOVDQU64  (SI)(AX*1), Z4
	VPXORD     (R8)(AX*1), Z9, Z5
	VPXORD     (R9)(AX*1), Z9, Z6
	VPXORD     (R10)(AX*1), Z9, Z7
	VPXORD     (R11)(AX*1), Z9, Z8
	VPDPBUSD   Z4, Z5, Z0
	VPDPBUSD   Z4, Z6, Z1
	VPDPBUSD   Z4, Z7, Z2
	VPDPBUSD   Z4, Z8, Z3
	ADDQ       $64, AX
	CMPQ       AX, CX
	JB         ivloop
	STORE4
	DECQ  R13
	JNZ   ivgroup

ivdone:
	VZEROUPPER
	RET
