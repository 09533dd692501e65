//go:build !amd64

package main

// kernels is empty: the peak loops are written for x86-64 only.
func kernels() []kernel { return nil }
