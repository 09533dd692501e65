package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"imglish/indexer"
	"imglish/store"
)

// TestFitWidth cuts a full progress line (about 125 columns) to terminals
// of 40, 80 and 200 columns: always short of the last column, so that it
// never wraps, and untouched where the width is unknown.
func TestFitWidth(t *testing.T) {
	line := progressLine(indexer.Progress{Phase: "indexing", WalkDone: true, Files: 123456, Skipped: 100000,
		Embedded: 12000, Linked: 345, Failed: 12, FilesPerSec: 1234.5, ImagesPerSec: 345.6, ETA: 3725})
	if n := utf8.RuneCountInString(line); n < 100 {
		t.Fatalf("progress line %q is %d columns, want a long one to cut", line, n)
	}
	cases := []struct {
		width int
		want  int // columns of the result
	}{
		{40, 39},
		{80, 79},
		{200, utf8.RuneCountInString(line)},
		{0, utf8.RuneCountInString(line)},
		{-1, utf8.RuneCountInString(line)},
	}
	for _, tc := range cases {
		got := fitWidth(line, tc.width)
		if n := utf8.RuneCountInString(got); n != tc.want || !strings.HasPrefix(line, got) {
			t.Errorf("width %d: %q (%d columns), want the first %d columns of %q", tc.width, got, n, tc.want, line)
		}
	}
	// The ETA is what a narrow terminal must still show.
	if got := fitWidth(line, 80); !strings.Contains(got, "ETA 1h2m5s") {
		t.Errorf("80 columns: %q, want the ETA in it", got)
	}
	if got := fitWidth("[##..] é indexing", 9); got != "[##..] é" {
		t.Errorf("multi-byte rune: %q, want whole runes", got)
	}
}

