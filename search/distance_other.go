//go:build !amd64

package search

// kernels lists the kernels this platform runs: only the generic one.
func kernels() []kernel { return []kernel{generic} }

// prefetch does nothing where there is no assembly.
func prefetch(*uint32) {}

// prefetchSpan does nothing where there is no assembly.
func prefetchSpan([]float32) {}
