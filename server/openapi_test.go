package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/gin-gonic/gin"
)

// apiDoc is the embedded OpenAPI document, loaded and checked once for the
// package's tests.
var apiDoc = sync.OnceValues(func() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPI)
	if err != nil {
		return nil, fmt.Errorf("load openapi.json: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.json is not a valid OpenAPI document: %w", err)
	}
	return doc, nil
})

// specChecker validates real responses against the OpenAPI document: the
// route is documented, the status is declared for it, and the body matches
// the declared media type and schema (component schemas are closed with
// additionalProperties false, so an undocumented field fails too). newEnv
// puts it in front of every test server, so every response of every HTTP
// test here is checked, including those of routes added later.
type specChecker struct {
	doc    *openapi3.T
	router routers.Router
	// gin holds the server's registered routes as patterns, to tell an
	// undocumented route from a path that is no route at all.
	gin []ginRoute

	mu   sync.Mutex
	seen map[string]map[int]bool // "GET /v1/items/{id}" → statuses validated
}

type ginRoute struct {
	method string
	re     *regexp.Regexp
	// doc is the route's path in the document's form (/v1/items/{id}).
	doc string
}

var ginParam = regexp.MustCompile(`[:*]([A-Za-z_]+)`)

func newSpecChecker(t testing.TB, engine *gin.Engine) *specChecker {
	t.Helper()
	doc, err := apiDoc()
	if err != nil {
		t.Fatal(err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("openapi router: %v", err)
	}
	sc := &specChecker{doc: doc, router: router, seen: map[string]map[int]bool{}}
	for _, r := range engine.Routes() {
		var re strings.Builder
		re.WriteString("^")
		for i, seg := range strings.Split(r.Path, "/") {
			if i > 0 {
				re.WriteString("/")
			}
			switch {
			case strings.HasPrefix(seg, ":"):
				re.WriteString("[^/]+")
			case strings.HasPrefix(seg, "*"):
				re.WriteString(".*")
			default:
				re.WriteString(regexp.QuoteMeta(seg))
			}
		}
		re.WriteString("$")
		sc.gin = append(sc.gin, ginRoute{method: r.Method, re: regexp.MustCompile(re.String()), doc: ginParam.ReplaceAllString(r.Path, "{$1}")})
	}
	return sc
}

// handler serves h and reports every response that breaks the document as an
// error of t.
func (sc *specChecker) handler(t testing.TB, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &teeWriter{ResponseWriter: w}
		h.ServeHTTP(tw, r)
		if tw.status == 0 {
			tw.status = http.StatusOK
		}
		if err := sc.check(r, tw.status, w.Header(), tw.body.Bytes()); err != nil {
			t.Errorf("OpenAPI: %s %s answered %d %q: %v", r.Method, r.URL.RequestURI(), tw.status, truncate(tw.body.Bytes()), err)
		}
	})
}

// teeWriter passes a response through and keeps its status and body.
type teeWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *teeWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *teeWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *teeWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// check validates one response to r against the document.
func (sc *specChecker) check(r *http.Request, status int, header http.Header, body []byte) error {
	if r.Method == http.MethodOptions && status == http.StatusNoContent {
		return nil // OPTIONS (a CORS preflight or not), answered for every route (noMethod, cors)
	}
	// The router matches the document's server URL "/" against the request
	// URL as a string, so a client-side request's scheme and host must go.
	u := *r.URL
	u.Scheme, u.Host, u.User = "", "", nil
	r = r.Clone(r.Context())
	r.URL = &u
	if r.Method == http.MethodHead {
		r.Method = http.MethodGet // every GET route answers HEAD as GET (headAsGet)
	}
	route, params, err := sc.router.FindRoute(r)
	for _, v := range params {
		if v == "" {
			// The router lets a path parameter match nothing
			// (/v1/index/jobs/ for /v1/index/jobs/{id}); gin does not.
			route, err = nil, routers.ErrPathNotFound
		}
	}
	if err != nil {
		for _, g := range sc.gin {
			if g.method == r.Method && g.re.MatchString(r.URL.Path) {
				if sc.doc.Paths.Find(g.doc) == nil || sc.doc.Paths.Find(g.doc).GetOperation(g.method) == nil {
					return fmt.Errorf("route %s %s is not in openapi.json", g.method, g.doc)
				}
			}
		}
		// No route (or a path outside its parameter's pattern): gin's 404 or 405.
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			return fmt.Errorf("no documented route, and status %d is not 404 or 405", status)
		}
		return sc.checkSchema("Error", body)
	}
	op := route.Operation
	key := r.Method + " " + route.Path
	resp := op.Responses.Status(status)
	if resp == nil {
		resp = op.Responses.Default()
	}
	if resp == nil {
		return fmt.Errorf("status %d is not declared for %s", status, key)
	}
	ct := header.Get("Content-Type")
	if len(resp.Value.Content) == 0 && len(body) > 0 {
		return fmt.Errorf("%s %d declares no content, but the response has a %q body", key, status, ct)
	}
	if len(resp.Value.Content) > 0 && len(body) > 0 {
		mt, _, _ := mime.ParseMediaType(ct)
		media := resp.Value.Content.Get(ct)
		if media == nil {
			return fmt.Errorf("%s %d: content type %q is not declared", key, status, ct)
		}
		if media.Schema == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			return fmt.Errorf("%s %d: %s content has no schema to check the body against", key, status, mt)
		}
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(r.Context(), in); err != nil {
		return err
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.seen[key] == nil {
		sc.seen[key] = map[int]bool{}
	}
	sc.seen[key][status] = true
	return nil
}

