package encoder

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestLibraryPathMissing(t *testing.T) {
	_, err := LibraryPath(filepath.Join(t.TempDir(), "nope.so"))
	if !errors.Is(err, ErrRuntimeMissing) {
		t.Fatalf("got %v, want ErrRuntimeMissing", err)
	}
}

func TestProbeRuntime(t *testing.T) {
	info, err := ProbeRuntime("")
	if err != nil {
		t.Fatalf("probe (run `make setup`): %v", err)
	}
	if info.Version != "1.30.0" {
		t.Fatalf("onnx runtime version %q, want 1.30.0 (the Makefile's pin)", info.Version)
	}
}
