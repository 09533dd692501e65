package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"imglish/vstore"
	"imglish/vstore/weaviate"
)

// clusterReport is the Weaviate part of `imglish doctor` (--backend
// weaviate): the nodes and their status, every collection of the
// namespace with its shards, replicas and object count, and per image
// space the recall@10 of Weaviate's HNSW search against the store's exact
// scan on a sample of stored vectors used as queries.
type clusterReport struct {
	URLs        []string            `json:"urls"`
	Namespace   string              `json:"namespace"`
	Nodes       []clusterNode       `json:"nodes"`
	Collections []clusterCollection `json:"collections"`
	Spaces      []clusterSpace      `json:"spaces"`
	Err         string              `json:"error,omitempty"`
}

type clusterNode struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Version string `json:"version"`
	Shards  int    `json:"shards"`
	// Objects counts every replica the node holds, as Weaviate reports it
	// (its node statistics are refreshed in the background, so a count
	// can lag recent writes; the collections' counts are exact).
	Objects int64 `json:"objects"`
}

type clusterCollection struct {
	Class    string `json:"class"`
	Space    string `json:"space,omitempty"` // the imglish space it holds, if any
	Shards   int    `json:"shards"`
	Replicas int    `json:"replicas"`
	Objects  int    `json:"objects"`
}

type clusterSpace struct {
	vstore.Space
	Sample    int     `json:"recall_sample"`
	Recall10  float64 `json:"recall_at_10"`
	RecallErr string  `json:"recall_error,omitempty"`
}

// clusterRecallSample is how many stored vectors doctor sends as queries
// to Weaviate and to the exact scan (each exact query reads the space).
const clusterRecallSample = 50

// checkCluster reports the cluster the Weaviate flags name.
func checkCluster(ctx context.Context, g *globals) *clusterReport {
	opts, err := g.weaviateOptions()
	if err != nil {
		return &clusterReport{Err: err.Error()}
	}
	rep := &clusterReport{URLs: opts.URLs, Namespace: cmpOr(opts.Namespace, "Imglish")}
	wc := &wvHTTP{urls: opts.URLs, key: opts.APIKey, http: &http.Client{Timeout: time.Minute}}
	var errs []string
	var nodes struct {
		Nodes []struct {
			Name    string `json:"name"`
			Status  string `json:"status"`
			Version string `json:"version"`
			Stats   struct {
				ShardCount  int   `json:"shardCount"`
				ObjectCount int64 `json:"objectCount"`
			} `json:"stats"`
		} `json:"nodes"`
	}
	if err := wc.call(ctx, http.MethodGet, "/v1/nodes?output=verbose", nil, &nodes); err != nil {
		errs = append(errs, err.Error())
	}
	for _, n := range nodes.Nodes {
		rep.Nodes = append(rep.Nodes, clusterNode{Name: n.Name, Status: n.Status, Version: n.Version, Shards: n.Stats.ShardCount, Objects: n.Stats.ObjectCount})
	}
	var schema struct {
		Classes []struct {
			Class             string `json:"class"`
			Description       string `json:"description"`
			ReplicationConfig struct {
				Factor int `json:"factor"`
			} `json:"replicationConfig"`
			ShardingConfig struct {
				DesiredCount int `json:"desiredCount"`
				ActualCount  int `json:"actualCount"`
			} `json:"shardingConfig"`
		} `json:"classes"`
	}
	if err := wc.call(ctx, http.MethodGet, "/v1/schema", nil, &schema); err != nil {
		errs = append(errs, err.Error())
	}
	for _, c := range schema.Classes {
		if !strings.HasPrefix(c.Class, rep.Namespace+"_") {
			continue
		}
		cc := clusterCollection{Class: c.Class, Shards: max(c.ShardingConfig.ActualCount, c.ShardingConfig.DesiredCount), Replicas: c.ReplicationConfig.Factor}
		var desc struct {
			Imglish string `json:"imglish"`
			Name    string `json:"name"`
		}
		if json.Unmarshal([]byte(c.Description), &desc) == nil && desc.Imglish == "space" {
			cc.Space = desc.Name
		}
		var agg struct {
			Data struct {
				Aggregate map[string][]struct {
					Meta struct {
						Count int `json:"count"`
					} `json:"meta"`
				} `json:"Aggregate"`
			} `json:"data"`
		}
		q := map[string]string{"query": "{ Aggregate { " + c.Class + " { meta { count } } } }"}
		if err := wc.call(ctx, http.MethodPost, "/v1/graphql", q, &agg); err != nil {
			errs = append(errs, err.Error())
		} else if rows := agg.Data.Aggregate[c.Class]; len(rows) > 0 {
			cc.Objects = rows[0].Meta.Count
		}
		rep.Collections = append(rep.Collections, cc)
	}
	slices.SortFunc(rep.Collections, func(a, b clusterCollection) int { return strings.Compare(a.Class, b.Class) })

	db, err := weaviate.Open(ctx, opts)
	if err != nil {
		errs = append(errs, err.Error())
	} else {
		defer db.Close()
		for _, sp := range db.Spaces() {
			cs := clusterSpace{Space: sp}
			if sp.Kind == vstore.KindImages && sp.Count > 0 {
				cs.Recall10, cs.Sample, err = recallCheck(ctx, db, sp.Name, clusterRecallSample, 10)
				if err != nil {
					cs.RecallErr = err.Error()
				}
			}
			rep.Spaces = append(rep.Spaces, cs)
		}
	}
	rep.Err = strings.Join(errs, "; ")
	return rep
}

