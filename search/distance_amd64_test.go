package search

import (
	"slices"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestKernelChoice checks that the widest kernel this CPU runs is the one
// in use: AVX-512 when the CPU (and OS) has it, else AVX2 with FMA, else the
// generic loop.
func TestKernelChoice(t *testing.T) {
	var want []string
	for _, c := range []struct {
		name string
		has  bool
	}{
		{"avx512", cpu.X86.HasAVX512F},
		{"avx2", cpu.X86.HasAVX2 && cpu.X86.HasFMA},
		{"generic", true},
	} {
		if c.has {
			want = append(want, c.name)
		}
	}
	if got := kernelNames(kernels()); !slices.Equal(got, want) {
		t.Fatalf("kernels %v, want %v", got, want)
	}
	if Kernel() != want[0] {
		t.Fatalf("Kernel() = %q, want %q", Kernel(), want[0])
	}
}
