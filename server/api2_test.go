package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"imglish/store"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/image/tiff"
)

func TestSearchPaginationStable(t *testing.T) {
	const n = 23
	e := newEnv(t, envConfig{scenes: n})
	seen := map[string]bool{}
	var last float32 = 2
	cursor := ""
	added := false
	for page := 0; page < 20; page++ {
		body := map[string]any{"text": "two small red circles", "k": 5}
		if cursor != "" {
			body["cursor"] = cursor
		}
		var sr SearchResponse
		if st, _ := e.call("POST", "/v1/search", readKey, body, &sr); st != 200 {
			t.Fatalf("page %d: status %d", page, st)
		}
		for _, h := range sr.Hits {
			if seen[h.ID] {
				t.Fatalf("page %d repeats %s", page, h.ID)
			}
			if h.Score > last {
				t.Fatalf("page %d: score %v above the previous %v", page, h.Score, last)
			}
			seen[h.ID], last = true, h.Score
		}
		if !added {
			// An item added between pages must not shift or repeat later pages.
			if st, _ := e.call("POST", "/v1/images", writeKey, rawBody{pngBytes(t, 80, 60), "image/png"}, nil); st != http.StatusCreated {
				t.Fatalf("upload between pages: %d", st)
			}
			added = true
		}
		cursor = sr.NextCursor
		if cursor == "" {
			break
		}
	}
	for i := range n {
		if !seen[e.itemID(i)] {
			t.Errorf("scene %d never appeared while paging", i)
		}
	}
	if st, _ := e.call("POST", "/v1/search", readKey, map[string]any{"text": "something else", "cursor": cursor}, nil); cursor != "" && st != 400 {
		t.Errorf("cursor of another query: %d, want 400", st)
	}
}

func TestSearchFiltersAndDateSort(t *testing.T) {
	const n = 12
	e := newEnv(t, envConfig{scenes: n})
	// Date range: scenes 3..6 (mtime = base + i hours; To is exclusive).
	var sr SearchResponse
	e.call("POST", "/v1/search", readKey, map[string]any{"text": "a shape", "k": 50, "filter": map[string]any{
		"after": sceneTime(3).Format(time.RFC3339), "before": sceneTime(7).Format(time.RFC3339)}}, &sr)
	var got []string
	for _, h := range sr.Hits {
		got = append(got, h.ID)
	}
	want := []string{e.itemID(3), e.itemID(4), e.itemID(5), e.itemID(6)}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("date filter: got %v, want %v", got, want)
	}
	// ids and path prefix.
	e.call("POST", "/v1/search", readKey, map[string]any{"text": "a shape", "filter": map[string]any{"ids": []string{e.itemID(1), e.itemID(2)}}}, &sr)
	if len(sr.Hits) != 2 {
		t.Errorf("id filter: %d hits, want 2", len(sr.Hits))
	}
	e.call("POST", "/v1/search", readKey, map[string]any{"text": "a shape", "filter": map[string]any{"path_prefix": "/elsewhere/"}}, &sr)
	if len(sr.Hits) != 0 {
		t.Errorf("path prefix elsewhere: %d hits, want 0", len(sr.Hits))
	}
	e.call("POST", "/v1/search", readKey, map[string]any{"text": "a shape", "k": 50, "filter": map[string]any{"path_prefix": e.photos + "/"}}, &sr)
	if len(sr.Hits) != n {
		t.Errorf("path prefix of the collection: %d hits, want %d", len(sr.Hits), n)
	}
	// sort=date pages newest first over the relevant set (min_score -1: all).
	var order []string
	cursor := ""
	for {
		body := map[string]any{"text": "a shape", "k": 5, "sort": "date", "min_score": -1}
		if cursor != "" {
			body["cursor"] = cursor
		}
		var r SearchResponse
		if st, _ := e.call("POST", "/v1/search", readKey, body, &r); st != 200 {
			t.Fatalf("date sort: %d", st)
		}
		for _, h := range r.Hits {
			order = append(order, h.ID)
		}
		if cursor = r.NextCursor; cursor == "" {
			break
		}
	}
	var wantOrder []string
	for i := n - 1; i >= 0; i-- {
		wantOrder = append(wantOrder, e.itemID(i))
	}
	if !slices.Equal(order, wantOrder) {
		t.Errorf("date order: got %v, want %v", order, wantOrder)
	}
	// min_score keeps only hits at or above it.
	e.call("POST", "/v1/search", readKey, map[string]any{"image_id": e.itemID(0), "min_score": 0.999}, &sr)
	if len(sr.Hits) != 1 || sr.Hits[0].ID != e.itemID(0) {
		t.Errorf("min_score 0.999: %d hits, want only the query image", len(sr.Hits))
	}
}