// TestLockedStoreError: the advice for a locked store fits the holder's
// command line. `imglish index` serves no HTTP, so the caller's hint of
// reaching the holder's server must not be given for it.
func TestLockedStoreError(t *testing.T) {
	locked := &store.LockedError{Dir: "/d", PID: 42}
	const instead = "search through it instead (imglish search --server URL)"
	cases := []struct {
		name   string
		holder []string
		kind   string
		want   string // in the message
	}{
		{"serve", []string{"imglish", "serve", "--index-root", "/p"}, "", instead},
		{"index --watch", []string{"imglish", "index", "--watch", "/p"}, "index --watch", "run `imglish serve --watch DIR` in its place"},
		{"index --watch after global flags", []string{"/usr/bin/imglish", "--data", "/d", "--model", "m", "index", "-q", "--watch=true", "/p"}, "index --watch", "serves no HTTP: stop it"},
		{"one index run", []string{"imglish", "--data", "/d", "index", "/p"}, "index", "wait for that index run to end"},
		{"--watch=false", []string{"imglish", "index", "--watch=false", "/p"}, "index", "wait for that index run to end"},
		{"not understood", []string{"imglish.test", "-test.run", "^TestHoldStoreChild$"}, "", instead},
		{"unknown", nil, "", instead},
	}
	for _, tc := range cases {
		if got := holderKind(tc.holder); got != tc.kind {
			t.Errorf("%s: holder kind %q, want %q", tc.name, got, tc.kind)
		}
		err := lockedStoreError(locked, tc.holder, instead)
		if !errors.Is(err, store.ErrLocked) {
			t.Errorf("%s: %v does not wrap store.ErrLocked", tc.name, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %q, want %q in it", tc.name, msg, tc.want)
		}
		if tc.kind != "" && (strings.Contains(msg, "--server") || strings.Contains(msg, "/v1/")) {
			t.Errorf("%s: %q points at a server the holder does not run", tc.name, msg)
		}
		if tc.holder != nil && !strings.Contains(msg, "("+strings.Join(tc.holder, " ")+")") {
			t.Errorf("%s: %q does not show the holder's command line", tc.name, msg)
		}
	}
}

// TestWriteSummary: the summary line says how many folders could not be
// read (the indexer only logs each one), and nothing when all could.
func TestWriteSummary(t *testing.T) {
	cases := []struct {
		walkErrors int64
		want       string // the line after the counts, "" for none
	}{
		{0, ""},
		{1, "1 folder could not be read: see the \"skip unreadable folder\" warning in the log\n"},
		{3, "3 folders could not be read: see the \"skip unreadable folder\" warnings in the log\n"},
	}
	for _, tc := range cases {
		var b bytes.Buffer
		writeSummary(&b, indexer.Summary{Progress: indexer.Progress{Files: 5, Skipped: 5, WalkErrors: tc.walkErrors}}, false)
		first, rest, _ := strings.Cut(b.String(), "\n")
		if !strings.HasPrefix(first, "5 files: ") || rest != tc.want {
			t.Errorf("%d walk errors: %q, want the counts, then %q", tc.walkErrors, b.String(), tc.want)
		}
	}
}

// TestWriteIndexErrors: `index --errors` quotes a name only where printing
// it as it is would break the line or lose bytes, and its JSON uses
// snake_case names and an RFC 3339 mtime.
func TestWriteIndexErrors(t *testing.T) {
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	cases := []struct {
		path, reason string
		line         string // its line in the text output
	}{
		{"/p/a.jpg", "not an image", "/p/a.jpg\tnot an image"},
		{"/p/café b.jpg", "not an image", "/p/café b.jpg\tnot an image"},
		{"/p/new\nline.jpg", "not an image", `"/p/new\nline.jpg"` + "\tnot an image"},
		{"/p/tab\t.jpg", "read /p/tab\t.jpg: EIO", `"/p/tab\t.jpg"` + "\t" + `"read /p/tab\t.jpg: EIO"`},
		{"/p/latin1-\xe9.jpg", "not an image", `"/p/latin1-\xe9.jpg"` + "\tnot an image"},
		{`"/p/q.jpg`, "not an image", `"\"/p/q.jpg"` + "\tnot an image"},
	}
	var errs []indexer.FileError
	var want strings.Builder
	for _, tc := range cases {
		errs = append(errs, indexer.FileError{Path: tc.path, Op: "index", Size: 7, ModTime: mtime.UnixNano(), Reason: tc.reason})
		want.WriteString(tc.line + "\n")
	}
	var text bytes.Buffer
	if err := writeIndexErrors(&text, errs, false); err != nil {
		t.Fatal(err)
	}
	if text.String() != want.String() {
		t.Errorf("text:\n%s\nwant:\n%s", text.String(), want.String())
	}
	for i, line := range strings.Split(strings.TrimSuffix(text.String(), "\n"), "\n") {
		path, _, _ := strings.Cut(line, "\t")
		if strings.HasPrefix(path, `"`) {
			path, _ = strconv.Unquote(path)
		}
		if path != cases[i].path {
			t.Errorf("line %q: path %q recovered, want %q", line, path, cases[i].path)
		}
	}

	var js bytes.Buffer
	if err := writeIndexErrors(&js, errs, true); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(js.Bytes(), &got); err != nil || len(got) != len(cases) {
		t.Fatalf("JSON %s: %v", js.String(), err)
	}
	wantKeys := []string{"error", "mtime", "op", "path", "size"}
	for i, m := range got {
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if strings.Join(keys, ",") != strings.Join(wantKeys, ",") {
			t.Errorf("JSON %v: keys %v, want %v", m, keys, wantKeys)
		}
		if m["error"] != cases[i].reason && utf8.ValidString(cases[i].path) || m["op"] != "index" || m["size"] != 7.0 {
			t.Errorf("JSON %v, want error %q, op index, size 7", m, cases[i].reason)
		}
		s, _ := m["mtime"].(string)
		if ts, err := time.Parse(time.RFC3339, s); err != nil || !ts.Equal(mtime) {
			t.Errorf("JSON mtime %v (%v), want %v", m["mtime"], err, mtime)
		}
		if utf8.ValidString(cases[i].path) && m["path"] != cases[i].path {
			t.Errorf("JSON path %q, want %q", m["path"], cases[i].path)
		}
	}
	// An in-memory error without a recorded reason or time.
	b, err := json.Marshal(indexer.FileError{Path: "/p/x", Op: "read", Err: fs.ErrPermission})
	if want := `{"path":"/p/x","op":"read","error":"permission denied","size":0}`; err != nil || string(b) != want {
		t.Errorf("in-memory error JSON %s (%v), want %s", b, err, want)
	}
	js.Reset()
	if err := writeIndexErrors(&js, nil, true); err != nil || js.String() != "[]\n" {
		t.Errorf("no errors as JSON: %q (%v), want []", js.String(), err)
	}
}

// TestIndexFlagErrors: a negative value names its flag, before any model is
// loaded, and still wraps the indexer's sentinel.
func TestIndexFlagErrors(t *testing.T) {
	cases := []struct {
		flag, value string
		want        string
	}{
		{"--reconcile", "-1s", "--reconcile: must not be negative (got -1s)"},
		{"--workers", "-2", "--workers: must not be negative (got -2)"},
		{"--batch", "-1", "--batch: must not be negative (got -1)"},
		{"--encoders", "-1", "--encoders: must not be negative (got -1)"},
		{"--threads", "-4", "--threads: must not be negative (got -4)"},
	}
	data := filepath.Join(t.TempDir(), "data")
	for _, tc := range cases {
		_, err := runCLI(t.Context(), t, "--data", data, "--model", "/nonexistent", "index", tc.flag, tc.value, t.TempDir())
		var fe *flagError
		if !errors.Is(err, indexer.ErrOptions) || !errors.As(err, &fe) || fe.Error() != tc.want {
			t.Errorf("%s %s: %v, want %q wrapping indexer.ErrOptions", tc.flag, tc.value, err, tc.want)
		}
	}
	_, err := runCLI(t.Context(), t, "--data", data, "--model", "/nonexistent", "index", "--ignore", "[", t.TempDir())
	if !errors.Is(err, path.ErrBadPattern) || !strings.HasPrefix(err.Error(), `--ignore "["`) {
		t.Errorf("--ignore [: %v, want it named, wrapping path.ErrBadPattern", err)
	}
	if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused flag created %s (%v)", data, err)
	}
}

