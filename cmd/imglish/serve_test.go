package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"imglish/server"
)

// addrWriter is the serve command's stderr: it hands on the address of its
// "serving http://ADDR/" line once.
type addrWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	once sync.Once
	addr chan string
}

var servingLine = regexp.MustCompile(`serving http://([^/\s]+)/`)

func (w *addrWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if m := servingLine.FindSubmatch(w.buf.Bytes()); m != nil {
		w.once.Do(func() { w.addr <- string(m[1]) })
	}
	return len(p), nil
}

// TestServeRelativeData is `make run`'s setup: `imglish --data ./rel/x/../x
// serve --no-auth` on 127.0.0.1:0. An upload is recorded at its canonical
// path and found (it answered 404 "was not indexed"), its delete removes the
// file (it was left behind), and 8 loopback clients at once are not
// rate-limited (they got 429s: the per-address limit was on under --no-auth).
func TestServeRelativeData(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	if _, err := runCLI(ctx, t, "convert", "--checkpoint", "../../testdata/reference/tiny.pth", "--image-size", "32",
		"--tokenizer", "../../testdata/models/demo/demo.model", "--out", model); err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, dir)
	if err != nil {
		t.Fatal(err)
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	w := &addrWriter{addr: make(chan string, 1)}
	go func() {
		root := newRoot()
		root.SetOut(&bytes.Buffer{})
		root.SetErr(w)
		root.SetArgs([]string{"--log-level", "error", "--data", "./" + rel + "/x/../x", "--model", model,
			"serve", "--no-auth", "--addr", "127.0.0.1:0"})
		done <- root.ExecuteContext(sctx)
	}()
	var base string
	select {
	case a := <-w.addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not start")
	}
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve after cancel: %v", err)
		}
	}()

	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 11)
	}
	var body bytes.Buffer
	if err := png.Encode(&body, img); err != nil {
		t.Fatal(err)
	}
	upload := func() (int, server.Item) {
		resp, err := http.Post(base+"/v1/images", "image/png", bytes.NewReader(body.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var up struct {
			Item server.Item `json:"item"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&up)
		return resp.StatusCode, up.Item
	}
	st, it := upload()
	if st != http.StatusCreated || filepath.Dir(it.Path) != filepath.Join(realDir, "x", "uploads") {
		t.Fatalf("upload: %d, recorded at %q; want 201 in %s", st, it.Path, filepath.Join(realDir, "x", "uploads"))
	}
	if st, again := upload(); st != http.StatusOK || again.ID != it.ID {
		t.Errorf("upload again: %d %s, want 200 %s", st, again.ID, it.ID)
	}
	req, _ := http.NewRequest("DELETE", base+"/v1/items/"+it.ID, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := os.Stat(it.Path); resp.StatusCode != http.StatusOK || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("delete: %d, upload file after it: %v", resp.StatusCode, err)
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	limited := 0
	for range 8 {
		wg.Go(func() {
			for range 40 {
				resp, err := http.Get(base + "/v1/labelsets/none")
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusTooManyRequests {
					mu.Lock()
					limited++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if limited > 0 {
		t.Errorf("8 loopback clients under --no-auth: %d of 320 requests got 429", limited)
	}
}
