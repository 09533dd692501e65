package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"imglish/demo/scene"
	"imglish/internal/wvcluster"
	"imglish/internal/wvcluster/wvtest"
	"imglish/server"
	"imglish/vstore"
	"imglish/vstore/weaviate"
)

// TestBackendFlags: an unknown backend, and Weaviate without URLs, are
// refused before anything is opened.
func TestBackendFlags(t *testing.T) {
	data := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"unknown backend", []string{"--backend", "cassandra", "index", "--errors"}},
		{"weaviate without urls", []string{"--backend", "weaviate", "--weaviate", " , ", "index", "--errors"}},
		{"a grpc address per url", []string{"--backend", "weaviate", "--weaviate", "http://127.0.0.1:1,http://127.0.0.1:2",
			"--weaviate-grpc", "127.0.0.1:3", "index", "--errors"}},
	} {
		t.Setenv("IMGLISH_WEAVIATE", "")
		t.Setenv("IMGLISH_WEAVIATE_GRPC", "")
		if _, err := runCLI(t.Context(), t, append([]string{"--data", data}, tc.args...)...); !errors.Is(err, errBackend) {
			t.Errorf("%s: %v, want %v", tc.name, err, errBackend)
		}
	}
}

// serveNoAuth runs `imglish serve --no-auth` with args on a free loopback
// address until the test ends and returns its base URL.
func serveNoAuth(t *testing.T, args ...string) string {
	t.Helper()
	addr := freeAddrs(t, 1)[0]
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := runCLI(ctx, t, append(args, "serve", "--addr", addr, "--no-auth")...)
		done <- err
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve %v: %v", args, err)
		}
	})
	waitFor(t, "http://"+addr+"/readyz", done)
	return "http://" + addr
}

// getJSON GETs url and decodes a 200 answer into out.
func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatal(err)
	}
}

