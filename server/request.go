package server

import (
	"bytes"
	"errors"
	"fmt"
	"imglish/app"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// maxJSON bounds JSON bodies that carry no image; uploads use Options.MaxUpload.
const maxTextLen = app.MaxTextLen

// validName is app.ValidName (the names the store accepts).
func validName(kind, s string) error { return app.ValidName(kind, s) }

// bodyKind classifies the request body by Content-Type; takes, what the
// route accepts, is named when the type is none of them.
func bodyKind(c *gin.Context, takes string) (string, error) {
	ct := c.GetHeader("Content-Type")
	if ct == "" {
		return "json", nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", fmt.Errorf("%w: content type %q", ErrUnsupportedType, ct)
	}
	switch {
	case mt == "application/json":
		return "json", nil
	case mt == "multipart/form-data":
		return "multipart", nil
	case strings.HasPrefix(mt, "image/") || mt == "application/octet-stream":
		return "raw", nil
	default:
		return "", fmt.Errorf("%w: content type %q (this route takes %s)", ErrUnsupportedType, mt, takes)
	}
}

// readJSON decodes a JSON request body.
func readJSON(c *gin.Context, v any) error {
	kind, err := bodyKind(c, "application/json")
	if err != nil {
		return err
	}
	if kind != "json" {
		return fmt.Errorf("%w: this route takes application/json", ErrUnsupportedType)
	}
	return decodeJSON(c.Request.Body, v)
}

// decodeBase64 accepts standard or URL base64, padded or not, with or without a
// data: URL prefix.
func decodeBase64(s string) ([]byte, error) { return app.DecodeBase64(s) }

// multipartFiles reads every file part named field, each bounded by MaxUpload
// (the whole body is bounded too).
func (s *Server) multipartFiles(c *gin.Context, field string) ([][]byte, error) {
	form, err := c.MultipartForm()
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, err
		case errors.Is(err, http.ErrMissingBoundary):
			return nil, fmt.Errorf("%w: the multipart/form-data Content-Type has no boundary parameter", ErrBadRequest)
		case errors.Is(err, multipart.ErrMessageTooLarge):
			return nil, fmt.Errorf("%w: the multipart/form-data body has too many parts or headers", ErrBadRequest)
		default:
			// The parser's own messages ("multipart: NextPart: EOF") name its package.
			return nil, fmt.Errorf("%w: the multipart/form-data body is malformed or cut short (it must end with the closing boundary)", ErrBadRequest)
		}
	}
	var out [][]byte
	for _, fh := range form.File[field] {
		f, err := fh.Open()
		if err != nil {
			return nil, fmt.Errorf("open upload: %w", err)
		}
		var buf bytes.Buffer
		_, err = io.Copy(&buf, io.LimitReader(f, s.opts.MaxUpload+1))
		_ = f.Close()
		if err != nil {
			return nil, bodyReadError(err)
		}
		if int64(buf.Len()) > s.opts.MaxUpload {
			return nil, &http.MaxBytesError{Limit: s.opts.MaxUpload}
		}
		out = append(out, buf.Bytes())
	}
	return out, nil
}

// formValue returns the first value of a multipart field.
func formValue(c *gin.Context, name string) string {
	if c.Request.MultipartForm == nil {
		return ""
	}
	if v := c.Request.MultipartForm.Value[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}
