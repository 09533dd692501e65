package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"imglish/encoder"
	"imglish/encoder/preprocess"
	"imglish/encoder/tokenizer"
	"imglish/indexer"
	"imglish/search"
	"imglish/store"
)

// errorBody is the JSON every error response carries.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// statusRule maps one sentinel (matched with errors.Is) to a status and code.
type statusRule struct {
	err    error
	status int
	code   string
}

// statusRules maps this package's sentinels, then those of the packages it
// builds on (store, search, indexer, encoder, preprocess, tokenizer); the
// first match wins.
var statusRules = []statusRule{
	// A fault of the server is a 500 even when its cause is a not-found or
	// bad-input error of a package below.
	{ErrInternal, http.StatusInternalServerError, "internal"},
	{ErrBadRequest, http.StatusBadRequest, "bad_request"},
	{ErrUnauthorized, http.StatusUnauthorized, "unauthorized"},
	{ErrForbidden, http.StatusForbidden, "forbidden"},
	{ErrNotFound, http.StatusNotFound, "not_found"},
	{ErrUnsupportedType, http.StatusUnsupportedMediaType, "unsupported_media_type"},
	{ErrTooManyPixels, http.StatusUnprocessableEntity, "too_many_pixels"},
	{ErrRateLimited, http.StatusTooManyRequests, "rate_limited"},
	{ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	{ErrShuttingDown, http.StatusServiceUnavailable, "shutting_down"},
	{ErrTimeout, http.StatusGatewayTimeout, "timeout"},
	{context.DeadlineExceeded, http.StatusGatewayTimeout, "timeout"},
	{errMethodNotAllowed, http.StatusMethodNotAllowed, "method_not_allowed"},

	{store.ErrNotFound, http.StatusNotFound, "not_found"},
	{store.ErrInvalid, http.StatusBadRequest, "bad_request"},
	{store.ErrBatchTooLarge, http.StatusRequestEntityTooLarge, "payload_too_large"},
	{store.ErrClosed, http.StatusServiceUnavailable, "unavailable"},
	{search.ErrDimension, http.StatusBadRequest, "bad_request"},
	{indexer.ErrRoot, http.StatusBadRequest, "bad_request"},
	{indexer.ErrClosed, http.StatusServiceUnavailable, "unavailable"},
	{preprocess.ErrTooLarge, http.StatusUnprocessableEntity, "too_many_pixels"},
	{preprocess.ErrUnsupported, http.StatusUnsupportedMediaType, "unsupported_media_type"},
	{preprocess.ErrCorrupt, http.StatusBadRequest, "corrupt_image"},
	{tokenizer.ErrEmpty, http.StatusBadRequest, "bad_request"},
	{encoder.ErrClosed, http.StatusServiceUnavailable, "unavailable"},
}

var errMethodNotAllowed = errors.New("server: method not allowed")

// statusOf is the one place that maps an error to an HTTP status and code.
func statusOf(err error) (int, string) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, "payload_too_large"
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &te) {
		return http.StatusBadRequest, "bad_request"
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
// Internal errors are logged and shown only as "internal error".
func (s *Server) writeError(c *gin.Context, err error) {
	status, code := statusOf(err)
	msg := err.Error()
	if status >= 500 && status != http.StatusServiceUnavailable && status != http.StatusGatewayTimeout {
		s.log.Error("request failed", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
		msg = "internal error"
	}
	if status == http.StatusTooManyRequests {
		c.Header("Retry-After", "1")
	}
	if c.GetBool(ctxVectorizer) {
		c.AbortWithStatusJSON(status, vectorizerError{Error: msg})
		return
	}
	c.AbortWithStatusJSON(status, errorBody{Error: errorDetail{Code: code, Message: msg}})
}
