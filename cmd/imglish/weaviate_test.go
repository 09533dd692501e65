package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imglish/demo/scene"
	"imglish/internal/wvcluster"
	"imglish/internal/wvcluster/wvtest"
	"imglish/server"
)

// freeAddrs returns n distinct loopback addresses whose ports were free a
// moment ago (all held until every one is chosen, so no two are the same;
// another process could still take one before the server binds it).
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		out[i] = ln.Addr().String()
	}
	return out
}

// wvHit is one object of a Weaviate GraphQL Get.
type wvHit struct {
	Path       string `json:"path"`
	Additional struct {
		ID       string    `json:"id"`
		Distance float64   `json:"distance"`
		Vector   []float32 `json:"vector"`
	} `json:"_additional"`
}

// graphQL runs a Get on class Scene and returns its objects.
func graphQL(t *testing.T, base, args, fields string) []wvHit {
	t.Helper()
	var out struct {
		Data struct {
			Get struct {
				Scene []wvHit `json:"Scene"`
			} `json:"Get"`
		} `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	q := fmt.Sprintf("{ Get { Scene(%s) { %s } } }", args, fields)
	wvtest.Call(t, http.MethodPost, base+"/v1/graphql", map[string]string{"query": q}, &out)
	if len(out.Errors) > 0 {
		t.Fatalf("graphql %s: %v", q, out.Errors)
	}
	return out.Data.Get.Scene
}

func cosine32(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

// TestWeaviateVectorizer uses a real Weaviate (v1.35.2, one node) as the
// client of `imglish serve --vectorizer-addr`: Weaviate's multi2vec-clip
// module vectorises inserted scenes and nearText/nearImage queries through
// imglish, and the stored vectors, rankings and errors must be imglish's own.
func TestWeaviateVectorizer(t *testing.T) {
	bin := wvtest.Binary(t)
	ctx := t.Context()
	dir := t.TempDir()
	model, data, photos := filepath.Join(dir, "model"), filepath.Join(dir, "data"), filepath.Join(dir, "photos")
	const n = 120
	gen, err := scene.New(scene.Options{Seed: 11, Split: scene.Test})
	if err != nil {
		t.Fatal(err)
	}
	if err := scene.WriteDataset(ctx, photos, gen, scene.DatasetOptions{N: n}); err != nil {
		t.Fatal(err)
	}
	files := make([]string, n)
	for i := range n {
		files[i] = filepath.Join(photos, scene.ImagesDir, fmt.Sprintf("test-%06d.png", i))
	}
	for _, args := range [][]string{
		{"convert", "--checkpoint", "../../testdata/models/demo/demo.pth", "--tokenizer", "../../testdata/models/demo/demo.model", "--out", model},
		append([]string{"--data", data, "--model", model, "index", "-q"}, files...),
	} {
		if _, err := runCLI(ctx, t, args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}

	// imglish serves the API and the vectorizer door.
	addrs := freeAddrs(t, 2)
	api, vec := addrs[0], addrs[1]
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := runCLI(sctx, t, "--data", data, "--model", model, "serve", "--addr", api, "--no-auth",
			"--vectorizer-addr", vec, "--vectorizer-no-auth")
		done <- err
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	waitFor(t, "http://"+api+"/readyz", done)

	cl, err := wvcluster.Start(ctx, wvcluster.Options{Bin: bin, Dir: t.TempDir(),
		Env: []string{"ENABLE_MODULES=multi2vec-clip", "CLIP_INFERENCE_API=http://" + vec}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cl.Stop(); err != nil {
			t.Errorf("stop weaviate: %v", err)
		}
	})
	base := cl.Nodes[0].URL()
	if st, err := wvcluster.NodeStatus(ctx, base); err != nil || len(st) != 1 || "v"+st[0].Version != wvcluster.Version {
		t.Fatalf("weaviate nodes %+v (%v), want one node of %s", st, err, wvcluster.Version)
	}
	wvtest.Call(t, http.MethodPost, base+"/v1/schema", map[string]any{
		"class":             "Scene",
		"vectorizer":        "multi2vec-clip",
		"moduleConfig":      map[string]any{"multi2vec-clip": map[string]any{"imageFields": []string{"image"}}},
		"vectorIndexConfig": map[string]any{"distance": "cosine"},
		"properties": []map[string]any{
			{"name": "image", "dataType": []string{"blob"}},
			{"name": "path", "dataType": []string{"text"}},
		},
	}, nil)

	// Insert every scene through Weaviate's own batch API, plus one bad image.
	objects := make([]map[string]any, 0, n+1)
	b64 := make([]string, n)
	for i, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b64[i] = base64.StdEncoding.EncodeToString(raw)
		objects = append(objects, map[string]any{"class": "Scene", "properties": map[string]any{"image": b64[i], "path": f}})
	}
	objects = append(objects, map[string]any{"class": "Scene", "properties": map[string]any{
		"image": base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n but not really")), "path": "bad.png"}})
	start := time.Now()
	failed := map[string]string{}
	for lo := 0; lo < len(objects); lo += 20 {
		var res []struct {
			Properties map[string]any `json:"properties"`
			Result     struct {
				Errors *struct {
					Error []struct {
						Message string `json:"message"`
					} `json:"error"`
				} `json:"errors"`
			} `json:"result"`
		}
		wvtest.Call(t, http.MethodPost, base+"/v1/batch/objects", map[string]any{"objects": objects[lo:min(lo+20, len(objects))]}, &res)
		for _, r := range res {
			if r.Result.Errors != nil {
				msg := ""
				for _, e := range r.Result.Errors.Error {
					msg += e.Message
				}
				failed[fmt.Sprint(r.Properties["path"])] = msg
			}
		}
	}
	took := time.Since(start)
	t.Logf("weaviate inserted %d demo scenes vectorised by imglish in %v (%.0f objects/s)", n, took, float64(n)/took.Seconds())
	if len(failed) != 1 || !strings.Contains(failed["bad.png"], "images[0]") {
		t.Errorf("failed objects %v, want only bad.png with imglish's message", failed)
	}
	if resp, err := http.Get("http://" + api + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("imglish after the bad image: %v", err)
	} else {
		resp.Body.Close()
	}

	// Weaviate's stored vectors are `imglish embed --image`'s.
	stored := graphQL(t, base, fmt.Sprintf("limit: %d", n+10), "path _additional { id vector }")
	if len(stored) != n {
		t.Fatalf("weaviate holds %d objects, want %d", len(stored), n)
	}
	out, err := runCLI(ctx, t, append([]string{"--model", model, "embed"}, prefixEach("--image", files)...)...)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{}
	for line := range strings.Lines(out) {
		var e embedOutput
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("embed output %q: %v", line, err)
		}
		want[e.Input] = e.Embedding
	}
	worst := 1.0
	for _, o := range stored {
		w, ok := want[o.Path]
		if !ok {
			t.Fatalf("weaviate object with path %q not among the scenes", o.Path)
		}
		worst = min(worst, cosine32(o.Additional.Vector, w))
	}
	t.Logf("stored vectors vs imglish embed --image: lowest cosine %.7f over %d objects", worst, len(stored))
	if worst < 0.99999 {
		t.Errorf("lowest cosine %.7f between a Weaviate vector and imglish embed, want ≥ 0.99999", worst)
	}

	// nearText is vectorised by imglish and ranks as imglish's own search.
	captions := map[string]string{}
	for i, f := range files {
		captions[f] = gen.Scene(i).Captions[0]
	}
	near := graphQL(t, base, `nearText: {concepts: ["a red star"]}, limit: 5`, "path _additional { distance }")
	var mine server.SearchResponse
	callAPI(t, "http://"+api+"/v1/search", map[string]any{"text": "a red star", "k": 5}, &mine)
	if len(near) != 5 || len(mine.Hits) != 5 {
		t.Fatalf("nearText gave %d hits, imglish %d, want 5", len(near), len(mine.Hits))
	}
	for i := range near {
		score := 1 - near[i].Additional.Distance
		if near[i].Path != mine.Hits[i].Path || math.Abs(score-float64(mine.Hits[i].Score)) > 1e-4 {
			t.Errorf("hit %d: weaviate %s (%.5f), imglish %s (%.5f)", i, near[i].Path, score, mine.Hits[i].Path, mine.Hits[i].Score)
		}
	}
	if c := captions[near[0].Path]; !strings.Contains(c, "red star") {
		t.Errorf("nearText \"a red star\" top hit is %q", c)
	}

	// nearImage finds the image itself first.
	for _, i := range []int{3, 77} {
		hits := graphQL(t, base, fmt.Sprintf("nearImage: {image: %q}, limit: 1", b64[i]), "path _additional { distance }")
		if len(hits) != 1 || hits[0].Path != files[i] || hits[0].Additional.Distance > 1e-4 {
			t.Errorf("nearImage of scene %d: %+v, want itself at distance 0", i, hits)
		}
	}
}

func prefixEach(flag string, vals []string) []string {
	out := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		out = append(out, flag, v)
	}
	return out
}

// waitFor polls url until it answers 200, failing if serve exits first.
func waitFor(t *testing.T, url string, done <-chan error) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready in 60 s", url)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// callAPI posts JSON to imglish's API and decodes the answer.
func callAPI(t *testing.T, url string, body, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatal(err)
	}
}
