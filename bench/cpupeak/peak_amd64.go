package main

import "golang.org/x/sys/cpu"

// fmaZ runs n iterations of 12 VFMADD231PS on 512-bit registers
// (peak_amd64.s); n must be at least 1.
func fmaZ(n int)

// vnniZ runs n iterations of 12 VPDPBUSD on 512-bit registers; n must be
// at least 1.
func vnniZ(n int)

// kernels lists what this CPU can run: fp32 FMA and int8 VNNI on 512-bit
// registers, with the operations one loop iteration performs.
func kernels() []kernel {
	var ks []kernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, kernel{name: "fp32", unit: "GFLOP/s", opsPerIter: 12 * 16 * 2, run: fmaZ})
	}
	if cpu.X86.HasAVX512VNNI {
		ks = append(ks, kernel{name: "int8", unit: "GOP/s", opsPerIter: 12 * 64 * 2, run: vnniZ})
	}
	return ks
}
