package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"imglish/encoder/modelfile"
	"imglish/internal/atomicfile"
)

// partialSuffix marks a download in progress; it survives interruptions so the
// next attempt resumes from its length.
const partialSuffix = ".partial"

// Download is the result of fetching one file.
type Download struct {
	Path    string // final file
	URL     string
	Bytes   int64
	SHA256  string
	Resumed bool // some bytes came from an earlier, interrupted attempt
	Skipped bool // the file was already complete; nothing was fetched
}

// want is what a download is checked against; zero values mean unknown.
type want struct {
	bytes  int64
	sha256 string
}

// fetch downloads url to dest (see the package doc for the protocol), resuming
// after each interruption; it gives up after 1+retries attempts in a row that
// add nothing.
func (p *Puller) fetch(ctx context.Context, url, dest string, w want) (Download, error) {
	res := Download{Path: dest, URL: url}
	if fi, err := os.Stat(dest); err == nil && fi.Mode().IsRegular() {
		// Complete from an earlier pull: verify rather than refetch.
		sum, err := modelfile.FileSHA256(dest)
		if err != nil {
			return res, err
		}
		if (w.bytes == 0 || fi.Size() == w.bytes) && (w.sha256 == "" || strings.EqualFold(sum, w.sha256)) {
			res.Bytes, res.SHA256, res.Skipped = fi.Size(), sum, true
			return res, nil
		}
		p.log.Warn("existing file does not match the catalogue; downloading again", "path", dest)
		if err := os.Remove(dest); err != nil {
			return res, fmt.Errorf("remove %s: %w", dest, err)
		}
	}
	part := dest + partialSuffix
	bar := newProgress(p.progress, filepath.Base(dest), p.now)
	// failures counts attempts in a row that added no byte: a flaky link that
	// keeps making progress is followed to the end, a dead one gives up.
	var lastErr error
	for attempt, failures := 0, 0; ; attempt++ {
		if attempt > 0 {
			delay := p.backoff * time.Duration(1<<min(failures, 5))
			p.log.Warn("download interrupted; resuming", "url", url, "attempt", attempt, "after", delay, "err", lastErr)
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return res, fmt.Errorf("download %s: %w", url, ctx.Err())
			case <-t.C:
			}
		}
		before := fileSize(part)
		resumed, done, err := p.attempt(ctx, url, part, bar)
		res.Resumed = res.Resumed || resumed
		if err == nil && done {
			break
		}
		if ctx.Err() != nil {
			return res, fmt.Errorf("download %s: %w", url, ctx.Err())
		}
		var he *HTTPError
		if errors.As(err, &he) && he.Status < 500 && he.Status != http.StatusTooManyRequests {
			return res, fmt.Errorf("download %s: %w", url, err)
		}
		if err == nil {
			err = ErrIncomplete
		}
		lastErr = err
		if fileSize(part) > before {
			failures = 0
		} else if failures++; failures > p.retries {
			return res, fmt.Errorf("download %s: %d attempts without progress: %w", url, failures, errors.Join(ErrIncomplete, lastErr))
		}
	}
	bar.finish()
	fi, err := os.Stat(part)
	if err != nil {
		return res, fmt.Errorf("stat %s: %w", part, err)
	}
	res.Bytes = fi.Size()
	if w.bytes > 0 && res.Bytes != w.bytes {
		_ = os.Remove(part)
		return res, fmt.Errorf("download %s: %d bytes, catalogue says %d: %w", url, res.Bytes, w.bytes, ErrSize)
	}
	if res.SHA256, err = modelfile.FileSHA256(part); err != nil {
		return res, err
	}
	if w.sha256 != "" && !strings.EqualFold(res.SHA256, w.sha256) {
		_ = os.Remove(part) // resuming a corrupt file would only keep it corrupt
		return res, fmt.Errorf("download %s: sha256 %s, want %s: %w", url, res.SHA256, w.sha256, ErrChecksum)
	}
	if err := os.Rename(part, dest); err != nil {
		return res, fmt.Errorf("rename %s: %w", part, err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(dest)); err != nil {
		return res, err
	}
	p.log.Info("downloaded", "url", url, "path", dest, "bytes", res.Bytes, "sha256", res.SHA256, "resumed", res.Resumed)
	return res, nil
}

