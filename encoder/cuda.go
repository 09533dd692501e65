package encoder

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "cuda_shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"
)

// CUDA runs through ONNX Runtime's plugin execution-provider API: the GPU
// build of ORT (`make setup-gpu`: the CUDA 13 build of ORT 1.29, whose legacy
// AppendExecutionProviderCUDA path says "CUDA not enabled") loads
// libonnxruntime_providers_cuda.so with RegisterExecutionProviderLibrary, and
// a session takes the provider's GPU device from GetEpDevices through
// SessionOptionsAppendExecutionProvider_V2 (cuda_shim.c; onnxruntime_go
// v1.27.0 wraps only the first call).
const (
	// GPULibraryEnv names the GPU build's libonnxruntime.so.
	GPULibraryEnv = "IMGLISH_ORT_GPU_LIB"
	// gpuSetupRelPath is where `make setup-gpu` puts it.
	gpuSetupRelPath = ".deps/ort-gpu/libonnxruntime.so"
	// CUDAProviderFile is the provider library, next to the core library.
	CUDAProviderFile = "libonnxruntime_providers_cuda.so"
	cudaEPName       = "CUDAExecutionProvider"
	cudaRegName      = "imglish-cuda"
)

// cudaDeps are the libraries the CUDA provider links against (besides the
// driver's libcuda.so.1): CUDA 13 runtime, cuBLAS and cuRAND 10.
var cudaDeps = []string{"libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10"}

// GPULibraryPath resolves the GPU build of ONNX Runtime like LibraryPath:
// explicit, $IMGLISH_ORT_GPU_LIB, then the `make setup-gpu` folder. Missing
// is ErrProvider.
func GPULibraryPath(explicit string) (string, error) {
	p, err := findLibrary(explicit, GPULibraryEnv, gpuSetupRelPath, errGPUBuildMissing)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrProvider, err)
	}
	return p, nil
}

var errGPUBuildMissing = errors.New("ONNX Runtime GPU build not found (run `make setup-gpu`, or set IMGLISH_ORT_GPU_LIB)")

// CUDAInfo is what ProbeCUDA found, for `imglish doctor`.
type CUDAInfo struct {
	Usable   bool   `json:"usable"`
	Reason   string `json:"reason,omitempty"`  // why not, when not usable
	Library  string `json:"library,omitempty"` // GPU build of ORT
	Version  string `json:"version,omitempty"`
	Provider string `json:"provider_library,omitempty"`
	Devices  string `json:"devices,omitempty"` // as GetEpDevices lists them
}

// dlProbe reports whether name loads (dlopen), with dlerror's reason.
func dlProbe(name string) error {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var buf [512]C.char
	if C.imglish_dl_probe(cn, &buf[0], C.size_t(len(buf))) != 0 {
		return errors.New(C.GoString(&buf[0]))
	}
	return nil
}

// cudaLibraries checks everything CUDA needs that can be checked without
// loading ORT: the GPU build and its provider library, the NVIDIA driver's
// libcuda.so.1 and the CUDA 13 libraries. The error wraps ErrProvider and
// names every missing piece.
func cudaLibraries(explicit string) (core, provider string, err error) {
	var why []string
	core, err = findLibrary(explicit, GPULibraryEnv, gpuSetupRelPath, errGPUBuildMissing)
	if err != nil {
		why = append(why, err.Error())
	} else {
		provider = filepath.Join(filepath.Dir(core), CUDAProviderFile)
		if _, err := os.Stat(provider); err != nil {
			why = append(why, fmt.Sprintf("CUDA provider library %s missing (run `make setup-gpu`)", provider))
		}
	}
	if err := dlProbe("libcuda.so.1"); err != nil {
		why = append(why, fmt.Sprintf("NVIDIA driver library libcuda.so.1 does not load (no NVIDIA driver or GPU): %v", err))
	}
	var missing []string
	for _, lib := range cudaDeps {
		if err := dlProbe(lib); err != nil {
			missing = append(missing, lib)
		}
	}
	if len(missing) > 0 {
		why = append(why, fmt.Sprintf("CUDA 13 libraries not found by the dynamic loader: %s (install the CUDA 13 runtime, cuBLAS and cuRAND, or add them to LD_LIBRARY_PATH)",
			strings.Join(missing, ", ")))
	}
	if len(why) > 0 {
		return "", "", fmt.Errorf("%w: cuda: %s", ErrProvider, strings.Join(why, "; "))
	}
	return core, provider, nil
}

// registerCUDA registers the provider library with the environment once per
// environment (the caller holds a runtime reference on core).
func registerCUDA(provider string) error {
	runtime.mu.Lock()
	defer runtime.mu.Unlock()
	if runtime.eps[provider] {
		return nil
	}
	if err := ort.RegisterExecutionProviderLibrary(cudaRegName, provider); err != nil {
		return fmt.Errorf("%w: cuda: register %s: %v", ErrProvider, provider, err)
	}
	if runtime.eps == nil {
		runtime.eps = map[string]bool{}
	}
	runtime.eps[provider] = true
	return nil
}

