package encoder

import (
	"context"
	"errors"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"imglish/encoder/convert"
)

// TestShimSessionOptions drives the cgo shim on the CPU library: a config
// entry set through the shim's own API pointer on sessionOptionsPtr is read
// back through onnxruntime_go (so the pointer really is the
// OrtSessionOptions*), and GetEpDevices lists the CPU provider but no CUDA GPU.
func TestShimSessionOptions(t *testing.T) {
	if err := acquireRuntime(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = releaseRuntime() })
	so, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer so.Destroy()
	if err := setConfigViaShim(so, runtime.lib, "imglish.shim.test", "42"); err != nil {
		t.Fatalf("set through shim: %v", err)
	}
	got, err := so.GetSessionConfigEntry("imglish.shim.test")
	if err != nil || got != "42" {
		t.Fatalf("read back %q, %v; want 42", got, err)
	}
	list, n, err := cudaDevices(runtime.lib)
	if err != nil {
		t.Fatalf("list devices: %v", err)
	}
	if n != 0 || !strings.Contains(list, "CPUExecutionProvider") {
		t.Errorf("CPU library: %d CUDA devices, listing %q; want 0 and the CPU provider", n, list)
	}
	if err := appendCUDA(so, runtime.lib, "/nonexistent/"+CUDAProviderFile, nil); !errors.Is(err, ErrProvider) {
		t.Errorf("append with a missing provider library: %v, want ErrProvider", err)
	}
}

// TestCUDAUnavailable: where CUDA cannot run (probed, not configured), Open
// with Provider "cuda" fails with ErrProvider carrying the probe's reason.
func TestCUDAUnavailable(t *testing.T) {
	info := ProbeCUDA("")
	if info.Usable {
		t.Skipf("CUDA is usable here (%s); TestCUDAParity covers it", info.Devices)
	}
	if info.Reason == "" {
		t.Fatal("unusable CUDA without a reason")
	}
	t.Logf("cuda unavailable: %s", info.Reason)
	dir := convertFixture(t, "tiny", 0, convert.PrecisionFP16, 0)
	_, err := Open(context.Background(), dir, Options{Provider: "cuda"})
	if !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "cuda") {
		t.Fatalf("Open cuda: %v, want ErrProvider with the reason", err)
	}
}

// TestCUDAParity runs the fp16 base-shaped model on the GPU: within cosine
// 0.999 of the float64 goldens. Skipped (probed) where CUDA cannot run. Run it
// on its own (`go test -run CUDA ./encoder/`): it loads the GPU build of ORT.
func TestCUDAParity(t *testing.T) {
	info := ProbeCUDA("")
	if !info.Usable {
		t.Skipf("CUDA unavailable: %s", info.Reason)
	}
	dir := convertFixture(t, "base_shaped", 0, convert.PrecisionFP16, 0)
	e, err := Open(context.Background(), dir, Options{Provider: "cuda"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	w := embedGoldens(t, loadGoldens(t), e, "base_shaped", 384, 0.999, 1)
	t.Logf("cuda fp16 base_shaped: min cosine %.7f, max |Δ| %.3g (%s)", w.cos, w.abs, info.Devices)
}
