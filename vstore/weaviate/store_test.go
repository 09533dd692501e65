package weaviate_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

	// A store of an earlier imglish, whose classes resolve by Weaviate's
	// default, gets the strategy when opened; another store's class is
	// left alone.
	for _, class := range []string{"Deletes_Items", "Deletes_Values", "Other_Items"} {
		if class == "Other_Items" {
			create, _ := json.Marshal(map[string]any{"class": class, "vectorizer": "none", "vectorIndexConfig": map[string]any{"skip": true}})
			if st := schemaCall(t, http.MethodPost, cl.URLs()[0]+"/v1/schema", create); st != http.StatusOK {
				t.Fatalf("create %s: %d", class, st)
			}
		}
		setDeletionStrategy(t, cl.URLs()[0], class, "NoAutomatedResolution")
	}
	s2, err := weaviate.Open(t.Context(), weaviate.Options{URLs: cl.URLs(), Namespace: "Deletes"})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for class, want := range map[string]string{"Deletes_Items": "TimeBasedResolution", "Deletes_Values": "TimeBasedResolution", "Other_Items": "NoAutomatedResolution"} {
		if got := deletionStrategyOf(t, cl.URLs()[0], class); got != want {
			t.Errorf("after reopening: class %s resolves deletes by %q, want %q", class, got, want)
		}
	}
}

// schemaCall sends body to url with method and returns the status.
func schemaCall(t *testing.T, method, url string, body []byte) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Logf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// classOf returns class's definition as Weaviate gives it.
func classOf(t *testing.T, base, class string) map[string]any {
	t.Helper()
	resp, err := http.Get(base + "/v1/schema/" + class)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func deletionStrategyOf(t *testing.T, base, class string) string {
	t.Helper()
	rc, _ := classOf(t, base, class)["replicationConfig"].(map[string]any)
	s, _ := rc["deletionStrategy"].(string)
	return s
}

// setDeletionStrategy writes class back with its deletion strategy set to v.
func setDeletionStrategy(t *testing.T, base, class, v string) {
	t.Helper()
	c := classOf(t, base, class)
	c["replicationConfig"].(map[string]any)["deletionStrategy"] = v
	b, _ := json.Marshal(c)
	if st := schemaCall(t, http.MethodPut, base+"/v1/schema/"+class, b); st != http.StatusOK {
		t.Fatalf("set %s's deletion strategy to %s: %d", class, v, st)
	}
	if got := deletionStrategyOf(t, base, class); got != v {
		t.Fatalf("class %s: deletion strategy %q after setting %q", class, got, v)
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
