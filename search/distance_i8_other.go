//go:build !amd64

package search

// kernelsI8 lists the int8 kernels this platform runs: only the generic one.
func kernelsI8() []kernelI8 { return []kernelI8{genericI8} }
