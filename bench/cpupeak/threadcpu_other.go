//go:build !linux

package main

import "time"

// threadCPU is 0 where a thread's CPU time is not read: the result then has
// no per-CPU-second rate.
func threadCPU() time.Duration { return 0 }