func TestErrorsAndLimits(t *testing.T) {
	e := newEnv(t, envConfig{scenes: 3, opts: Options{MaxUpload: 200 << 10, MaxPixels: 90 * 90}})
	big := bytes.Repeat([]byte("x"), 300<<10)
	img := b64File(t, e.scenePath(0)) // 96×96 > MaxPixels
	small := pngBytes(t, 40, 40)
	corrupt := pngBytes(t, 40, 40)[:60]
	cases := []struct {
		name   string
		method string
		path   string
		body   any
		want   int
		code   string
	}{
		{"bad json", "POST", "/v1/search", rawBody{[]byte("{"), "application/json"}, 400, "bad_request"},
		{"unknown field", "POST", "/v1/search", map[string]any{"txt": "x"}, 400, "bad_request"},
		{"trailing data", "POST", "/v1/search", rawBody{[]byte(`{"text":"a"} {}`), "application/json"}, 400, "bad_request"},
		{"no terms", "POST", "/v1/search", map[string]any{"k": 3}, 400, "bad_request"},
		{"two kinds in a term", "POST", "/v1/search", map[string]any{"query": []map[string]any{{"text": "a", "image_id": "b"}}}, 400, "bad_request"},
		{"k too large", "POST", "/v1/search", map[string]any{"text": "a", "k": 5000}, 400, "bad_request"},
		{"bad sort", "POST", "/v1/search", map[string]any{"text": "a", "sort": "random"}, 400, "bad_request"},
		{"bad target", "POST", "/v1/search", map[string]any{"text": "a", "target": "videos"}, 400, "bad_request"},
		{"missing collection", "POST", "/v1/search", map[string]any{"image_id": "x", "target": "texts", "collection": "nope"}, 404, "not_found"},
		{"wrong content type", "POST", "/v1/search", rawBody{[]byte("text=a"), "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"not base64", "POST", "/v1/search", map[string]any{"image": "!!!"}, 400, "bad_request"},
		{"not an image", "POST", "/v1/search", map[string]any{"image": "aGVsbG8gd29ybGQ="}, 415, "unsupported_media_type"},
		{"corrupt png", "POST", "/v1/search", map[string]any{"image": b64(corrupt)}, 400, "corrupt_image"},
		{"too many pixels", "POST", "/v1/search", map[string]any{"image": img}, 422, "too_many_pixels"},
		{"body too large", "POST", "/v1/search", rawBody{append([]byte(`{"text":"`), big...), "application/json"}, 413, "payload_too_large"},
		{"upload too large", "POST", "/v1/images", rawBody{big, "image/png"}, 413, "payload_too_large"},
		{"unknown image_id", "POST", "/v1/search", map[string]any{"image_id": "0123abcd"}, 404, "not_found"},
		{"vector of wrong dimension", "POST", "/v1/search", map[string]any{"query": []map[string]any{{"vector": []float32{1, 0}}}}, 400, "bad_request"},
		{"cancelling terms", "POST", "/v1/search", map[string]any{"query": []map[string]any{{"text": "a cat"}, {"text": "a cat", "weight": -1}}}, 400, "bad_request"},
		{"bad cursor", "POST", "/v1/search", map[string]any{"text": "a", "cursor": "zzz"}, 400, "bad_request"},
		{"huge weight", "POST", "/v1/search", map[string]any{"query": []map[string]any{{"text": "a", "weight": 1e9}}}, 400, "bad_request"},
		{"classify without labels", "POST", "/v1/classify", map[string]any{"image": b64(small)}, 400, "bad_request"},
		{"classify bad template", "POST", "/v1/classify", map[string]any{"image": b64(small), "labels": []string{"a"}, "templates": []string{"no slot"}}, 400, "bad_request"},
		{"classify missing label set", "POST", "/v1/classify", map[string]any{"image": b64(small), "label_set": "nope"}, 404, "not_found"},
		{"embed nothing", "POST", "/v1/embed", map[string]any{}, 400, "bad_request"},
		{"embed empty text", "POST", "/v1/embed", map[string]any{"texts": []string{""}}, 400, "bad_request"},
		{"upload garbage", "POST", "/v1/images", rawBody{[]byte("not an image at all"), "image/png"}, 415, "unsupported_media_type"},
		{"upload empty", "POST", "/v1/images", rawBody{nil, "image/png"}, 400, "bad_request"},
		{"upload json", "POST", "/v1/images", map[string]any{"image": "x"}, 415, "unsupported_media_type"},
		{"texts bad name", "POST", "/v1/texts/bad%20name", map[string]any{"texts": []string{"a"}}, 400, "bad_request"},
		{"texts none", "POST", "/v1/texts/c", map[string]any{"texts": []string{}}, 400, "bad_request"},
		{"texts missing", "GET", "/v1/texts/nope", nil, 404, "not_found"},
		{"delete missing texts", "DELETE", "/v1/texts/nope", nil, 404, "not_found"},
		{"item missing", "GET", "/v1/items/0123", nil, 404, "not_found"},
		{"item bad id", "GET", "/v1/items/..", nil, 400, "bad_request"},
		{"job missing", "GET", "/v1/index/jobs/abc", nil, 404, "not_found"},
		{"method not allowed", "PUT", "/v1/search", nil, 405, "method_not_allowed"},
		{"unknown route", "GET", "/v1/nothing", nil, 404, "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var eb errorBody
			st, _ := e.call(tc.method, tc.path, writeKey, tc.body, &eb)
			if st != tc.want || eb.Error.Code != tc.code {
				t.Errorf("%s %s: %d %q (%s), want %d %q", tc.method, tc.path, st, eb.Error.Code, eb.Error.Message, tc.want, tc.code)
			}
		})
	}
}

// TestFieldPathsAndAllow: an error about one element of a list names it by
// the client's field path, 0-based as in type errors ("query[1].weight");
// OPTIONS answers 204 with the path's methods without CORS configured, and a
// 405 names the same methods.
func TestFieldPathsAndAllow(t *testing.T) {
	e := newEnv(t, envConfig{scenes: 1})
	for _, tc := range []struct {
		path string
		body any
		want string
	}{
		{"/v1/search", map[string]any{"query": []map[string]any{{"text": "a"}, {"text": "b", "weight": 1e9}}}, "query[1].weight must be finite"},
		{"/v1/search", map[string]any{"query": []map[string]any{{"text": "a"}, {"vector": []float32{1, 0}}}}, "query[1] has 2 dimensions"},
		{"/v1/search", map[string]any{"query": []map[string]any{{"text": "a", "image_id": "0123abcd"}}}, "query[0] must have exactly one of"},
		{"/v1/embed", map[string]any{"texts": []string{"a", ""}}, "texts[1] must be"},
		{"/v1/embed", map[string]any{"images": []string{b64(pngBytes(t, 8, 8)), "aGVsbG8gd29ybGQ="}}, "images[1]: "},
	} {
		var eb errorBody
		if st, _ := e.call("POST", tc.path, writeKey, tc.body, &eb); st/100 != 4 || !strings.Contains(eb.Error.Message, tc.want) {
			t.Errorf("POST %s %v: %d %q, want a 4xx naming %q", tc.path, tc.body, st, eb.Error.Message, tc.want)
		}
	}
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"OPTIONS", "/v1/search", 204, "POST, OPTIONS"},
		{"OPTIONS", "/v1/items/0123abcd", 204, "GET, DELETE, HEAD, OPTIONS"},
		{"PUT", "/v1/search", 405, "POST, OPTIONS"},
		{"POST", "/healthz", 405, "GET, HEAD, OPTIONS"},
	} {
		st, h := e.call(tc.method, tc.path, writeKey, nil, nil)
		if st != tc.status || h.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d, Allow %q; want %d, Allow %q", tc.method, tc.path, st, h.Get("Allow"), tc.status, tc.allow)
		}
	}
}

