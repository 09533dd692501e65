package preprocess

import "golang.org/x/sys/cpu"

// haveMAC says macRows16 may run: it needs AVX2.
var haveMAC = cpu.X86.HasAVX2

// macRows16 is macRows over the first n outputs, n a positive multiple
// of 16, in AVX2 (mac_amd64.s): 16 outputs per step, taps rows stride bytes
// apart from src, each multiplied by its coefficient in k. The caller checks
// the bounds.
//
//go:noescape
func macRows16(dst *uint8, n int, src *uint8, stride int, k *int32, taps int)
