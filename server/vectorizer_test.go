package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"imglish/encoder/tokenizer"
	"imglish/model/modeltest"
)

// vcall sends one request to the vectorizer door and decodes the answer into
// out (or, for an error status, checks the {"error": "..."} shape Weaviate's
// module reads and returns the message).
func vcall(t *testing.T, base, method, path, key string, body []byte, out any) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode >= 400 {
		var eb struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(data, &eb); err != nil || eb.Error == "" {
			t.Errorf("%s %s: status %d without a {\"error\": string} body: %q", method, path, resp.StatusCode, truncate(data))
		}
		return resp.StatusCode, eb.Error
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, truncate(data), err)
		}
	}
	return resp.StatusCode, ""
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVectorizerContract drives the multi2vec-clip contract as Weaviate's
// module does: readiness, meta, and texts and images vectorised in request
// order with the vectors the API's /v1/embed gives for the same inputs.
func TestVectorizerContract(t *testing.T) {
	e := newEnv(t, envConfig{scenes: 3, opts: Options{VectorizerAddr: "127.0.0.1:0", VectorizerNoAuth: true}})
	vs := httptest.NewServer(e.srv.VectorizerHandler())
	t.Cleanup(vs.Close)

	for _, path := range []string{"/.well-known/live", "/.well-known/ready"} {
		if st, _ := vcall(t, vs.URL, http.MethodGet, path, "", nil, nil); st != http.StatusNoContent {
			t.Errorf("GET %s: %d, want 204", path, st)
		}
	}
	var meta struct {
		Model map[string]any `json:"model"`
	}
	if st, _ := vcall(t, vs.URL, http.MethodGet, "/meta", "", nil, &meta); st != http.StatusOK {
		t.Fatalf("GET /meta: %d", st)
	}
	info := e.model.Info()
	for k, want := range map[string]any{"id": info.ID, "dim": float64(info.Dim), "image_size": float64(info.ImageSize),
		"max_tokens": float64(64), "precision": "fp32", "device": "cpu"} {
		if meta.Model[k] != want {
			t.Errorf("meta model[%q] = %v, want %v", k, meta.Model[k], want)
		}
	}

	var imgs []string
	for i := range 3 {
		b, err := os.ReadFile(e.scenePath(i))
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, base64Std(b))
	}
	texts := []string{"a red star", "two blue circles"}
	var got VectorizeResponse
	body := mustJSON(t, map[string]any{"texts": texts, "images": imgs, "a_field_weaviate_may_add": 1})
	if st, msg := vcall(t, vs.URL, http.MethodPost, "/vectorize", "", body, &got); st != http.StatusOK {
		t.Fatalf("POST /vectorize: %d %s", st, msg)
	}
	var want struct {
		Vectors [][]float32 `json:"vectors"`
	}
	if st, _ := e.call(http.MethodPost, "/v1/embed", readKey, map[string]any{"texts": texts, "images": imgs}, &want); st != http.StatusOK {
		t.Fatalf("/v1/embed: %d", st)
	}
	if len(got.TextVectors) != len(texts) || len(got.ImageVectors) != len(imgs) || len(want.Vectors) != len(texts)+len(imgs) {
		t.Fatalf("got %d text and %d image vectors (embed: %d), want %d and %d", len(got.TextVectors), len(got.ImageVectors), len(want.Vectors), len(texts), len(imgs))
	}
	all := append(append([][]float32{}, got.TextVectors...), got.ImageVectors...)
	for i, v := range all {
		if len(v) != info.Dim {
			t.Fatalf("vector %d has %d dimensions, want %d", i, len(v), info.Dim)
		}
		if c := cosine(v, want.Vectors[i]); c < 0.99999 {
			t.Errorf("vector %d: cosine %.6f to /v1/embed's, want ≥ 0.99999", i, c)
		}
		if i > 0 && cosine(v, all[i-1]) > 0.9999 {
			t.Errorf("vectors %d and %d are the same: order or batching is wrong", i-1, i)
		}
	}
}

