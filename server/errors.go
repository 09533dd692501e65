package server

import (
	"errors"

	"imglish/app"
)

// Sentinel errors. Handlers wrap these (or the core's, the store, encoder and
// preprocess sentinels; the ones the core shares are the same values as
// app's) and respond through writeError, the one place that maps an error to
// an HTTP status and a JSON body {"error":{"code","message"}}.
var (
	// ErrBadRequest means the request body or parameters are malformed (400).
	// It is app.ErrInvalid, the core's sentinel, under server's name.
	ErrBadRequest = app.ErrInvalid
	// ErrUnauthorized means no valid API key was presented (401).
	ErrUnauthorized = errors.New("server: missing or invalid API key")
	// ErrForbidden means the key lacks the scope the route needs, or a path is outside the allow-list (403).
	// It is app.ErrForbidden.
	ErrForbidden = app.ErrForbidden
	// ErrNotFound means the item, collection, job or route does not exist (404).
	// It is app.ErrNotFound.
	ErrNotFound = app.ErrNotFound
	// ErrUnsupportedType means the upload is not an image format imglish decodes, or the content type is wrong (415).
	ErrUnsupportedType = errors.New("server: unsupported media type")
	// ErrTooManyPixels means the image exceeds the pixel limit (422).
	ErrTooManyPixels = errors.New("server: image exceeds the pixel limit")
	// ErrRateLimited means the key (or client address) exceeded its request rate (429).
	ErrRateLimited = errors.New("server: rate limit exceeded")
	// ErrUnavailable means the model or store is not ready (503). It is
	// app.ErrUnavailable.
	ErrUnavailable = app.ErrUnavailable
	// ErrShuttingDown means the server is draining and takes no new work (503).
	// It is app.ErrClosed.
	ErrShuttingDown = app.ErrClosed
	// ErrTimeout means the request ran past its deadline (504).
	ErrTimeout = errors.New("server: request timed out")
	// ErrBodyTimeout means the client stopped sending its request body
	// (Options.BodyTimeout passed without the next part of it) (408).
	ErrBodyTimeout = errors.New("server: request body not received in time")
	// ErrInternal marks a fault of the server itself (500); its message is not shown to clients.
	// It is app.ErrInternal.
	ErrInternal = app.ErrInternal
	// ErrConfig means the server options are invalid (for example auth disabled on a public address).
	// It is app.ErrConfig.
	ErrConfig = app.ErrConfig
)