func b64(b []byte) string { return base64Std(b) }

func TestClassify(t *testing.T) {
	e := newEnv(t, envConfig{scenes: 4})
	labels := []string{"red circle", "blue square", "green triangle", "yellow star"}
	templates := []string{"a photo of a {}.", "a {}", "a picture with a {}"}
	img := b64File(t, e.scenePath(2))
	var cr classifyResponse
	if st, _ := e.call("POST", "/v1/classify", readKey, map[string]any{"image": img, "labels": labels, "templates": templates}, &cr); st != 200 {
		t.Fatalf("classify: %d", st)
	}
	// Recompute: per label, the mean of its template vectors (renormalised),
	// cosine with the image, softmax over exp(logit_scale)·cosine.
	prompts := []string{}
	for _, l := range labels {
		for _, tp := range templates {
			prompts = append(prompts, strings.ReplaceAll(tp, "{}", l))
		}
	}
	var emb struct {
		Vectors [][]float32 `json:"vectors"`
	}
	e.call("POST", "/v1/embed", readKey, map[string]any{"texts": prompts, "images": []string{img}}, &emb)
	imgVec := emb.Vectors[len(prompts)]
	scale := math.Exp(e.model.Info().LogitScale)
	want := map[string]float64{}
	var z float64
	for i, l := range labels {
		sum := make([]float64, len(imgVec))
		for j := range templates {
			for d, x := range emb.Vectors[i*len(templates)+j] {
				sum[d] += float64(x)
			}
		}
		v, _ := normalize(sum)
		want[l] = math.Exp(scale * dot(v, imgVec))
		z += want[l]
	}
	var total float64
	for i, ls := range cr.Labels {
		total += ls.Probability
		if math.Abs(ls.Probability-want[ls.Label]/z) > 1e-4 {
			t.Errorf("%s: probability %.5f, want %.5f", ls.Label, ls.Probability, want[ls.Label]/z)
		}
		if i > 0 && ls.Probability > cr.Labels[i-1].Probability {
			t.Errorf("labels not ranked: %v", cr.Labels)
		}
	}
	if len(cr.Labels) != len(labels) || math.Abs(total-1) > 1e-6 || cr.LogitScale != e.model.Info().LogitScale {
		t.Errorf("%d labels, total probability %v, logit scale %v", len(cr.Labels), total, cr.LogitScale)
	}
	// A stored label set gives the same answer by name, by image_id too.
	if st, _ := e.call("PUT", "/v1/labelsets/shapes", writeKey, map[string]any{"labels": labels, "templates": templates}, nil); st != 200 {
		t.Fatalf("put label set: %d", st)
	}
	var ls LabelSet
	if st, _ := e.call("GET", "/v1/labelsets/shapes", readKey, nil, &ls); st != 200 || !slices.Equal(ls.Labels, labels) {
		t.Fatalf("get label set: %d %v", st, ls)
	}
	var byName classifyResponse
	e.call("POST", "/v1/classify", readKey, map[string]any{"image_id": e.itemID(2), "label_set": "shapes"}, &byName)
	if len(byName.Labels) != len(labels) || byName.Labels[0].Label != cr.Labels[0].Label ||
		math.Abs(byName.Labels[0].Probability-cr.Labels[0].Probability) > 1e-4 {
		t.Errorf("label set by image_id: %v, want %v", byName.Labels, cr.Labels)
	}
	// Multipart upload with comma-separated labels.
	var mp classifyResponse
	body := multipartBody(t, map[string]string{"labels": "red circle, blue square"}, map[string][]byte{"image": mustRead(t, e.scenePath(2))})
	if st, _ := e.call("POST", "/v1/classify", readKey, body, &mp); st != 200 || len(mp.Labels) != 2 {
		t.Errorf("multipart classify: %d %v", st, mp.Labels)
	}
}

