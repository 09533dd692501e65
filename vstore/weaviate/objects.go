package weaviate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/weaviate/weaviate/entities/models"

	"imglish/vstore"
)

// object is a Weaviate object as this package writes and reads it.
type object struct {
	Class      string    `json:"class,omitempty"`
	ID         string    `json:"id"`
	Vector     []float32 `json:"vector,omitempty"`
	Properties props     `json:"properties"`
	// Distance is the cosine distance to a nearVector query, when a
	// query asked for it (never sent).
	Distance *float32 `json:"-"`
}

// props are the properties of every class this package uses (each class
// uses some of them).
type props struct {
	ItemID    string   `json:"itemId,omitempty"`
	Hash      string   `json:"hash,omitempty"`
	Paths     []string `json:"paths,omitempty"`
	Folders   []string `json:"folders,omitempty"`
	MediaType string   `json:"mediaType,omitempty"`
	Camera    string   `json:"camera,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Date      string   `json:"date,omitempty"`
	Size      int64    `json:"size,omitempty"`
	Width     int      `json:"width,omitempty"`
	Height    int      `json:"height,omitempty"`
	Data      string   `json:"data,omitempty"`
	TextID    string   `json:"textId,omitempty"`
	Text      string   `json:"text,omitempty"`
	// Key is a value or blob object's key; its Data is base64 (Weaviate's
	// blob type).
	Key string `json:"key,omitempty"`
}

// itemProps are an item's properties: the item itself as JSON (the truth
// every read decodes) and the fields Filter uses, indexed: each path, each
// ancestor folder of a path (for folder prefixes), the date as
// vstore.Item.Date, the camera as the lower-case "make model" the filter
// searches.
func itemProps(it *vstore.Item) (props, error) {
	data, err := json.Marshal(it)
	if err != nil {
		return props{}, fmt.Errorf("encode item %s: %w", it.ID, err)
	}
	p := props{
		ItemID: it.ID, Hash: it.Hash, MediaType: it.MediaType, Tags: it.Tags,
		Camera: strings.ToLower(it.CameraMake + " " + it.CameraModel),
		Size:   it.Size, Width: it.Width, Height: it.Height, Data: string(data),
	}
	seen := map[string]bool{}
	for _, f := range it.Files {
		p.Paths = append(p.Paths, f.Path)
		for i := range len(f.Path) {
			if f.Path[i] == '/' && !seen[f.Path[:i+1]] {
				seen[f.Path[:i+1]] = true
				p.Folders = append(p.Folders, f.Path[:i+1])
			}
		}
	}
	if d := it.Date(); !d.IsZero() && d.Year() > 0 && d.Year() < 10000 {
		p.Date = d.UTC().Format(time.RFC3339Nano)
	}
	return p, nil
}

// decodeItem decodes an object's item and checks that it is the one the
// object claims to hold.
func decodeItem(p props) (vstore.Item, error) {
	var it vstore.Item
	if err := json.Unmarshal([]byte(p.Data), &it); err != nil {
		return vstore.Item{}, fmt.Errorf("decode item %s: %w", p.ItemID, err)
	}
	if it.ID != p.ItemID || it.Validate() != nil {
		return vstore.Item{}, fmt.Errorf("decode item %s: stored item %.40q does not match: %w", p.ItemID, it.ID, ErrRejected)
	}
	return it, nil
}

// normalise returns v scaled to unit length (CheckVector has ruled out a
// zero or non-finite v).
func normalise(v []float32) []float32 {
	var ss float64
	for _, f := range v {
		ss += float64(f) * float64(f)
	}
	n := math.Sqrt(ss)
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = float32(float64(f) / n)
	}
	return out
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// getObject reads one object by id (with its vector when vector is set);
// errNotFoundStatus when it does not exist.
func (s *Store) getObject(ctx context.Context, class, id string, vector bool) (object, error) {
	q := url.Values{"consistency_level": {s.cl}}
	if vector {
		q.Set("include", "vector")
	}
	var o object
	err := s.c.do(ctx, http.MethodGet, "/v1/objects/"+class+"/"+id+"?"+q.Encode(), nil, &o)
	return o, err
}

// scan calls fn with every object of a class, in id order, with vectors
// when vector is set, using Weaviate's cursor (REST list with after=).
// The listing reads each shard once, without a consistency level.
func (s *Store) scan(ctx context.Context, class string, vector bool, fn func(object) error) error {
	if vector && s.grpc != nil {
		return s.grpcScan(ctx, class, fn)
	}
	const page = 1000
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		q := url.Values{"class": {class}, "limit": {strconv.Itoa(page)}}
		if after != "" {
			q.Set("after", after)
		}
		if vector {
			q.Set("include", "vector")
		}
		var out struct {
			Objects []object `json:"objects"`
		}
		if err := s.c.do(ctx, http.MethodGet, "/v1/objects?"+q.Encode(), nil, &out); err != nil {
			return fmt.Errorf("scan %s: %w", class, err)
		}
		for _, o := range out.Objects {
			if err := fn(o); err != nil {
				return err
			}
		}
		if len(out.Objects) < page {
			return nil
		}
		after = out.Objects[len(out.Objects)-1].ID
	}
}

// putObjects writes objects in batches of BatchSize at the store's
// consistency level. A batch with a failed object is sent again (the
// writes are idempotent) up to Retries times; then the error lists the
// objects Weaviate refused.
func (s *Store) putObjects(ctx context.Context, objs []object) error {
	for start := 0; start < len(objs); start += s.opts.BatchSize {
		chunk := objs[start:min(start+s.opts.BatchSize, len(objs))]
		if err := s.putChunk(ctx, chunk); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) putChunk(ctx context.Context, chunk []object) error {
	var mobjs []*models.Object
	if s.grpc != nil {
		mobjs = make([]*models.Object, len(chunk))
		for i, o := range chunk {
			mobjs[i] = o.modelObject()
		}
	}
	delay := s.opts.Backoff
	for attempt := 0; ; attempt++ {
		var errs []error
		var err error
		if mobjs != nil {
			errs, err = s.grpcBatch(ctx, chunk, mobjs)
		} else {
			errs, err = s.restBatch(ctx, chunk)
		}
		if err != nil {
			return fmt.Errorf("write %d objects: %w", len(chunk), err)
		}
		if len(errs) == 0 {
			return nil
		}
		err = fmt.Errorf("write %d objects: %w: %w", len(chunk), ErrUnavailable, errors.Join(errs...))
		if attempt >= s.c.retries {
			return err
		}
		s.opts.Logger.Warn("weaviate batch had failed objects, retrying", "err", err, "attempt", attempt+1)
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// restBatch sends one batch over REST /v1/batch/objects and returns an
// error for each object Weaviate refused.
func (s *Store) restBatch(ctx context.Context, chunk []object) ([]error, error) {
	var res []struct {
		ID     string `json:"id"`
		Result struct {
			Errors *struct {
				Error []struct {
					Message string `json:"message"`
				} `json:"error"`
			} `json:"errors"`
		} `json:"result"`
	}
	if err := s.c.do(ctx, http.MethodPost, "/v1/batch/objects?consistency_level="+s.cl, map[string]any{"objects": chunk}, &res); err != nil {
		return nil, err
	}
	var errs []error
	for _, r := range res {
		if r.Result.Errors != nil {
			for _, e := range r.Result.Errors.Error {
				errs = append(errs, fmt.Errorf("object %s: %s", r.ID, e.Message))
			}
		}
	}
	if len(res) != len(chunk) {
		errs = append(errs, fmt.Errorf("%d results for %d objects", len(res), len(chunk)))
	}
	return errs, nil
}

// deleteIDs deletes the objects of a class with the given ids (absent
// ones are no-ops), in chunks, at the store's consistency level.
func (s *Store) deleteIDs(ctx context.Context, class string, vals []string) error {
	const chunkLen = 1000 // well under QUERY_MAXIMUM_BATCH_DELETE
	for start := 0; start < len(vals); start += chunkLen {
		chunk := vals[start:min(start+chunkLen, len(vals))]
		body := map[string]any{
			"match": map[string]any{"class": class, "where": map[string]any{
				"path": []string{"id"}, "operator": "ContainsAny", "valueTextArray": chunk,
			}},
			"output": "minimal",
		}
		var out struct {
			Results struct {
				Failed int `json:"failed"`
			} `json:"results"`
		}
		err := s.c.do(ctx, http.MethodDelete, "/v1/batch/objects?consistency_level="+s.cl, body, &out)
		if err == nil && out.Results.Failed > 0 {
			err = fmt.Errorf("%d of %d failed: %w", out.Results.Failed, len(chunk), ErrUnavailable)
		}
		if err != nil && !errors.Is(err, errNotFoundStatus) {
			return fmt.Errorf("delete from %s: %w", class, err)
		}
	}
	return nil
}

// getWhere returns up to limit objects of a class matching where (a
// GraphQL filter), with their properties in fields and the vector when
// vector is set.
func (s *Store) getWhere(ctx context.Context, class, where, fields string, limit int, vector bool) ([]object, error) {
	add := "id"
	if vector {
		add += " vector"
	}
	args := fmt.Sprintf("limit: %d, where: %s", limit, where)
	if s.replicated {
		args += ", consistencyLevel: " + s.cl
	}
	return s.get(ctx, class, args, fields+" _additional { "+add+" }")
}

// get runs a GraphQL Get on class and decodes the objects.
func (s *Store) get(ctx context.Context, class, args, fields string) ([]object, error) {
	var out struct {
		Get map[string][]struct {
			props
			Additional struct {
				ID       string    `json:"id"`
				Vector   []float32 `json:"vector"`
				Distance *float32  `json:"distance"`
			} `json:"_additional"`
		} `json:"Get"`
	}
	if err := s.c.graphQL(ctx, "{ Get { "+class+"("+args+") { "+fields+" } } }", &out); err != nil {
		return nil, fmt.Errorf("query %s: %w", class, err)
	}
	rows := out.Get[class]
	objs := make([]object, len(rows))
	for i, r := range rows {
		objs[i] = object{ID: r.Additional.ID, Vector: r.Additional.Vector, Properties: r.props, Distance: r.Additional.Distance}
	}
	return objs, nil
}

// gqlString quotes s as a GraphQL string literal (JSON's escapes are
// GraphQL's).
func gqlString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func gqlStrings(ss []string) string {
	b, _ := json.Marshal(ss)
	return string(b)
}

// whereAny is a GraphQL filter: prop is one of vals.
func whereAny(prop string, vals []string) string {
	return fmt.Sprintf("{path: [%s], operator: ContainsAny, valueText: %s}", gqlString(prop), gqlStrings(vals))
}
