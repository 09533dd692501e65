package indexer

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeebo/xxh3"
)

// collection writes n structured images (PNG and JPEG, 64–200 px) under root
// in a few nested folders, and returns their paths.
func collection(t testing.TB, root string, n int, seed uint64) []string {
	t.Helper()
	var paths []string
	for i := range n {
		ext := ".png"
		if i%3 == 0 {
			ext = ".jpg"
		}
		dir := []string{"", "trip", "trip/day2", "family"}[i%4]
		p := filepath.Join(root, dir, "img"+strconv.Itoa(i)+ext)
		s := seed*1000 + uint64(i)
		genImage(t, p, s, 64+int(s*37%137), 64+int(s*53%137))
		paths = append(paths, p)
	}
	return paths
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dst, string(b))
}

// checkConsistent compares the store with the files under root, independently
// of the indexer: every visible regular file has a record whose hash is its
// content's (or an error record), no record names a file that is gone, and the
// items are exactly the hashes that some record points to, each with a unit vector.
func (e *env) checkConsistent(root string, wantErrors map[string]bool) {
	e.t.Helper()
	recs := e.records()
	seen := map[string]bool{}
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p != root && (strings.HasPrefix(info.Name(), ".") || info.Name() == "@eaDir") {
			if info.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		seen[p] = true
		r, ok := recs[p]
		if !ok {
			e.t.Errorf("no record for %s", p)
			return nil
		}
		if wantErrors != nil && wantErrors[p] != (r.Err != "") {
			e.t.Errorf("%s: error record %q, want error %v", p, r.Err, wantErrors[p])
		}
		if r.Err == "" {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if h := Hash(xxh3.Hash128(b).Bytes()); h != r.Hash {
				e.t.Errorf("%s: record hash %s, content %s", p, r.Hash, h)
			}
			if r.Size != info.Size() || r.ModTime != info.ModTime().UnixNano() {
				e.t.Errorf("%s: record size/mtime %d/%d, file %d/%d", p, r.Size, r.ModTime, info.Size(), info.ModTime().UnixNano())
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	want := map[Hash]bool{}
	for p, r := range recs {
		if within(p, root) && !seen[p] {
			e.t.Errorf("stale record %s", p)
		}
		if r.Err == "" {
			want[r.Hash] = true
		}
	}
	items, err := e.items()
	if err != nil {
		e.t.Fatal(err)
	}
	for h, it := range items {
		if !want[h] {
			e.t.Errorf("item %s has no path", h)
		}
		var n float64
		for _, x := range it.Vector {
			n += float64(x) * float64(x)
		}
		if math.Abs(n-1) > 1e-3 {
			e.t.Errorf("item %s: |v|² = %v", h, n)
		}
	}
	for h := range want {
		if _, ok := items[h]; !ok {
			e.t.Errorf("hash %s has paths but no item", h)
		}
	}
}

func (e *env) run(roots ...string) Summary {
	e.t.Helper()
	sum, err := e.ix.Run(e.t.Context(), roots...)
	if err != nil {
		e.t.Fatalf("run: %v", err)
	}
	if d := sum.Done(); d != sum.Files {
		e.t.Errorf("summary: %d files but %d dealt with: %+v", sum.Files, d, sum.Progress)
	}
	return sum
}

// TestLifecycle indexes a collection, then adds, modifies, renames, copies,
// touches and deletes files and moves a folder, checking after each run which
// files cost an inference and that the store matches the files.
func TestLifecycle(t *testing.T) {
	e := newEnv(t, Options{BatchSize: 4})
	root := t.TempDir()
	paths := collection(t, root, 24, 1)
	copyFile(t, paths[1], filepath.Join(root, "family", "dup-of-1.png"))
	write(t, filepath.Join(root, "notes.txt"), "not an image")
	write(t, filepath.Join(root, "empty.jpg"), "")
	genImage(t, filepath.Join(root, ".thumbs", "hidden.png"), 99, 64, 64)
	genImage(t, filepath.Join(root, "@eaDir", "syn.png"), 98, 64, 64)

	sum := e.run(root)
	if sum.Embedded != 24 || sum.Linked != 1 || sum.Failed != 2 || sum.Files != 27 {
		t.Errorf("first run: %+v", sum.Progress)
	}
	if got := e.enc.images.Load(); got != 24 {
		t.Errorf("encoder embedded %d images, want 24", got)
	}
	errs := map[string]bool{filepath.Join(root, "notes.txt"): true, filepath.Join(root, "empty.jpg"): true}
	e.checkConsistent(root, errs)
	fe, err := e.ix.Errors(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(fe) != 2 || fe[0].Path != filepath.Join(root, "empty.jpg") || !strings.Contains(fe[1].Reason, "not a supported image") {
		t.Errorf("Errors() = %+v", fe)
	}

	// Unchanged: nothing read.
	sum = e.run(root)
	if sum.Skipped != 27 || sum.Bytes != 0 || e.enc.images.Load() != 24 {
		t.Errorf("unchanged run: %+v, encoder %d", sum.Progress, e.enc.images.Load())
	}

	// Changes.
	genImage(t, paths[0], 5000, 120, 90) // modify: new content
	if err := os.Rename(paths[2], filepath.Join(root, "renamed.png")); err != nil {
		t.Fatal(err)
	}
	copyFile(t, paths[3], filepath.Join(root, "trip", "copy-of-3.png"))
	if err := os.Remove(paths[4]); err != nil { // its only path: the item goes
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "family", "dup-of-1.png")); err != nil { // one of two paths: the item stays
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(paths[6], future, future); err != nil { // touched: rehashed, not re-embedded
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, "trip"), filepath.Join(root, "moved-trip")); err != nil {
		t.Fatal(err)
	}
	genImage(t, filepath.Join(root, "new", "fresh.jpg"), 6000, 100, 100)     // added
	write(t, filepath.Join(root, "notes.txt"), "still not an image, longer") // a changed error file is retried

	before := e.enc.images.Load()
	sum = e.run(root)
	if got := e.enc.images.Load() - before; got != 2 {
		t.Errorf("after changes the encoder embedded %d images, want 2 (modified + added)", got)
	}
	if sum.Embedded != 2 || sum.Failed != 1 || sum.Deleted == 0 {
		t.Errorf("changes run: %+v", sum.Progress)
	}
	e.checkConsistent(root, errs)
	recs := e.records()
	if r := recs[filepath.Join(root, "moved-trip", "img1.png")]; r.Err != "" || r.Hash == (Hash{}) {
		t.Errorf("img1 after its copy was deleted: %+v", r)
	}
	if _, ok := recs[filepath.Join(root, "moved-trip", "day2", "img10.png")]; !ok {
		t.Errorf("moved folder not indexed: %v", keys(recs))
	}

	// Excluding a folder by glob drops its records.
	e.ix.rules, _ = newRules([]string{"moved-trip"})
	sum = e.run(root)
	for p := range e.records() {
		if strings.Contains(p, "moved-trip") {
			t.Errorf("record under an ignored folder: %s", p)
		}
	}
	if sum.Deleted == 0 || e.enc.images.Load()-before != 2 {
		t.Errorf("ignore run: %+v", sum.Progress)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestMalformedMixedIn indexes every file of ../shared/data/malformed next to
// good images: each bad one is recorded with its reason, the run continues,
// and the manifest's expected outcome holds (REJECT/GUARD → error record,
// ACCEPT/SNIFF → indexed).
func TestMalformedMixedIn(t *testing.T) {
	src := repoPath("../shared/data/malformed")
	manifest, err := os.Open(filepath.Join(src, "manifest.tsv"))
	if err != nil {
		t.Skipf("no %s (shared test data absent): %v", src, err)
	}
	defer manifest.Close()
	e := newEnv(t, Options{BatchSize: 8})
	root := t.TempDir()
	collection(t, root, 6, 2)
	want := map[string]bool{} // path → error expected
	sc := bufio.NewScanner(manifest)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 3 {
			continue
		}
		dst := filepath.Join(root, "bad", filepath.FromSlash(f[0]))
		in, err := os.Open(filepath.Join(src, filepath.FromSlash(f[0])))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(dst)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(out, in)
		in.Close()
		out.Close()
		if err != nil {
			t.Fatal(err)
		}
		// REJECT/GUARD files must be error records; files the manifest
		// expects to decode (and Go decodes) must be indexed; the rest
		// ("ACCEPT or REJECT", "skip gracefully") may go either way.
		verdict := strings.FieldsFunc(f[2], func(r rune) bool { return r < 'A' || r > 'Z' })[0]
		switch {
		case verdict == "REJECT" || verdict == "GUARD":
			want[dst] = true
		case (verdict == "ACCEPT" || verdict == "SNIFF") && !strings.Contains(f[2], "REJECT") &&
			len(f) > 3 && strings.HasPrefix(f[3], "decodes OK"):
			want[dst] = false
		}
	}
	sum := e.run(root)
	if sum.Failed == 0 || sum.Embedded < 6 {
		t.Errorf("summary %+v", sum.Progress)
	}
	recs := e.records()
	for p, wantErr := range want {
		r, ok := recs[p]
		switch {
		case !ok:
			t.Errorf("%s: no record", p)
		case wantErr && r.Err == "":
			t.Errorf("%s: indexed, want an error record", p)
		case !wantErr && r.Err != "":
			t.Errorf("%s: error %q, want indexed", p, r.Err)
		}
	}
	e.checkConsistent(root, nil)
	// Unchanged bad files are not read again.
	if sum := e.run(root); sum.Bytes != 0 || sum.Skipped != sum.Files {
		t.Errorf("second run read %d bytes: %+v", sum.Bytes, sum.Progress)
	}
}

// TestCancel cancels a run mid-way: Run returns within a second with
// context.Canceled, and a second run completes the work without embedding any
// image twice (a batch already embedded when the cancel came is still committed).
func TestCancel(t *testing.T) {
	e := newEnv(t, Options{BatchSize: 2, Workers: 2})
	root := t.TempDir()
	collection(t, root, 40, 3)
	// Encoder calls after the first wait for the cancel, so that the run
	// cannot finish first however fast the machine is.
	var hold atomic.Bool
	hold.Store(true)
	e.enc.before = func(ctx context.Context, call int64, _ int) {
		if call > 1 && hold.Load() {
			<-ctx.Done()
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var sum Summary
	go func() {
		var err error
		sum, err = e.ix.Run(ctx, root)
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for e.ix.Progress().Embedded == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	start := time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled run: %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Run returned %v after cancel", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if sum.Embedded == 0 || sum.Embedded == 40 {
		t.Errorf("cancelled after %d of 40, want some and not all", sum.Embedded)
	}
	hold.Store(false)
	sum = e.run(root)
	if got := e.enc.images.Load(); got != 40 {
		t.Errorf("encoder embedded %d images over both runs, want 40", got)
	}
	e.checkConsistent(root, nil)
}

// TestSecondModel indexes the same folder with a second model into the same
// store: it fills its own space (every image embedded again, paths shared),
// the first model's space is untouched, re-runs of either embed nothing, and a
// deleted file's vectors go from both spaces.
func TestSecondModel(t *testing.T) {
	e := newEnv(t, Options{})
	root := t.TempDir()
	paths := collection(t, root, 8, 4)
	e.run(root)
	// Same weights at another input size: another model id.
	dir := filepath.Join(t.TempDir(), "tiny48")
	if _, err := convertModel(t.Context(), dir, 48); err != nil {
		t.Fatal(err)
	}
	enc2 := openEncoderAt(t, dir)
	if enc2.Manifest().ID == e.model {
		t.Fatalf("second model has the same id %s", e.model)
	}
	ix2 := e.indexer(enc2, Options{})
	sum, err := ix2.Run(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Embedded != 8 || enc2.images.Load() != 8 {
		t.Errorf("second model run: %+v", sum.Progress)
	}
	count := func(space string) int {
		for _, s := range e.db.Spaces() {
			if s.Name == space {
				return s.Count
			}
		}
		return -1
	}
	if a, b := count(e.ix.Space()), count(ix2.Space()); a != 8 || b != 8 || e.ix.Space() == ix2.Space() {
		t.Errorf("spaces %s: %d, %s: %d; want 8 each", e.ix.Space(), a, ix2.Space(), b)
	}
	if sum := e.run(root); sum.Skipped != 8 {
		t.Errorf("first model re-run: %+v", sum.Progress)
	}
	if sum, _ := ix2.Run(t.Context(), root); sum.Skipped != 8 || e.enc.images.Load() != 8 || enc2.images.Load() != 8 {
		t.Errorf("second model re-run: %+v", sum.Progress)
	}
	if err := os.Remove(paths[0]); err != nil {
		t.Fatal(err)
	}
	e.run(root)
	if a, b := count(e.ix.Space()), count(ix2.Space()); a != 7 || b != 7 {
		t.Errorf("after a delete: %d and %d vectors, want 7 each", a, b)
	}
	e.checkConsistent(root, nil)
}

// TestEncoders: Options.Encoders' default adds a second encoder once a batch
// was cheap to embed and keeps one while none is; a fixed count is obeyed;
// either way every image is embedded exactly once. The threshold is moved
// so that the outcome does not depend on the machine's load: any batch is
// cheap under an hour per image, none under a nanosecond.
func TestEncoders(t *testing.T) {
	// waitForPeak makes each call after the first wait (up to 10 s) until
	// want calls have run at once, so that want encoders, if there are that
	// many, are seen together however the goroutines are scheduled.
	waitForPeak := func(e *env, want int64) func(context.Context, int64, int) {
		return func(ctx context.Context, call int64, _ int) {
			if call == 1 {
				return
			}
			deadline := time.After(10 * time.Second)
			for e.enc.peak.Load() < want {
				select {
				case <-ctx.Done():
					return
				case <-deadline:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}
	}
	tests := []struct {
		name     string
		encoders int
		cheap    time.Duration
		wantPeak int64
	}{
		{"default, cheap model: two", 0, time.Hour, 2},
		{"default, costly model: one", 0, time.Nanosecond, 1},
		{"one", 1, time.Hour, 1},
		{"three", 3, time.Hour, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A long MaxWait: every batch holds exactly 4 of the 48 images.
			e := newEnv(t, Options{BatchSize: 4, Encoders: tc.encoders, MaxWait: time.Minute})
			e.ix.cheap = tc.cheap
			e.enc.before = waitForPeak(e, tc.wantPeak)
			if tc.wantPeak == 1 {
				// Each call lasts 20 ms, so that a second encoder, which
				// must not be there, would be caught running beside it.
				e.enc.before = func(ctx context.Context, _ int64, _ int) {
					select {
					case <-ctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
			root := t.TempDir()
			collection(t, root, 48, 1)
			sum := e.run(root)
			if sum.Embedded != 48 || e.enc.images.Load() != 48 {
				t.Fatalf("embedded %d, encoder saw %d images, want 48 each: %+v", sum.Embedded, e.enc.images.Load(), sum.Progress)
			}
			e.checkConsistent(root, nil)
			if peak := e.enc.peak.Load(); peak != tc.wantPeak {
				t.Errorf("%d encoder calls at once, want %d", peak, tc.wantPeak)
			}
		})
	}
	// An encoder's failure is what Run reports, not the cancellation it
	// causes, and what was committed before it stays.
	for _, n := range []int{0, 2} {
		e := newEnv(t, Options{BatchSize: 4, Encoders: n, MaxWait: time.Minute})
		e.enc.failAt = 3
		root := t.TempDir()
		collection(t, root, 48, 1)
		sum, err := e.ix.Run(t.Context(), root)
		if !errors.Is(err, errInjected) || errors.Is(err, context.Canceled) {
			t.Errorf("encoders %d: Run = %v, want the encoder's error and not context.Canceled", n, err)
		}
		if sum.Embedded > 44 {
			t.Errorf("encoders %d: %d embedded although a batch of 4 failed", n, sum.Embedded)
		}
	}
	e := newEnv(t, Options{})
	if _, err := New(Options{Store: e.db, Encoder: e.enc, Encoders: -1}); !errors.Is(err, ErrOptions) {
		t.Errorf("Encoders -1: %v, want ErrOptions", err)
	}
}