func TestTextCollections(t *testing.T) {
	const n = 8
	e := newEnv(t, envConfig{scenes: n})
	var captions []string
	for _, s := range e.scenes {
		captions = append(captions, s.Caption())
	}
	var added struct {
		Added []TextEntry `json:"added"`
	}
	if st, _ := e.call("POST", "/v1/texts/captions", writeKey, map[string]any{"texts": captions}, &added); st != 201 || len(added.Added) != n {
		t.Fatalf("add texts: %d, %d added", st, len(added.Added))
	}
	// Adding the same texts again is idempotent.
	e.call("POST", "/v1/texts/captions", writeKey, map[string]any{"texts": captions[:2]}, nil)
	var list struct {
		Count int         `json:"count"`
		Texts []TextEntry `json:"texts"`
	}
	if st, _ := e.call("GET", "/v1/texts/captions", readKey, nil, &list); st != 200 || list.Count != len(uniq(captions)) {
		t.Fatalf("list: %d, count %d, want %d", st, list.Count, len(uniq(captions)))
	}
	// image→text: scores equal the cosine of the image and caption vectors; pages are disjoint.
	var emb struct {
		Vectors [][]float32 `json:"vectors"`
	}
	e.call("POST", "/v1/embed", readKey, map[string]any{"texts": captions[:1]}, &emb)
	img, err := e.db.Vector(store.ImageSpace(e.model.Info().ID), e.itemID(0))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	cursor := ""
	for {
		body := map[string]any{"image_id": e.itemID(0), "target": "texts", "collection": "captions", "k": 3}
		if cursor != "" {
			body["cursor"] = cursor
		}
		var sr SearchResponse
		if st, _ := e.call("POST", "/v1/search", readKey, body, &sr); st != 200 {
			t.Fatalf("image→text: %d", st)
		}
		for _, h := range sr.Hits {
			if seen[h.ID] || h.Text == "" {
				t.Fatalf("repeated or empty hit %+v", h)
			}
			seen[h.ID] = true
			if h.Text == captions[0] && math.Abs(float64(h.Score)-dot(img, emb.Vectors[0])) > 1e-4 {
				t.Errorf("caption score %.5f, cosine %.5f", h.Score, dot(img, emb.Vectors[0]))
			}
		}
		if cursor = sr.NextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != list.Count {
		t.Errorf("paged through %d texts, want %d", len(seen), list.Count)
	}
	if st, _ := e.call("DELETE", "/v1/texts/captions", writeKey, nil, nil); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	if st, _ := e.call("GET", "/v1/texts/captions", readKey, nil, nil); st != 404 {
		t.Errorf("after delete: %d, want 404", st)
	}
}

func uniq(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return slices.Compact(c)
}

func TestItemsThumbnailsOriginals(t *testing.T) {
	e := newEnv(t, envConfig{scenes: 3, opts: Options{ThumbSize: 64}})
	id := e.itemID(1)
	var it Item
	if st, _ := e.call("GET", "/v1/items/"+id, readKey, nil, &it); st != 200 || it.Path != e.scenePath(1) || it.Width != 96 {
		t.Fatalf("get item: %d %+v", st, it)
	}
	get := func(path string, hdr map[string]string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", e.ts.URL+path, nil)
		req.Header.Set("X-API-Key", readKey)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		return resp, buf.Bytes()
	}
	resp, body := get("/v1/items/"+id+"/thumbnail", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || resp.Header.Get("ETag") == "" {
		t.Fatalf("thumbnail: %d %v", resp.StatusCode, resp.Header)
	}
	th, err := jpeg.Decode(bytes.NewReader(body))
	if err != nil || th.Bounds().Dx() != 64 || th.Bounds().Dy() != 64 {
		t.Fatalf("thumbnail decode: %v %v", err, th)
	}
	cached, _ := filepath.Glob(filepath.Join(e.data, "thumbs", "*.jpg"))
	if len(cached) != 1 {
		t.Errorf("cached thumbnails: %v, want one", cached)
	}
	etag := resp.Header.Get("ETag")
	for match, want := range map[string]int{
		etag: http.StatusNotModified, "W/" + etag: http.StatusNotModified, `"other", ` + etag: http.StatusNotModified,
		"*": http.StatusNotModified, `"other"`: http.StatusOK,
	} {
		if r2, _ := get("/v1/items/"+id+"/thumbnail", map[string]string{"If-None-Match": match}); r2.StatusCode != want {
			t.Errorf("If-None-Match %s: %d, want %d", match, r2.StatusCode, want)
		}
	}
	resp, body = get("/v1/items/"+id+"/original", nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, mustRead(t, e.scenePath(1))) || resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("original: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	if resp, _ = get("/v1/items/"+id+"/original", map[string]string{"Range": "bytes=0-3"}); resp.StatusCode != http.StatusPartialContent {
		t.Errorf("range: %d, want 206", resp.StatusCode)
	}
	// A format the standard sniffer does not know is served as what the
	// decoder recorded.
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 5)
	}
	var tif bytes.Buffer
	if err := tiff.Encode(&tif, img, nil); err != nil {
		t.Fatal(err)
	}
	var up uploadResponse
	if st, _ := e.call("POST", "/v1/images", writeKey, rawBody{tif.Bytes(), "image/tiff"}, &up); st != http.StatusCreated || up.Item.MediaType != "image/tiff" {
		t.Fatalf("upload a TIFF: %d, media type %q", st, up.Item.MediaType)
	}
	if resp, body = get("/v1/items/"+up.Item.ID+"/original", nil); resp.StatusCode != 200 || !bytes.Equal(body, tif.Bytes()) || resp.Header.Get("Content-Type") != "image/tiff" {
		t.Errorf("TIFF original: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	if st, _ := e.call("DELETE", "/v1/items/"+up.Item.ID, writeKey, nil, nil); st != 200 {
		t.Fatalf("delete the TIFF: %d", st)
	}
	// Path traversal: ids never reach the file system.
	for _, p := range []string{
		"/v1/items/..%2F..%2Fetc%2Fpasswd/original", "/v1/items/%2Fetc%2Fpasswd/original", "/v1/items/../../etc/passwd",
		"/v1/items/..%252F..%252Fetc/original", "/assets/..%2Fserver.go", "/assets/%2e%2e/openapi.json", "/v1/items/.%00./original",
	} {
		if resp, body := get(p, nil); resp.StatusCode < 400 || resp.StatusCode >= 500 || bytes.Contains(body, []byte("root:")) {
			t.Errorf("GET %s: %d (%d bytes), want a 4xx", p, resp.StatusCode, len(body))
		}
	}
	// Delete: gone from items and from search, file untouched.
	if st, _ := e.call("DELETE", "/v1/items/"+id, writeKey, nil, nil); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	if st, _ := e.call("GET", "/v1/items/"+id, readKey, nil, nil); st != 404 {
		t.Errorf("deleted item: %d, want 404", st)
	}
	var sr SearchResponse
	e.call("POST", "/v1/search", readKey, map[string]any{"text": "a shape", "k": 10}, &sr)
	if len(sr.Hits) != 2 || slices.ContainsFunc(sr.Hits, func(h SearchHit) bool { return h.ID == id }) {
		t.Errorf("search after delete: %d hits", len(sr.Hits))
	}
	if _, err := os.Stat(e.scenePath(1)); err != nil {
		t.Errorf("delete removed the user's file: %v", err)
	}
}

func TestUploadDedup(t *testing.T) {
	e := newEnv(t, envConfig{scenes: 2})
	png := pngBytes(t, 70, 50)
	var up uploadResponse
	if st, _ := e.call("POST", "/v1/images", writeKey, multipartBody(t, nil, map[string][]byte{"image": png}), &up); st != 201 || !up.Created || up.Item.Width != 70 {
		t.Fatalf("upload: %d %+v", st, up)
	}
	var again uploadResponse
	if st, _ := e.call("POST", "/v1/images", writeKey, rawBody{png, "image/png"}, &again); st != 200 || again.Created || again.Item.ID != up.Item.ID {
		t.Fatalf("re-upload: %d %+v, want 200 with %s", st, again, up.Item.ID)
	}
	// An indexed scene uploaded again is a duplicate too.
	if st, _ := e.call("POST", "/v1/images", writeKey, rawBody{mustRead(t, e.scenePath(0)), "image/png"}, &again); st != 200 || again.Item.ID != e.itemID(0) {
		t.Errorf("upload of an indexed file: %d %+v", st, again)
	}
	var sr SearchResponse
	e.call("POST", "/v1/search", readKey, map[string]any{"image": base64Std(png), "k": 1}, &sr)
	if len(sr.Hits) != 1 || sr.Hits[0].ID != up.Item.ID || sr.Hits[0].Score < 0.999 {
		t.Errorf("uploaded image not found by itself: %+v", sr.Hits)
	}
	var n struct {
		Items int `json:"items"`
	}
	if e.call("GET", "/v1/index/status", readKey, nil, &n); n.Items != 3 {
		t.Errorf("items after uploads: %d, want 3", n.Items)
	}
}

func TestIndexJobs(t *testing.T) {
	e := newEnv(t, envConfig{scenes: 2})
	sub := filepath.Join(e.photos, "more")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("p%d.png", i)), pngBytes(t, 30+i, 30), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(e.photos, "escape")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		folder string
		want   int
	}{
		{"relative/path", 400},
		{outside, 403},
		{e.photos + "/../", 403},
		{filepath.Join(e.photos, "escape"), 403},
		{filepath.Join(e.photos, "missing"), 404},
		{"/etc", 403},
	} {
		if st, _ := e.call("POST", "/v1/index/jobs", writeKey, map[string]any{"folder": tc.folder}, nil); st != tc.want {
			t.Errorf("job for %q: %d, want %d", tc.folder, st, tc.want)
		}
	}
	var j job
	if st, _ := e.call("POST", "/v1/index/jobs", writeKey, map[string]any{"folder": sub}, &j); st != http.StatusAccepted || j.ID == "" {
		t.Fatalf("create job: %d %+v", st, j)
	}
	deadline := time.Now().Add(30 * time.Second)
	for j.State == "running" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		e.call("GET", "/v1/index/jobs/"+j.ID, readKey, nil, &j)
	}
	if j.State != "done" || j.Progress.Embedded != 3 {
		t.Fatalf("job ended %s, progress %+v, error %q", j.State, j.Progress, j.Error)
	}
	var st struct {
		Items int   `json:"items"`
		Jobs  []job `json:"jobs"`
	}
	if e.call("GET", "/v1/index/status", readKey, nil, &st); st.Items != 5 || len(st.Jobs) != 1 {
		t.Errorf("status: %d items, %d jobs", st.Items, len(st.Jobs))
	}
}

