package weaviate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// maxAnswer bounds a Weaviate answer read into memory (a page of objects
// with their vectors, a blob).
const maxAnswer = 512 << 20

// client sends JSON requests to the nodes of one Weaviate cluster, with
// retries: a transport error, a 5xx or a 429 is retried on the next node
// after a backoff (every write this package makes is idempotent: objects
// are keyed by UUIDv5, deletes match ids), a 4xx is not. It is safe for
// concurrent use.
//
// Requests start on the preferred node, next (an ever-growing position;
// the node is next mod len(urls)). A failed request retries on the node
// after the one it used, whatever the others do, and moves next past the
// node it used only if next still points there. Advancing next by one per
// failure instead sent k requests that fail together (a node killed under
// k in flight) k nodes further, with k = len(urls) right back to the dead
// node, and as they share one backoff schedule they stayed in step there
// until their retries ran out (TestNodeKilledWhileIndexing: three
// requests retried the killed node three times each).
type client struct {
	urls    []string
	apiKey  string
	http    *http.Client
	retries int
	backoff time.Duration
	timeout time.Duration // per attempt (Options.AttemptTimeout)
	next    atomic.Uint32
	log     logger
}

// failedAt records that the node at position pos failed and returns the
// position to try next: after pos, or further when another request has
// moved next beyond it meanwhile (a node it found failing too).
func (c *client) failedAt(pos uint32) uint32 {
	c.next.CompareAndSwap(pos, pos+1)
	if cur := c.next.Load(); cur-pos-1 < uint32(len(c.urls)) {
		return cur
	}
	return pos + 1
}

type logger interface {
	Warn(msg string, args ...any)
}

// errNotFoundStatus marks a 404 answer, which callers map to
// vstore.ErrNotFound where it means an absent object or class.
var errNotFoundStatus = errors.New("404")

// do sends method path with body (JSON-encoded unless nil) and decodes the
// answer into out (unless nil). A 404 returns an error wrapping
// errNotFoundStatus and ErrRejected.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	_, err := c.doFrom(ctx, c.next.Load(), method, path, body, out)
	return err
}

// doFrom is do starting on the node at position pos; it returns the
// position of the node that answered last.
func (c *client) doFrom(ctx context.Context, pos uint32, method, path string, body, out any) (uint32, error) {
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return pos, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
	}
	var last error
	delay := c.backoff
	for attempt := 0; ; attempt++ {
		base := c.urls[int(pos%uint32(len(c.urls)))]
		status, ans, err := c.once(ctx, method, path, base+path, data)
		switch {
		case err == nil && status/100 == 2:
			if out == nil || len(ans) == 0 {
				return pos, nil
			}
			if err := json.Unmarshal(ans, out); err != nil {
				return pos, fmt.Errorf("decode %s %s: %w", method, path, err)
			}
			return pos, nil
		case err == nil && status == http.StatusNotFound:
			return pos, &RequestError{Op: method, URL: base + path, Status: status, Err: errors.Join(ErrRejected, errNotFoundStatus, answerError(ans))}
		case err == nil && status/100 == 4 && status != http.StatusTooManyRequests && !transient(string(ans)):
			return pos, &RequestError{Op: method, URL: base + path, Status: status, Err: errors.Join(ErrRejected, answerError(ans))}
		case err != nil:
			last = &RequestError{Op: method, URL: base + path, Err: errors.Join(ErrUnavailable, err)}
		default:
			last = &RequestError{Op: method, URL: base + path, Status: status, Err: errors.Join(ErrUnavailable, answerError(ans))}
		}
		// The next node may be healthy.
		var err2 error
		if pos, err2 = c.retryAfter(ctx, attempt, pos, &delay, "weaviate request failed, retrying", last); err2 != nil {
			return pos, err2
		}
	}
}

