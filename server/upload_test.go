package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"imglish/demo/scene"
	"imglish/encoder/preprocess"
	"imglish/indexer"
	"imglish/store"
)

// freshScenes writes n demo scenes of seed into dir/images (scenes no env
// has indexed) and returns their paths.
func freshScenes(t *testing.T, dir string, seed uint64, n int) []string {
	t.Helper()
	gen, err := scene.New(scene.Options{Seed: seed, Split: scene.Test})
	if err != nil {
		t.Fatal(err)
	}
	if err := scene.WriteDataset(t.Context(), dir, gen, scene.DatasetOptions{N: n, Size: 96}); err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(dir, scene.ImagesDir, "*.png"))
	if err != nil || len(paths) != n {
		t.Fatalf("wrote %d scenes of %d: %v", len(paths), n, err)
	}
	return paths
}

// upload posts data as an image/png or image/jpeg body with the write key.
// It returns an error rather than failing, so it may run off the test's
// goroutine; the response is still checked against openapi.json.
func (e *env) upload(ctx context.Context, data []byte) (int, uploadResponse, error) {
	ct := "image/png"
	if bytes.HasPrefix(data, []byte{0xFF, 0xD8}) {
		ct = "image/jpeg"
	}
	req, err := http.NewRequestWithContext(ctx, "POST", e.ts.URL+"/v1/images", bytes.NewReader(data))
	if err != nil {
		return 0, uploadResponse{}, err
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+writeKey)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		return 0, uploadResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, uploadResponse{}, err
	}
	var out uploadResponse
	if resp.StatusCode < 300 {
		if err := json.Unmarshal(b, &out); err != nil {
			return resp.StatusCode, out, fmt.Errorf("decode %q: %w", truncate(b), err)
		}
	}
	return resp.StatusCode, out, nil
}

// uploadFiles lists what is in the upload folder (nothing when it is absent).
func (e *env) uploadFiles() []string {
	e.t.Helper()
	ents, err := os.ReadDir(e.srv.opts.UploadDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		e.t.Fatal(err)
	}
	var out []string
	for _, d := range ents {
		out = append(out, d.Name())
	}
	return out
}

