package server

import (
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"net"
)

type netAddr = net.Addr

func ioPipe() (*io.PipeReader, *io.PipeWriter) { return io.Pipe() }

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// normalize is sum as a unit vector: the tests' own oracle for the core's
// query and prompt-ensemble normalisation.
func normalize(sum []float64) ([]float32, error) {
	var norm float64
	for _, x := range sum {
		norm += x * x
	}
	norm = math.Sqrt(norm)
	if norm < 1e-9 {
		return nil, fmt.Errorf("zero vector")
	}
	out := make([]float32, len(sum))
	for i, x := range sum {
		out[i] = float32(x / norm)
	}
	return out, nil
}
