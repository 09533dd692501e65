package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"imglish/app"
)

// errorBody is the JSON every error response carries.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RequestID names a server fault (500) in the log, where its cause is.
	RequestID string `json:"request_id,omitempty"`
}

// statusRule maps one sentinel (matched with errors.Is) to a status and code,
// and its text to the phrase a client reads instead: sentinel texts carry
// package prefixes for the logs ("server: not found"). An empty phrase drops
// the text where a detail stands beside it ("server: bad request: field
// \"k\": ..." reads "field \"k\": ..."), as does a phrase the detail already says.
type statusRule struct {
	err    error
	status int
	code   string
	phrase string
}

// statusRules maps this package's sentinels (the core's among them, under
// server's names), then the core's error vocabulary (app.ErrorRules: the
// sentinels of the store, search, indexer and encoder packages, classified
// by app.Kind, which statusOfKind maps); the first match wins.
var statusRules = append([]statusRule{
	// A fault of the server is a 500 even when its cause is a not-found or
	// bad-input error of a package below.
	{ErrInternal, http.StatusInternalServerError, "internal", "internal error"},
	{ErrBadRequest, http.StatusBadRequest, "bad_request", ""},
	{ErrUnauthorized, http.StatusUnauthorized, "unauthorized", "missing or invalid API key"},
	{ErrForbidden, http.StatusForbidden, "forbidden", "forbidden"},
	{ErrNotFound, http.StatusNotFound, "not_found", "not found"},
	{ErrUnsupportedType, http.StatusUnsupportedMediaType, "unsupported_media_type", "unsupported media type"},
	{ErrTooManyPixels, http.StatusUnprocessableEntity, "too_many_pixels", "image exceeds the pixel limit"},
	{ErrRateLimited, http.StatusTooManyRequests, "rate_limited", "rate limit exceeded"},
	{ErrUnavailable, http.StatusServiceUnavailable, "unavailable", "not ready"},
	{ErrShuttingDown, http.StatusServiceUnavailable, "shutting_down", "shutting down"},
	{ErrTimeout, http.StatusGatewayTimeout, "timeout", "request timed out"},
	{ErrBodyTimeout, http.StatusRequestTimeout, "body_timeout", "request body not received in time"},
	{context.DeadlineExceeded, http.StatusGatewayTimeout, "timeout", "request timed out"},
	{errMethodNotAllowed, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed"},
}, coreRules()...)

// coreRules is app.ErrorRules as status rules.
func coreRules() []statusRule {
	var out []statusRule
	for _, r := range app.ErrorRules() {
		status, code := statusOfKind(r.Kind)
		out = append(out, statusRule{r.Err, status, code, r.Phrase})
	}
	return out
}

// statusOfKind is the HTTP status and error code of a kind of core error;
// a kind it does not know is a fault (500), so a kind added to app without
// a status here shows up as one.
func statusOfKind(k app.Kind) (int, string) {
	switch k {
	case app.KindInternal:
		return http.StatusInternalServerError, "internal"
	case app.KindInvalid:
		return http.StatusBadRequest, "bad_request"
	case app.KindNotFound:
		return http.StatusNotFound, "not_found"
	case app.KindForbidden:
		return http.StatusForbidden, "forbidden"
	case app.KindUnavailable:
		return http.StatusServiceUnavailable, "unavailable"
	case app.KindClosed:
		return http.StatusServiceUnavailable, "shutting_down"
	case app.KindTooLarge:
		return http.StatusRequestEntityTooLarge, "payload_too_large"
	case app.KindTooManyPixels:
		return http.StatusUnprocessableEntity, "too_many_pixels"
	case app.KindUnsupported:
		return http.StatusUnsupportedMediaType, "unsupported_media_type"
	case app.KindCorrupt:
		return http.StatusBadRequest, "corrupt_image"
	case app.KindStoreUnavailable:
		return http.StatusServiceUnavailable, "unavailable"
	default:
		return http.StatusInternalServerError, "internal"
	}
}

var errMethodNotAllowed = errors.New("server: method not allowed")

// noMethod answers a method that a routed path has no handler for. gin has
// set Allow to the path's routed methods; HEAD (answered as GET, see
// headAsGet) and OPTIONS (answered here) join them. OPTIONS gets 204 with
// that list (RFC 9110 §9.3.7) whether or not CORS is configured: a preflight
// from an allowed origin was answered by the cors middleware already, and
// one from any other origin gets no Access-Control-Allow-Origin, which is
// the browser's refusal. Any other method is a 405 naming the same list.
func (s *Server) noMethod(c *gin.Context) {
	h := c.Writer.Header()
	allow := strings.Split(h.Get("Allow"), ", ")
	if slices.Contains(allow, http.MethodGet) && !slices.Contains(allow, http.MethodHead) {
		allow = append(allow, http.MethodHead)
	}
	h.Set("Allow", strings.Join(append(allow, http.MethodOptions), ", "))
	if c.Request.Method == http.MethodOptions {
		c.AbortWithStatus(http.StatusNoContent)
		return
	}
	s.writeError(c, errMethodNotAllowed)
}

// statusOf is the one place that maps an error to an HTTP status and code.
func statusOf(err error) (int, string) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, "payload_too_large"
	}
	// A remote store out of reach is a 503 even when the request's deadline
	// passed while its client retried (the error holds both).
	if app.KindOf(err) == app.KindStoreUnavailable {
		return http.StatusServiceUnavailable, "unavailable"
	}
	for _, r := range statusRules {
		if errors.Is(err, r.err) {
			return r.status, r.code
		}
	}
	if errors.Is(err, context.Canceled) {
		// The client went away; nobody reads this, but do not count it as a fault.
		return 499, "canceled"
	}
	return http.StatusInternalServerError, "internal"
}

