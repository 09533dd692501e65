package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"imglish/server"
)

// TestBackupRestoreThroughAPI: a server on a data folder gets a label set with
// auto_tag (and one left as a file by an older version), an upload and a text
// collection beside indexed demo scenes; `imglish backup`, the old folder
// deleted, `imglish restore` into an empty folder, and a server on it answers
// every read the same: items with their auto-tags, search, classify with the
// label sets, the label sets themselves, the texts, and the upload's original.
func TestBackupRestoreThroughAPI(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	model, data, scenes := filepath.Join(dir, "model"), filepath.Join(dir, "data"), filepath.Join(dir, "scenes")
	photos := filepath.Join(scenes, "images")
	for _, args := range [][]string{
		{"convert", "--checkpoint", "../../testdata/reference/tiny.pth", "--image-size", "32",
			"--tokenizer", "../../testdata/models/demo/demo.model", "--out", model},
		{"demo", "scenes", "--out", scenes, "--n", "4", "--size", "64"},
		{"--data", data, "--model", model, "index", "-q", photos},
	} {
		if _, err := runCLI(ctx, t, args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	// A label set as an older imglish stored it: a file under <data>/labelsets.
	if err := os.MkdirAll(filepath.Join(data, "labelsets"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "labelsets", "legacy.json"), []byte(`{"labels":["sea","sky"],"templates":["a photo of {}"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	const key = "backup-test-key-0123456789"
	t.Setenv(server.KeysEnv, key+":write")

	api := serveCLI(t, data, model, key)
	if st, h, _ := api.do("PUT", "/v1/labelsets/colours", "application/json",
		[]byte(`{"labels":["red","green","blue"],"templates":["a {} shape"],"auto_tag":true,"min_prob":0.01}`)); st != 200 {
		t.Fatalf("PUT label set: %d", st)
	} else if job := h.Get("X-Retag-Job"); job == "" {
		t.Fatal("PUT of an auto_tag set started no retag job")
	} else {
		api.waitJob(job)
	}
	upload := structuredPNG(t)
	st, _, body := api.do("POST", "/v1/images", "image/png", upload)
	var up struct {
		Item    server.Item `json:"item"`
		Created bool        `json:"created"`
	}
	if st != http.StatusCreated || json.Unmarshal(body, &up) != nil || !up.Created {
		t.Fatalf("upload: %d %s", st, body)
	}
	if st, _, body := api.do("POST", "/v1/texts/captions", "application/json", []byte(`{"texts":["a red circle","two blue squares","a green triangle"]}`)); st != http.StatusCreated {
		t.Fatalf("add texts: %d %s", st, body)
	}
	var hits server.SearchResponse
	if st, _, body := api.do("POST", "/v1/search", "application/json", []byte(`{"text":"a shape","k":10}`)); st != 200 || json.Unmarshal(body, &hits) != nil || len(hits.Hits) != 5 {
		t.Fatalf("search: %d %s, want 5 hits", st, body)
	}
	sceneID := hits.Hits[0].ID
	if sceneID == up.Item.ID {
		sceneID = hits.Hits[1].ID
	}
	reads := []struct{ method, path, body string }{
		{"GET", "/v1/items/" + sceneID, ""},
		{"GET", "/v1/items/" + up.Item.ID, ""},
		{"POST", "/v1/search", `{"text":"a red circle","k":10}`},
		{"POST", "/v1/search", `{"image_id":"` + up.Item.ID + `","k":10}`},
		{"POST", "/v1/search", `{"image_id":"` + sceneID + `","target":"texts","collection":"captions","k":3}`},
		{"POST", "/v1/search", `{"text":"a shape","k":10,"filter":{"tags":["auto:red"]}}`},
		{"POST", "/v1/classify", `{"image_id":"` + sceneID + `","label_set":"colours"}`},
		{"POST", "/v1/classify", `{"image_id":"` + up.Item.ID + `","label_set":"legacy"}`},
		{"GET", "/v1/labelsets/colours", ""},
		{"GET", "/v1/labelsets/legacy", ""},
		{"GET", "/v1/texts/captions", ""},
		{"GET", "/v1/items/" + up.Item.ID + "/original", ""},
	}
	before := make([][]byte, len(reads))
	for i, r := range reads {
		st, _, body := api.do(r.method, r.path, "application/json", []byte(r.body))
		if st != 200 {
			t.Fatalf("%s %s: %d %s", r.method, r.path, st, body)
		}
		before[i] = withoutTook(t, body)
	}
	if !bytes.Equal(before[len(before)-1], upload) {
		t.Fatal("original of the upload differs from the uploaded bytes")
	}
	api.stop()

	backup := filepath.Join(dir, "imglish.backup")
	if _, err := runCLI(ctx, t, "--data", data, "backup", "--out", backup); err != nil {
		t.Fatalf("backup: %v", err)
	}
	// Nothing may be read from the old folder (uploads included).
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(dir, "restored")
	if _, err := runCLI(ctx, t, "--data", restored, "restore", backup); err != nil {
		t.Fatalf("restore: %v", err)
	}
	api = serveCLI(t, restored, model, key)
	defer api.stop()
	for i, r := range reads {
		st, _, body := api.do(r.method, r.path, "application/json", []byte(r.body))
		if got := withoutTook(t, body); st != 200 || !bytes.Equal(got, before[i]) {
			t.Errorf("after restore %s %s %s: %d\n%s\nwant\n%s", r.method, r.path, r.body, st, got, before[i])
		}
	}
}

// cliAPI is an `imglish serve` run in this process.
type cliAPI struct {
	t    *testing.T
	base string
	key  string
	stop func()
}

func serveCLI(t *testing.T, data, model, key string) *cliAPI {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	sctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := runCLI(sctx, t, "--data", data, "--model", model, "serve", "--addr", addr)
		done <- err
	}()
	stopped := false
	a := &cliAPI{t: t, base: "http://" + addr, key: key}
	a.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	t.Cleanup(a.stop)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(a.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return a
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready")
		}
	}
}

func (a *cliAPI) do(method, path, contentType string, body []byte) (int, http.Header, []byte) {
	a.t.Helper()
	var r io.Reader
	if len(body) > 0 {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(a.t.Context(), method, a.base+path, r)
	if err != nil {
		a.t.Fatal(err)
	}
	if r != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// waitJob polls an index job until it is no longer running.
func (a *cliAPI) waitJob(id string) {
	a.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var j struct{ State string }
		st, _, body := a.do("GET", "/v1/index/jobs/"+id, "", nil)
		if st != 200 || json.Unmarshal(body, &j) != nil {
			a.t.Fatalf("job %s: %d %s", id, st, body)
		}
		if j.State == "done" {
			return
		}
		if j.State != "running" {
			a.t.Fatalf("job %s: %s", id, body)
		}
	}
	a.t.Fatalf("job %s still running", id)
}

// withoutTook drops a JSON answer's took_ms (a timing); other bodies are
// returned as they are.
func withoutTook(t *testing.T, body []byte) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	if _, ok := m["took_ms"]; !ok {
		return body
	}
	delete(m, "took_ms")
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// structuredPNG is a 64×64 image unlike the demo scenes: a gradient with
// two bars.
func structuredPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			c := color.RGBA{uint8(4 * x), uint8(4 * y), 128, 255}
			if (x > 10 && x < 20) || (y > 40 && y < 48) {
				c = color.RGBA{250, 250, 20, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
