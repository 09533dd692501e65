package weaviate_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"imglish/internal/wvcluster/wvtest"
	"imglish/vstore"
	"imglish/vstore/vstoretest"
	"imglish/vstore/weaviate"
)

// TestGRPCWritesAsREST: a batch written over gRPC leaves exactly the
// objects the same batch leaves over REST — every class (items, an image
// space, a text collection, values, blobs), every property with its value
// and type as Weaviate stores it, every vector — so the two write paths
// cannot drift apart (a property the gRPC encoder dropped or typed
// differently fails here).
func TestGRPCWritesAsREST(t *testing.T) {
	cl := startNode(t)
	base := cl.URLs()[0]
	write := func(ns string, grpc []string) {
		s, err := weaviate.Open(t.Context(), weaviate.Options{URLs: cl.URLs(), GRPC: grpc, Namespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx := t.Context()
		for _, sp := range []vstore.Space{
			{Name: "images:m", Kind: vstore.KindImages, Model: "m", Dim: 8},
			{Name: "labels", Kind: vstore.KindTexts, Model: "m", Dim: 8},
		} {
			if err := s.CreateSpace(ctx, sp); err != nil {
				t.Fatal(err)
			}
		}
		var b vstore.Batch
		for i := range 5 {
			id := fmt.Sprintf("%064x", i+1)
			it := vstoretest.FullItem(t, id)
			if i == 4 { // an item with few fields: zero values stay absent
				it = vstore.Item{ID: id, Files: []vstore.File{{Path: "/p/only.jpg"}}}
			}
			b.PutItem(it)
			v := make([]float32, 8)
			v[i] = 1
			v[(i+3)%8] = -0.25 * float32(i+1)
			b.PutVector("images:m", id, v)
			b.PutText("labels", vstore.TextEntry{ID: fmt.Sprintf("t%d", i), Text: fmt.Sprintf("label %d", i), Vector: v})
		}
		b.SetValue("k", []byte("value"))
		b.SetBlob("blob", []byte{0, 1, 2, 255})
		if err := s.Apply(ctx, &b); err != nil {
			t.Fatalf("%s: apply: %v", ns, err)
		}
	}
	write("Rest", nil)
	write("Grpc", cl.GRPCAddrs())
	rest, grpc := dumpNamespace(t, base, "Rest"), dumpNamespace(t, base, "Grpc")
	if len(rest) != 5 {
		t.Fatalf("REST wrote %d classes, want 5: %v", len(rest), reflect.ValueOf(rest).MapKeys())
	}
	for class, want := range rest {
		got, ok := grpc[class]
		if !ok {
			t.Errorf("class %s: written over REST, not over gRPC", class)
			continue
		}
		if len(got) != len(want) {
			t.Errorf("class %s: %d objects over gRPC, %d over REST", class, len(got), len(want))
		}
		for id, w := range want {
			if g, ok := got[id]; !ok {
				t.Errorf("class %s object %s: missing over gRPC", class, id)
			} else if !reflect.DeepEqual(g, w) {
				t.Errorf("class %s object %s:\ngRPC %+v\nREST %+v", class, id, g, w)
			}
		}
	}
}

// storedObject is what Weaviate returns of an object over REST.
type storedObject struct {
	Properties map[string]any `json:"properties"`
	Vector     []float32      `json:"vector"`
}

// dumpNamespace reads every object of every class of namespace ns, by
// class name without the namespace and by object id.
func dumpNamespace(t *testing.T, base, ns string) map[string]map[string]storedObject {
	t.Helper()
	var schema struct {
		Classes []struct {
			Class string `json:"class"`
		} `json:"classes"`
	}
	wvtest.Call(t, http.MethodGet, base+"/v1/schema", nil, &schema)
	out := map[string]map[string]storedObject{}
	for _, c := range schema.Classes {
		suffix, ok := strings.CutPrefix(c.Class, ns+"_")
		if !ok {
			continue
		}
		var list struct {
			Objects []struct {
				ID string `json:"id"`
				storedObject
			} `json:"objects"`
		}
		wvtest.Call(t, http.MethodGet, base+"/v1/objects?include=vector&limit=100&class="+c.Class, nil, &list)
		objs := map[string]storedObject{}
		for _, o := range list.Objects {
			objs[o.ID] = o.storedObject
		}
		out[suffix] = objs
	}
	return out
}

// TestGRPCUnreachable: with gRPC addresses set, writes go over gRPC only:
// a dead gRPC port fails Apply with ErrUnavailable after the retries,
// though every REST URL answers (so the gRPC path cannot be skipped
// silently), while reads over REST still work.
func TestGRPCUnreachable(t *testing.T) {
	cl := startNode(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	s, err := weaviate.Open(t.Context(), weaviate.Options{URLs: cl.URLs(), GRPC: []string{dead}, Namespace: "Dead",
		Retries: 2, Backoff: 10 * time.Millisecond, AttemptTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateSpace(t.Context(), vstore.Space{Name: "images:m", Kind: vstore.KindImages, Model: "m", Dim: 4}); err != nil {
		t.Fatal(err)
	}
	var b vstore.Batch
	id := strings.Repeat("a", 64)
	b.PutItem(vstore.Item{ID: id, Files: []vstore.File{{Path: "/a.jpg"}}})
	b.PutVector("images:m", id, []float32{1, 0, 0, 0})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err = s.Apply(ctx, &b)
	if !errors.Is(err, weaviate.ErrUnavailable) || !strings.Contains(err.Error(), dead) {
		t.Fatalf("Apply with a dead gRPC address = %v, want ErrUnavailable naming %s", err, dead)
	}
	if _, err := s.Item(id); !errors.Is(err, vstore.ErrNotFound) {
		t.Errorf("Item after the failed write = %v, want ErrNotFound", err)
	}
}

// TestGRPCScanAsREST: exact scans (Exact searches, cursor pages, MeanScore)
// read vectors over gRPC when the store has gRPC addresses; they answer
// exactly what the REST listing answers, for an image space with a filter
// and for a text collection, and the test logs the two scans' times.
func TestGRPCScanAsREST(t *testing.T) {
	cl := startNode(t)
	ctx := t.Context()
	open := func(grpc []string) *weaviate.Store {
		s, err := weaviate.Open(ctx, weaviate.Options{URLs: cl.URLs(), GRPC: grpc, Namespace: "Scan"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	g, r := open(cl.GRPCAddrs()), open(nil)
	const n, dim = 3000, 768
	for _, sp := range []vstore.Space{
		{Name: "images:m", Kind: vstore.KindImages, Model: "m", Dim: dim},
		{Name: "labels", Kind: vstore.KindTexts, Model: "m", Dim: dim},
	} {
		if err := g.CreateSpace(ctx, sp); err != nil {
			t.Fatal(err)
		}
	}
	vec := func(i int) []float32 {
		v := make([]float32, dim)
		for d := range v {
			v[d] = float32((i*7919+d*104729)%1000)/1000 - 0.5
		}
		return v
	}
	for lo := 0; lo < n; lo += 500 {
		var b vstore.Batch
		for i := lo; i < lo+500; i++ {
			id := fmt.Sprintf("%064x", i+1)
			b.PutItem(vstore.Item{ID: id, Files: []vstore.File{{Path: fmt.Sprintf("/s/%d/%d.jpg", i%3, i)}}})
			b.PutVector("images:m", id, vec(i))
			if i < 300 {
				b.PutText("labels", vstore.TextEntry{ID: fmt.Sprintf("t%d", i), Text: fmt.Sprintf("label %d", i), Vector: vec(i)})
			}
		}
		if err := g.Apply(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
	q := vec(n + 1)
	f := &vstore.Filter{PathPrefixes: []string{"/s/1/"}}
	var took [2]time.Duration
	for _, tc := range []struct {
		space string
		opts  vstore.SearchOptions
	}{
		{"images:m", vstore.SearchOptions{Exact: true}},
		{"images:m", vstore.SearchOptions{Exact: true, Filter: f}},
		{"labels", vstore.SearchOptions{Exact: true}},
	} {
		var hits [2][]vstore.Hit
		for i, s := range []*weaviate.Store{g, r} {
			start := time.Now()
			var err error
			if hits[i], err = s.Search(ctx, tc.space, q, 20, tc.opts); err != nil {
				t.Fatalf("%s: %v", tc.space, err)
			}
			took[i] += time.Since(start)
		}
		if len(hits[0]) != 20 || !reflect.DeepEqual(hits[0], hits[1]) {
			t.Errorf("%s %+v: gRPC scan %v\nREST scan %v", tc.space, tc.opts, hits[0], hits[1])
		}
	}
	mg, ng, err1 := g.MeanScore(ctx, "images:m", q, f)
	mr, nr, err2 := r.MeanScore(ctx, "images:m", q, f)
	if err1 != nil || err2 != nil || mg != mr || ng != nr || ng != n/3 {
		t.Errorf("MeanScore: gRPC %v %d %v, REST %v %d %v", mg, ng, err1, mr, nr, err2)
	}
	t.Logf("three exact searches over %d %d-d vectors: gRPC scans %v, REST %v", n, dim, took[0], took[1])
}