// attempt makes one GET, appending to part. done reports that part now holds
// the whole file; err is the reason it does not (a status, a cut connection).
func (p *Puller) attempt(ctx context.Context, url, part string, bar *progress) (resumed, done bool, err error) {
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return false, false, fmt.Errorf("open %s: %w", part, err)
	}
	defer func() {
		// fsync what we have, so a resumed attempt after a crash trusts only durable bytes.
		if serr := f.Sync(); serr != nil && err == nil {
			err = fmt.Errorf("sync %s: %w", part, serr)
		}
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", part, cerr)
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return false, false, fmt.Errorf("stat %s: %w", part, err)
	}
	off := fi.Size()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, false, fmt.Errorf("%w: request %s: %v", ErrOptions, url, err)
	}
	req.Header.Set("User-Agent", "imglish-pull/1")
	if off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return false, false, fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()

	total := int64(-1)
	switch resp.StatusCode {
	case http.StatusOK:
		if off > 0 {
			p.log.Info("server ignored the Range request; restarting from byte 0", "url", url, "had", off)
		}
		off = 0
		total = resp.ContentLength // -1 when unknown
	case http.StatusPartialContent:
		start, end, size, perr := parseContentRange(resp.Header.Get("Content-Range"))
		if perr != nil || start != off || (size >= 0 && end+1 > size) {
			// A range we did not ask for: distrust the partial file and start over.
			_ = f.Truncate(0)
			return false, false, fmt.Errorf("get %s: Content-Range %q for offset %d: %w", url, resp.Header.Get("Content-Range"), off, ErrIncomplete)
		}
		resumed = off > 0
		total = size
	case http.StatusRequestedRangeNotSatisfiable:
		// Our partial file is as long as the resource (or longer): complete, or stale.
		_, _, size, perr := parseContentRange(resp.Header.Get("Content-Range"))
		if perr == nil && size == off {
			bar.begin(off, size)
			return true, true, nil
		}
		_ = f.Truncate(0)
		return false, false, fmt.Errorf("get %s: range %d- not satisfiable: %w", url, off, ErrIncomplete)
	default:
		return false, false, &HTTPError{URL: url, Status: resp.StatusCode}
	}
	if err := f.Truncate(off); err != nil {
		return false, false, fmt.Errorf("truncate %s: %w", part, err)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return false, false, fmt.Errorf("seek %s: %w", part, err)
	}
	bar.begin(off, total)
	n, err := copyProgress(f, resp.Body, bar)
	if err != nil {
		if errors.Is(err, fs.ErrClosed) || ctx.Err() != nil {
			return resumed, false, ctx.Err()
		}
		return resumed, false, fmt.Errorf("read %s: %w", url, err)
	}
	if total >= 0 && off+n != total {
		return resumed, false, fmt.Errorf("get %s: %d of %d bytes: %w", url, off+n, total, ErrIncomplete)
	}
	return resumed, true, nil
}

// copyProgress copies src to dst, advancing the bar per chunk.
func copyProgress(dst io.Writer, src io.Reader, bar *progress) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		k, rerr := src.Read(buf)
		if k > 0 {
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return n, fmt.Errorf("write: %w", werr)
			}
			n += int64(k)
			bar.add(k)
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// parseContentRange reads "bytes START-END/SIZE" (SIZE may be "*", giving -1)
// or "bytes */SIZE" (START and END -1).
func parseContentRange(s string) (start, end, size int64, err error) {
	bad := fmt.Errorf("%w: Content-Range %q", ErrIncomplete, s)
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, 0, bad
	}
	rng, sz, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, bad
	}
	size = -1
	if sz != "*" {
		if size, err = strconv.ParseInt(sz, 10, 64); err != nil || size < 0 {
			return 0, 0, 0, bad
		}
	}
	if rng == "*" {
		return -1, -1, size, nil
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, bad
	}
	if start, err = strconv.ParseInt(a, 10, 64); err != nil || start < 0 {
		return 0, 0, 0, bad
	}
	if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
		return 0, 0, 0, bad
	}
	return start, end, size, nil
}

// fileSize is path's length, 0 when absent.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
