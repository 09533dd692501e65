package encoder

import "errors"

var (
	// ErrRuntimeMissing means the ONNX Runtime shared library was not found; run `make setup`.
	ErrRuntimeMissing = errors.New("encoder: ONNX Runtime library not found (run `make setup`, or set --ort-lib / IMGLISH_ORT_LIB)")
	// ErrRuntimeMismatch means a second library path was asked for after the environment was initialised.
	ErrRuntimeMismatch = errors.New("encoder: ONNX Runtime already initialised from another library")
	// ErrClosed means the encoder was used after Close.
	ErrClosed = errors.New("encoder: closed")
	// ErrInput means a batch had the wrong shape, length or token ids.
	ErrInput = errors.New("encoder: invalid input")
	// ErrProvider means the requested execution provider is unknown or unavailable.
	ErrProvider = errors.New("encoder: execution provider unavailable")
)
