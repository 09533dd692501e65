package server

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"imglish/app"
	"imglish/encoder"
	"imglish/encoder/preprocess"
	"imglish/encoder/tokenizer"
	"imglish/indexer"
	"imglish/search"
	"imglish/store"
	"imglish/vstore"
)

// TestStatusOfSentinels pins the status, code and public message of every
// sentinel the server answers, its own and those of the packages below
// (which it knows only through app.ErrorRules), each wrapped as a caller
// would wrap it.
func TestStatusOfSentinels(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
		msg    string
	}{
		{ErrInternal, 500, "internal", "internal error"},
		{fmt.Errorf("%w: read back: %w", ErrInternal, store.ErrNotFound), 500, "internal", "internal error: read back: not found"},
		{fmt.Errorf("%w: field \"k\": too big", ErrBadRequest), 400, "bad_request", "field \"k\": too big"},
		{ErrUnauthorized, 401, "unauthorized", "missing or invalid API key"},
		{ErrForbidden, 403, "forbidden", "forbidden"},
		{ErrNotFound, 404, "not_found", "not found"},
		{ErrUnsupportedType, 415, "unsupported_media_type", "unsupported media type"},
		{ErrTooManyPixels, 422, "too_many_pixels", "image exceeds the pixel limit"},
		{ErrRateLimited, 429, "rate_limited", "rate limit exceeded"},
		{ErrUnavailable, 503, "unavailable", "not ready"},
		{ErrShuttingDown, 503, "shutting_down", "shutting down"},
		{ErrTimeout, 504, "timeout", "request timed out"},
		{context.DeadlineExceeded, 504, "timeout", "request timed out"},
		{errMethodNotAllowed, 405, "method_not_allowed", "method not allowed"},
		{context.Canceled, 499, "canceled", "context canceled"},
		{&http.MaxBytesError{Limit: 10}, 413, "payload_too_large", "the request body is larger than 10 bytes"},

		{fmt.Errorf("item x: %w", store.ErrNotFound), 404, "not_found", "item x: not found"},
		{fmt.Errorf("id: %w", store.ErrInvalid), 400, "bad_request", "id: invalid argument"},
		{fmt.Errorf("apply: %w", store.ErrBatchTooLarge), 413, "payload_too_large", "apply: batch too large"},
		{store.ErrClosed, 503, "unavailable", "not ready"},
		{fmt.Errorf("query: %w", search.ErrDimension), 400, "bad_request", "query: vector dimension mismatch"},
		{fmt.Errorf("%w: /x is not a folder", indexer.ErrRoot), 400, "bad_request", "bad index root: /x is not a folder"},
		{indexer.ErrClosed, 503, "unavailable", "not ready"},
		{fmt.Errorf("decode: %w", preprocess.ErrTooLarge), 422, "too_many_pixels", "decode: image too large"},
		{preprocess.ErrUnsupported, 415, "unsupported_media_type", "unsupported image format"},
		{fmt.Errorf("decode: %w", preprocess.ErrCorrupt), 400, "corrupt_image", "decode: corrupt image"},
		{fmt.Errorf("query: %w", tokenizer.ErrEmpty), 400, "bad_request", "query: empty text"},
		{encoder.ErrClosed, 503, "unavailable", "not ready"},
		// A store out of reach through retries that outlasted the request: 503, not the deadline's 504.
		{fmt.Errorf("apply: %w: %w", vstore.ErrUnavailable, context.DeadlineExceeded), 503, "unavailable", "apply: store unavailable: request timed out"},
		{fmt.Errorf("plain failure"), 500, "internal", "plain failure"},
	} {
		status, code := statusOf(tc.err)
		if status != tc.status || code != tc.code {
			t.Errorf("%v: %d %s, want %d %s", tc.err, status, code, tc.status, tc.code)
		}
		if msg := publicMessage(tc.err, status); msg != tc.msg {
			t.Errorf("%v: message %q, want %q", tc.err, msg, tc.msg)
		}
	}
}

// TestStatusOfEveryKind: every kind of core error has a status of its own
// (only KindInternal is a 500), so a kind added to app without one fails.
func TestStatusOfEveryKind(t *testing.T) {
	for _, r := range app.ErrorRules() {
		status, _ := statusOfKind(r.Kind)
		if (status == http.StatusInternalServerError) != (r.Kind == app.KindInternal) {
			t.Errorf("rule %v: kind %d maps to %d", r.Err, r.Kind, status)
		}
	}
	if status, code := statusOfKind(app.Kind(-1)); status != http.StatusInternalServerError || code != "internal" {
		t.Errorf("unknown kind: %d %s, want 500 internal", status, code)
	}
}