// retryAfter is the retry rule every request shares: after attempt (from
// 0) failed with last on the node at pos, it returns an error when ctx has
// ended or the retries are spent; otherwise it logs msg, waits the backoff
// (delay, doubled each time up to 5 s) and returns the node to try next
// (failedAt).
func (c *client) retryAfter(ctx context.Context, attempt int, pos uint32, delay *time.Duration, msg string, last error) (uint32, error) {
	if ctx.Err() != nil {
		return pos, errors.Join(ctx.Err(), last)
	}
	if attempt >= c.retries {
		return pos, last
	}
	pos = c.failedAt(pos)
	c.log.Warn(msg, "err", last, "attempt", attempt+1, "backoff", *delay)
	select {
	case <-ctx.Done():
		return pos, errors.Join(ctx.Err(), last)
	case <-time.After(*delay):
	}
	*delay = min(2**delay, 5*time.Second)
	return pos, nil
}

// metaTimeout caps the attempt timeout of schema and node-list reads,
// which a healthy node answers from memory (or its Raft leader's) in
// milliseconds.
const metaTimeout = 10 * time.Second

// attemptTimeout is the bound of one attempt at path.
func (c *client) attemptTimeout(path string) time.Duration {
	if strings.HasPrefix(path, "/v1/schema") || strings.HasPrefix(path, "/v1/nodes") {
		return min(c.timeout, metaTimeout)
	}
	return c.timeout
}

// once sends one attempt to one node and reads the whole answer, within
// the attempt's timeout.
func (c *client) once(ctx context.Context, method, path, url string, data []byte) (int, []byte, error) {
	if d := c.attemptTimeout(path); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	var r io.Reader
	if data != nil {
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	ans, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, ans, nil
}

// transientMessages mark an error answer that a retry (on another node,
// after a backoff) may cure, whatever its status: a replica or the Raft
// leader out of reach while the cluster notices a node is gone. Weaviate
// answers a schema read that the leader's loss interrupted with 403 "could
// not read schema with strong consistency" (TestNodeKilledWhileIndexing).
var transientMessages = []string{
	"cannot achieve consistency",
	"connection refused",
	"context deadline",
	"strong consistency",
	"connection is closing",
	"leader not found",
	"no leader",
}

// transient reports whether an error message is one of transientMessages.
func transient(msg string) bool {
	for _, m := range transientMessages {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// answerError turns an error answer's body into an error with its
// message(s).
func answerError(ans []byte) error {
	var e struct {
		Error []struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(ans, &e) == nil && len(e.Error) > 0 {
		msgs := make([]string, len(e.Error))
		for i, m := range e.Error {
			msgs[i] = m.Message
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return fmt.Errorf("%.300s", ans)
}

// graphQL runs a GraphQL query and decodes its data into out. GraphQL
// answers 200 with an errors list on failure: those are returned wrapping
// ErrRejected (or ErrUnavailable when Weaviate reports a replication or
// connection problem, which a retry may fix).
func (c *client) graphQL(ctx context.Context, query string, out any) error {
	var ans struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	delay := c.backoff
	pos := c.next.Load()
	for attempt := 0; ; attempt++ {
		var derr error
		if pos, derr = c.doFrom(ctx, pos, http.MethodPost, "/v1/graphql", map[string]string{"query": query}, &ans); derr != nil {
			return derr
		}
		if len(ans.Errors) == 0 {
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(ans.Data, out); err != nil {
				return fmt.Errorf("decode graphql answer: %w", err)
			}
			return nil
		}
		msgs := make([]string, len(ans.Errors))
		retry := false
		for i, e := range ans.Errors {
			msgs[i] = e.Message
			if strings.Contains(e.Message, "could not find class") || strings.Contains(e.Message, "class not found") ||
				strings.Contains(e.Message, "Cannot query field") {
				msgs[i] += " (" + errNotFoundStatus.Error() + ")"
			}
			retry = retry || transient(e.Message)
		}
		err := &RequestError{Op: "graphql", URL: "/v1/graphql", Status: http.StatusOK, Err: errors.New(strings.Join(msgs, "; "))}
		if !retry {
			if strings.Contains(err.Error(), errNotFoundStatus.Error()) {
				err.Err = errors.Join(ErrRejected, errNotFoundStatus, err.Err)
			} else {
				err.Err = errors.Join(ErrRejected, err.Err)
			}
			return err
		}
		err.Err = errors.Join(ErrUnavailable, err.Err)
		var rerr error
		if pos, rerr = c.retryAfter(ctx, attempt, pos, &delay, "weaviate query failed, retrying", err); rerr != nil {
			return rerr
		}
		ans.Errors, ans.Data = nil, nil
	}
}