// writeError responds with err's status and JSON body and aborts the chain.
// A server fault (500) is logged with a request id, and the client sees only
// "internal error" and that id; other messages are publicMessage's.
func (s *Server) writeError(c *gin.Context, err error) {
	status, code := statusOf(err)
	detail := errorDetail{Code: code}
	if status >= 500 && status != http.StatusServiceUnavailable && status != http.StatusGatewayTimeout {
		detail.RequestID = rand.Text()
		detail.Message = "internal error (request id " + detail.RequestID + ")"
		s.log.Error("request failed", "request_id", detail.RequestID, "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
	} else if app.KindOf(err) == app.KindStoreUnavailable {
		// A remote store out of reach after its own retries: the client may
		// try again; the details (node addresses, the engine's answers) are
		// for the log.
		detail.RequestID = rand.Text()
		detail.Message = "store unavailable, try again later (request id " + detail.RequestID + ")"
		s.log.Warn("store unavailable", "request_id", detail.RequestID, "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
		c.Header("Retry-After", "5")
	} else {
		detail.Message = publicMessage(err, status)
	}
	if status == http.StatusTooManyRequests {
		c.Header("Retry-After", "1")
	}
	if c.GetBool(ctxVectorizer) {
		// The vectorizer door answers in the shape Weaviate's module reads.
		c.AbortWithStatusJSON(status, vectorizerError{Error: detail.Message})
		return
	}
	c.AbortWithStatusJSON(status, errorBody{Error: detail})
}

// publicMessage is err's message in the request's terms: each sentinel's text
// becomes its rule's phrase, and a body over the limit says the limit (its
// own text is "http: request body too large").
func publicMessage(err error, status int) string {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fmt.Sprintf("the request body is larger than %d bytes", mbe.Limit)
	}
	msg := err.Error()
	for _, r := range statusRules {
		if !errors.Is(err, r.err) {
			continue
		}
		text := r.err.Error()
		if msg == text {
			msg = cmp.Or(r.phrase, strings.ToLower(http.StatusText(status)))
			continue
		}
		// The text goes where the rest says it already ("request timed out:
		// waiting for a free slot: context deadline exceeded").
		rest := strings.ReplaceAll(strings.ReplaceAll(msg, text+": ", ""), ": "+text, "")
		if r.phrase == "" || strings.Contains(rest, r.phrase) {
			msg = rest
		} else {
			msg = strings.ReplaceAll(msg, text, r.phrase)
		}
	}
	return msg
}
