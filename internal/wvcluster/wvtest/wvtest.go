// Package wvtest holds the test helpers shared by imglish's tests that run a
// real Weaviate (internal/wvcluster): finding the binary, with the skip/fail
// policy, and JSON calls to a node. It is imported only by _test.go files.
package wvtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"

	"imglish/internal/testenv"
	"imglish/internal/wvcluster"
)

// Binary finds the weaviate-server binary `make setup-weaviate` builds.
// Without it the test skips with one line, except under CI (CI set), where
// `make test` has built it and its absence is a failure.
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := wvcluster.Find(testenv.RepoRoot(t))
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	return bin
}

// Call sends body as JSON to a Weaviate URL (on 127.0.0.1), fails the test
// on a transport error or a non-2xx answer, and decodes the answer into out
// when out is not nil.
func Call(t testing.TB, method, url string, body, out any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %.500s", method, url, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %.300s: %v", method, url, data, err)
		}
	}
}

// StartAsync starts a cluster of opts in the background, so that a test
// can prepare its model and data meanwhile, and returns a function that
// waits for it: it fails the test when the cluster did not start, and
// stops the cluster at the test's cleanup.
func StartAsync(t testing.TB, opts wvcluster.Options) func() *wvcluster.Cluster {
	t.Helper()
	type started struct {
		cl  *wvcluster.Cluster
		err error
	}
	ch := make(chan started, 1)
	go func() {
		cl, err := wvcluster.Start(t.Context(), opts)
		ch <- started{cl, err}
	}()
	return func() *wvcluster.Cluster {
		t.Helper()
		st := <-ch
		if st.err != nil {
			t.Fatal(st.err)
		}
		t.Cleanup(func() {
			if err := st.cl.Stop(); err != nil {
				t.Errorf("stop weaviate: %v", err)
			}
		})
		return st.cl
	}
}
