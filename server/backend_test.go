package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"imglish/internal/wvcluster"
	"imglish/internal/wvcluster/wvtest"
	"imglish/vstore"
	"imglish/vstore/weaviate"
)

// TestBackendEnv names the environment variable that picks the store every
// env runs on (envConfig.store aside): unset or "embedded", a Badger store
// per env; "weaviate", a namespace per env on one Weaviate node the
// package's tests share (started by the first env, stopped by TestMain).
// `make test-server-weaviate` runs the whole server suite so, to show that
// every route behaves the same on both backends.
const TestBackendEnv = "IMGLISH_TEST_BACKEND"

// shared is the Weaviate node of IMGLISH_TEST_BACKEND=weaviate.
var shared struct {
	once sync.Once
	dir  string
	cl   *wvcluster.Cluster
	err  error
	ns   atomic.Int64
}

// backendStore is the store IMGLISH_TEST_BACKEND asks for, closed when t
// ends; nil for the embedded store, which newEnv opens itself.
func backendStore(t testing.TB) vstore.Store {
	t.Helper()
	switch b := os.Getenv(TestBackendEnv); b {
	case "", "embedded":
		return nil
	case "weaviate":
	default:
		t.Fatalf("%s=%q: embedded or weaviate", TestBackendEnv, b)
	}
	bin := wvtest.Binary(t)
	shared.once.Do(func() {
		// Not t.TempDir: the node outlives this test.
		if shared.dir, shared.err = os.MkdirTemp("", "imglish-server-weaviate-"); shared.err != nil {
			return
		}
		shared.cl, shared.err = wvcluster.Start(context.Background(), wvcluster.Options{Bin: bin, Dir: filepath.Join(shared.dir, "node")})
	})
	if shared.err != nil {
		t.Fatalf("shared weaviate node: %v", shared.err)
	}
	db, err := weaviate.Open(t.Context(), weaviate.Options{URLs: shared.cl.URLs(), GRPC: shared.cl.GRPCAddrs(),
		Namespace: fmt.Sprintf("Env%d", shared.ns.Add(1)), Backoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close weaviate store: %v", err)
		}
	})
	return db
}

// stopSharedCluster stops the shared node, if one was started, and removes
// its folder.
func stopSharedCluster() error {
	if shared.cl == nil {
		return nil
	}
	err := shared.cl.Stop()
	return errors.Join(err, os.RemoveAll(shared.dir))
}
