package pull

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"imglish/encoder/modelfile"
)

// fixture reads a committed file; go test runs in the package folder, two below the root.
func fixture(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatalf("fixture %s: %v", rel, err)
	}
	return b
}

// server serves files with configurable misbehaviour. Handler failures are
// recorded, never t.Fatal'd (that must happen on the test goroutine).
type server struct {
	faults
	files map[string][]byte // URL path -> content

	mu     sync.Mutex
	ranges []string // Range header of every request, "" when absent
	served int
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	n := s.served
	s.served++
	s.mu.Unlock()
	body, ok := s.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if s.slow {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		for off := 0; off < len(body); off += 1024 {
			if _, err := w.Write(body[off:min(off+1024, len(body))]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		return
	}
	if s.cutAfter > 0 && (s.cuts < 0 || n < s.cuts) {
		w = &cutter{ResponseWriter: w, left: s.cutAfter}
	}
	if s.noRange {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = w.Write(body)
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// faults are a server's misbehaviours.
type faults struct {
	noRange  bool // ignore Range: always 200 with the whole body
	cutAfter int  // abort the connection after this many body bytes...
	cuts     int  // ...for the first cuts requests (-1: every request)
	slow     bool // trickle 1 KiB every 20 ms
}

// cutter passes left bytes through, flushes them, then aborts the connection
// mid-body (the client sees an unexpected EOF).
type cutter struct {
	http.ResponseWriter
	left int
}

func (c *cutter) Write(b []byte) (int, error) {
	if len(b) < c.left {
		c.left -= len(b)
		return c.ResponseWriter.Write(b)
	}
	n, _ := c.ResponseWriter.Write(b[:c.left])
	c.ResponseWriter.(http.Flusher).Flush()
	_ = n
	panic(http.ErrAbortHandler)
}

func (s *server) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// payload is 300 KiB of structured bytes (not one repeated value).
func payload() []byte {
	b := make([]byte, 300<<10)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return b
}

func newPuller(t *testing.T, base string, opts Options) *Puller {
	t.Helper()
	opts.BaseURL = base
	if opts.Backoff == 0 {
		opts.Backoff = time.Millisecond
	}
	p, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func TestURLLayouts(t *testing.T) {
	m := Model{File: "beit3_base_patch16_384_coco_retrieval.pth", Folder: "coco_retrieval"}
	cases := []struct {
		base   string
		layout Layout
		want   string
	}{
		{"", LayoutAuto, OfficialBaseURL + "coco_retrieval/beit3_base_patch16_384_coco_retrieval.pth"},
		{GitHubMirrorURL, LayoutAuto, GitHubMirrorURL + "beit3_base_patch16_384_coco_retrieval.pth"},
		{"https://mirror.example/beit3", LayoutAuto, "https://mirror.example/beit3/coco_retrieval/beit3_base_patch16_384_coco_retrieval.pth"},
		{"https://mirror.example/x/", LayoutFlat, "https://mirror.example/x/beit3_base_patch16_384_coco_retrieval.pth"},
		{GitHubMirrorURL, LayoutFolders, GitHubMirrorURL + "coco_retrieval/beit3_base_patch16_384_coco_retrieval.pth"},
	}
	for _, c := range cases {
		p, err := New(Options{BaseURL: c.base, Layout: c.layout})
		if err != nil {
			t.Fatalf("%q: %v", c.base, err)
		}
		if got := p.URL(m); got != c.want {
			t.Errorf("%q layout %d: %s, want %s", c.base, c.layout, got, c.want)
		}
	}
	if got := (&Puller{base: mustURL(t, OfficialBaseURL)}).URL(tokenizerFile); got != OfficialBaseURL+"sentencepiece/beit3.spm" {
		t.Errorf("tokenizer URL %s", got)
	}
}

func TestCatalogue(t *testing.T) {
	names := map[string]bool{}
	for _, m := range Known() {
		if names[m.Name] || m.File == "" || m.Folder == "" || (m.ImageSize != 384 && m.ImageSize != 224) {
			t.Errorf("bad catalogue entry %+v", m)
		}
		names[m.Name] = true
		if !strings.HasSuffix(m.File, fmt.Sprintf("_%d_coco_retrieval.pth", m.ImageSize)) &&
			!strings.HasSuffix(m.File, fmt.Sprintf("_%d_f30k_retrieval.pth", m.ImageSize)) &&
			!strings.HasSuffix(m.File, fmt.Sprintf("itc_patch16_%d.pth", m.ImageSize)) {
			t.Errorf("%s: file %s does not carry its image size %d", m.Name, m.File, m.ImageSize)
		}
	}
	if len(names) != 6 {
		t.Errorf("%d known models, want 6", len(names))
	}
	if _, err := lookup(Known(), "beit3-BASE-coco"); err != nil {
		t.Errorf("case-insensitive lookup: %v", err)
	}
}

func TestOptionsErrors(t *testing.T) {
	cases := []Options{
		{BaseURL: "ftp://x/"},
		{BaseURL: "not a url"},
		{Layout: Layout(9)},
		{Precision: "int4"},
	}
	for _, o := range cases {
		if _, err := New(o); !errors.Is(err, ErrOptions) {
			t.Errorf("New(%+v): %v, want ErrOptions", o, err)
		}
	}
	if _, err := ParseLayout("zigzag"); !errors.Is(err, ErrOptions) {
		t.Errorf("ParseLayout: %v", err)
	}
	p := newPuller(t, "http://mirror.invalid/", Options{}) // never dialled: both pulls fail first
	if _, err := p.Pull(t.Context(), t.TempDir(), "beit3-huge"); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("unknown name: %v", err)
	}
	if _, err := p.Pull(t.Context(), "", "beit3-base-coco"); !errors.Is(err, ErrOptions) {
		t.Errorf("empty data dir: %v", err)
	}
}

// TestPullConverts pulls a real (tiny) BEiT-3 checkpoint and a real
// SentencePiece model from a local blob-store-layout server, converts it, and
// checks model.json, List, and that a second pull fetches nothing.
func TestPullConverts(t *testing.T) {
	ck := fixture(t, "testdata/reference/tiny.pth")
	spmBytes := fixture(t, "testdata/models/demo/demo.model")
	srv := &server{files: map[string][]byte{
		"/beit3/coco_retrieval/tiny.pth": ck,
		"/beit3/sentencepiece/beit3.spm": spmBytes,
	}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	var bar bytes.Buffer
	p := newPuller(t, ts.URL+"/beit3/", Options{
		Catalogue:       []Model{{Name: "tiny-coco", File: "tiny.pth", Folder: "coco_retrieval", SHA256: sum(ck), Bytes: int64(len(ck))}},
		TokenizerSHA256: sum(spmBytes),
		Progress:        &bar,
	})
	data := t.TempDir()
	res, err := p.Pull(t.Context(), data, "tiny-coco")
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	m, err := modelfile.Load(filepath.Join(data, "models", "tiny-coco"))
	if err != nil {
		t.Fatalf("load manifest: %v", err)
	}
	if m.Source.CheckpointSHA256 != sum(ck) || m.Source.URL != ts.URL+"/beit3/coco_retrieval/tiny.pth" {
		t.Errorf("manifest source %+v", m.Source)
	}
	if m.Text.Tokenizer != "beit3.spm" || m.Text.TokenizerSHA256 != sum(spmBytes) {
		t.Errorf("manifest tokenizer %q %s", m.Text.Tokenizer, m.Text.TokenizerSHA256)
	}
	if err := m.Verify(res.Dir); err != nil {
		t.Errorf("verify: %v", err)
	}
	if !strings.Contains(bar.String(), "100.0%") || !strings.Contains(bar.String(), "tiny.pth") {
		t.Errorf("progress bar output %q lacks the file name or 100%%", bar.String())
	}
	got, err := modelfile.FileSHA256(filepath.Join(res.Dir, "tiny.pth"))
	if err != nil || got != sum(ck) {
		t.Fatalf("stored checkpoint sha %s, %v", got, err)
	}

	list, err := List(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "tiny-coco" || list[0].Manifest == nil || list[0].Partial ||
		list[0].Bytes < int64(len(ck)+len(spmBytes)) {
		t.Fatalf("List = %+v", list)
	}

	before := len(srv.requests())
	res2, err := p.Pull(t.Context(), data, "tiny-coco")
	if err != nil {
		t.Fatalf("second Pull: %v", err)
	}
	if !res2.Checkpoint.Skipped || !res2.Tokenizer.Skipped || len(srv.requests()) != before {
		t.Errorf("second pull refetched: skipped %v/%v, %d new requests", res2.Checkpoint.Skipped, res2.Tokenizer.Skipped, len(srv.requests())-before)
	}
	if !res.Converted || res2.Converted || res2.Manifest == nil || res2.Manifest.ID != m.ID {
		t.Errorf("second pull: converted %v (first %v), manifest %v, want the kept conversion %s", res2.Converted, res.Converted, res2.Manifest, m.ID)
	}

	// A tampered graph is not trusted: the next pull converts again.
	if err := os.WriteFile(filepath.Join(res.Dir, "vision.onnx"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	res3, err := p.Pull(t.Context(), data, "tiny-coco")
	if err != nil || !res3.Converted {
		t.Fatalf("pull over a tampered folder: converted %v, %v", res3.Converted, err)
	}
	if m3, err := modelfile.Load(res.Dir); err != nil || m3.Verify(res.Dir) != nil {
		t.Fatalf("after reconversion: %v", err)
	}
}

// TestDownloadFaults covers the failure modes of one file download.
func TestDownloadFaults(t *testing.T) {
	body := payload()
	const cut = 100 << 10
	cases := []struct {
		name        string
		srv         faults
		model       Model
		stalePart   []byte // .partial present before the pull
		retries     int
		want        error  // nil: success
		resumed     bool   // on success: Download.Resumed
		secondRange string // Range header of the second request; "-": exactly one request; "*": unchecked
	}{
		{name: "clean", model: Model{SHA256: sum(body)}, secondRange: "-"},
		{name: "cut then resumed", srv: faults{cutAfter: cut, cuts: 1}, resumed: true, secondRange: fmt.Sprintf("bytes=%d-", cut)},
		{name: "flaky link keeps progressing", srv: faults{cutAfter: 40 << 10, cuts: -1}, retries: 1, resumed: true, secondRange: fmt.Sprintf("bytes=%d-", 40<<10)},
		{name: "no range support restarts", srv: faults{noRange: true, cutAfter: cut, cuts: 1}, secondRange: fmt.Sprintf("bytes=%d-", cut)},
		{name: "stale partial longer than file", stalePart: bytes.Repeat([]byte{1}, len(body)+10), secondRange: ""},
		{name: "stale partial resumed", stalePart: body[:1000], resumed: true, secondRange: "-"},
		{name: "truncated every time", srv: faults{noRange: true, cutAfter: cut, cuts: -1}, retries: 2, want: ErrIncomplete, secondRange: fmt.Sprintf("bytes=%d-", cut)},
		{name: "size mismatch", model: Model{Bytes: int64(len(body)) + 1}, want: ErrSize, secondRange: "-"},
		{name: "wrong hash", model: Model{SHA256: strings.Repeat("ab", 32)}, want: ErrChecksum, secondRange: "-"},
		{name: "404", model: Model{File: "missing.pth"}, want: ErrNotFound, secondRange: "-"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := &server{faults: c.srv, files: map[string][]byte{"/f/w.pth": body}}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			m := c.model
			if m.File == "" {
				m.File = "w.pth"
			}
			m.Name = "w"
			p := newPuller(t, ts.URL+"/f/", Options{Layout: LayoutFlat, Catalogue: []Model{m}, Retries: c.retries})
			dir := t.TempDir()
			dest := filepath.Join(dir, m.File)
			if c.stalePart != nil {
				if err := os.WriteFile(dest+partialSuffix, c.stalePart, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			d, err := p.fetch(t.Context(), p.URL(m), dest, want{bytes: m.Bytes, sha256: m.SHA256})
			if c.want != nil {
				if !errors.Is(err, c.want) {
					t.Fatalf("err %v, want %v", err, c.want)
				}
				if _, serr := os.Stat(dest); !errors.Is(serr, os.ErrNotExist) {
					t.Fatalf("final file exists after a failed download: %v", serr)
				}
				if errors.Is(c.want, ErrChecksum) || errors.Is(c.want, ErrSize) {
					if _, serr := os.Stat(dest + partialSuffix); !errors.Is(serr, os.ErrNotExist) {
						t.Fatalf("bad .partial kept: %v", serr)
					}
				}
			} else {
				if err != nil {
					t.Fatalf("fetch: %v", err)
				}
				got, rerr := os.ReadFile(dest)
				if rerr != nil || !bytes.Equal(got, body) {
					t.Fatalf("downloaded %d bytes (%v), want the %d-byte body", len(got), rerr, len(body))
				}
				if d.SHA256 != sum(body) || d.Bytes != int64(len(body)) || d.Resumed != c.resumed {
					t.Fatalf("Download %+v, want sha %s, resumed %v", d, sum(body), c.resumed)
				}
				if _, serr := os.Stat(dest + partialSuffix); !errors.Is(serr, os.ErrNotExist) {
					t.Fatalf(".partial left behind: %v", serr)
				}
			}
			reqs := srv.requests()
			switch c.secondRange {
			case "*":
			case "-":
				if len(reqs) != 1 {
					t.Fatalf("%d requests %q, want exactly 1", len(reqs), reqs)
				}
			default:
				if len(reqs) < 2 || reqs[1] != c.secondRange {
					t.Fatalf("requests %q, want the second with Range %q", reqs, c.secondRange)
				}
			}
		})
	}
}

// TestCancelSlowServer: a server trickling bytes must not hold Pull once the
// context ends; the partial file stays for a later resume.
func TestCancelSlowServer(t *testing.T) {
	body := payload()
	srv := &server{faults: faults{slow: true}, files: map[string][]byte{"/f/w.pth": body}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	p := newPuller(t, ts.URL+"/f/", Options{Layout: LayoutFlat, Catalogue: []Model{{Name: "w", File: "w.pth"}}, NoConvert: true})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	data := t.TempDir()
	start := time.Now()
	_, err := p.Pull(ctx, data, "w")
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want context.DeadlineExceeded", err)
	}
	if took > 3*time.Second {
		t.Fatalf("Pull took %v after a 300 ms deadline", took)
	}
	fi, err := os.Stat(filepath.Join(data, "models", "w", "w.pth"+partialSuffix))
	if err != nil || fi.Size() == 0 || fi.Size() >= int64(len(body)) {
		t.Fatalf("partial file after cancel: %v, %v", fi, err)
	}
	list, err := List(data)
	if err != nil || len(list) != 1 || !list[0].Partial || !errors.Is(list[0].Err, modelfile.ErrNoManifest) {
		t.Fatalf("List after cancel = %+v, %v", list, err)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestParseContentRange(t *testing.T) {
	cases := []struct {
		in               string
		start, end, size int64
		ok               bool
	}{
		{"bytes 0-99/100", 0, 99, 100, true},
		{"bytes 100-199/*", 100, 199, -1, true},
		{"bytes */300", -1, -1, 300, true},
		{"bytes 5-4/10", 0, 0, 0, false},
		{"items 0-1/2", 0, 0, 0, false},
		{"bytes 0-1", 0, 0, 0, false},
		{"bytes x-1/2", 0, 0, 0, false},
	}
	for _, c := range cases {
		s, e, n, err := parseContentRange(c.in)
		if (err == nil) != c.ok || (c.ok && (s != c.start || e != c.end || n != c.size)) {
			t.Errorf("%q: %d %d %d %v", c.in, s, e, n, err)
		}
		if !c.ok && !errors.Is(err, ErrIncomplete) {
			t.Errorf("%q: error %v does not wrap ErrIncomplete", c.in, err)
		}
	}
}

func TestProgressLine(t *testing.T) {
	var b bytes.Buffer
	clock := time.Unix(0, 0)
	p := newProgress(&b, "x.pth", func() time.Time { return clock })
	p.begin(0, 4<<20)
	clock = clock.Add(time.Second)
	p.add(1 << 20)
	line := b.String()
	for _, want := range []string{"x.pth", "1.0 MiB / 4.0 MiB", "25.0%", "1.0 MiB/s", "ETA 3s"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress %q lacks %q", line, want)
		}
	}
}
