package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var fuzzPaths = []string{
	"/v1/search", "/v1/classify", "/v1/embed", "/v1/images", "/v1/items/ID", "/v1/items/ID/thumbnail",
	"/v1/items/ID/original", "/v1/texts/c1", "/v1/labelsets/n1", "/v1/index/jobs", "/v1/index/jobs/j1",
	"/v1/index/status", "/healthz", "/readyz", "/", "/assets/app.js", "/v1/openapi.json", "/v1/items/..%2f..",
	"/v1/folders?prefix=../..&limit=-1", "/v1/labelsets/default",
}

var fuzzMethods = []string{"GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"}

var fuzzTypes = []string{"application/json", "multipart/form-data; boundary=xyz", "image/png", "text/plain", "", "application/json; charset=\xff", "multipart/form-data"}

// serveOne sends one request straight to the handler and reports a 5xx or a panic.
func serveOne(t *testing.T, e *env, method, path, ctype string, key byte, body []byte, hdrs map[string]string) {
	t.Helper()
	req := httptest.NewRequest(method, "http://imglish.test"+path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	switch key % 3 {
	case 1:
		req.Header.Set("Authorization", "Bearer "+writeKey)
	case 2:
		req.Header.Set("X-API-Key", readKey)
	}
	for k, v := range hdrs {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	start := time.Now()
	e.srv.Handler().ServeHTTP(rec, req)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("%s %s (%q, %d bytes %q) took %v", method, path, ctype, len(body), truncate(body), d)
	}
	if rec.Code >= 500 {
		t.Fatalf("%s %s (%q, %d bytes %q): %d %s", method, path, ctype, len(body), truncate(body), rec.Code, rec.Body.String())
	}
	if rec.Code >= 400 && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("%s %s: %d without a JSON error", method, path, rec.Code)
	}
	if err := e.spec.check(req, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
		t.Fatalf("OpenAPI: %s %s (%q, %d bytes %q) answered %d %q: %v", method, path, ctype, len(body), truncate(body), rec.Code, truncate(rec.Body.Bytes()), err)
	}
}

// FuzzAPI throws arbitrary methods, paths, content types, keys and bodies at
// the API: no input may produce a 5xx or a panic.
func FuzzAPI(f *testing.F) {
	e := newEnv(f, envConfig{scenes: 2, opts: Options{MaxUpload: 1 << 20}})
	id := e.itemID(0)
	img := b64File(f, e.scenePath(1))
	seeds := []struct {
		m, p, ct, key uint8
		body          string
	}{
		{1, 0, 0, 1, `{"text":"a red circle","k":3}`},
		{1, 0, 0, 1, `{"query":[{"image_id":"` + id + `","weight":-1},{"text":"x","weight":2}],"filter":{"after":"2024-01-01T00:00:00Z"},"sort":"date"}`},
		{1, 0, 0, 2, `{"image":"` + img + `"}`},
		{1, 0, 0, 2, `{"query":[{"vector":[1e39]}]}`},
		{1, 0, 0, 2, `{"text":"a","cursor":"eyJwIjoxLCJzIjoxLCJpIjoieCIsInEiOiJ5In0"}`},
		{1, 1, 0, 2, `{"image_id":"` + id + `","labels":["a","b"],"templates":["{} {}"]}`},
		{1, 2, 0, 2, `{"texts":["a","b"],"images":["AAAA"]}`},
		{1, 3, 2, 1, "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x7f\xff\xff\xff\x7f\xff\xff\xff\x08\x02"},
		{1, 7, 0, 1, `{"texts":["` + strings.Repeat("é", 100) + `"]}`},
		{2, 8, 0, 1, `{"labels":["x"],"templates":["a {}"]}`},
		{1, 9, 0, 1, `{"folder":"/tmp/../etc"}`},
		{1, 0, 1, 1, "--xyz\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a\"\r\n\r\nGIF89a\r\n--xyz--\r\n"},
		{3, 4, 4, 1, ""},
		{0, 17, 4, 0, ""},
	}
	for _, s := range seeds {
		f.Add(s.m, s.p, s.ct, s.key, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, m, p, ct, key uint8, body []byte) {
		path := strings.ReplaceAll(fuzzPaths[int(p)%len(fuzzPaths)], "ID", id)
		serveOne(t, e, fuzzMethods[int(m)%len(fuzzMethods)], path, fuzzTypes[int(ct)%len(fuzzTypes)], key, body, nil)
	})
}

// TestRandomRequests is a deterministic fuzz run on every `go test`: random
// but well-formed-looking JSON with hostile values, random headers and bytes.
func TestRandomRequests(t *testing.T) {
	e := newEnv(t, envConfig{scenes: 2, opts: Options{MaxUpload: 1 << 20}})
	id := e.itemID(0)
	r := rand.New(rand.NewPCG(1, 2))
	values := []any{nil, "", "a red circle", -1, 0, 1e308, -1e308, 3.5, true, []any{}, map[string]any{}, strings.Repeat("x", 3000),
		id, "../../etc/passwd", "\x00", []any{1, "a", nil}, map[string]any{"text": "a"}, []any{map[string]any{"vector": []any{1, 2}}},
		"2024-01-01T00:00:00Z", "not-a-date", "AAAA", "data:image/png;base64,iVBORw0KGgo="}
	fields := []string{"text", "image", "image_id", "query", "k", "filter", "sort", "cursor", "target", "collection", "min_score",
		"labels", "templates", "label_set", "texts", "images", "folder", "weight", "vector"}
	for i := range 400 {
		obj := map[string]any{}
		for range r.IntN(4) {
			obj[fields[r.IntN(len(fields))]] = values[r.IntN(len(values))]
		}
		var body []byte
		switch r.IntN(4) {
		case 0:
			body = make([]byte, r.IntN(200))
			for j := range body {
				body[j] = byte(r.IntN(256))
			}
		default:
			body, _ = json.Marshal(obj)
		}
		hdrs := map[string]string{}
		if r.IntN(4) == 0 {
			hdrs["Range"] = fmt.Sprintf("bytes=%d-%d", r.IntN(100)-50, r.IntN(100))
		}
		if r.IntN(5) == 0 {
			hdrs["If-None-Match"] = "\"" + strings.Repeat("z", r.IntN(50)) + "\""
		}
		path := strings.ReplaceAll(fuzzPaths[r.IntN(len(fuzzPaths))], "ID", id)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			serveOne(t, e, fuzzMethods[r.IntN(len(fuzzMethods))], path, fuzzTypes[r.IntN(len(fuzzTypes))], byte(r.IntN(3)), body, hdrs)
		})
	}
}
