//go:build unix

package preprocess

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time. On the shared, loaded
// machine the benchmarks' wall time includes waiting for a core; with
// GOMAXPROCS=1 the CPU time per op is the cost of the work itself.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds a cpu-ms/op metric for the b.N iterations since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/1e6/float64(b.N), "cpu-ms/op")
}
