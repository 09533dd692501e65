package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // thumbnails
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"imglish/indexer"
	"imglish/internal/wvcluster"
	"imglish/internal/wvcluster/wvtest"
	"imglish/vstore/weaviate"
)

// routeStep is one exchange with the API, run on each server in turn: it
// returns the status and the answer made comparable (normalised).
type routeStep struct {
	name string
	want int
	do   func(e *env) (int, any)
}

// TestWeaviateRoutes runs every route of the HTTP API (search by text,
// image, upload and item id with filters, paging and date sort; items,
// originals, thumbnails and deletes; uploads with dedupe; embed; classify
// and label sets; text collections; auto-tags at index time and retag
// jobs; index jobs over a folder and a watched folder; folders; status;
// the page and its assets, health, metrics and the OpenAPI document) on
// two servers side by side: one on the embedded store, one on a real
// Weaviate node (wvcluster), each over the same demo scenes. Every answer is checked against openapi.json (the
// env's specChecker) and the two must agree: the same status, and the
// same body once paths under each env's own folders, recent times and
// job ids are normalised, with numbers within 1e-5. Then the node stops,
// and the API answers 503.
func TestWeaviateRoutes(t *testing.T) {
	bin := wvtest.Binary(t)
	ctx := t.Context()
	start := time.Now()
	// The node starts while the embedded env converts the model and indexes.
	cluster := wvtest.StartAsync(t, wvcluster.Options{Bin: bin, Nodes: 1, Dir: filepath.Join(t.TempDir(), "weaviate")})
	const n = 16
	sets := map[string]LabelSet{"colours": {Labels: colourLabels(), Templates: []string{"a {} object"}, AutoTag: true}}
	emb := newEnv(t, envConfig{scenes: n, labelSets: sets, embedded: true})
	cl := cluster()
	// A short first backoff: the outage at the end waits out every retry.
	db, err := weaviate.Open(ctx, weaviate.Options{URLs: cl.URLs(), GRPC: cl.GRPCAddrs(), Namespace: "Routes", Backoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close weaviate store: %v", err)
		}
	})
	wv := newEnv(t, envConfig{scenes: n, labelSets: sets, store: db})
	t.Logf("setup (node, model, %d scenes indexed twice): %v", n, time.Since(start).Round(time.Millisecond))
	compareRoutes(t, emb, wv, n)

	// With the node gone, routes that need the store answer 503 with
	// Retry-After (the store out of reach after its retries), not 500, and
	// the client reads no node address; /readyz, which asks the store,
	// says so too.
	if err := cl.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/search", map[string]any{"text": "a red star", "k": 3}},
		{"GET", "/v1/items/" + contentID(mustRead(t, wv.scenePath(2))), nil},
		{"GET", "/v1/folders", nil},
		{"GET", "/readyz", nil},
	} {
		var eb errorBody
		status, h := wv.call(r.method, r.path, readKey, r.body, &eb)
		if status != http.StatusServiceUnavailable || eb.Error.Code != "unavailable" || h.Get("Retry-After") == "" ||
			eb.Error.RequestID == "" || strings.Contains(eb.Error.Message, "127.0.0.1") {
			t.Errorf("%s %s with the node down: %d %+v, Retry-After %q; want 503 unavailable with a request id and no address",
				r.method, r.path, status, eb.Error, h.Get("Retry-After"))
		}
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// compareRoutes runs every route on emb and wv, two envs over the same n
// scenes with the auto-tag set "colours", and compares their answers.
func compareRoutes(t *testing.T, emb, wv *env, n int) {

	// Scenes neither env has seen: uploads, and a folder for an index job.
	fresh := freshScenes(t, t.TempDir(), 99, 8)
	read := func(p string) []byte { return mustRead(t, p) }
	scene4 := read(emb.scenePath(4))
	later := func(e *env) string { return filepath.Join(e.photos, "later") }
	for _, e := range []*env{emb, wv} {
		if err := os.MkdirAll(later(e), 0o755); err != nil {
			t.Fatal(err)
		}
		for i, p := range fresh[2:6] {
			if err := os.WriteFile(filepath.Join(later(e), fmt.Sprintf("later-%d.png", i)), read(p), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	ids := func(e *env, is ...int) []string {
		var out []string
		for _, i := range is {
			out = append(out, e.itemID(i))
		}
		return out
	}

	steps := []routeStep{
		{"healthz", 200, func(e *env) (int, any) { return e.raw("/healthz", "") }},
		{"readyz", 200, func(e *env) (int, any) { return e.raw("/readyz", "") }},
		{"page", 200, func(e *env) (int, any) { return e.raw("/", "") }},
		{"openapi", 200, func(e *env) (int, any) { return e.raw("/v1/openapi.json", "") }},
		{"page script", 200, func(e *env) (int, any) { return e.raw("/assets/app.js", "") }},
		{"index status", 200, func(e *env) (int, any) { return e.ask("GET", "/v1/index/status", readKey, nil) }},
		{"text search", 200, func(e *env) (int, any) {
			return e.ask("POST", "/v1/search", readKey, map[string]any{"text": "a red star", "k": 5})
		}},
		{"text search, folder and date filter", 200, func(e *env) (int, any) {
			return e.ask("POST", "/v1/search", readKey, map[string]any{"text": "a small blue circle", "k": 10, "filter": map[string]any{
				"path_prefix": e.photos, "after": sceneTime(3).Format(time.RFC3339), "before": sceneTime(11).Format(time.RFC3339)}})
		}},
		{"text search, relative folder prefix", 200, func(e *env) (int, any) {
			return e.ask("POST", "/v1/search", readKey, map[string]any{"text": "a square", "k": 3, "filter": map[string]any{"path_prefix": "scenes/"}})
		}},
		{"text search, ids filter and min score", 200, func(e *env) (int, any) {
			return e.ask("POST", "/v1/search", readKey, map[string]any{"text": "a green triangle", "k": 10, "min_score": 0.05,
				"filter": map[string]any{"ids": ids(e, 1, 2, 5, 9)}})
		}},
		{"text search, camera filter", 200, func(e *env) (int, any) {
			return e.ask("POST", "/v1/search", readKey, map[string]any{"text": "a star", "k": 5, "filter": map[string]any{"camera": "Nikon"}})
		}},
		{"text search, paged by cursor", 200, func(e *env) (int, any) {
			return e.pages(map[string]any{"text": "a large yellow diamond", "k": 3})
		}},
		{"text search, date sort paged", 200, func(e *env) (int, any) {
			return e.pages(map[string]any{"text": "a cross", "k": 4, "sort": "date", "filter": map[string]any{"after": sceneTime(2).Format(time.RFC3339)}})
		}},
		{"image search, base64", 200, func(e *env) (int, any) {
			return e.ask("POST", "/v1/search", readKey, map[string]any{"image": b64(scene4), "k": 5})
		}},
		{"image search, item id", 200, func(e *env) (int, any) {
			return e.ask("POST", "/v1/search", readKey, map[string]any{"image_id": e.itemID(6), "k": 5})
		}},
		{"image search, multipart upload with text", 200, func(e *env) (int, any) {
			return e.ask("POST", "/v1/search", readKey, multipartBody(t, map[string]string{"text": "a circle", "image_weight": "0.5"}, map[string][]byte{"image": scene4}))
		}},
		{"weighted query terms", 200, func(e *env) (int, any) {
			return e.ask("POST", "/v1/search", readKey, map[string]any{"k": 5, "query": []map[string]any{
				{"text": "a red circle", "weight": 1}, {"image_id": e.itemID(3), "weight": 0.5}}})
		}},
		{"search, unknown image id", 404, func(e *env) (int, any) {
			return e.ask("POST", "/v1/search", readKey, map[string]any{"image_id": strings.Repeat("0", 64), "k": 5})
		}},
		{"item", 200, func(e *env) (int, any) { return e.ask("GET", "/v1/items/"+e.itemID(2), readKey, nil) }},
		{"item, unknown", 404, func(e *env) (int, any) { return e.ask("GET", "/v1/items/"+strings.Repeat("a", 64), readKey, nil) }},
		{"original", 200, func(e *env) (int, any) { return e.raw("/v1/items/"+e.itemID(2)+"/original", readKey) }},
		{"thumbnail", 200, func(e *env) (int, any) { return e.raw("/v1/items/"+e.itemID(2)+"/thumbnail", readKey) }},
		{"embed", 200, func(e *env) (int, any) {
			return e.ask("POST", "/v1/embed", readKey, map[string]any{"texts": []string{"a red star"}, "images": []string{b64(scene4)}})
		}},
		{"classify, labels", 200, func(e *env) (int, any) {
			return e.ask("POST", "/v1/classify", readKey, map[string]any{"image_id": e.itemID(3), "labels": []string{"circle", "star", "square"}, "templates": []string{"a {}"}})
		}},
		{"label set put", 200, func(e *env) (int, any) {
			return e.ask("PUT", "/v1/labelsets/sizes", writeKey, map[string]any{"labels": []string{"small", "large"}, "templates": []string{"a {} object"}})
		}},
		{"label set get", 200, func(e *env) (int, any) { return e.ask("GET", "/v1/labelsets/sizes", readKey, nil) }},
		{"label set get, unknown", 404, func(e *env) (int, any) { return e.ask("GET", "/v1/labelsets/nope", readKey, nil) }},
		{"classify, label set", 200, func(e *env) (int, any) {
			return e.ask("POST", "/v1/classify", readKey, map[string]any{"image": b64(scene4), "label_set": "sizes"})
		}},
		{"auto-tags of the indexer, filtered by tag", 200, func(e *env) (int, any) { return e.autoTagged(n) }},
		{"texts add", 201, func(e *env) (int, any) {
			return e.ask("POST", "/v1/texts/caps", writeKey, map[string]any{"texts": []string{"a red star", "a blue circle", "two green squares", "a yellow cross"}})
		}},
		{"texts add again", 201, func(e *env) (int, any) {
			return e.ask("POST", "/v1/texts/caps", writeKey, map[string]any{"texts": []string{"a red star", "a large diamond"}})
		}},
		{"texts get", 200, func(e *env) (int, any) { return e.ask("GET", "/v1/texts/caps", readKey, nil) }},
		{"texts search by text", 200, func(e *env) (int, any) {
			return e.ask("POST", "/v1/search", readKey, map[string]any{"target": "texts", "collection": "caps", "text": "a star", "k": 3})
		}},
		{"texts search by image id, paged", 200, func(e *env) (int, any) {
			return e.pages(map[string]any{"target": "texts", "collection": "caps", "image_id": e.itemID(1), "k": 2})
		}},
		{"texts delete", 200, func(e *env) (int, any) { return e.ask("DELETE", "/v1/texts/caps", writeKey, nil) }},
		{"texts get, deleted", 404, func(e *env) (int, any) { return e.ask("GET", "/v1/texts/caps", readKey, nil) }},
		{"texts search, deleted", 404, func(e *env) (int, any) {
			return e.ask("POST", "/v1/search", readKey, map[string]any{"target": "texts", "collection": "caps", "text": "a star", "k": 3})
		}},
		{"upload", 201, func(e *env) (int, any) {
			return e.ask("POST", "/v1/images", writeKey, rawBody{read(fresh[0]), "image/png"})
		}},
		{"upload, same bytes again", 200, func(e *env) (int, any) {
			return e.ask("POST", "/v1/images", writeKey, rawBody{read(fresh[0]), "image/png"})
		}},
		{"upload, bytes of an indexed scene", 200, func(e *env) (int, any) {
			return e.ask("POST", "/v1/images", writeKey, rawBody{scene4, "image/png"})
		}},
		{"uploaded item", 200, func(e *env) (int, any) { return e.ask("GET", "/v1/items/"+contentID(read(fresh[0])), readKey, nil) }},
		{"uploaded original", 200, func(e *env) (int, any) {
			return e.raw("/v1/items/"+contentID(read(fresh[0]))+"/original", readKey)
		}},
		{"uploaded thumbnail", 200, func(e *env) (int, any) {
			return e.raw("/v1/items/"+contentID(read(fresh[0]))+"/thumbnail", readKey)
		}},
		{"search by uploaded item id", 200, func(e *env) (int, any) {
			return e.ask("POST", "/v1/search", readKey, map[string]any{"image_id": contentID(read(fresh[0])), "k": 3})
		}},
		{"delete uploaded item", 200, func(e *env) (int, any) { return e.ask("DELETE", "/v1/items/"+contentID(read(fresh[0])), writeKey, nil) }},
		{"deleted item", 404, func(e *env) (int, any) { return e.ask("GET", "/v1/items/"+contentID(read(fresh[0])), readKey, nil) }},
		{"deleted original", 404, func(e *env) (int, any) {
			return e.raw("/v1/items/"+contentID(read(fresh[0]))+"/original", readKey)
		}},
		{"delete indexed item", 200, func(e *env) (int, any) {
			return e.ask("DELETE", "/v1/items/"+contentID(read(e.scenePath(0))), writeKey, nil)
		}},
		{"delete it again", 404, func(e *env) (int, any) {
			return e.ask("DELETE", "/v1/items/"+contentID(read(e.scenePath(0))), writeKey, nil)
		}},
		{"search after deletes", 200, func(e *env) (int, any) {
			return e.ask("POST", "/v1/search", readKey, map[string]any{"image": b64(read(fresh[0])), "k": n + 2})
		}},
		{"index job over a folder", 200, func(e *env) (int, any) {
			var j job
			if st, _ := e.call("POST", "/v1/index/jobs", writeKey, map[string]any{"folder": later(e)}, &j); st != http.StatusAccepted {
				return st, nil
			}
			return 200, e.jsonNormalise(e.waitJob(j.ID))
		}},
		{"index job outside the roots", 403, func(e *env) (int, any) {
			return e.ask("POST", "/v1/index/jobs", writeKey, map[string]any{"folder": e.data})
		}},
		{"index job, unknown", 404, func(e *env) (int, any) { return e.ask("GET", "/v1/index/jobs/nope", readKey, nil) }},
		{"indexed folder searched", 200, func(e *env) (int, any) {
			return e.ask("POST", "/v1/search", readKey, map[string]any{"text": "a circle", "k": 10, "filter": map[string]any{"path_prefix": later(e)}})
		}},
		{"folders", 200, func(e *env) (int, any) { return e.ask("GET", "/v1/folders", readKey, nil) }},
		{"folders by prefix", 200, func(e *env) (int, any) {
			return e.ask("GET", "/v1/folders?limit=5&prefix="+url.QueryEscape(filepath.Join(e.photos, "la")), readKey, nil)
		}},
		{"retag job of a new auto-tag set", 200, func(e *env) (int, any) {
			var ls map[string]any
			st, h := e.call("PUT", "/v1/labelsets/shapes", writeKey, map[string]any{"labels": []string{"circle", "square", "triangle", "star", "diamond", "cross"},
				"templates": []string{"a {}"}, "auto_tag": true}, &ls)
			if st != 200 || h.Get("X-Retag-Job") == "" {
				return st, fmt.Sprintf("retag job %q", h.Get("X-Retag-Job"))
			}
			j := e.waitJob(h.Get("X-Retag-Job"))
			_, tagged := e.autoTagged(n)
			return 200, []any{e.jsonNormalise(j), tagged}
		}},
		{"upload, auto-tagged", 201, func(e *env) (int, any) {
			return e.ask("POST", "/v1/images", writeKey, rawBody{read(fresh[1]), "image/png"})
		}},
		{"index status after jobs", 200, func(e *env) (int, any) { return e.ask("GET", "/v1/index/status", readKey, nil) }},
		{"watched folder", 200, func(e *env) (int, any) {
			dir := filepath.Join(e.photos, "watched")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				e.t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "first.png"), read(fresh[6]), 0o644); err != nil {
				e.t.Fatal(err)
			}
			e.srv.opts.WatchFolders = []string{dir}
			e.srv.startWatching(e.t.Context())
			// A file added while watched is indexed and found.
			if err := os.WriteFile(filepath.Join(dir, "second.png"), read(fresh[7]), 0o644); err != nil {
				e.t.Fatal(err)
			}
			body := map[string]any{"text": "a circle", "k": 5, "filter": map[string]any{"path_prefix": dir}}
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
				st, out := e.ask("POST", "/v1/search", readKey, body)
				if hits, _ := out.(map[string]any)["hits"].([]any); st != 200 || len(hits) == 2 || time.Now().After(deadline) {
					return st, out
				}
			}
		}},
		{"metrics", 200, func(e *env) (int, any) { return e.raw("/metrics", "") }},
	}
	for _, s := range steps {
		t0 := time.Now()
		es, eb := s.do(emb)
		ws, wb := s.do(wv)
		if es != s.want || ws != s.want {
			t.Errorf("%s: status embedded %d, weaviate %d, want %d (%.300v)", s.name, es, ws, s.want, wb)
			continue
		}
		if d := diff("", eb, wb); len(d) > 0 {
			t.Errorf("%s: embedded and weaviate differ:\n  %s", s.name, strings.Join(d[:min(len(d), 8)], "\n  "))
		}
		t.Logf("%s: %v", s.name, time.Since(t0).Round(time.Millisecond))
	}
}

// contentID is the item id of an image's bytes (its content hash).
func contentID(b []byte) string { return indexer.ContentHash(b).String() }

// sha is the hex SHA-256 of b.
func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// ask is call with the answer decoded as JSON and normalised.
func (e *env) ask(method, path, key string, body any) (int, any) {
	e.t.Helper()
	var out any
	st, _ := e.call(method, path, key, body, &out)
	return st, e.normalise(out)
}

// raw GETs path, whose answer is not a JSON document (or need not be
// compared whole) and returns its status with what the two servers must
// agree on: the content type, and the bytes' hash, except for images
// (their size: JPEG thumbnails are encoded per env) and answers with
// timings or the server's folders in them (their length class).
func (e *env) raw(path, key string) (int, any) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), "GET", e.ts.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	rct := resp.Header.Get("Content-Type")
	out := map[string]any{"type": rct}
	switch {
	case resp.StatusCode != 200:
	case strings.HasPrefix(rct, "image/") && strings.Contains(path, "/thumbnail"):
		cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			e.t.Errorf("%s: %v", path, err)
		}
		out["size"] = [2]int{cfg.Width, cfg.Height}
	case strings.HasPrefix(rct, "image/"), path == "/" || path == "/v1/openapi.json" || strings.HasPrefix(path, "/assets/"):
		out["sha256"] = sha(data)
	case path == "/metrics":
		// The index size gauge: what each store holds.
		for line := range strings.Lines(string(data)) {
			if strings.HasPrefix(line, "imglish_index_size") {
				out["index"] = strings.TrimSpace(line)
			}
		}
	default:
		var v any
		if json.Unmarshal(data, &v) == nil {
			out["body"] = e.normalise(v)
		}
	}
	return resp.StatusCode, out
}

