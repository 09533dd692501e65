package encoder

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// LibraryEnv is the environment variable naming the ONNX Runtime shared library.
const LibraryEnv = "IMGLISH_ORT_LIB"

// setupRelPath is where `make setup` puts the library, relative to the repository root.
const setupRelPath = ".deps/ort/libonnxruntime.so.1"

// runtime guards ONNX Runtime's process-wide environment, the one global of the
// package (as image.RegisterFormat guards its registry).
var runtime struct {
	mu   sync.Mutex
	lib  string
	refs int
	eps  map[string]bool // plugin execution-provider libraries registered with this environment
}

// LibraryPath resolves the ONNX Runtime library: the explicit path when set, then
// $IMGLISH_ORT_LIB, then the `make setup` folder found from the working directory
// or the executable's folder upwards. It returns ErrRuntimeMissing naming every
// place it looked when none exists.
func LibraryPath(explicit string) (string, error) {
	return findLibrary(explicit, LibraryEnv, setupRelPath, ErrRuntimeMissing)
}

// findLibrary resolves a shared library: explicit, then $env, then rel found
// from the working directory or the executable's folder upwards; missing is
// the sentinel wrapped when none exists.
func findLibrary(explicit, env, rel string, missing error) (string, error) {
	var tried []string
	try := func(p string) (string, bool) {
		if p == "" {
			return "", false
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", false
		}
		tried = append(tried, abs)
		if st, err := os.Stat(abs); err == nil && !st.IsDir() {
			return abs, true
		}
		return "", false
	}
	if explicit != "" {
		if p, ok := try(explicit); ok {
			return p, nil
		}
		return "", fmt.Errorf("%w: %s does not exist", missing, explicit)
	}
	if p, ok := try(os.Getenv(env)); ok {
		return p, nil
	}
	var roots []string
	if wd, err := os.Getwd(); err == nil {
		roots = append(roots, wd)
	}
	if exe, err := os.Executable(); err == nil {
		roots = append(roots, filepath.Dir(exe))
	}
	for _, root := range roots {
		for dir := root; ; dir = filepath.Dir(dir) {
			if p, ok := try(filepath.Join(dir, rel)); ok {
				return p, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	return "", fmt.Errorf("%w (looked in %v)", missing, tried)
}

// acquireRuntime initialises the ONNX Runtime environment on first use and counts
// its users; releaseRuntime destroys it when the last user is gone.
func acquireRuntime(lib string) error {
	path, err := LibraryPath(lib)
	if err != nil {
		return err
	}
	runtime.mu.Lock()
	defer runtime.mu.Unlock()
	if runtime.refs > 0 {
		if path != runtime.lib {
			return fmt.Errorf("%w: have %s, asked for %s", ErrRuntimeMismatch, runtime.lib, path)
		}
		runtime.refs++
		return nil
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("initialise onnx runtime %s: %w", path, err)
	}
	runtime.lib, runtime.refs = path, 1
	return nil
}

func releaseRuntime() error {
	runtime.mu.Lock()
	defer runtime.mu.Unlock()
	if runtime.refs == 0 {
		return nil
	}
	runtime.refs--
	if runtime.refs > 0 {
		return nil
	}
	runtime.lib, runtime.eps = "", nil
	if err := ort.DestroyEnvironment(); err != nil {
		return fmt.Errorf("destroy onnx runtime: %w", err)
	}
	return nil
}

// RuntimeInfo describes the ONNX Runtime the process would use, for `imglish doctor`.
type RuntimeInfo struct {
	Library string `json:"library"`
	Version string `json:"version"`
}

// ProbeRuntime loads the library (initialising the environment if needed) and
// reports its version.
func ProbeRuntime(lib string) (RuntimeInfo, error) {
	if err := acquireRuntime(lib); err != nil {
		return RuntimeInfo{}, err
	}
	defer func() { _ = releaseRuntime() }()
	return RuntimeInfo{Library: runtime.lib, Version: ort.GetVersion()}, nil
}