// cudaDevices returns GetEpDevices' listing and the number of CUDA GPUs.
func cudaDevices(core string) (string, int, error) {
	cl, cn := C.CString(core), C.CString(cudaEPName)
	defer C.free(unsafe.Pointer(cl))
	defer C.free(unsafe.Pointer(cn))
	var list [1024]C.char
	var buf [512]C.char
	n := C.imglish_ep_devices(cl, cn, &list[0], C.size_t(len(list)), &buf[0], C.size_t(len(buf)))
	if n < 0 {
		return "", 0, fmt.Errorf("%w: cuda: %s", ErrProvider, C.GoString(&buf[0]))
	}
	return C.GoString(&list[0]), int(n), nil
}

// sessionOptionsPtr is so's OrtSessionOptions*: onnxruntime_go v1.27.0's
// SessionOptions holds it as its only field (checked by TestShimSessionOptions).
func sessionOptionsPtr(so *ort.SessionOptions) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(so))
}

// appendCUDA adds the CUDA provider on the first CUDA GPU to so, with ORT's
// CUDA provider options (e.g. "device_id").
func appendCUDA(so *ort.SessionOptions, core, provider string, options map[string]string) error {
	if err := registerCUDA(provider); err != nil {
		return err
	}
	cl, cn := C.CString(core), C.CString(cudaEPName)
	defer C.free(unsafe.Pointer(cl))
	defer C.free(unsafe.Pointer(cn))
	keys := make([]*C.char, 0, len(options)+1)
	vals := make([]*C.char, 0, len(options)+1)
	for k, v := range options {
		keys, vals = append(keys, C.CString(k)), append(vals, C.CString(v))
	}
	defer func() {
		for i := range keys {
			C.free(unsafe.Pointer(keys[i]))
			C.free(unsafe.Pointer(vals[i]))
		}
	}()
	// C arrays: Go memory holding C pointers may not be passed to C.
	n := len(keys)
	ck := (**C.char)(C.calloc(C.size_t(n+1), C.size_t(unsafe.Sizeof(uintptr(0)))))
	cv := (**C.char)(C.calloc(C.size_t(n+1), C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(ck))
	defer C.free(unsafe.Pointer(cv))
	copy(unsafe.Slice(ck, n), keys)
	copy(unsafe.Slice(cv, n), vals)
	var buf [1024]C.char
	if C.imglish_append_ep(cl, sessionOptionsPtr(so), cn, ck, cv, C.size_t(n), &buf[0], C.size_t(len(buf))) != 0 {
		return fmt.Errorf("%w: cuda: %s", ErrProvider, C.GoString(&buf[0]))
	}
	return nil
}

// setConfigViaShim sets a session config entry through the shim's API
// pointer (tests: proves sessionOptionsPtr and the shim's API lookup).
func setConfigViaShim(so *ort.SessionOptions, core, key, val string) error {
	cl, ck, cv := C.CString(core), C.CString(key), C.CString(val)
	defer C.free(unsafe.Pointer(cl))
	defer C.free(unsafe.Pointer(ck))
	defer C.free(unsafe.Pointer(cv))
	var buf [512]C.char
	if C.imglish_config_entry(cl, sessionOptionsPtr(so), ck, cv, &buf[0], C.size_t(len(buf))) != 0 {
		return errors.New(C.GoString(&buf[0]))
	}
	return nil
}

// ProbeCUDA reports whether Open(…, Options{Provider: "cuda"}) can work and,
// when not, why: the GPU build or its provider library missing, libcuda.so.1
// not loadable (no driver), CUDA libraries missing, or no CUDA device in
// GetEpDevices. lib is the GPU build ("" resolves it). Listing devices loads
// the GPU build, so it is skipped (and said so) while this process runs
// another ONNX Runtime library.
func ProbeCUDA(lib string) CUDAInfo {
	core, provider, err := cudaLibraries(lib)
	if err != nil {
		return CUDAInfo{Reason: err.Error()}
	}
	info := CUDAInfo{Library: core, Provider: provider}
	if err := acquireRuntime(core); err != nil {
		info.Reason = fmt.Sprintf("cuda: cannot load the GPU build here: %v", err)
		return info
	}
	defer func() { _ = releaseRuntime() }()
	info.Version = ort.GetVersion()
	if err := registerCUDA(provider); err != nil {
		info.Reason = err.Error()
		return info
	}
	list, n, err := cudaDevices(core)
	info.Devices = list
	switch {
	case err != nil:
		info.Reason = err.Error()
	case n == 0:
		info.Reason = fmt.Sprintf("cuda: no CUDA GPU among the execution-provider devices (%s)", list)
	default:
		info.Usable = true
	}
	return info
}
