package weaviate_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"imglish/internal/wvcluster"
	"imglish/internal/wvcluster/wvtest"
	"imglish/vstore"
	"imglish/vstore/vstoretest"
	"imglish/vstore/weaviate"
)

// startNode starts a one-node Weaviate for the test (skipped without the
// binary, failed under CI).
func startNode(t *testing.T) *wvcluster.Cluster {
	t.Helper()
	bin := wvtest.Binary(t)
	cl, err := wvcluster.Start(t.Context(), wvcluster.Options{Bin: bin, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cl.Stop(); err != nil {
			t.Error(err)
		}
	})
	return cl
}

// TestConformance runs the vstore conformance suite against a real
// one-node Weaviate, batches over gRPC (TestGRPCWritesAsREST holds REST
// batches to the same result); each subtest's store lives in a namespace
// of its own.
func TestConformance(t *testing.T) {
	cl := startNode(t)
	var n atomic.Int64
	open := func(t *testing.T, ns string) vstore.Store {
		t.Helper()
		s, err := weaviate.Open(t.Context(), weaviate.Options{URLs: cl.URLs(), GRPC: cl.GRPCAddrs(), Namespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
		return s
	}
	vstoretest.Run(t, vstoretest.Harness{
		Open: func(t *testing.T) vstore.Store {
			return open(t, fmt.Sprintf("Conf%d", n.Add(1)))
		},
		Reopen: func(t *testing.T, s vstore.Store) vstore.Store {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, fmt.Sprintf("Conf%d", n.Load()))
		},
	})
}

// TestDeletionStrategy: every class a store creates resolves a delete
// against a replica that missed it by time, so that a delete acknowledged
// while replicas were down stays deleted when they come back.
func TestDeletionStrategy(t *testing.T) {
	cl := startNode(t)
	s, err := weaviate.Open(t.Context(), weaviate.Options{URLs: cl.URLs(), Namespace: "Deletes"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateSpace(t.Context(), vstore.Space{Name: vstore.ImageSpace("m"), Kind: vstore.KindImages, Model: "m", Dim: 4}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(cl.URLs()[0] + "/v1/schema")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var schema struct {
		Classes []struct {
			Class             string `json:"class"`
			ReplicationConfig struct {
				DeletionStrategy string `json:"deletionStrategy"`
			} `json:"replicationConfig"`
		} `json:"classes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&schema); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range schema.Classes {
		if !strings.HasPrefix(c.Class, "Deletes") {
			continue
		}
		n++
		if got := c.ReplicationConfig.DeletionStrategy; got != "TimeBasedResolution" {
			t.Errorf("class %s: deletionStrategy %q, want TimeBasedResolution", c.Class, got)
		}
	}
	if n < 2 {
		t.Errorf("%d classes of the store in the schema, want its items and its image space", n)
	}
}

// TestOpenOptions: unusable options fail with ErrConfig before any
// request; a dead address fails with ErrUnavailable after the retries.
func TestOpenOptions(t *testing.T) {
	tests := []struct {
		name string
		opts weaviate.Options
		want error
	}{
		{"no url", weaviate.Options{}, weaviate.ErrConfig},
		{"bad url", weaviate.Options{URLs: []string{"localhost:8080"}}, weaviate.ErrConfig},
		{"bad namespace", weaviate.Options{URLs: []string{"http://127.0.0.1:1"}, Namespace: "lower"}, weaviate.ErrConfig},
		{"bad consistency", weaviate.Options{URLs: []string{"http://127.0.0.1:1"}, Consistency: "TWO"}, weaviate.ErrConfig},
		{"unreachable", weaviate.Options{URLs: []string{"http://127.0.0.1:1"}, Retries: 1, Backoff: 1}, weaviate.ErrUnavailable},
		{"grpc per url", weaviate.Options{URLs: []string{"http://127.0.0.1:1"}, GRPC: []string{"127.0.0.1:2", "127.0.0.1:3"}}, weaviate.ErrConfig},
		{"grpc address", weaviate.Options{URLs: []string{"http://127.0.0.1:1"}, GRPC: []string{"127.0.0.1"}}, weaviate.ErrConfig},
	}
	for _, tc := range tests {
		_, err := weaviate.Open(t.Context(), tc.opts)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Open = %v, want %v", tc.name, err, tc.want)
		}
	}
}
