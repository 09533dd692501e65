package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// goInternals matches what no client-facing message may show (env.call checks
// every error response): Go type names and syntax, encoding/json's wording and
// package prefixes of error texts ("server: ", "json: ", "http: ").
var goInternals = regexp.MustCompile(`Go (value|type)|\b(json|server|http|multipart|store|search|indexer|preprocess|tokenizer|encoder|context)(: |\.[A-Z])|\b(u?int(8|16|32|64)?|float(32|64)|time\.Time)\b|\[\]\w|map\[`)

// goIdentifier matches a Go identifier such as SearchRequest or UnmarshalJSON;
// the tests below send no such word, so none may come back.
var goIdentifier = regexp.MustCompile(`\b[A-Z][a-z]+[A-Z]\w*`)

// TestErrorMessagesNameTheField sends hostile bodies to every route that reads
// JSON (and the multipart forms): each must be a 400 whose message names the
// field path or position, in the request's own terms, without Go internals.
func TestErrorMessagesNameTheField(t *testing.T) {
	e := newEnv(t, envConfig{opts: Options{MaxUpload: 64 << 10}})
	jsonBody := func(s string) rawBody { return rawBody{[]byte(s), "application/json"} }
	cases := []struct {
		name   string
		method string
		path   string
		body   rawBody
		status int
		want   string
	}{
		{"empty body", "POST", "/v1/search", jsonBody(""), 400, "empty body"},
		{"blank body", "POST", "/v1/embed", jsonBody(" \n "), 400, "empty body"},
		{"trailing comma", "POST", "/v1/search", jsonBody(`{"text":"a",}`), 400, "invalid JSON at line 1, column 13 (byte offset 12)"},
		{"second line", "POST", "/v1/classify", jsonBody("{\n  \"labels\": [\"a\" \"b\"]\n}"), 400, "line 2, column 18"},
		{"cut short", "POST", "/v1/search", jsonBody(`{"text":"a"`), 400, "ends at byte offset 11"},
		{"trailing data", "POST", "/v1/search", jsonBody(`{"text":"a"} ]`), 400, "column 14 (byte offset 13): unexpected data after the JSON value"},
		{"second value", "PUT", "/v1/labelsets/n", jsonBody(`{"labels":["a"]}{}`), 400, "byte offset 16"},
		{"array body", "POST", "/v1/search", jsonBody(`[1,2]`), 400, "the body must be a JSON object, got an array"},
		{"string for integer", "POST", "/v1/search", jsonBody(`{"text":"a","k":"5"}`), 400, `field "k": expected an integer, got the string "5"`},
		{"fraction for integer", "POST", "/v1/search", jsonBody(`{"text":"a","k":1.5}`), 400, `field "k": expected an integer, got the number 1.5`},
		{"integer out of range", "POST", "/v1/search", jsonBody(`{"text":"a","k":1e99}`), 400, `field "k": expected an integer, got the number 1e99`},
		{"huge integer", "POST", "/v1/search", jsonBody(`{"text":"a","k":99999999999999999999}`), 400, `field "k": 99999999999999999999 is out of range`},
		{"weight of a later term", "POST", "/v1/search", jsonBody(`{"query":[{"text":"a"},{"text":"b","weight":"x"}]}`), 400, `field "query[1].weight": expected a number, got the string "x"`},
		{"vector element", "POST", "/v1/search", jsonBody(`{"query":[{"vector":[1,true]}]}`), 400, `field "query[0].vector[1]": expected a number, got true`},
		{"float32 overflow", "POST", "/v1/search", jsonBody(`{"query":[{"vector":[1e39]}]}`), 400, `field "query[0].vector[0]": 1e39 is out of range`},
		{"min_score overflow", "POST", "/v1/search", jsonBody(`{"text":"a","min_score":-1e40}`), 400, `field "min_score": -1e40 is out of range`},
		{"unknown field", "POST", "/v1/search", jsonBody(`{"txt":"a"}`), 400, `unknown field "txt"`},
		{"unknown nested field", "POST", "/v1/search", jsonBody(`{"query":[{"text":"a","wieght":2}]}`), 400, `unknown field "query[0].wieght" (this object takes image, image_id, text, vector, weight)`},
		{"object for array", "POST", "/v1/search", jsonBody(`{"query":{"text":"a"}}`), 400, `field "query": expected an array, got an object`},
		{"array for object", "POST", "/v1/search", jsonBody(`{"text":"a","filter":[]}`), 400, `field "filter": expected an object, got an array`},
		{"text to upload", "POST", "/v1/images", rawBody{[]byte("hello"), "text/plain"}, 415, `content type "text/plain" (this route takes multipart/form-data or image/*)`},
		{"filter on texts", "POST", "/v1/search", jsonBody(`{"text":"a","target":"texts","collection":"c1","filter":{"camera":"x"}}`), 400, "a text collection takes none"},
		{"two images to classify", "POST", "/v1/classify", rawBody{[]byte("--x\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\nA\r\n" +
			"--x\r\nContent-Disposition: form-data; name=\"image\"; filename=\"b.png\"\r\n\r\nB\r\n--x\r\nContent-Disposition: form-data; name=\"labels\"\r\n\r\na,b\r\n--x--\r\n"),
			"multipart/form-data; boundary=x"}, 400, "one image per classification, got 2"},
		{"bad date", "POST", "/v1/search", jsonBody(`{"text":"a","filter":{"after":"yesterday"}}`), 400, `field "filter.after": expected a date-time string in RFC 3339 form`},
		{"number for date", "POST", "/v1/search", jsonBody(`{"text":"a","filter":{"before":1714521600}}`), 400, `field "filter.before": expected a date-time string`},
		{"tag not a string", "POST", "/v1/search", jsonBody(`{"text":"a","filter":{"tags":["x",{}]}}`), 400, `field "filter.tags[1]": expected a string, got an object`},
		{"labels as a string", "POST", "/v1/classify", jsonBody(`{"image_id":"x","labels":"a,b"}`), 400, `field "labels": expected an array, got the string "a,b"`},
		{"label not a string", "POST", "/v1/classify", jsonBody(`{"image_id":"x","labels":["a",2]}`), 400, `field "labels[1]": expected a string, got the number 2`},
		{"embed text not a string", "POST", "/v1/embed", jsonBody(`{"texts":[null,false]}`), 400, `field "texts[1]": expected a string, got false`},
		{"embed images not an array", "POST", "/v1/embed", jsonBody(`{"images":"AAAA"}`), 400, `field "images": expected an array`},
		{"texts as a string", "POST", "/v1/texts/c1", jsonBody(`{"texts":"a"}`), 400, `field "texts": expected an array`},
		{"texts misspelt", "POST", "/v1/texts/c1", jsonBody(`{"text":["a"]}`), 400, `unknown field "text" (this object takes texts)`},
		{"min_prob as a string", "PUT", "/v1/labelsets/n", jsonBody(`{"labels":["a"],"min_prob":"0.5"}`), 400, `field "min_prob": expected a number, got the string "0.5"`},
		{"auto_tag as a string", "PUT", "/v1/labelsets/n", jsonBody(`{"labels":["a"],"auto_tag":"yes"}`), 400, `field "auto_tag": expected true or false, got the string "yes"`},
		{"folder as a number", "POST", "/v1/index/jobs", jsonBody(`{"folder":1}`), 400, `field "folder": expected a string, got the number 1`},
		{"folders misspelt", "POST", "/v1/index/jobs", jsonBody(`{"folders":"/x"}`), 400, `unknown field "folders"`},
		{"multipart weight", "POST", "/v1/search", multipartBody(t, map[string]string{"text": "a", "image_weight": "heavy"}, nil), 400, `form field "image_weight": expected a number, got "heavy"`},
		{"multipart query json", "POST", "/v1/search", multipartBody(t, map[string]string{"query": `{"k":"3"}`}, nil), 400, `form field "query": field "k": expected an integer`},
		{"multipart without boundary", "POST", "/v1/classify", rawBody{[]byte("--x\r\n"), "multipart/form-data"}, 400, "boundary"},
		{"multipart cut short", "POST", "/v1/search", rawBody{[]byte("--x\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nabc"), "multipart/form-data; boundary=x"}, 400, "multipart"},
		{"body too large", "POST", "/v1/embed", jsonBody(`{"texts":["` + strings.Repeat("a", 70<<10) + `"]}`), 413, "larger than 65536 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var eb errorBody
			st, _ := e.call(tc.method, tc.path, writeKey, tc.body, &eb)
			if st != tc.status || !strings.Contains(eb.Error.Message, tc.want) {
				t.Errorf("%s %s: %d %q, want %d with %q", tc.method, tc.path, st, eb.Error.Message, tc.status, tc.want)
			}
			if m := goIdentifier.FindString(eb.Error.Message); m != "" {
				t.Errorf("%s %s: message %q shows Go internals (%q)", tc.method, tc.path, eb.Error.Message, m)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent log writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestErrorMessagesHideInternals checks the messages of errors that are not
// the request body's: a server fault is a 500 saying only "internal error"
// with a request id that the log line carries along with the real cause;
// not-found, method, auth and readiness errors carry no package prefixes.
func TestErrorMessagesHideInternals(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, envConfig{opts: Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}})
	// A stored label set that is not JSON is the server's fault, not the request's.
	e.setRawLabelSet("broken", []byte(`{"labels":`))
	var eb struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if st, _ := e.call("GET", "/v1/labelsets/broken", readKey, nil, &eb); st != http.StatusInternalServerError || eb.Error.Code != "internal" {
		t.Fatalf("broken label set: %d %q, want 500 internal", st, eb.Error.Code)
	}
	id := eb.Error.RequestID
	if eb.Error.Message != "internal error (request id "+id+")" || len(id) < 16 {
		t.Errorf("500 message %q, request id %q", eb.Error.Message, id)
	}
	if l := logs.String(); !strings.Contains(l, "request_id="+id) || !strings.Contains(l, "parse label set broken") {
		t.Errorf("the log does not carry request id %s and the cause:\n%s", id, l)
	}

	cases := []struct {
		name   string
		method string
		path   string
		key    string
		status int
		want   string
	}{
		{"no route", "GET", "/v1/nothing", readKey, 404, "not found: /v1/nothing"},
		{"no method", "PATCH", "/v1/search", readKey, 405, "method not allowed"},
		{"no key", "POST", "/v1/texts/c1", "", 401, "missing or invalid API key"},
		{"read key writes", "DELETE", "/v1/texts/c1", readKey, 403, "forbidden: key \"reader\" has scope read"},
		{"missing item", "GET", "/v1/items/abc", readKey, 404, `item "abc": not found`},
		{"missing label set", "GET", "/v1/labelsets/none", readKey, 404, "not found: label set \"none\""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var eb errorBody
			st, _ := e.call(tc.method, tc.path, tc.key, nil, &eb)
			if st != tc.status || !strings.Contains(eb.Error.Message, tc.want) {
				t.Errorf("%s %s: %d %q, want %d with %q", tc.method, tc.path, st, eb.Error.Message, tc.status, tc.want)
			}
			if m := goIdentifier.FindString(eb.Error.Message); m != "" {
				t.Errorf("%s %s: message %q shows Go internals (%q)", tc.method, tc.path, eb.Error.Message, m)
			}
		})
	}
	e.srv.Close()
	if st, _ := e.call("GET", "/readyz", "", nil, &eb); st != http.StatusServiceUnavailable || goInternals.MatchString(eb.Error.Message) {
		t.Errorf("readyz after Close: %d %q", st, eb.Error.Message)
	}
}

// FuzzDecodeJSON checks decodeJSON against encoding/json on arbitrary bodies
// for every request type: it accepts exactly what a strict json.Decoder takes
// as one value (with nothing after it), decodes the same value, and every
// refusal is an ErrBadRequest whose message shows no Go internals.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"text":"a","k":3}`, `{"query":[{"text":"a"},{"vector":[1,2.5e-3],"weight":-0.5}],"filter":{"after":"2024-05-01T00:00:00Z","tags":["x"]}}`,
		`{"k":"5"}`, `{"k":1e99}`, `{"min_score":1e39}`, `{"Text":"case"}`, `{"query":[{"wieght":1}]}`, `{"filter":{"after":"2024-13-01T00:00:00Z"}}`,
		`{"labels":["a"],"min_prob":0.5,"auto_tag":true}`, `{"texts":["a",null]}`, `{"folder":"/x"}`, `{"images":["AAAA"]}`,
		`[1]`, `null`, `"x"`, `{"a":1} {}`, `{"text":"a"`, ``, "{\"text\":\"\xff\"}", `{"k":-0}`, `{"k":12345678901234567890}`,
	} {
		for kind := range uint8(6) {
			f.Add(kind, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		newValue := []func() any{
			func() any { return new(SearchRequest) }, func() any { return new(classifyRequest) }, func() any { return new(embedRequest) },
			func() any { return new(addTextsRequest) }, func() any { return new(LabelSet) }, func() any { return new(createJobRequest) },
		}[int(kind)%6]
		got := newValue()
		err := decodeJSON(bytes.NewReader(body), got)

		want := newValue()
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		wantErr := dec.Decode(want)
		if wantErr == nil {
			if _, tail := dec.Token(); tail != io.EOF {
				wantErr = errors.New("data after the value")
			}
		}
		switch {
		case err == nil && wantErr != nil:
			t.Fatalf("%q: decodeJSON accepts what encoding/json refuses: %v", body, wantErr)
		case err != nil && wantErr == nil:
			t.Fatalf("%q: decodeJSON refuses what encoding/json accepts: %v", body, err)
		case err != nil:
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("%q: %v is not ErrBadRequest", body, err)
			}
			if msg := publicMessage(err, http.StatusBadRequest); goInternals.MatchString(msg) {
				t.Fatalf("%q: message %q shows Go internals", body, msg)
			}
		case !reflect.DeepEqual(got, want):
			t.Fatalf("%q: decoded %+v, encoding/json %+v", body, got, want)
		}
	})
}

