package server

import (
	"encoding/base64"
	"io"
	"net"
)

type netAddr = net.Addr

func ioPipe() (*io.PipeReader, *io.PipeWriter) { return io.Pipe() }

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