// pages follows next_cursor from body's first page to the end (at most 20
// pages) and returns every page.
func (e *env) pages(body map[string]any) (int, any) {
	e.t.Helper()
	var out []any
	req := maps.Clone(body)
	for range 20 {
		var page map[string]any
		st, _ := e.call("POST", "/v1/search", readKey, req, &page)
		if st != 200 {
			return st, out
		}
		out = append(out, e.normalise(page))
		cur, _ := page["next_cursor"].(string)
		if cur == "" {
			return 200, out
		}
		req = maps.Clone(body)
		req["cursor"] = cur
	}
	e.t.Errorf("%v: more than 20 pages", body)
	return 200, out
}

// autoTagged reads every scene's item and, for each auto-tag found, the
// search filtered by it and the scenes' ids: the tags the indexer wrote,
// and their filter.
func (e *env) autoTagged(n int) (int, any) {
	e.t.Helper()
	byTag := map[string][]string{}
	var scenes []string
	for i := range n {
		var it Item
		st, _ := e.call("GET", "/v1/items/"+contentID(mustRead(e.t, e.scenePath(i))), readKey, nil, &it)
		if st == 404 {
			continue // deleted by an earlier step
		}
		scenes = append(scenes, it.ID)
		for _, tag := range it.Tags {
			byTag[tag] = append(byTag[tag], it.ID)
		}
	}
	if len(byTag) == 0 {
		e.t.Errorf("no auto-tags on %d scenes", n)
	}
	tags := make([]string, 0, len(byTag))
	for tag := range byTag {
		tags = append(tags, tag)
	}
	sort.Strings(tags)
	out := map[string]any{"tags": byTag}
	for _, tag := range tags {
		var sr SearchResponse
		if st, _ := e.call("POST", "/v1/search", readKey, map[string]any{"text": "an object", "k": n, "filter": map[string]any{"tags": []string{tag}, "ids": scenes}}, &sr); st != 200 {
			return st, out
		}
		var got []string
		for _, h := range sr.Hits {
			got = append(got, h.ID)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(byTag[tag]))
		if !slices.Equal(got, want) {
			e.t.Errorf("search with tag %s: %v, want %v", tag, got, want)
		}
		out["search "+tag] = got
	}
	return 200, out
}

