#include "textflag.h"

// func macRows16(dst *uint8, n int, src *uint8, stride int, k *int32, taps int)
//
// For i < n (a multiple of 16):
//   dst[i] = clip8(1<<21 + Σ_j src[j*stride+i]·k[j])
// with Pillow's rounding and clipping (clip8 shifts right by 22, then
// clamps to [0, 255]): the int32 sums wrap exactly as Go's do, VPSRAD is
// Go's arithmetic >>, and the two saturating packs clamp as clip8 does.
TEXT ·macRows16(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ src+16(FP), SI
	MOVQ stride+24(FP), DX
	MOVQ k+32(FP), R8
	MOVQ taps+40(FP), R9
	MOVL $0x200000, AX
	MOVQ AX, X6
	VPBROADCASTD X6, Y6

block:
	VMOVDQU Y6, Y0
	VMOVDQU Y6, Y1
	MOVQ SI, R10
	MOVQ R8, R11
	MOVQ R9, R12

tap:
	VPBROADCASTD (R11), Y2
	VPMOVZXBD (R10), Y3
	VPMOVZXBD 8(R10), Y4
	VPMULLD Y2, Y3, Y3
	VPMULLD Y2, Y4, Y4
	VPADDD Y3, Y0, Y0
	VPADDD Y4, Y1, Y1
	ADDQ DX, R10
	ADDQ $4, R11
	DECQ R12
	JNZ tap

	VPSRAD $22, Y0, Y0
	VPSRAD $22, Y1, Y1
	// Per 128-bit lane: Y0's four int16, then Y1's; VPERMQ restores order.
	VPACKSSDW Y1, Y0, Y0
	VPERMQ $0xD8, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPACKUSWB X1, X0, X0
	VMOVDQU X0, (DI)

	ADDQ $16, DI
	ADDQ $16, SI
	SUBQ $16, CX
	JNZ block

	VZEROUPPER
	RET