// testDuration decodes itself from a string such as "1m30s", as a
// time.Duration field of a request would.
type testDuration time.Duration

func (d *testDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = testDuration(v)
	return err
}

// testLevel decodes itself from text (encoding.TextUnmarshaler).
type testLevel struct{ slog.Level }

// TestDecodeJSONUnmarshalers: checkJSON leaves a type that implements
// json.Unmarshaler to its UnmarshalJSON and gives an
// encoding.TextUnmarshaler a string (before, it checked the kind underneath
// and refused "1m30s" as not an integer, "WARN" as not an object).
func TestDecodeJSONUnmarshalers(t *testing.T) {
	type body struct {
		Wait  testDuration  `json:"wait"`
		Every *testDuration `json:"every"`
		Level testLevel     `json:"level"`
	}
	two := testDuration(2 * time.Second)
	for _, tc := range []struct {
		in   string
		want body
		ok   bool
	}{
		{`{"wait":"1m30s"}`, body{Wait: testDuration(90 * time.Second)}, true},
		{`{"every":"2s"}`, body{Every: &two}, true},
		{`{"level":"WARN"}`, body{Level: testLevel{slog.LevelWarn}}, true},
		{`{"wait":"soon"}`, body{}, false},
		{`{"level":3}`, body{}, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var got body
			err := decodeJSON(strings.NewReader(tc.in), &got)
			if tc.ok != (err == nil) {
				t.Fatalf("decode: %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrBadRequest) {
				t.Fatalf("decode: %v, want ErrBadRequest", err)
			}
			if tc.ok && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("decoded %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestReadBodyShares: a body the server received in full reaches the
// handler as the received bytes, not a copy (an upload used to be held
// twice: the received buffer and io.ReadAll's); what is left of a body
// partly read is its tail, shared too; any other reader is read as
// io.ReadAll would.
func TestReadBodyShares(t *testing.T) {
	b := bytes.Repeat([]byte("0123456789"), 1<<16)
	got, err := readBody(newReceived(b))
	if err != nil || len(got) != len(b) || &got[0] != &b[0] {
		t.Errorf("unread received body: %d bytes (%v), shared %v; want the %d received bytes themselves", len(got), err, len(got) > 0 && &got[0] == &b[0], len(b))
	}
	rb := newReceived(b)
	if _, err := readBody(rb); err != nil {
		t.Fatal(err)
	}
	if rest, err := readBody(rb); err != nil || len(rest) != 0 {
		t.Errorf("read again: %d bytes (%v), want none, as after io.ReadAll", len(rest), err)
	}
	rb = newReceived(b)
	if _, err := io.ReadFull(rb, make([]byte, 7)); err != nil {
		t.Fatal(err)
	}
	if rest, err := readBody(rb); err != nil || !bytes.Equal(rest, b[7:]) || &rest[0] != &b[7] {
		t.Errorf("partly read body: %d bytes (%v), want the %d after the first 7, shared", len(rest), err, len(b)-7)
	}
	if got, err := readBody(strings.NewReader("abc")); err != nil || string(got) != "abc" {
		t.Errorf("another reader: %q (%v)", got, err)
	}
}