// jsonNormalise is normalise of v as JSON.
func (e *env) jsonNormalise(v any) any {
	e.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		e.t.Fatal(err)
	}
	return e.normalise(out)
}

// normalise makes an answer comparable between envs: the env's folders
// become $PHOTOS and $DATA, times after 2025 (now, not a scene's) become
// "recent", and a job's id and timings are dropped.
func (e *env) normalise(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		_, isJob := x["state"]
		for k, val := range x {
			switch {
			case k == "took_ms", k == "elapsed_s", k == "eta_s", strings.HasSuffix(k, "_per_s"),
				isJob && (k == "id" || k == "started" || k == "finished"):
				continue
			case k == "next_cursor":
				out[k] = val != ""
				continue
			}
			out[k] = e.normalise(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = e.normalise(val)
		}
		return out
	case string:
		if tm, err := time.Parse(time.RFC3339Nano, x); err == nil && tm.Year() > 2025 {
			return "recent"
		}
		x = strings.ReplaceAll(x, e.photos, "$PHOTOS")
		return strings.ReplaceAll(x, e.data, "$DATA")
	}
	return v
}

// diff lists where a and b differ; numbers may differ by 1e-5.
func diff(at string, a, b any) []string {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %.200v vs %.200v", at, a, b)}
		}
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		var out []string
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			out = append(out, diff(at+"."+k, x[k], y[k])...)
		}
		return out
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return []string{fmt.Sprintf("%s: %.300v vs %.300v", at, a, b)}
		}
		var out []string
		for i := range x {
			out = append(out, diff(fmt.Sprintf("%s[%d]", at, i), x[i], y[i])...)
		}
		return out
	case float64:
		if y, ok := b.(float64); ok && math.Abs(x-y) <= 1e-5 {
			return nil
		}
	default:
		if fmt.Sprint(a) == fmt.Sprint(b) {
			return nil
		}
	}
	return []string{fmt.Sprintf("%s: %.200v vs %.200v", at, a, b)}
}