// TestVectorizerErrors: bad input is a 4xx in the {"error": "..."} shape
// Weaviate reports for the object, never a 5xx or a crash; the door keeps
// serving afterwards.
func TestVectorizerErrors(t *testing.T) {
	e := newEnv(t, envConfig{scenes: 1, opts: Options{VectorizerAddr: "127.0.0.1:0", VectorizerNoAuth: true, MaxPixels: 4000, MaxUpload: 1 << 20}})
	vs := httptest.NewServer(e.srv.VectorizerHandler())
	t.Cleanup(vs.Close)
	scene, err := os.ReadFile(e.scenePath(0)) // 96×96 = 9,216 pixels > MaxPixels
	if err != nil {
		t.Fatal(err)
	}
	var small bytes.Buffer // 40×40: under MaxPixels, so only its corruption is wrong
	if err := png.Encode(&small, image.NewGray(image.Rect(0, 0, 40, 40))); err != nil {
		t.Fatal(err)
	}
	many := make([]string, maxVectorizeItems+1)
	for i := range many {
		many[i] = "a red star"
	}
	for _, tc := range []struct {
		name, method, path string
		body               []byte
		status             int
		mention            string
	}{
		{"not base64", http.MethodPost, "/vectorize", mustJSON(t, map[string]any{"images": []string{"%%%"}}), 400, "images[0]"},
		{"corrupt png", http.MethodPost, "/vectorize", mustJSON(t, map[string]any{"texts": []string{"ok"}, "images": []string{base64Std(small.Bytes()[:small.Len()-20])}}), 400, "images[0]"},
		{"not an image", http.MethodPost, "/vectorize", mustJSON(t, map[string]any{"images": []string{base64Std([]byte("just some text, not pixels"))}}), 415, "images[0]"},
		{"too many pixels", http.MethodPost, "/vectorize", mustJSON(t, map[string]any{"images": []string{base64Std(scene)}}), 422, "images[0]"},
		{"empty text", http.MethodPost, "/vectorize", mustJSON(t, map[string]any{"texts": []string{"a", "  "}}), 400, "texts[1]"},
		{"too many items", http.MethodPost, "/vectorize", mustJSON(t, map[string]any{"texts": many}), 400, "at most"},
		{"not json", http.MethodPost, "/vectorize", []byte("texts=a"), 400, "JSON"},
		{"empty body", http.MethodPost, "/vectorize", nil, 400, "empty"},
		{"too large", http.MethodPost, "/vectorize", mustJSON(t, map[string]any{"texts": []string{strings.Repeat("a", 2<<20)}}), 413, ""},
		{"wrong method", http.MethodGet, "/vectorize", nil, 405, ""},
		{"unknown route", http.MethodGet, "/v1/search", nil, 404, "/v1/search"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, msg := vcall(t, vs.URL, tc.method, tc.path, "", tc.body, nil)
			if st != tc.status || !strings.Contains(msg, tc.mention) {
				t.Errorf("%d %q, want %d mentioning %q", st, msg, tc.status, tc.mention)
			}
		})
	}
	var ok VectorizeResponse
	if st, msg := vcall(t, vs.URL, http.MethodPost, "/vectorize", "", mustJSON(t, map[string]any{"texts": []string{"a red star"}}), &ok); st != 200 || len(ok.TextVectors) != 1 {
		t.Errorf("after bad requests: %d %s, %d vectors", st, msg, len(ok.TextVectors))
	}
}

