package server

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// decodeJSON reads one JSON value strictly into v: unknown fields, values of
// the wrong type and data after the value are errors. Every error wraps
// ErrBadRequest (or is the body's *http.MaxBytesError) and says what was wrong
// in the request's own terms: the field path as the client wrote it
// ("query[1].weight"), the type expected and the one sent, or the line, column
// and byte of a syntax error. encoding/json's own messages name Go types
// ("Go value of type server.SearchRequest"), so they never reach a client.
func decodeJSON(r io.Reader, v any) error {
	b, err := readBody(r)
	if err != nil {
		return bodyReadError(err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return fmt.Errorf("%w: empty body: expected a JSON object", ErrBadRequest)
	}
	// Syntax first, on the first value only, so data after it gets its own message.
	dec := json.NewDecoder(bytes.NewReader(b))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("%w: invalid JSON at %s: %s", ErrBadRequest, position(b, se.Offset-1), se.Error())
		case errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Errorf("%w: invalid JSON: the body ends at byte offset %d before the JSON value does", ErrBadRequest, len(b))
		default:
			return fmt.Errorf("%w: invalid JSON", ErrBadRequest)
		}
	}
	end := dec.InputOffset()
	if rest := b[end:]; len(bytes.TrimSpace(rest)) > 0 {
		at := end + int64(len(rest)-len(bytes.TrimLeft(rest, " \t\r\n")))
		return fmt.Errorf("%w: invalid JSON at %s: unexpected data after the JSON value", ErrBadRequest, position(b, at))
	}
	if err := checkJSON(raw, reflect.TypeOf(v)); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		// checkJSON refuses everything encoding/json does; should the two ever
		// disagree, say where without its Go type names.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("%w: field %q: invalid value", ErrBadRequest, te.Field)
		}
		return fmt.Errorf("%w: invalid value in the JSON body", ErrBadRequest)
	}
	return nil
}

