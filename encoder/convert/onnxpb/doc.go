// Package onnxpb holds the Go types of the ONNX protobuf schema (ModelProto,
// GraphProto, NodeProto, TensorProto, ...), generated from Debian's libonnx-dev
// /usr/include/onnx/onnx.proto (ONNX IR version 8/9 schema, proto2) with
// protoc-gen-go v1.36.10. The generated file is committed so that builds need no
// protoc; regenerate with `go generate ./encoder/convert/onnxpb` on a machine with
// protobuf-compiler, libonnx-dev and protoc-gen-go v1.36.10 on PATH.
//
// The types are plain protobuf messages: not safe for concurrent mutation.
package onnxpb

//go:generate protoc -I/usr/include/onnx --go_out=. --go_opt=paths=source_relative --go_opt=Monnx.proto=imglish/encoder/convert/onnxpb onnx.proto