// TestVectorizerAuth: Weaviate sends no key, so the door is either opened
// explicitly (VectorizerNoAuth, private addresses only) or takes the API's
// read keys, as a header-adding proxy would send them.
func TestVectorizerAuth(t *testing.T) {
	body := []byte(`{"texts":["a red star"]}`)
	for _, tc := range []struct {
		name   string
		opts   Options
		key    string
		status int
	}{
		{"keys, none sent", Options{}, "", http.StatusUnauthorized},
		{"keys, read key sent", Options{}, readKey, http.StatusOK},
		{"keys, wrong key", Options{}, "not-a-key-0123456789", http.StatusUnauthorized},
		{"no-auth door", Options{VectorizerAddr: "127.0.0.1:8081", VectorizerNoAuth: true}, "", http.StatusOK},
		{"no-auth server", Options{NoAuth: true}, "", http.StatusOK},
		{"no keys configured", Options{Keys: []APIKey{}, VectorizerAddr: "127.0.0.1:0"}, "", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{opts: tc.opts})
			vs := httptest.NewServer(e.srv.VectorizerHandler())
			t.Cleanup(vs.Close)
			if st, msg := vcall(t, vs.URL, http.MethodPost, "/vectorize", tc.key, body, nil); st != tc.status {
				t.Errorf("POST /vectorize: %d %s, want %d", st, msg, tc.status)
			}
			if st, _ := vcall(t, vs.URL, http.MethodGet, "/.well-known/ready", "", nil, nil); st != http.StatusNoContent {
				t.Errorf("ready without a key: %d, want 204 (Weaviate polls it before anything else)", st)
			}
		})
	}
	keys := []APIKey{{Name: "reader", Key: readKey, Scope: ScopeRead}}
	for _, tc := range []struct {
		name string
		opts Options
		ok   bool
	}{
		{"no-auth door on loopback", Options{VectorizerAddr: "127.0.0.1:8081", VectorizerNoAuth: true, Keys: keys}, true},
		{"no-auth door on IPv6 loopback", Options{VectorizerAddr: "[::1]:8081", VectorizerNoAuth: true, Keys: keys}, true},
		{"no-auth door on 10/8", Options{VectorizerAddr: "10.1.2.3:8081", VectorizerNoAuth: true, Keys: keys}, true},
		{"no-auth door on 192.168/16", Options{VectorizerAddr: "192.168.1.20:8081", VectorizerNoAuth: true, Keys: keys}, true},
		{"no-auth door on all interfaces", Options{VectorizerAddr: "0.0.0.0:8081", VectorizerNoAuth: true, Keys: keys}, false},
		{"no-auth door, empty host", Options{VectorizerAddr: ":8081", VectorizerNoAuth: true, Keys: keys}, false},
		{"no-auth door on a public address", Options{VectorizerAddr: "203.0.113.5:8081", VectorizerNoAuth: true, Keys: keys}, false},
		{"no-auth door without an address", Options{VectorizerNoAuth: true, Keys: keys}, false},
		{"no-auth server, door on all interfaces", Options{NoAuth: true, VectorizerAddr: "0.0.0.0:8081"}, false},
		{"no keys, door on all interfaces", Options{VectorizerAddr: "0.0.0.0:8081"}, false},
		{"keys, door on all interfaces", Options{VectorizerAddr: "0.0.0.0:8081", Keys: keys}, true},
	} {
		_, err := tc.opts.withDefaults(t.TempDir())
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
			t.Errorf("%s: %v, want ok=%v (else ErrConfig)", tc.name, err, tc.ok)
		}
	}
}

