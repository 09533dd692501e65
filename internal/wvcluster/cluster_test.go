package wvcluster_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"testing"
	"time"

	"imglish/internal/wvcluster"
	"imglish/internal/wvcluster/wvtest"
)

// count asks one node for the class's object count.
func count(t *testing.T, base string) int {
	t.Helper()
	var out struct {
		Data struct {
			Aggregate struct {
				Vec []struct {
					Meta struct {
						Count int `json:"count"`
					} `json:"meta"`
				} `json:"Vec"`
			} `json:"Aggregate"`
		} `json:"data"`
	}
	wvtest.Call(t, http.MethodPost, base+"/v1/graphql", map[string]string{"query": "{ Aggregate { Vec { meta { count } } } }"}, &out)
	if len(out.Data.Aggregate.Vec) != 1 {
		t.Fatalf("aggregate on %s: %+v", base, out)
	}
	return out.Data.Aggregate.Vec[0].Meta.Count
}

// TestThreeNodes: the harness forms a real 3-node cluster on free ports; a
// class sharded 3 ways with 2 replicas keeps answering with one node killed,
// and the node rejoins on restart with every object still there.
func TestThreeNodes(t *testing.T) {
	bin := wvtest.Binary(t)
	cl, err := wvcluster.Start(t.Context(), wvcluster.Options{Bin: bin, Nodes: 3, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cl.Stop(); err != nil {
			t.Error(err)
		}
	})
	for _, n := range cl.Nodes {
		st, err := wvcluster.NodeStatus(t.Context(), n.URL())
		if err != nil || len(st) != 3 {
			t.Fatalf("%s sees %+v (%v), want 3 nodes", n.Name, st, err)
		}
	}
	for _, n := range cl.Nodes {
		if st, err := os.Stat(n.DataDir()); n.PID() <= 0 || err != nil || !st.IsDir() {
			t.Fatalf("%s: pid %d, data dir %s: %v", n.Name, n.PID(), n.DataDir(), err)
		}
	}
	base := cl.Nodes[0].URL()
	wvtest.Call(t, http.MethodPost, base+"/v1/schema", map[string]any{
		"class": "Vec", "vectorizer": "none",
		"vectorIndexConfig": map[string]any{"distance": "cosine"},
		"replicationConfig": map[string]any{"factor": 2},
		"shardingConfig":    map[string]any{"desiredCount": 3},
		"properties":        []map[string]any{{"name": "n", "dataType": []string{"int"}}},
	}, nil)
	const n, dim = 300, 16
	rng := rand.New(rand.NewPCG(1, 2))
	vecs := make([][]float32, n)
	objs := make([]map[string]any, n)
	for i := range vecs {
		vecs[i] = make([]float32, dim)
		for j := range vecs[i] {
			vecs[i][j] = float32(rng.NormFloat64())
		}
		objs[i] = map[string]any{"class": "Vec", "id": fmt.Sprintf("00000000-0000-4000-8000-%012d", i), "vector": vecs[i], "properties": map[string]any{"n": i}}
	}
	wvtest.Call(t, http.MethodPost, base+"/v1/batch/objects?consistency_level=ALL", map[string]any{"objects": objs}, nil)
	nearest := func(base string, i int) string {
		var out struct {
			Data struct {
				Get struct {
					Vec []struct {
						N int `json:"n"`
					} `json:"Vec"`
				} `json:"Get"`
			} `json:"data"`
		}
		b, _ := json.Marshal(vecs[i])
		q := fmt.Sprintf("{ Get { Vec(nearVector: {vector: %s}, limit: 1) { n } } }", b)
		wvtest.Call(t, http.MethodPost, base+"/v1/graphql", map[string]string{"query": q}, &out)
		if len(out.Data.Get.Vec) != 1 {
			return "none"
		}
		return fmt.Sprint(out.Data.Get.Vec[0].N)
	}
	if c := count(t, base); c != n {
		t.Fatalf("count %d, want %d", c, n)
	}

	killed := cl.Nodes[2]
	if err := killed.Kill(); err != nil {
		t.Fatal(err)
	}
	if pid := killed.PID(); pid != 0 {
		t.Errorf("killed %s reports pid %d, want 0", killed.Name, pid)
	}
	for _, i := range []int{0, 123, 299} {
		if got := nearest(cl.Nodes[1].URL(), i); got != fmt.Sprint(i) {
			t.Errorf("with %s down: nearest to vector %d is %s", killed.Name, i, got)
		}
	}
	if c := count(t, cl.Nodes[0].URL()); c != n {
		t.Errorf("with %s down: count %d, want %d", killed.Name, c, n)
	}
	start := time.Now()
	if err := killed.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := cl.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s back in %v", killed.Name, time.Since(start))
	if c := count(t, killed.URL()); c != n {
		t.Errorf("after restart, %s counts %d, want %d", killed.Name, c, n)
	}
}
