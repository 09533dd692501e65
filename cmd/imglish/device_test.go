package main

import (
	"errors"
	"path/filepath"
	"testing"

	"imglish/encoder"
)

// TestDeviceFlag: --device reaches the encoder. An unknown device, and cuda on
// a machine where CUDA cannot run (probed, not assumed), fail with ErrProvider.
func TestDeviceFlag(t *testing.T) {
	ctx := t.Context()
	model := filepath.Join(t.TempDir(), "model")
	if _, err := runCLI(ctx, t, "convert", "--checkpoint", "../../testdata/reference/tiny.pth", "--out", model); err != nil {
		t.Fatal(err)
	}
	cuda := encoder.ProbeCUDA("")
	tests := []struct {
		device string
		want   error
		skip   bool
	}{
		{"cpu", nil, false},
		{"tpu", encoder.ErrProvider, false},
		{"cuda", encoder.ErrProvider, cuda.Usable},
	}
	for _, tc := range tests {
		t.Run(tc.device, func(t *testing.T) {
			if tc.skip {
				t.Skip("CUDA is usable here; the unavailable path is not reachable")
			}
			_, err := runCLI(ctx, t, "--device", tc.device, "embed", "--model", model, "--tokens", "0,5,2")
			if !errors.Is(err, tc.want) {
				t.Fatalf("--device %s: got %v, want %v", tc.device, err, tc.want)
			}
		})
	}
}