// TestNotifySignals sends this process a real SIGTERM: the context's cause
// names it, and a command's cancellation becomes an *interruptedError
// exiting 143.
func TestNotifySignals(t *testing.T) {
	ctx, stop := notifySignals(t.Context())
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not cancel the context")
	}
	var sc signalCause
	if !errors.As(context.Cause(ctx), &sc) || sc.sig != syscall.SIGTERM {
		t.Fatalf("cause %v, want SIGTERM", context.Cause(ctx))
	}
	err := interrupted(ctx, ctx.Err(), "again")
	var ie *interruptedError
	if !errors.As(err, &ie) || ie.ExitCode() != 143 || !errors.Is(err, context.Canceled) {
		t.Errorf("%v, want an interruption exiting 143 wrapping context.Canceled", err)
	}
	// Not a signal: errors stay as they are.
	plain, cancel := context.WithCancel(t.Context())
	cancel()
	if err := interrupted(plain, plain.Err(), "again"); err != context.Canceled {
		t.Errorf("cancelled without a signal: %v, want context.Canceled itself", err)
	}
	if err := interrupted(ctx, nil, "again"); err != nil {
		t.Errorf("no error: %v", err)
	}
}

// TestIndexCLI runs `imglish index` on the demo model: a missing folder
// prints no summary, a signal becomes "interrupted" with the signal's exit
// status, and files that are not images list by name under --errors even
// with a newline or invalid UTF-8 in it.
func TestIndexCLI(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	model, data, scenes := filepath.Join(dir, "model"), filepath.Join(dir, "data"), filepath.Join(dir, "scenes")
	for _, args := range [][]string{
		{"convert", "--checkpoint", "../../testdata/reference/tiny.pth", "--image-size", "32",
			"--tokenizer", "../../testdata/models/demo/demo.model", "--out", model},
		{"demo", "scenes", "--out", scenes, "--n", "4", "--size", "64"},
	} {
		if _, err := runCLI(ctx, t, args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	photos := filepath.Join(scenes, "images")
	odd := []string{"new\nline.jpg", "bad-\xff.jpg", "tab\tname.jpg"}
	for _, name := range odd {
		if err := os.WriteFile(filepath.Join(photos, name), []byte("not an image"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("missing folder", func(t *testing.T) {
		out, err := runCLI(ctx, t, "--data", data, "--model", model, "index", "-q", filepath.Join(dir, "missing"))
		if !errors.Is(err, indexer.ErrRoot) || out != "" {
			t.Errorf("output %q, error %v; want no summary and indexer.ErrRoot", out, err)
		}
	})

	t.Run("interrupted", func(t *testing.T) {
		for _, tc := range []struct {
			sig  syscall.Signal
			exit int
		}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
			sctx, cancel := context.WithCancelCause(ctx)
			cancel(signalCause{sig: tc.sig})
			_, err := runCLI(sctx, t, "--data", data, "--model", model, "index", "-q", photos)
			var ie *interruptedError
			if !errors.As(err, &ie) || ie.ExitCode() != tc.exit ||
				!strings.HasPrefix(err.Error(), "interrupted: run the same command again to continue") {
				t.Errorf("%v: %v, want \"interrupted: …\" exiting %d", tc.sig, err, tc.exit)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		out, err := runCLI(ctx, t, "--data", data, "--model", model, "index", "-q", photos)
		if err != nil || !strings.Contains(out, "4 embedded") || !strings.Contains(out, "3 failed") {
			t.Fatalf("index: %q, %v; want 4 embedded, 3 failed", out, err)
		}
		out, err = runCLI(ctx, t, "--data", data, "index", "--errors")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != len(odd) {
			t.Fatalf("--errors: %q, want %d lines", out, len(odd))
		}
		found := map[string]bool{}
		for _, line := range lines {
			path, _, _ := strings.Cut(line, "\t")
			if p, err := strconv.Unquote(path); err == nil {
				path = p
			}
			found[filepath.Base(path)] = true
		}
		for _, name := range odd {
			if !found[name] {
				t.Errorf("--errors: %q does not list %q", out, name)
			}
		}
		out, err = runCLI(ctx, t, "--data", data, "index", "--errors", "--json")
		var recs []struct {
			Path  string    `json:"path"`
			Op    string    `json:"op"`
			Error string    `json:"error"`
			MTime time.Time `json:"mtime"`
		}
		if err != nil || json.Unmarshal([]byte(out), &recs) != nil || len(recs) != len(odd) {
			t.Fatalf("--errors --json: %q, %v", out, err)
		}
		for _, r := range recs {
			if r.Op != "index" || r.Error == "" || r.MTime.IsZero() || !strings.HasPrefix(r.Path, photos) {
				t.Errorf("--errors --json record %+v, want op, error, mtime and path", r)
			}
		}
	})
}

// signalChildEnv holds the imglish command line (a JSON array) that
// TestIndexSignalChild, this test binary re-executed, runs through main.
const signalChildEnv = "IMGLISH_CMD_SIGNAL_CHILD"

func TestIndexSignalChild(t *testing.T) {
	env := os.Getenv(signalChildEnv)
	if env == "" {
		t.Skip("helper process for TestIndexSignal")
	}
	var args []string
	if err := json.Unmarshal([]byte(env), &args); err != nil {
		t.Fatal(err)
	}
	os.Args = append([]string{"imglish"}, args...)
	main()
}

// TestIndexSignal interrupts a real `imglish index` process with SIGINT
// and SIGTERM halfway through: it prints the partial summary, then says to
// run it again, and exits 130 or 143; running it again does the rest.
func TestIndexSignal(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	model, data, scenes := filepath.Join(dir, "model"), filepath.Join(dir, "data"), filepath.Join(dir, "scenes")
	// One worker, one image per encoder call: about 1 s of indexing,
	// and not much less on a machine with many more cores.
	const n = 1000
	for _, args := range [][]string{
		{"convert", "--checkpoint", "../../testdata/reference/tiny.pth", "--image-size", "32",
			"--tokenizer", "../../testdata/models/demo/demo.model", "--out", model},
		{"demo", "scenes", "--out", scenes, "--n", strconv.Itoa(n), "--size", "96"},
	} {
		if _, err := runCLI(ctx, t, args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	args := []string{"--data", data, "--model", model, "index", "--workers", "1", "--encoders", "1", "--batch", "1", filepath.Join(scenes, "images")}
	argsJSON, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sig  syscall.Signal
		exit int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		if err := os.RemoveAll(data); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^TestIndexSignalChild$")
		cmd.Env = append(os.Environ(), signalChildEnv+"="+string(argsJSON))
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The model is loaded just before the run starts; the signal
		// comes a little after, while the run is still going.
		var log strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), `msg="model loaded"`) {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
		if err := cmd.Process.Signal(tc.sig); err != nil {
			t.Fatal(err)
		}
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != tc.exit {
			t.Errorf("%v: %v, want exit status %d; stdout %q, stderr:\n%s", tc.sig, err, tc.exit, stdout.String(), log.String())
			continue
		}
		if !strings.HasSuffix(log.String(), "imglish: interrupted: run the same command again to continue\n") {
			t.Errorf("%v: stderr does not end with how to continue:\n%s", tc.sig, log.String())
		}
		if !strings.Contains(stdout.String(), " files: ") {
			t.Errorf("%v: stdout %q, want the partial summary", tc.sig, stdout.String())
		}
	}
	out, err := runCLI(ctx, t, args...)
	if err != nil || !strings.HasPrefix(out, strconv.Itoa(n)+" files: ") || strings.Contains(out, " 0 unchanged") {
		t.Errorf("running it again: %q, %v; want all %d files, some unchanged", out, err, n)
	}
}