// recallCheck measures a store's approximate search against its exact
// search: up to sample stored vectors of the space are the queries, and
// the result is the mean share of each exact top k that the approximate
// top k finds, with the number of queries used.
func recallCheck(ctx context.Context, db vstore.Store, space string, sample, k int) (float64, int, error) {
	var queries [][]float32
	var verr error
	err := db.Items(ctx, nil, func(it vstore.Item) bool {
		v, err := db.Vector(space, it.ID)
		if errors.Is(err, vstore.ErrNotFound) {
			return true // an item without a vector in this space
		}
		if err != nil {
			verr = err
			return false
		}
		queries = append(queries, v)
		return len(queries) < sample
	})
	if err = errors.Join(err, verr); err != nil {
		return 0, 0, err
	}
	if len(queries) == 0 {
		return 1, 0, nil
	}
	var sum float64
	for _, q := range queries {
		approx, err := db.Search(ctx, space, q, k, vstore.SearchOptions{})
		if err != nil {
			return 0, 0, fmt.Errorf("approximate search: %w", err)
		}
		exact, err := db.Search(ctx, space, q, k, vstore.SearchOptions{Exact: true})
		if err != nil {
			return 0, 0, fmt.Errorf("exact search: %w", err)
		}
		if len(exact) == 0 {
			sum++
			continue
		}
		found := map[string]bool{}
		for _, h := range approx {
			found[h.ID] = true
		}
		hit := 0
		for _, h := range exact {
			if found[h.ID] {
				hit++
			}
		}
		sum += float64(hit) / float64(len(exact))
	}
	return sum / float64(len(queries)), len(queries), nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// wvHTTP is doctor's plain JSON client for the endpoints the store does
// not expose (nodes, schema details): each call tries the URLs in turn.
type wvHTTP struct {
	urls []string
	key  string
	http *http.Client
}

func (c *wvHTTP) call(ctx context.Context, method, path string, body, out any) error {
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return err
		}
	}
	var last error
	for _, u := range c.urls {
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(u, "/")+path, bytes.NewReader(data))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			last = fmt.Errorf("%s %s: %w", method, u+path, err)
			continue
		}
		ans, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil || resp.StatusCode/100 != 2 {
			last = fmt.Errorf("%s %s: status %d: %.200s (%v)", method, u+path, resp.StatusCode, ans, err)
			continue
		}
		return json.Unmarshal(ans, out)
	}
	return last
}
