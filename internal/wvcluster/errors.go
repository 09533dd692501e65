package wvcluster

import "errors"

// ErrNoBinary means no weaviate-server binary was found (see Find).
var ErrNoBinary = errors.New("wvcluster: weaviate-server not found (run `make setup-weaviate`)")

// ErrNotReady means a node did not become ready before the deadline.
var ErrNotReady = errors.New("wvcluster: weaviate not ready")