// checkSchema validates a JSON body against a component schema.
func (sc *specChecker) checkSchema(name string, body []byte) error {
	ref := sc.doc.Components.Schemas[name]
	if ref == nil {
		return fmt.Errorf("no component schema %s", name)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	return ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors())
}

// statuses returns what was validated per operation, as "GET /path" → statuses.
func (sc *specChecker) statuses() map[string][]int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	out := map[string][]int{}
	for k, st := range sc.seen {
		for s := range st {
			out[k] = append(out[k], s)
		}
		slices.Sort(out[k])
	}
	return out
}

// TestSpecCheckerRefuses shows that the response check can fail: an
// undocumented field, status, content type or route, a body where none is
// declared, and a wrongly typed value are each refused.
func TestSpecCheckerRefuses(t *testing.T) {
	s, err := New(Deps{DataDir: t.TempDir()}, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.engine.GET("/v1/undocumented", func(c *gin.Context) {})
	sc := newSpecChecker(t, s.engine)
	jsonHdr := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	item := `{"id":"a1","path":"/p/a.png","width":3,"height":2}`
	cases := []struct {
		name   string
		method string
		path   string
		status int
		header http.Header
		body   string
		ok     bool
	}{
		{"item", "GET", "/v1/items/a1", 200, jsonHdr, item, true},
		{"item with an undocumented field", "GET", "/v1/items/a1", 200, jsonHdr, `{"id":"a1","path":"/p","secret":1}`, false},
		{"item without its id", "GET", "/v1/items/a1", 200, jsonHdr, `{"path":"/p"}`, false},
		{"item with a string width", "GET", "/v1/items/a1", 200, jsonHdr, `{"id":"a1","path":"/p","width":"3"}`, false},
		{"undeclared status", "GET", "/v1/items/a1", http.StatusTeapot, jsonHdr, `{"error":{"code":"x","message":"y"}}`, false},
		{"undeclared content type", "GET", "/v1/items/a1", 200, http.Header{"Content-Type": {"text/plain"}}, item, false},
		{"error with an extra field", "GET", "/v1/items/a1", 404, jsonHdr, `{"error":{"code":"not_found","message":"m","stack":"x"}}`, false},
		{"error", "GET", "/v1/items/a1", 404, jsonHdr, `{"error":{"code":"not_found","message":"m"}}`, true},
		{"undocumented route", "GET", "/v1/undocumented", 200, jsonHdr, `{}`, false},
		{"no route", "GET", "/v1/nothing/here", 404, jsonHdr, `{"error":{"code":"not_found","message":"m"}}`, true},
		{"no route, not an error body", "GET", "/v1/nothing/here", 404, jsonHdr, `{"oops":1}`, false},
		{"health", "GET", "/healthz", 200, jsonHdr, `{"status":"ok"}`, true},
		{"health with an extra field", "GET", "/healthz", 200, jsonHdr, `{"status":"ok","uptime":3}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://imglish.test"+tc.path, nil)
			err := sc.check(r, tc.status, tc.header, []byte(tc.body))
			if (err == nil) != tc.ok {
				t.Errorf("%s %s %d %s: %v, want ok %v", tc.method, tc.path, tc.status, tc.body, err, tc.ok)
			}
		})
	}
}

// TestOpenAPIResponses calls every documented operation, with success and the
// main error cases, through the checking handler newEnv installs (each
// response must match openapi.json), and then requires that every operation
// in the document answered at least one validated success.
func TestOpenAPIResponses(t *testing.T) {
	e := newEnv(t, envConfig{scenes: 3, opts: Options{MaxUpload: 256 << 10, MaxPixels: 100 * 100}})
	id := e.itemID(0)
	big := pngBytes(t, 120, 120) // over MaxPixels
	e.setRawLabelSet("broken", []byte("{"))
	jsonBody := func(s string) rawBody { return rawBody{[]byte(s), "application/json"} }
	var job job
	etag := ""
	cases := []struct {
		method string
		path   string
		key    string
		body   any
		header map[string]string
		want   int
	}{
		{"GET", "/", "", nil, nil, 200},
		{"GET", "/assets/app.js", "", nil, nil, 200},
		{"GET", "/assets/style.css", "", nil, nil, 200},
		{"GET", "/assets/nope.txt", "", nil, nil, 404},
		{"GET", "/healthz", "", nil, nil, 200},
		{"GET", "/readyz", "", nil, nil, 200},
		{"GET", "/metrics", "", nil, nil, 200},
		{"GET", "/v1/openapi.json", "", nil, nil, 200},
		{"GET", "/v1/nothing", readKey, nil, nil, 404},
		{"PATCH", "/v1/search", readKey, nil, nil, 405},

		{"POST", "/v1/search", readKey, map[string]any{"text": "a red circle", "k": 2}, nil, 200},
		{"POST", "/v1/search", readKey, multipartBody(t, map[string]string{"text": "a red circle"}, map[string][]byte{"image": mustRead(t, e.scenePath(1))}), nil, 200},
		{"POST", "/v1/search", readKey, jsonBody(`{"text":"a","k":"2"}`), nil, 400},
		{"POST", "/v1/search", "", map[string]any{"text": "a"}, nil, 401},
		{"POST", "/v1/search", readKey, map[string]any{"image_id": "0123abcd"}, nil, 404},
		{"POST", "/v1/search", readKey, jsonBody(`{"text":"` + strings.Repeat("a", 300<<10) + `"}`), nil, 413},
		{"POST", "/v1/search", readKey, rawBody{[]byte("text=a"), "text/plain"}, nil, 415},
		{"POST", "/v1/search", readKey, map[string]any{"image": base64Std(big)}, nil, 422},
		{"POST", "/v1/classify", readKey, map[string]any{"image_id": id, "labels": []string{"red", "blue"}}, nil, 200},
		{"POST", "/v1/classify", readKey, map[string]any{"image_id": id}, nil, 400},
		{"POST", "/v1/embed", readKey, map[string]any{"texts": []string{"a", "b"}}, nil, 200},
		{"POST", "/v1/embed", readKey, map[string]any{"texts": []string{""}}, nil, 400},

		{"POST", "/v1/images", writeKey, rawBody{pngBytes(t, 50, 40), "image/png"}, nil, 201},
		{"POST", "/v1/images", writeKey, rawBody{pngBytes(t, 50, 40), "image/png"}, nil, 200},
		{"POST", "/v1/images", readKey, rawBody{pngBytes(t, 50, 40), "image/png"}, nil, 403},
		{"POST", "/v1/images", writeKey, rawBody{[]byte("not an image"), "image/png"}, nil, 415},
		{"GET", "/v1/items/" + id, readKey, nil, nil, 200},
		{"GET", "/v1/items/..", readKey, nil, nil, 400},
		{"GET", "/v1/items/0123abcd", readKey, nil, nil, 404},
		{"GET", "/v1/items/" + id + "/thumbnail", readKey, nil, nil, 200},
		{"GET", "/v1/items/" + id + "/thumbnail", readKey, nil, map[string]string{"If-None-Match": "ETAG"}, 304},
		{"GET", "/v1/items/" + id + "/original", readKey, nil, nil, 200},
		{"GET", "/v1/items/" + id + "/original", readKey, nil, map[string]string{"Range": "bytes=0-9"}, 206},
		{"GET", "/v1/items/" + id + "/original", readKey, nil, map[string]string{"If-Modified-Since": "Sat, 01 Jan 2050 00:00:00 GMT"}, 304},

		{"POST", "/v1/texts/captions", writeKey, map[string]any{"texts": []string{"a red circle", "a blue square"}}, nil, 201},
		{"POST", "/v1/texts/captions", writeKey, map[string]any{"texts": []string{}}, nil, 400},
		{"GET", "/v1/texts/captions", readKey, nil, nil, 200},
		{"GET", "/v1/folders?prefix=scenes&limit=5", readKey, nil, nil, 200},
		{"GET", "/v1/folders?limit=0", readKey, nil, nil, 400},
		{"POST", "/v1/search", readKey, map[string]any{"image_id": id, "target": "texts", "collection": "captions"}, nil, 200},
		{"DELETE", "/v1/texts/captions", readKey, nil, nil, 403},
		{"DELETE", "/v1/texts/captions", writeKey, nil, nil, 200},
		{"GET", "/v1/texts/captions", readKey, nil, nil, 404},

		{"PUT", "/v1/labelsets/colours", writeKey, map[string]any{"labels": []string{"red", "blue"}, "templates": []string{"a {} shape"}}, nil, 200},
		{"PUT", "/v1/labelsets/colours", writeKey, map[string]any{"labels": []string{}}, nil, 400},
		{"GET", "/v1/labelsets/colours", readKey, nil, nil, 200},
		{"GET", "/v1/labelsets/none", readKey, nil, nil, 404},
		{"GET", "/v1/labelsets/broken", readKey, nil, nil, 500},

		{"POST", "/v1/index/jobs", writeKey, map[string]any{"folder": e.photos}, nil, 202},
		{"POST", "/v1/index/jobs", writeKey, map[string]any{"folder": "/etc"}, nil, 403},
		{"GET", "/v1/index/jobs/JOB", readKey, nil, nil, 200},
		{"GET", "/v1/index/jobs/0000", readKey, nil, nil, 404},
		{"GET", "/v1/index/status", readKey, nil, nil, 200},
		{"DELETE", "/v1/items/" + id, writeKey, nil, nil, 200},
		{"DELETE", "/v1/items/" + id, writeKey, nil, nil, 404},
	}
	for _, tc := range cases {
		path := strings.ReplaceAll(tc.path, "JOB", job.ID)
		var out any
		if tc.want == http.StatusAccepted {
			out = &job
		}
		if tc.header["If-None-Match"] == "ETAG" {
			tc.header["If-None-Match"] = etag
		}
		st, hdr := e.callWith(tc.method, path, tc.key, tc.body, tc.header, out)
		if st != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, path, st, tc.want)
		}
		if hdr.Get("ETag") != "" {
			etag = hdr.Get("ETag")
		}
	}
	// A range past the end is Go's file server's plain-text 416 (declared so).
	req, err := http.NewRequest("GET", e.ts.URL+"/v1/items/"+e.itemID(1)+"/original", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", readKey)
	req.Header.Set("Range", "bytes=999999-")
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("range past the end: %d, want 416", resp.StatusCode)
	}
	e.srv.Close() // draining: the work routes answer 503
	for _, p := range []string{"/readyz", "/v1/index/status"} {
		if st, _ := e.call("GET", p, readKey, nil, nil); st != http.StatusServiceUnavailable {
			t.Errorf("GET %s while draining: %d, want 503", p, st)
		}
	}

	got := e.spec.statuses()
	t.Logf("validated statuses: %v", got)
	for path, item := range e.spec.doc.Paths.Map() {
		for method := range item.Operations() {
			key := method + " " + path
			if !slices.ContainsFunc(got[key], func(s int) bool { return s >= 200 && s < 300 }) {
				t.Errorf("%s: no validated success (validated %v); a new route needs a case here", key, got[key])
			}
		}
	}
	codes := e.spec.doc.Components.Schemas["Error"].Value.Properties["error"].Value.Properties["code"].Value.Enum
	for _, r := range statusRules {
		if !slices.Contains(codes, any(r.code)) {
			t.Errorf("error code %q is not in the Error schema's enum", r.code)
		}
	}
}

// TestOpenAPIDocument checks what client generators rely on and `make
// lint-openapi` also checks (so this holds where npm is missing): the document
// loads as valid OpenAPI, every operation has a unique operationId, and every
// component is used.
func TestOpenAPIDocument(t *testing.T) {
	doc, err := apiDoc()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := method + " " + path
			switch prev, dup := ids[op.OperationID]; {
			case op.OperationID == "":
				t.Errorf("%s has no operationId", key)
			case dup:
				t.Errorf("%s and %s share the operationId %q", prev, key, op.OperationID)
			}
			ids[op.OperationID] = key
		}
	}
	for kind, names := range map[string][]string{
		"schemas":   slices.Collect(maps.Keys(doc.Components.Schemas)),
		"responses": slices.Collect(maps.Keys(doc.Components.Responses)),
	} {
		for _, name := range names {
			if !bytes.Contains(openAPI, []byte(`"#/components/`+kind+`/`+name+`"`)) {
				t.Errorf("component %s/%s is never used", kind, name)
			}
		}
	}
}