func TestEmbedCoalescedEqualsUnbatched(t *testing.T) {
	e := newEnv(t, envConfig{opts: Options{Batch: CoalescerOptions{MaxBatch: 8, MaxWait: 30 * time.Millisecond}}})
	texts := []string{"a red circle", "two blue squares", "a green star on a white background", "three small yellow triangles",
		"a purple diamond", "an orange cross left of a black circle", "a white square", "a gray background"}
	want, err := func() ([][]float32, error) {
		var out [][]float32
		for _, tx := range texts {
			v, err := e.model.EmbedTexts(context.Background(), []string{tx})
			if err != nil {
				return nil, err
			}
			out = append(out, v[0])
		}
		return out, nil
	}()
	if err != nil {
		t.Fatal(err)
	}
	// Eight concurrent single-text requests must share encoder runs. How
	// closely goroutines start depends on the machine's load, so a burst that
	// happened to arrive spread out is tried again (up to five bursts); a
	// coalescer that never merges fails every one.
	textRuns := func() float64 {
		resp, err := http.Get(e.ts.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		var runs float64
		for line := range strings.SplitSeq(buf.String(), "\n") {
			if strings.HasPrefix(line, `imglish_encoder_batch_size_count{tower="text"}`) {
				_, _ = fmt.Sscanf(strings.Fields(line)[1], "%g", &runs)
			}
		}
		return runs
	}
	got := make([][]float32, len(texts))
	var wg sync.WaitGroup
	var burstRuns []float64
	for range 5 {
		before := textRuns()
		for i, tx := range texts {
			wg.Go(func() {
				var r struct {
					Vectors [][]float32 `json:"vectors"`
				}
				if st, _ := e.call("POST", "/v1/embed", readKey, map[string]any{"texts": []string{tx}}, &r); st == 200 && len(r.Vectors) == 1 {
					got[i] = r.Vectors[0]
				}
			})
		}
		wg.Wait()
		burstRuns = append(burstRuns, textRuns()-before)
		if n := burstRuns[len(burstRuns)-1]; n >= 1 && n < float64(len(texts)) {
			break
		}
	}
	if n := burstRuns[len(burstRuns)-1]; n < 1 || n >= float64(len(texts)) {
		t.Errorf("encoder runs per burst of %d concurrent texts: %v, want fewer than %d in some burst (coalesced)", len(texts), burstRuns, len(texts))
	}
	for i := range texts {
		if got[i] == nil {
			t.Fatalf("text %d: no vector", i)
		}
		if c := dot(got[i], want[i]); c < 1-1e-5 {
			t.Errorf("text %d: coalesced vector has cosine %.7f with the unbatched one", i, c)
		}
	}
	// Images too: concurrent single-image requests equal one-at-a-time embeddings.
	imgs := make([][]byte, 6)
	for i := range imgs {
		imgs[i] = pngBytes(t, 40+7*i, 50)
	}
	gotImg := make([][]float32, len(imgs))
	for i, b := range imgs {
		wg.Go(func() {
			var r struct {
				Vectors [][]float32 `json:"vectors"`
			}
			if st, _ := e.call("POST", "/v1/embed", readKey, map[string]any{"images": []string{base64Std(b)}}, &r); st == 200 && len(r.Vectors) == 1 {
				gotImg[i] = r.Vectors[0]
			}
		})
	}
	wg.Wait()
	for i, b := range imgs {
		px, err := e.model.PrepareImage(context.Background(), b, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		want, err := e.model.EmbedImages(context.Background(), [][]float32{px})
		if err != nil {
			t.Fatal(err)
		}
		if gotImg[i] == nil || dot(gotImg[i], want[0]) < 1-1e-5 {
			t.Errorf("image %d: coalesced vector differs from the unbatched one", i)
		}
	}
}

func TestGracefulShutdownDrains(t *testing.T) {
	e := newEnv(t, envConfig{scenes: 1})
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- e.srv.Run(ctx, func(a netAddr) { addrc <- a.String() })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	// A request whose body is still arriving when shutdown starts completes.
	pr, pw := ioPipe()
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/embed", pr)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", readKey)
	respc := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			respc <- nil
			return
		}
		respc <- resp
	}()
	_, _ = pw.Write([]byte(`{"texts":`))
	time.Sleep(100 * time.Millisecond)
	cancel()
	time.Sleep(100 * time.Millisecond)
	_, _ = pw.Write([]byte(`["a red circle"]}`))
	_ = pw.Close()
	resp := <-respc
	if resp == nil || resp.StatusCode != 200 {
		t.Fatalf("in-flight request during shutdown: %v", resp)
	}
	var r struct {
		Vectors [][]float32 `json:"vectors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || len(r.Vectors) != 1 {
		t.Errorf("drained response: %v %d", err, len(r.Vectors))
	}
	resp.Body.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
	if _, err := e.srv.app.EmbedText(context.Background(), "x"); !errors.Is(err, ErrShuttingDown) {
		t.Errorf("coalescer after shutdown: %v", err)
	}
}

func TestAdmissionQueue(t *testing.T) {
	e := newEnv(t, envConfig{scenes: 4, opts: Options{MaxInFlight: 1}})
	var wg sync.WaitGroup
	codes := make([]int, 12)
	for i := range codes {
		wg.Go(func() {
			codes[i], _ = e.call("POST", "/v1/search", readKey, map[string]any{"text": fmt.Sprintf("scene %d", i), "k": 2}, nil)
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("request %d behind a one-slot queue: %d", i, c)
		}
	}
	slow := newEnv(t, envConfig{scenes: 1, opts: Options{MaxInFlight: 1, RequestTimeout: Duration(time.Nanosecond)}})
	if st, _ := slow.call("POST", "/v1/search", readKey, map[string]any{"text": "a"}, nil); st != http.StatusGatewayTimeout {
		t.Errorf("expired while queued or running: %d, want 504", st)
	}
}

// TestHeadAnswersAsGet: every GET route answers HEAD with the GET's status
// and headers and no body (RFC 9110 §9.3.2); a route without GET still
// answers 405.
func TestHeadAnswersAsGet(t *testing.T) {
	e := newEnv(t, envConfig{scenes: 1})
	id := e.itemID(0)
	for _, tc := range []struct {
		path   string
		status int
		ct     string
	}{
		{"/healthz", 200, "application/json"},
		{"/", 200, "text/html"},
		{"/v1/items/" + id, 200, "application/json"},
		{"/v1/items/" + id + "/thumbnail", 200, "image/jpeg"},
		{"/v1/items/nope", 404, "application/json"},
		{"/v1/search", 405, "application/json"},
	} {
		req, _ := http.NewRequest(http.MethodHead, e.ts.URL+tc.path, nil)
		req.Header.Set("Authorization", "Bearer "+readKey)
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ct) || len(body) != 0 {
			t.Errorf("HEAD %s: %d %q, %d body bytes; want %d %s and no body", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), tc.status, tc.ct)
		}
	}
}