// position describes byte offset off of b as a person finds it in an editor:
// 1-based line and column (in characters), and the 0-based byte offset.
func position(b []byte, off int64) string {
	off = max(0, min(off, int64(len(b))))
	before := b[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return fmt.Sprintf("line %d, column %d (byte offset %d)", line, col, off)
}

// checkJSON walks the syntactically valid JSON value b along Go type t as
// encoding/json would decode it, and reports the first value it would refuse:
// an unknown object key (request structs are strict), a value of the wrong
// JSON type, a number that does not fit, or a date that is not RFC 3339. The
// field path is the client's ("filter.after", "query[1].weight").
func checkJSON(b []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return (&jsonChecker{dec: dec}).value(t, "")
}

type jsonChecker struct {
	dec *json.Decoder
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	unmarshalerType   = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func (c *jsonChecker) value(t reflect.Type, path string) error {
	tok, err := c.dec.Token()
	if err != nil {
		return errors.New("invalid JSON") // decodeJSON checked the syntax before
	}
	if tok == nil {
		return nil // null leaves any field as it is, as encoding/json does
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		s, ok := tok.(string)
		if _, err := time.Parse(time.RFC3339, s); !ok || err != nil {
			if err := c.skip(tok); err != nil {
				return err
			}
			return fieldError(path, "a date-time string in RFC 3339 form (2024-05-01T12:00:00Z)", tok)
		}
		return nil
	}
	// A type that decodes itself (a duration as "1m30s") takes what its
	// UnmarshalJSON takes: encoding/json asks it, and so is the judge.
	if pt := reflect.PointerTo(t); t.Implements(unmarshalerType) || pt.Implements(unmarshalerType) {
		return c.skip(tok)
	}
	// A TextUnmarshaler takes a JSON string, which encoding/json hands it.
	if pt := reflect.PointerTo(t); t.Implements(textUnmarshalType) || pt.Implements(textUnmarshalType) {
		if _, ok := tok.(string); !ok {
			return c.mismatch(path, "a string", tok)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Interface:
		return c.skip(tok)
	case reflect.String:
		if _, ok := tok.(string); !ok {
			return c.mismatch(path, "a string", tok)
		}
	case reflect.Bool:
		if _, ok := tok.(bool); !ok {
			return c.mismatch(path, "true or false", tok)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := tok.(json.Number)
		if !ok {
			return c.mismatch(path, "an integer", tok)
		}
		if _, err := strconv.ParseInt(n.String(), 10, t.Bits()); err != nil {
			return numberError(path, "an integer", n, err)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := tok.(json.Number)
		if !ok {
			return c.mismatch(path, "a non-negative integer", tok)
		}
		if _, err := strconv.ParseUint(n.String(), 10, t.Bits()); err != nil {
			return numberError(path, "a non-negative integer", n, err)
		}
	case reflect.Float32, reflect.Float64:
		n, ok := tok.(json.Number)
		if !ok {
			return c.mismatch(path, "a number", tok)
		}
		if _, err := strconv.ParseFloat(n.String(), t.Bits()); err != nil {
			return numberError(path, "a number", n, err)
		}
	case reflect.Slice, reflect.Array:
		if _, ok := tok.(string); ok && t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			return nil // []byte takes base64, whose encoding encoding/json checks
		}
		if tok != json.Delim('[') {
			return c.mismatch(path, "an array", tok)
		}
		for i := 0; c.dec.More(); i++ {
			if err := c.value(t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		_, err = c.dec.Token() // ']'
		return err
	case reflect.Map:
		if tok != json.Delim('{') {
			return c.mismatch(path, "an object", tok)
		}
		for c.dec.More() {
			key, err := c.dec.Token()
			if err != nil {
				return err
			}
			if err := c.value(t.Elem(), join(path, key.(string))); err != nil {
				return err
			}
		}
		_, err = c.dec.Token() // '}'
		return err
	case reflect.Struct:
		if tok != json.Delim('{') {
			return c.mismatch(path, "an object", tok)
		}
		fields := jsonFields(t)
		for c.dec.More() {
			key, err := c.dec.Token()
			if err != nil {
				return err
			}
			name := key.(string)
			ft, ok := lookupField(fields, name)
			if !ok {
				return unknownField(join(path, name), fields)
			}
			if err := c.value(ft, join(path, name)); err != nil {
				return err
			}
		}
		_, err = c.dec.Token() // '}'
		return err
	default:
		return c.skip(tok)
	}
	return nil
}

// skip consumes the rest of the value that starts with tok.
func (c *jsonChecker) skip(tok json.Token) error {
	if tok != json.Delim('[') && tok != json.Delim('{') {
		return nil
	}
	for depth := 1; depth > 0; {
		t, err := c.dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('['), json.Delim('{'):
			depth++
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
	}
	return nil
}

// mismatch skips the offending value and reports it.
func (c *jsonChecker) mismatch(path, want string, tok json.Token) error {
	if err := c.skip(tok); err != nil {
		return err
	}
	return fieldError(path, want, tok)
}

func fieldError(path, want string, tok json.Token) error {
	if path == "" {
		return fmt.Errorf("the body must be %s, got %s", strings.Replace(want, "an object", "a JSON object", 1), describe(tok))
	}
	return fmt.Errorf("field %q: expected %s, got %s", path, want, describe(tok))
}

func numberError(path, want string, n json.Number, err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("field %q: %s is out of range", path, n)
	}
	return fmt.Errorf("field %q: expected %s, got the number %s", path, want, n)
}

// describe names a JSON token's type as the client sees it.
func describe(tok json.Token) string {
	switch tok := tok.(type) {
	case string:
		if len(tok) <= 40 {
			return fmt.Sprintf("the string %q", tok)
		}
		return "a string"
	case json.Number:
		return "the number " + tok.String()
	case bool:
		return strconv.FormatBool(tok)
	case json.Delim:
		if tok == '[' {
			return "an array"
		}
		return "an object"
	default:
		return "null"
	}
}

// join appends an object key to a field path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// jsonField is one field a struct decodes, by its JSON name.
type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields lists the fields encoding/json decodes into t: exported fields by
// their tag name (or Go name), "-" left out, untagged embedded structs flattened.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for f := range t.Fields() {
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonFields(ft)...)
				continue
			}
			if !f.IsExported() {
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, typ: ft})
	}
	return out
}

// lookupField finds a key as encoding/json does: the exact name first, then
// one that differs only in case.
func lookupField(fields []jsonField, key string) (reflect.Type, bool) {
	for _, f := range fields {
		if f.name == key {
			return f.typ, true
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.name, key) {
			return f.typ, true
		}
	}
	return nil, false
}

func unknownField(path string, fields []jsonField) error {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	slices.Sort(names)
	return fmt.Errorf("unknown field %q (this object takes %s)", path, strings.Join(names, ", "))
}

// bodyReadError is what reading a request body failed with, as the client's
// fault: the body's *http.MaxBytesError as it is (a 413), anything else (a
// body cut short, a client gone) wrapping ErrBadRequest.
func bodyReadError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return fmt.Errorf("%w: read body: %w", ErrBadRequest, err)
}