// spaceCount is the number of vectors in the model's image space.
func (e *env) spaceCount() int {
	e.t.Helper()
	n, err := e.cat.Count(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// waitJob polls index job id until it is no longer running.
func (e *env) waitJob(id string) job {
	e.t.Helper()
	var j job
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st, _ := e.call("GET", "/v1/index/jobs/"+id, readKey, nil, &j); st != http.StatusOK {
			e.t.Fatalf("job %s: status %d", id, st)
		}
		if j.State != "running" {
			return j
		}
	}
	e.t.Fatalf("job %s still running after 60 s", id)
	return j
}

// TestUploadBesideIndexJob holds an index job of 24 new scenes inside its
// first encoder batch (so it holds the indexer's run lock) and uploads a new
// image meanwhile: the upload is indexed while the job is still running,
// and both end complete.
func TestUploadBesideIndexJob(t *testing.T) {
	var held, taken atomic.Bool
	var freeOnce sync.Once
	entered, release := make(chan struct{}), make(chan struct{})
	free := func() { freeOnce.Do(func() { close(release) }) }
	e := newEnv(t, envConfig{scenes: 2, embedHook: func(ctx context.Context, _ int) error {
		if !held.Load() || !taken.CompareAndSwap(false, true) {
			return nil // only the job's first batch is held
		}
		close(entered)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}})
	t.Cleanup(free)
	jobScenes := freshScenes(t, filepath.Join(e.photos, "job"), 9, 24)
	data, err := os.ReadFile(freshScenes(t, t.TempDir(), 10, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	before := e.spaceCount()

	held.Store(true)
	var j job
	if st, _ := e.call("POST", "/v1/index/jobs", writeKey, map[string]any{"folder": filepath.Dir(jobScenes[0])}, &j); st != http.StatusAccepted {
		t.Fatalf("index job: status %d", st)
	}
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the index job never reached the encoder")
	}
	type result struct {
		status int
		resp   uploadResponse
		err    error
	}
	done := make(chan result, 1)
	go func() {
		st, resp, err := e.upload(t.Context(), data)
		done <- result{st, resp, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(15 * time.Second):
		t.Error("the upload is still waiting after 15 s behind an index job")
		free()
		r = <-done
	}
	if r.err != nil || r.status != http.StatusCreated || !r.resp.Created {
		t.Fatalf("upload: status %d, %+v, %v", r.status, r.resp, r.err)
	}
	if st, _ := e.call("GET", "/v1/index/jobs/"+j.ID, readKey, nil, &j); st != http.StatusOK || j.State != "running" {
		t.Errorf("job %s after the upload (status %d), want still running", j.State, st)
	}
	if _, err := e.db.Vector(store.ImageSpace(e.model.Info().ID), r.resp.Item.ID); err != nil {
		t.Errorf("uploaded item %s has no vector: %v", r.resp.Item.ID, err)
	}
	free()
	if j = e.waitJob(j.ID); j.State != "done" {
		t.Fatalf("job ended %s: %q", j.State, j.Error)
	}
	if got := e.spaceCount(); got != before+len(jobScenes)+1 {
		t.Errorf("%d vectors, want %d before + %d scenes + 1 upload", got, before, len(jobScenes))
	}
}

// TestUploadCancelled has the encoder stay busy until the upload's request
// context ends (Options.RequestTimeout): the upload answers 504 promptly and
// leaves no item, no vector and no file behind, and the same upload then
// succeeds.
func TestUploadCancelled(t *testing.T) {
	const timeout = time.Second
	var busy atomic.Bool
	e := newEnv(t, envConfig{scenes: 1, opts: Options{RequestTimeout: Duration(timeout)},
		embedHook: func(ctx context.Context, _ int) error {
			if !busy.Load() {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(30 * time.Second):
				return nil
			}
		}})
	data, err := os.ReadFile(freshScenes(t, t.TempDir(), 11, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	id := e.cat.ContentID(data)
	before := e.spaceCount()

	busy.Store(true)
	start := time.Now()
	st, _, err := e.upload(t.Context(), data)
	took := time.Since(start)
	if err != nil || st != http.StatusGatewayTimeout {
		t.Fatalf("upload with a busy encoder: status %d, %v; want 504", st, err)
	}
	if took > timeout+3*time.Second {
		t.Errorf("the upload answered %v after its %v deadline", took-timeout, timeout)
	}
	if _, err := e.db.Item(id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("item %s after the cancelled upload: %v, want store.ErrNotFound", id, err)
	}
	if got := e.spaceCount(); got != before {
		t.Errorf("%d vectors after the cancelled upload, want %d", got, before)
	}
	if files := e.uploadFiles(); len(files) != 0 {
		t.Errorf("the cancelled upload left %q", files)
	}

	busy.Store(false)
	st, resp, err := e.upload(t.Context(), data)
	if err != nil || st != http.StatusCreated || resp.Item.ID != id {
		t.Fatalf("upload again: status %d, item %q, %v", st, resp.Item.ID, err)
	}
	if files := e.uploadFiles(); len(files) != 1 || resp.Item.Path != filepath.Join(e.srv.opts.UploadDir, files[0]) {
		t.Errorf("upload folder %q, item path %s", files, resp.Item.Path)
	}
}

// TestUploadDecodesOnce uploads a new image and checks that the indexer
// neither read nor decoded it again: the handler's PrepareImage is the one
// decode, and the indexer only embedded its tensor. Its progress counters
// (which count every file an index run reads and decodes) are unchanged, and
// the encoder embedded exactly one image.
func TestUploadDecodesOnce(t *testing.T) {
	var embedded atomic.Int64
	e := newEnv(t, envConfig{scenes: 1, embedHook: func(_ context.Context, n int) error {
		embedded.Add(int64(n))
		return nil
	}})
	data, err := os.ReadFile(freshScenes(t, t.TempDir(), 12, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	before := e.ix.Progress()
	embedded.Store(0)
	if st, _, err := e.upload(t.Context(), data); err != nil || st != http.StatusCreated {
		t.Fatalf("upload: status %d, %v", st, err)
	}
	after := e.ix.Progress()
	if !after.Started.Equal(before.Started) || after.Files != before.Files || after.Bytes != before.Bytes || after.Embedded != before.Embedded {
		t.Errorf("the upload went through an index run that read and decoded it again: progress %+v, before %+v", after, before)
	}
	if n := embedded.Load(); n != 1 {
		t.Errorf("%d images embedded for one upload", n)
	}
}

// TestUploadAndIndexSameContent uploads an image while an index run embeds
// a copy of it (both held in the encoder until both are there): the content
// becomes one item with one vector and both paths.
func TestUploadAndIndexSameContent(t *testing.T) {
	var armed atomic.Bool
	var arrived atomic.Int64
	both := make(chan struct{})
	e := newEnv(t, envConfig{scenes: 1, embedHook: func(ctx context.Context, _ int) error {
		if !armed.Load() {
			return nil
		}
		if arrived.Add(1) == 2 {
			close(both)
		}
		select {
		case <-both:
		case <-time.After(10 * time.Second): // the other never came
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}})
	src := freshScenes(t, t.TempDir(), 13, 1)[0]
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.photos, "same")
	copyPath := filepath.Join(dir, "copy.png")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	id := e.cat.ContentID(data)
	before := e.spaceCount()

	armed.Store(true)
	runErr := make(chan error, 1)
	go func() {
		_, err := e.ix.Run(t.Context(), dir)
		runErr <- err
	}()
	st, resp, err := e.upload(t.Context(), data)
	if err != nil || st != http.StatusCreated || resp.Item.ID != id {
		t.Fatalf("upload: status %d, item %q, %v", st, resp.Item.ID, err)
	}
	if err := <-runErr; err != nil {
		t.Fatalf("index run: %v", err)
	}
	select {
	case <-both:
	default:
		t.Error("the upload and the index run never embedded at the same time: one waited for the other")
	}
	it, err := e.db.Item(id)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range it.Files {
		paths = append(paths, f.Path)
	}
	slices.Sort(paths)
	files := e.uploadFiles()
	if len(files) != 1 {
		t.Fatalf("upload folder %q", files)
	}
	upPath := filepath.Join(e.srv.opts.UploadDir, files[0])
	want := []string{copyPath, upPath}
	slices.Sort(want)
	if !slices.Equal(paths, want) {
		t.Errorf("item %s has paths %q, want %q", id, paths, want)
	}
	if !slices.Contains(resp.Item.Paths, upPath) {
		t.Errorf("the upload answered paths %q, without %s", resp.Item.Paths, upPath)
	}
	if got := e.spaceCount(); got != before+1 {
		t.Errorf("%d vectors, want %d + 1", got, before)
	}
	n := 0
	if err := e.db.Items(t.Context(), nil, func(store.Item) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	if n != before+1 {
		t.Errorf("%d items, want %d + 1", n, before)
	}
}

// TestUploadMetadataMatchesFolder uploads a JPEG with EXIF (camera, lens,
// an offset DateTimeOriginal, orientation 6), deletes it, indexes the same
// file from a folder, and compares the two items: the same metadata, the
// same vector and the same auto-tags (a colour set whose top label always
// tags, so the comparison is not of two empty lists).
func TestUploadMetadataMatchesFolder(t *testing.T) {
	e := newEnv(t, envConfig{
		scenes:    1,
		opts:      Options{AutoTags: []string{"colours"}, AutoTagMinProb: 0.01},
		labelSets: map[string]LabelSet{"colours": {Labels: colourLabels(), Templates: []string{"a {} object"}}},
	})
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "preprocess", "exif_rot6.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	space := store.ImageSpace(e.model.Info().ID)
	st, resp, err := e.upload(t.Context(), data)
	if err != nil || st != http.StatusCreated {
		t.Fatalf("upload: status %d, %v", st, err)
	}
	up, err := e.db.Item(resp.Item.ID)
	if err != nil {
		t.Fatal(err)
	}
	upVec, err := e.db.Vector(space, up.ID)
	if err != nil {
		t.Fatal(err)
	}
	if up.CameraModel != "Fixture Cam 1" || up.Taken.IsZero() || !up.TakenOffset || up.Orientation != 6 || len(indexer.AutoTags(up.Tags)) != 1 {
		t.Fatalf("uploaded item lacks the file's EXIF or an auto-tag: %+v", up)
	}
	if st, _ := e.call("DELETE", "/v1/items/"+up.ID, writeKey, nil, nil); st != http.StatusOK {
		t.Fatalf("delete: status %d", st)
	}
	dir := filepath.Join(e.photos, "exif")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "photo.jpg"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ix.Run(t.Context(), dir); err != nil {
		t.Fatal(err)
	}
	fold, err := e.db.ItemByPath(filepath.Join(dir, "photo.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	foldVec, err := e.db.Vector(space, fold.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Only where the file lies and when it was added may differ.
	norm := func(it store.Item) store.Item {
		it.Files, it.AddedAt = nil, time.Time{}
		return it
	}
	if a, b := norm(up), norm(fold); !itemsEqual(a, b) {
		t.Errorf("uploaded item\n%+v\nindexed from a folder\n%+v", a, b)
	}
	if len(upVec) != len(foldVec) || cosine(upVec, foldVec) < 1-1e-6 {
		t.Errorf("upload and folder vectors differ: cosine %v", cosine(upVec, foldVec))
	}
}

// itemsEqual compares two items field by field (times with Equal).
func itemsEqual(a, b store.Item) bool {
	ta, tb := a.Taken, b.Taken
	a.Taken, b.Taken = time.Time{}, time.Time{}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return ta.Equal(tb) && bytes.Equal(ja, jb)
}

// rawPost sends the head of a POST to e's server by hand, with the given
// Content-Length and as much of a body as given, so that a test can send
// less than it declares; the connection closes with the test.
func rawPost(t *testing.T, e *env, path, contentType, contentLength, body string) net.Conn {
	t.Helper()
	addr := strings.TrimPrefix(e.ts.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %s\r\n\r\n%s",
		path, addr, writeKey, contentType, contentLength, body)
	return conn
}

// rawStatus reads the answer on conn: its status and error code.
func rawStatus(t *testing.T, conn net.Conn) (int, string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb errorBody
	_ = json.NewDecoder(resp.Body).Decode(&eb)
	return resp.StatusCode, eb.Error.Code
}

// TestBodyCutShort: a body that ends before its Content-Length (the client
// stopped sending) is the client's fault on every door that reads one: a
// 400 bad_request, as for JSON, never a 500.
func TestBodyCutShort(t *testing.T) {
	e := newEnv(t, envConfig{})
	for _, tc := range []struct{ name, path, contentType, body string }{
		{"raw upload", "/v1/images", "image/png", "\x89PNG"},
		{"multipart upload", "/v1/images", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n\x89PNG"},
		{"JSON search", "/v1/search", "application/json", `{"text":"a`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := rawPost(t, e, tc.path, tc.contentType, "1000", tc.body)
			if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if st, code := rawStatus(t, conn); st != http.StatusBadRequest || code != "bad_request" {
				t.Errorf("status %d %q, want 400 bad_request", st, code)
			}
		})
	}
}

// TestStalledBodies: clients that send headers and then stall hold no work
// slot (a search beside them answers at once) and each gets a 408 once
// BodyTimeout passes without more of its body; a body declared over
// MaxUpload is refused before any of it is sent.
func TestStalledBodies(t *testing.T) {
	const bodyTimeout = 3 * time.Second
	e := newEnv(t, envConfig{opts: Options{MaxInFlight: 2, BodyTimeout: Duration(bodyTimeout), MaxUpload: 1 << 20}})
	start := time.Now()
	var stalled []net.Conn
	for range 4 { // twice the slots
		stalled = append(stalled, rawPost(t, e, "/v1/search", "application/json", "1000", `{"text":`))
	}
	time.Sleep(100 * time.Millisecond) // let them reach the server
	client := &http.Client{Timeout: bodyTimeout - 500*time.Millisecond}
	req, _ := http.NewRequest("POST", e.ts.URL+"/v1/search", strings.NewReader(`{"text":"a red circle","k":3}`))
	req.Header.Set("Authorization", "Bearer "+readKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("search beside %d stalled bodies: %v", len(stalled), err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("search beside stalled bodies: status %d", resp.StatusCode)
	}
	t.Logf("search beside %d stalled bodies answered in %v", len(stalled), time.Since(start))
	for i, conn := range stalled {
		if st, code := rawStatus(t, conn); st != http.StatusRequestTimeout || code != "body_timeout" {
			t.Errorf("stalled body %d: %d %q, want 408 body_timeout", i, st, code)
		}
	}
	if waited := time.Since(start); waited < bodyTimeout {
		t.Errorf("stalled bodies answered after %v, before BodyTimeout %v", waited, bodyTimeout)
	}

	// Declared too large: refused with no byte of the body sent.
	if st, code := rawStatus(t, rawPost(t, e, "/v1/images", "application/json", strconv.Itoa(1<<20+1), "")); st != http.StatusRequestEntityTooLarge || code != "payload_too_large" {
		t.Errorf("declared body over MaxUpload: %d %q, want 413 payload_too_large", st, code)
	}
}

// decodeWatcher is the real model, noting the pixels being prepared at once.
type decodeWatcher struct {
	Encoder
	mu        sync.Mutex
	now, peak int64
}

func (d *decodeWatcher) PrepareImage(ctx context.Context, data []byte, maxPixels int64) ([]float32, error) {
	info, err := preprocess.ProbeBytes(data, preprocess.Options{})
	if err != nil {
		return nil, err
	}
	px := int64(info.StoredWidth) * int64(info.StoredHeight)
	d.mu.Lock()
	d.now += px
	d.peak = max(d.peak, d.now)
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.now -= px
		d.mu.Unlock()
	}()
	time.Sleep(50 * time.Millisecond) // a large decode's time, so that requests overlap
	return d.Encoder.PrepareImage(ctx, data, maxPixels)
}

// TestDecodeBudget: query images and uploads decode within DecodeBudget
// pixels summed over requests; with room for one image (a budget of 1: an
// image takes at most the whole budget), eight concurrent requests within
// max_in_flight decode one at a time, and all succeed.
func TestDecodeBudget(t *testing.T) {
	const n = 8
	w := &decodeWatcher{}
	e := newEnv(t, envConfig{scenes: 2, opts: Options{MaxInFlight: 2 * n, DecodeBudget: 1}, encoder: func(m *Model) Encoder {
		w.Encoder = m
		return w
	}})
	fresh := freshScenes(t, t.TempDir(), 77, n/2)
	var peakWant int64
	var wg sync.WaitGroup
	for i := range n {
		path, want := "/v1/search", http.StatusOK
		img, err := os.ReadFile(e.scenePath(i % 2))
		if i%2 == 1 {
			path, want = "/v1/images", http.StatusCreated // a new image
			img, err = os.ReadFile(fresh[i/2])
		}
		if err != nil {
			t.Fatal(err)
		}
		info, err := preprocess.ProbeBytes(img, preprocess.Options{})
		if err != nil {
			t.Fatal(err)
		}
		peakWant = max(peakWant, int64(info.StoredWidth)*int64(info.StoredHeight))
		body := multipartBody(t, nil, map[string][]byte{"image": img})
		wg.Go(func() {
			var resp map[string]any
			if st, _ := e.call("POST", path, writeKey, body, &resp); st != want {
				t.Errorf("%s: status %d, want %d", path, st, want)
			}
		})
	}
	wg.Wait()
	if w.peak > peakWant {
		t.Errorf("peak %d pixels decoding at once, want one image's (at most %d)", w.peak, peakWant)
	}
}