// copyScenes copies the scene images numbered lo..hi-1 into dir.
func copyScenes(t *testing.T, files []string, lo, hi int, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files[lo:hi] {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWeaviateBackendEndToEnd indexes demo scenes through imglish into the
// embedded store and into a real 3-node Weaviate cluster (2 replicas),
// serves both, and asks the same questions of both HTTP APIs: the same
// top-10 ids in order with scores within 1e-5, the same items. Then two
// indexers with data dirs of their own (two hosts) index overlapping
// folders into one cluster: one object per distinct content. Then
// `imglish doctor` reports the cluster, and a collection of another
// dimension refuses to start.
func TestWeaviateBackendEndToEnd(t *testing.T) {
	bin := wvtest.Binary(t)
	ctx := t.Context()
	dir := t.TempDir()

	// The cluster starts while the model is converted and the scenes drawn.
	cluster := wvtest.StartAsync(t, wvcluster.Options{Bin: bin, Nodes: 3, Dir: filepath.Join(dir, "cluster")})
	model, scenes := filepath.Join(dir, "model"), filepath.Join(dir, "scenes")
	photos := filepath.Join(scenes, scene.ImagesDir)
	const n = 60
	gen, err := scene.New(scene.Options{Seed: 5, Split: scene.Test})
	if err != nil {
		t.Fatal(err)
	}
	if err := scene.WriteDataset(ctx, scenes, gen, scene.DatasetOptions{N: n, Size: 96}); err != nil {
		t.Fatal(err)
	}
	files := make([]string, n)
	for i := range n {
		files[i] = filepath.Join(photos, fmt.Sprintf("test-%06d.png", i))
	}
	_, convErr := runCLI(ctx, t, "convert", "--checkpoint", "../../testdata/models/demo/demo.pth",
		"--tokenizer", "../../testdata/models/demo/demo.model", "--out", model)
	cl := cluster()
	if convErr != nil {
		t.Fatal(convErr)
	}
	urls, addrs := strings.Join(cl.URLs(), ","), strings.Join(cl.GRPCAddrs(), ",")
	wv := func(ns, data string) []string {
		return []string{"--data", data, "--model", model, "--backend", "weaviate", "--weaviate", urls,
			"--weaviate-grpc", addrs, "--weaviate-namespace", ns, "--replicas", "2"}
	}
	embedded := []string{"--data", filepath.Join(dir, "data"), "--model", model}
	remote := wv("E2e", filepath.Join(dir, "wvdata"))
	for _, args := range [][]string{embedded, remote} {
		out, err := runCLI(ctx, t, append(args, "index", "-q", photos)...)
		if err != nil || !strings.Contains(out, fmt.Sprintf("%d embedded", n)) {
			t.Fatalf("index %v: %q, %v", args, out, err)
		}
	}
	checkDoctorCluster(t, remote, 3, 2, n)
	eURL, wURL := serveNoAuth(t, embedded...), serveNoAuth(t, remote...)

	// The same searches through both HTTP APIs.
	img, err := os.ReadFile(files[7])
	if err != nil {
		t.Fatal(err)
	}
	queries := []map[string]any{
		{"text": "a red star", "k": 10},
		{"text": gen.Scene(3).Captions[0], "k": 10},
		{"text": "a small blue circle", "k": 10},
		{"image": base64.StdEncoding.EncodeToString(img), "k": 10},
	}
	seen := map[string]bool{}
	for _, q := range queries {
		var e, w server.SearchResponse
		callAPI(t, eURL+"/v1/search", q, &e)
		callAPI(t, wURL+"/v1/search", q, &w)
		what := fmt.Sprint(q["text"])
		if len(e.Hits) != 10 || len(w.Hits) != 10 {
			t.Fatalf("%.40s: %d embedded hits, %d weaviate hits, want 10", what, len(e.Hits), len(w.Hits))
		}
		for i := range e.Hits {
			eh, wh := e.Hits[i], w.Hits[i]
			if eh.ID != wh.ID || eh.Path != wh.Path || math.Abs(float64(eh.Score-wh.Score)) > 1e-5 {
				t.Errorf("%.40s hit %d: embedded %s %s %.6f, weaviate %s %s %.6f", what, i, eh.ID, eh.Path, eh.Score, wh.ID, wh.Path, wh.Score)
			}
			seen[eh.ID] = true
		}
	}
	if q := queries[3]; len(seen) > 0 {
		var w server.SearchResponse
		callAPI(t, wURL+"/v1/search", q, &w)
		if w.Hits[0].Path != files[7] || w.Hits[0].Score < 0.9999 {
			t.Errorf("image query on weaviate: top hit %s %.5f, want the image itself", w.Hits[0].Path, w.Hits[0].Score)
		}
	}
	for id := range seen {
		var e, w map[string]any
		getJSON(t, eURL+"/v1/items/"+id, &e)
		getJSON(t, wURL+"/v1/items/"+id, &w)
		// Each backend indexed the folder on its own: when it did differs.
		if e["added_at"] == nil || w["added_at"] == nil {
			t.Errorf("item %s: added_at embedded %v, weaviate %v", id, e["added_at"], w["added_at"])
		}
		delete(e, "added_at")
		delete(w, "added_at")
		if !reflect.DeepEqual(e, w) {
			t.Errorf("item %s: embedded %v, weaviate %v", id, e, w)
		}
	}

	// Two hosts: data dirs of their own, folders that share scenes 20–39
	// (and each a copy of one of its own scenes), indexing at once.
	hostA, hostB := filepath.Join(dir, "hostA", "photos"), filepath.Join(dir, "hostB", "photos")
	copyScenes(t, files, 0, 40, hostA)
	copyScenes(t, files, 20, 60, hostB)
	copyScenes(t, files, 0, 1, filepath.Join(hostA, "copy"))
	copyScenes(t, files, 59, 60, filepath.Join(hostB, "copy"))
	errs := make(chan error, 2)
	for _, h := range []string{hostA, hostB} {
		go func() {
			_, err := runCLI(ctx, t, append(wv("Two", filepath.Join(filepath.Dir(h), "data")), "index", "-q", h)...)
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("index on two hosts: %v", err)
		}
	}
	two, err := weaviate.Open(ctx, weaviate.Options{URLs: cl.URLs(), Namespace: "Two"})
	if err != nil {
		t.Fatal(err)
	}
	defer two.Close()
	spaces := two.Spaces()
	if got := two.ItemCount(); got != n || len(spaces) != 1 || spaces[0].Count != n {
		t.Errorf("two indexers over overlapping folders: %d items, spaces %+v; want %d items and %d vectors in one space", got, spaces, n, n)
	}

	// A collection made for another dimension under this model's name
	// refuses to start, saying so.
	bad, err := weaviate.Open(ctx, weaviate.Options{URLs: cl.URLs(), Namespace: "Bad"})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	var e server.SearchResponse
	callAPI(t, eURL+"/v1/search", queries[0], &e)
	modelID := e.Hits[0].Metadata.Model
	if err := bad.CreateSpace(ctx, vstore.Space{Name: vstore.ImageSpace(modelID), Kind: vstore.KindImages, Model: modelID, Dim: 8}); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{{"index", "-q", hostA}, {"search", "a red star"}} {
		_, err := runCLI(ctx, t, append(wv("Bad", filepath.Join(dir, "bad")), cmd...)...)
		if !errors.Is(err, vstore.ErrExists) || !strings.Contains(fmt.Sprint(err), "does not fit this model") {
			t.Errorf("%v on a collection of another dimension: %v, want %v with the reason", cmd[0], err, vstore.ErrExists)
		}
	}
}

// checkDoctorCluster runs `imglish doctor` on the cluster and checks the
// report: every node healthy, the namespace's collections with their
// shards, replicas and counts, and a measured recall of the image space.
func checkDoctorCluster(t *testing.T, args []string, nodes, replicas, items int) {
	t.Helper()
	out, err := runCLI(t.Context(), t, append(args, "doctor")...)
	if err != nil {
		t.Fatalf("doctor: %v", err)
	}
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor output %q: %v", out, err)
	}
	c := rep.Cluster
	if c == nil || c.Err != "" || rep.Store != nil {
		t.Fatalf("doctor on weaviate: cluster %+v, store %+v", c, rep.Store)
	}
	if len(c.Nodes) != nodes {
		t.Errorf("doctor: nodes %+v, want %d", c.Nodes, nodes)
	}
	for _, n := range c.Nodes {
		if n.Status != "HEALTHY" || "v"+n.Version != wvcluster.Version || n.Shards == 0 {
			t.Errorf("doctor: node %+v, want healthy %s with shards", n, wvcluster.Version)
		}
	}
	counts := map[string]int{}
	for _, col := range c.Collections {
		if col.Shards != nodes || col.Replicas != replicas {
			t.Errorf("doctor: collection %+v, want %d shards, %d replicas", col, nodes, replicas)
		}
		counts[strings.TrimPrefix(col.Class, c.Namespace+"_")] = col.Objects
		if col.Space != "" {
			counts["space"] = col.Objects
		}
	}
	if counts["Items"] != items || counts["space"] != items {
		t.Errorf("doctor: collections %+v, want %d items and %d vectors", c.Collections, items, items)
	}
	if len(c.Spaces) != 1 || c.Spaces[0].Count != items || c.Spaces[0].Sample != min(items, clusterRecallSample) ||
		c.Spaces[0].RecallErr != "" || c.Spaces[0].Recall10 < 0.9 {
		t.Errorf("doctor: spaces %+v, want one of %d vectors with recall@10 ≥ 0.9 on a sample", c.Spaces, items)
	}
}