// TestTextWindowEveryDoor: a text longer than the model's 64-token window
// gets the vector of its first 62 pieces (the official truncation,
// modeltest.Reference) through every server door that embeds text: the
// Model, /v1/embed, the vectorizer's /vectorize, /v1/search's query vector
// (and, over HTTP, a text search of a collection holding the text), the
// vector /v1/texts stores, and a /v1/classify label. `imglish embed --text`
// is checked in cmd/imglish (TestEmbedTextWindow), demo eval in demo
// (TestEvalTextWindow).
func TestTextWindowEveryDoor(t *testing.T) {
	e := newEnv(t, envConfig{opts: Options{VectorizerAddr: "127.0.0.1:0", VectorizerNoAuth: true}, scenes: 3})
	vs := httptest.NewServer(e.srv.VectorizerHandler())
	t.Cleanup(vs.Close)
	long := modeltest.LongText
	ref := modeltest.Reference(t, e.model.Core(), long)

	mv, err := e.model.EmbedTexts(t.Context(), []string{long})
	if err != nil {
		t.Fatal(err)
	}
	modeltest.Check(t, "Model.EmbedTexts", mv[0], ref)
	var emb struct {
		Vectors [][]float32 `json:"vectors"`
	}
	if st, _ := e.call(http.MethodPost, "/v1/embed", readKey, map[string]any{"texts": []string{long, "x"}}, &emb); st != 200 {
		t.Fatalf("/v1/embed: %d", st)
	}
	modeltest.Check(t, "/v1/embed", emb.Vectors[0], ref)
	var vec VectorizeResponse
	if st, msg := vcall(t, vs.URL, http.MethodPost, "/vectorize", "", mustJSON(t, map[string]any{"texts": []string{long}}), &vec); st != 200 {
		t.Fatalf("/vectorize: %d %s", st, msg)
	}
	modeltest.Check(t, "/vectorize", vec.TextVectors[0], ref)
	q, err := e.srv.app.QueryVector(t.Context(), []QueryTerm{{Text: long}})
	if err != nil {
		t.Fatal(err)
	}
	modeltest.Check(t, "/v1/search query vector", q, ref)

	// /v1/texts: the stored vector, read back as the score of a search by
	// the reference vector itself (a cosine, both being unit vectors); then a
	// text search by the long text over HTTP scores it 1.
	if st, _ := e.call(http.MethodPost, "/v1/texts/window", writeKey, map[string]any{"texts": []string{long, "a blue square"}}, nil); st != 201 {
		t.Fatalf("/v1/texts: %d", st)
	}
	for _, tc := range []struct {
		door  string
		query []QueryTerm
	}{
		{"/v1/texts stored vector", []QueryTerm{{Vector: ref}}},
		{"/v1/search text query against /v1/texts", []QueryTerm{{Text: long}}},
	} {
		var sr SearchResponse
		if st, _ := e.call(http.MethodPost, "/v1/search", readKey, SearchRequest{Query: tc.query, Target: "texts", Collection: "window", K: 2}, &sr); st != 200 || len(sr.Hits) == 0 {
			t.Fatalf("%s: %d, %d hits", tc.door, st, len(sr.Hits))
		}
		if h := sr.Hits[0]; h.Text != long || float64(h.Score) < modeltest.MinCosine {
			t.Errorf("%s: top hit %.40q… score %.7f, want the long text at ≥ %v", tc.door, h.Text, h.Score, modeltest.MinCosine)
		}
	}

	// /v1/classify with the long text as its one label and "{}" as its one
	// template: each image's cosine to the label vector must be its cosine to
	// the reference. Over three images, a whole-text label vector moves at
	// least one cosine by more than the tolerance (checked first).
	whole, err := e.model.Core().Encoder().EmbedTexts(t.Context(), [][]int64{
		append(append([]int64{tokenizer.BOS}, e.model.Core().Tokenizer().XLMRIDs(long)...), tokenizer.EOS)})
	if err != nil {
		t.Fatal(err)
	}
	const tol = 1e-5
	var moved bool
	for i := range 3 {
		data, err := os.ReadFile(e.scenePath(i))
		if err != nil {
			t.Fatal(err)
		}
		px, err := e.model.PrepareImage(t.Context(), data, 0)
		if err != nil {
			t.Fatal(err)
		}
		iv, err := e.model.EmbedImages(t.Context(), [][]float32{px})
		if err != nil {
			t.Fatal(err)
		}
		want := float64(dot32(iv[0], ref))
		moved = moved || math.Abs(float64(dot32(iv[0], whole[0]))-want) > 10*tol
		var cr classifyResponse
		if st, _ := e.call(http.MethodPost, "/v1/classify", readKey, map[string]any{"image": base64Std(data), "labels": []string{long}, "templates": []string{"{}"}}, &cr); st != 200 || len(cr.Labels) != 1 {
			t.Fatalf("/v1/classify: %d", st)
		}
		if got := cr.Labels[0].Cosine; math.Abs(got-want) > tol {
			t.Errorf("/v1/classify, scene %d: label cosine %.7f, want %.7f (the reference's)", i, got, want)
		}
	}
	if !moved {
		t.Fatal("no image's cosine tells the whole text's vector from the reference: the classify check cannot fail")
	}
}

func dot32(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
