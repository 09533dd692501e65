package server

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"imglish/app"
	"imglish/search/synth"
	"imglish/store"
)

// pagingN is the size of the paging tests' collection: above the index's
// exact-scan threshold (2,048 nodes), so page 1 walks the graph.
const pagingN = 6000

// pagingBase is the date of the paging items; item i is i/3 minutes later,
// so dates repeat in threes (ties broken by id).
var pagingBase = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)

// pagingEnv is a server over pagingN items with a cheap graph (M 6,
// efConstruction 16: quick to build under -race, and a recall low enough
// that an approximate page misses items) and seeded clustered vectors of the
// model's dimension; every 7th item repeats the previous vector, so scores
// tie. Items with an even index carry the tag "even". vecs are the items'
// vectors, by index.
type pagingEnv struct {
	*env
	space string
	vecs  [][]float32
}

func newPagingEnv(t *testing.T) *pagingEnv {
	t.Helper()
	return newPagingEnvWith(t, envConfig{})
}

// newPagingEnvWith is newPagingEnv on a server configured by cfg.
func newPagingEnvWith(t *testing.T, cfg envConfig) *pagingEnv {
	t.Helper()
	e := newEnv(t, cfg)
	info := e.model.Info()
	p := &pagingEnv{env: e, space: store.ImageSpace(info.ID), vecs: synth.Clustered(pagingN, info.Dim, 40, 1.2, 11)}
	if err := e.db.CreateSpace(t.Context(), store.Space{Name: p.space, Kind: store.KindImages, Model: info.ID, Dim: info.Dim, M: 6, EfConstruction: 16}); err != nil {
		t.Fatal(err)
	}
	var b store.Batch
	for i := range pagingN {
		if i%7 == 6 {
			p.vecs[i] = p.vecs[i-1]
		}
		p.put(&b, fmt.Sprintf("p%05d", i), i, p.vecs[i])
		if b.Len() >= 512 || i == pagingN-1 {
			if err := e.db.Apply(t.Context(), &b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
	return p
}

// put adds item id (dated and tagged as index i) with vec to b.
func (p *pagingEnv) put(b *store.Batch, id string, i int, vec []float32) {
	it := store.Item{
		ID: id, Hash: "h" + id, Meta: store.Meta{Size: 100, MediaType: "image/png", Width: 8, Height: 8}, Model: p.model.Info().ID,
		Files: []store.File{{Path: filepath.Join(p.photos, id+".png"), Size: 100, ModTime: pagingBase.Add(time.Duration(i/3) * time.Minute)}},
	}
	if i%2 == 0 {
		it.Tags = append(it.Tags, "even")
	}
	if i%33 == 0 {
		it.Tags = append(it.Tags, "rare") // 182 of 6,000: above the 2% that the index scans exactly
	}
	b.PutItem(it)
	b.PutVector(p.space, id, vec)
}

// ranking is the exact relevance ranking of every item of space that f keeps.
func (p *pagingEnv) ranking(t *testing.T, space string, q []float32, f *store.Filter) []store.Hit {
	t.Helper()
	want, err := p.db.Search(t.Context(), space, q, 1<<20, store.SearchOptions{Exact: true, Filter: f})
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// pageAll pages a search to its end through the HTTP API and returns the
// pages; between pages it calls between (when not nil).
func pageAll(t *testing.T, e *env, body map[string]any, between func(page int)) [][]SearchHit {
	t.Helper()
	var pages [][]SearchHit
	cursor := ""
	for page := 1; ; page++ {
		if page > 1000 {
			t.Fatal("paging does not end")
		}
		b := map[string]any{"cursor": cursor}
		for k, v := range body {
			b[k] = v
		}
		var sr SearchResponse
		if st, _ := e.call("POST", "/v1/search", readKey, b, &sr); st != 200 {
			t.Fatalf("page %d: status %d", page, st)
		}
		pages = append(pages, sr.Hits)
		if cursor = sr.NextCursor; cursor == "" {
			return pages
		}
		if between != nil {
			between(page)
		}
	}
}

// sortsAfter reports whether b comes after a in relevance order (score
// desc, id asc).
func sortsAfter(a, b SearchHit) bool {
	return b.Score < a.Score || (b.Score == a.Score && b.ID > a.ID)
}

// checkComplete checks a relevance paging against the exact ranking want
// (taken before the first page): page 1 holds k hits in order, and the pages
// after it are want without page 1's items, in order — so every item comes
// exactly once. It returns how many items page 1's walk missed (they lead
// page 2, the one place where scores may step up).
func checkComplete(t *testing.T, pages [][]SearchHit, want []store.Hit, k int) int {
	t.Helper()
	if len(pages[0]) != min(k, len(want)) {
		t.Fatalf("page 1 has %d hits, want %d", len(pages[0]), min(k, len(want)))
	}
	first := map[string]bool{}
	for i, h := range pages[0] {
		if i > 0 && !sortsAfter(pages[0][i-1], h) {
			t.Errorf("page 1: %v before %v", pages[0][i-1], h)
		}
		first[h.ID] = true
	}
	var rest []string
	for _, h := range want {
		if !first[h.ID] {
			rest = append(rest, fmt.Sprintf("%s %.6f", h.ID, h.Score))
		}
	}
	var got []string
	for _, page := range pages[1:] {
		for _, h := range page {
			got = append(got, fmt.Sprintf("%s %.6f", h.ID, h.Score))
		}
	}
	if len(got) != len(rest) || !slices.Equal(got, rest) {
		i := 0
		for i < min(len(got), len(rest)) && got[i] == rest[i] {
			i++
		}
		t.Fatalf("pages 2..%d: %d hits, want %d (the exact ranking without page 1); first difference at %d: got %q, want %q",
			len(pages), len(got), len(rest), i, at(got, i), at(rest, i))
	}
	missed := 0
	last := pages[0][len(pages[0])-1]
	for _, page := range pages[1:] {
		for _, h := range page {
			if sortsAfter(h, last) {
				missed++
			}
		}
	}
	return missed
}

// dateAfter reports whether b comes after a in date order (date desc, id
// asc).
func dateAfter(a, b SearchHit) bool {
	c := b.Metadata.Date().Compare(a.Metadata.Date())
	return c < 0 || (c == 0 && b.ID > a.ID)
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(end)"
}

// TestPagingComplete pages to the end over 6,000 items with duplicate
// vectors (equal scores) through the HTTP API: every item exactly once, in
// the exact order after page 1. Before pages 2..n were exact scans, the
// keyset cursor applied to graph walks lost about a fifth of the items here
// (the demo lost 3 of 6,000).
func TestPagingComplete(t *testing.T) {
	p := newPagingEnv(t)
	ctx := t.Context()
	qText, err := p.srv.app.QueryVector(ctx, []QueryTerm{{Text: "a red star"}})
	if err != nil {
		t.Fatal(err)
	}
	// A vector repeated by items 12 and 13: two hits at score 1.
	qDup := p.vecs[13]
	texts := "texts:" + p.model.Info().ID + ":big"
	p.addTexts(t, texts, 3000)
	even, rare := &store.Filter{Tags: []string{"even"}}, &store.Filter{Tags: []string{"rare"}}
	// min_score keeping 1,500 items (many pages), and one keeping 150
	// (fewer than a page: page 1's walk decides where it ends).
	ranking := p.ranking(t, p.space, qText, nil)
	minMany, minFew := ranking[1499].Score, ranking[149].Score
	cases := []struct {
		name   string
		body   map[string]any
		space  string
		q      []float32
		filter *store.Filter
		min    *float32
		k      int
	}{
		{"text k=200", map[string]any{"text": "a red star", "k": 200}, p.space, qText, nil, nil, 200},
		{"duplicate vector k=37", map[string]any{"query": []map[string]any{{"vector": qDup}}, "k": 37}, p.space, qDup, nil, nil, 37},
		{"filter tags k=200", map[string]any{"text": "a red star", "k": 200, "filter": map[string]any{"tags": []string{"even"}}}, p.space, qText, even, nil, 200},
		{"rare filter k=200", map[string]any{"text": "a red star", "k": 200, "filter": map[string]any{"tags": []string{"rare"}}}, p.space, qText, rare, nil, 200},
		{"min_score k=50", map[string]any{"text": "a red star", "k": 50, "min_score": minMany}, p.space, qText, nil, &minMany, 50},
		{"min_score k=200", map[string]any{"text": "a red star", "k": 200, "min_score": minFew}, p.space, qText, nil, &minFew, 200},
		{"text collection k=200", map[string]any{"query": []map[string]any{{"vector": qDup}}, "target": "texts", "collection": "big", "k": 200}, texts, qDup, nil, nil, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := p.ranking(t, tc.space, tc.q, tc.filter)
			if tc.min != nil {
				want = slices.DeleteFunc(want, func(h store.Hit) bool { return h.Score < *tc.min })
			}

			pages := pageAll(t, p.env, tc.body, nil)
			missed := checkComplete(t, pages, want, tc.k)
			t.Logf("%d items in %d pages; %d of them, missed by page 1's walk, score above its last hit", len(want), len(pages), missed)
		})
	}
}

// addTexts creates the text collection space (cheap graph) with n entries
// whose vectors are the paging items' (so they tie in sevens too).
func (p *pagingEnv) addTexts(t *testing.T, space string, n int) {
	t.Helper()
	info := p.model.Info()
	if err := p.db.CreateSpace(t.Context(), store.Space{Name: space, Kind: store.KindTexts, Model: info.ID, Dim: info.Dim, M: 6, EfConstruction: 16}); err != nil {
		t.Fatal(err)
	}
	var b store.Batch
	for i := range n {
		b.PutText(space, store.TextEntry{ID: fmt.Sprintf("t%05d", i), Text: fmt.Sprintf("text %d", i), Vector: p.vecs[i]})
		if b.Len() >= 512 || i == n-1 {
			if err := p.db.Apply(t.Context(), &b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
}

// TestPagingWhileIndexing pages to the end while items are being added and
// deleted (between pages and concurrently): no item repeats, every item that
// existed before page 1 and was not deleted is served, and from page 2 on
// (date order: from page 1 on) every hit sorts after the one before it.
func TestPagingWhileIndexing(t *testing.T) {
	p := newPagingEnv(t)
	extra := synth.Clustered(2000, p.model.Info().Dim, 40, 1.2, 12)
	q, err := p.srv.app.QueryVector(t.Context(), []QueryTerm{{Text: "a red star"}})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		added   int
		calls   int
		deleted = map[string]bool{}
	)
	// add puts n new items: half near the query (they rank high, so they
	// land before the cursor or on the next page), half anywhere; their
	// dates spread over the collection's. It also deletes one of the first
	// items and one of the added ones (they may or may not be served).
	add := func(ctx context.Context, n int) error {
		var b store.Batch
		mu.Lock()
		for _, id := range []string{fmt.Sprintf("p%05d", calls*97%pagingN), fmt.Sprintf("n%05d", max(added-3, 0))} {
			if !deleted[id] && (id[0] == 'p' || added > 0) {
				b.DeleteItem(id)
				deleted[id] = true
			}
		}
		calls++
		for range n {
			v := extra[added%len(extra)]
			if added%2 == 0 {
				v = slices.Clone(q)
				v[added%len(v)] += 0.05
			}
			p.put(&b, fmt.Sprintf("n%05d", added), added*7919%pagingN, v)
			added++
		}
		mu.Unlock()
		return p.db.Apply(ctx, &b)
	}
	for _, tc := range []struct {
		name string
		body map[string]any
	}{
		{"relevance", map[string]any{"text": "a red star", "k": 200}},
		{"date", map[string]any{"text": "a red star", "k": 50, "sort": "date"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The items existing now; for the date order, a min_score
			// keeping 500 of them (under the cap).
			ranking := p.ranking(t, p.space, q, nil)
			minScore := ranking[499].Score
			if tc.body["sort"] == "date" {
				tc.body["min_score"] = minScore
			}
			before := map[string]bool{}
			for _, h := range ranking {
				if tc.body["sort"] != "date" || h.Score >= minScore {
					before[h.ID] = true
				}
			}
			ctx, cancel := context.WithCancel(t.Context())
			errc := make(chan error, 1)
			var wg sync.WaitGroup
			wg.Go(func() {
				for ctx.Err() == nil {
					if err := add(ctx, 5); err != nil && ctx.Err() == nil {
						errc <- err
						return
					}
				}
			})
			pages := pageAll(t, p.env, tc.body, func(int) {
				if err := add(t.Context(), 20); err != nil {
					t.Fatal(err)
				}
			})
			cancel()
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			newer := 0
			for i, page := range pages {
				for j, h := range page {
					if seen[h.ID] {
						t.Fatalf("page %d repeats %s", i+1, h.ID)
					}
					seen[h.ID] = true
					if !before[h.ID] {
						newer++
					}
					if (i == 0 && j == 0) || (i == 1 && j == 0 && tc.body["sort"] != "date") || (i == 0 && tc.body["sort"] != "date") {
						continue // relevance: page 1 is approximate, page 2 may step up
					}
					prev := page[max(j-1, 0)]
					if j == 0 {
						prev = pages[i-1][len(pages[i-1])-1]
					}
					if tc.body["sort"] == "date" && !dateAfter(prev, h) {
						t.Fatalf("page %d: %s %v after %s %v", i+1, h.ID, h.Metadata.Date(), prev.ID, prev.Metadata.Date())
					}
					if tc.body["sort"] != "date" && !sortsAfter(prev, h) {
						t.Fatalf("page %d: %s %v after %s %v", i+1, h.ID, h.Score, prev.ID, prev.Score)
					}
				}
			}
			mu.Lock()
			for id := range before {
				if !seen[id] && !deleted[id] {
					t.Errorf("%s existed before page 1, was not deleted, and was never served", id)
				}
			}
			mu.Unlock()
			t.Logf("%d pages, %d hits (%d added meanwhile), %d items added and %d deleted in all", len(pages), len(seen), newer, added, len(deleted))
		})
	}
}

// TestDateSortRelevantSet pages sort=date to its end over the 6,000 items:
// the relevant set (min_score, or the auto-cut), capped at app.MaxRelevant with
// truncated on every page, newest first (ties by id), every member exactly
// once. Before, the whole collection (or the 1,000 best) was date-ordered
// and paging stopped after 1,000 hits with no cursor and no word.
func TestDateSortRelevantSet(t *testing.T) {
	p := newPagingEnv(t)
	q, err := p.srv.app.QueryVector(t.Context(), []QueryTerm{{Text: "a red star"}})
	if err != nil {
		t.Fatal(err)
	}
	ranking := p.ranking(t, p.space, q, nil)
	var mean float64
	for _, h := range ranking {
		mean += float64(h.Score) / float64(len(ranking))
	}
	autoCut := float32(mean + app.DateCut*(float64(ranking[0].Score)-mean))
	above := func(s float32) []store.Hit {
		return slices.DeleteFunc(slices.Clone(ranking), func(h store.Hit) bool { return h.Score < s })
	}
	cases := []struct {
		name      string
		body      map[string]any
		want      []store.Hit // the relevant set, in relevance order (before the cap)
		truncated bool
	}{
		{"auto-cut", map[string]any{"text": "a red star", "k": 20, "sort": "date"}, above(autoCut), false},
		{"min_score under the cap", map[string]any{"text": "a red star", "k": 64, "sort": "date", "min_score": ranking[299].Score}, above(ranking[299].Score), false},
		{"min_score over the cap", map[string]any{"text": "a red star", "k": 200, "sort": "date", "min_score": 0}, above(0), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if tc.truncated != (len(want) > app.MaxRelevant) {
				t.Fatalf("%d relevant items; the case needs truncated=%v", len(want), tc.truncated)
			}
			want = want[:min(len(want), app.MaxRelevant)]
			byID := map[string]store.Hit{}
			for _, h := range want {
				byID[h.ID] = h
			}
			var ids []string
			cursor := ""
			for page := 1; ; page++ {
				body := map[string]any{"cursor": cursor}
				for k, v := range tc.body {
					body[k] = v
				}
				var sr SearchResponse
				if st, _ := p.call("POST", "/v1/search", readKey, body, &sr); st != 200 {
					t.Fatalf("page %d: %d", page, st)
				}
				if sr.Truncated != tc.truncated {
					t.Errorf("page %d: truncated %v, want %v", page, sr.Truncated, tc.truncated)
				}
				for _, h := range sr.Hits {
					ids = append(ids, h.ID)
				}
				if cursor = sr.NextCursor; cursor == "" {
					break
				}
			}
			wantIDs := make([]string, len(want))
			for i, h := range want {
				wantIDs[i] = h.ID
			}
			slices.SortFunc(wantIDs, func(a, b string) int {
				// Item i is dated i/3 minutes after the base: newest first, then id.
				var ia, ib int
				fmt.Sscanf(a, "p%d", &ia)
				fmt.Sscanf(b, "p%d", &ib)
				if c := cmp.Compare(ib/3, ia/3); c != 0 {
					return c
				}
				return strings.Compare(a, b)
			})
			if !slices.Equal(ids, wantIDs) {
				t.Fatalf("served %d hits, want the %d relevant in date order", len(ids), len(wantIDs))
			}
			t.Logf("%d relevant (auto-cut at %.3f, mean %.3f, best %.3f)", len(ids), autoCut, mean, ranking[0].Score)
		})
	}
}

// TestDateSortDemo: sort=date of "a red star" over demo scenes shows the
// relevant scenes (the auto-cut) newest first: a red star among them, no
// red square and no negative score. Before, it was the whole collection
// newest first, a red square first.
func TestDateSortDemo(t *testing.T) {
	const n = 130 // scenes 90 and 124 hold red stars; 26, 27, 60, 85, 107 red squares
	e := newEnv(t, envConfig{scenes: n})
	if !e.trained {
		t.Skip("needs the trained demo model")
	}
	var sr SearchResponse
	if st, _ := e.call("POST", "/v1/search", readKey, map[string]any{"text": "a red star", "sort": "date"}, &sr); st != 200 {
		t.Fatalf("status %d", st)
	}
	index := map[string]int{}
	for i := range n {
		index[e.itemID(i)] = i
	}
	stars, last := 0, n
	var got []string
	for _, h := range sr.Hits {
		i := index[h.ID]
		caption := e.scenes[i].Caption()
		got = append(got, fmt.Sprintf("%d %.3f %s", i, h.Score, caption))
		if strings.Contains(caption, "red star") {
			stars++
		}
		if strings.Contains(caption, "square") || h.Score < 0 || i >= last {
			t.Errorf("hit %d (%.3f, %q) is no red star or not in date order", i, h.Score, caption)
		}
		last = i // scene i is dated i hours after the first
	}
	if stars == 0 || sr.NextCursor != "" || sr.Truncated {
		t.Errorf("%d red stars, cursor %q, truncated %v", stars, sr.NextCursor, sr.Truncated)
	}
	t.Logf("page 1:\n%s", strings.Join(got, "\n"))
}

// driftingEncoder is the model whose text vectors, while drift is set, are
// passed through it: a query embedded again that differs in its last bits,
// as a batch mate's float32 rounding can make it.
type driftingEncoder struct {
	*Model
	mu    sync.Mutex
	drift func(v []float32)
}

func (d *driftingEncoder) EmbedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	vecs, err := d.Model.EmbedTexts(ctx, texts)
	d.mu.Lock()
	drift := d.drift
	d.mu.Unlock()
	if drift != nil {
		for _, v := range vecs {
			drift(v)
		}
	}
	return vecs, err
}

// setDrift makes each later text vector lower its dot product with item by
// moving every component one ulp (nil: no drift).
func (d *driftingEncoder) setDrift(item []float32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if item == nil {
		d.drift = nil
		return
	}
	d.drift = func(v []float32) {
		for j := range v {
			switch {
			case item[j] > 0:
				v[j] = math.Nextafter32(v[j], float32(math.Inf(-1)))
			case item[j] < 0:
				v[j] = math.Nextafter32(v[j], float32(math.Inf(1)))
			}
		}
	}
}

// TestPagingQueryDrift pages with a query whose embedding drifts by one ulp
// per component after page 1, lowering the score of the item a later page's
// bound was taken from (relevance: the previous page's last hit; date: the
// relevant set's cut): the pages are the same as without drift, no item
// repeated or skipped. Before every page scored with page 1's vector
// (carried in the cursor), each page embedded the query again: the
// relevance order served the boundary item twice, and the date order
// dropped the cut from its own set.
func TestPagingQueryDrift(t *testing.T) {
	var enc *driftingEncoder
	p := newPagingEnvWith(t, envConfig{encoder: func(m *Model) Encoder {
		enc = &driftingEncoder{Model: m}
		return enc
	}})
	q, err := p.srv.app.QueryVector(t.Context(), []QueryTerm{{Text: "a red star"}})
	if err != nil {
		t.Fatal(err)
	}
	ranking := p.ranking(t, p.space, q, nil)
	minScore := ranking[499].Score
	cut := 499 // the relevant set's least relevant member: the last tie of ranking[499]
	for cut+1 < len(ranking) && ranking[cut+1].Score == minScore {
		cut++
	}
	vec := func(id string) []float32 {
		var i int
		if _, err := fmt.Sscanf(id, "p%d", &i); err != nil {
			t.Fatalf("item id %q: %v", id, err)
		}
		return p.vecs[i]
	}
	cases := []struct {
		name string
		body map[string]any
		// target is the item whose score the drift lowers before the page
		// after last.
		target func(last SearchHit) string
	}{
		{"relevance k=200", map[string]any{"text": "a red star", "k": 200}, func(last SearchHit) string { return last.ID }},
		{"date k=20", map[string]any{"text": "a red star", "k": 20, "sort": "date", "min_score": minScore}, func(SearchHit) string { return ranking[cut].ID }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			enc.setDrift(nil)
			var want []string
			for _, page := range pageAll(t, p.env, tc.body, nil) {
				for _, h := range page {
					want = append(want, h.ID)
				}
			}
			var got []string
			seen := map[string]bool{}
			cursor := ""
			for page := 1; ; page++ {
				if page > 1000 {
					t.Fatal("paging does not end")
				}
				body := map[string]any{"cursor": cursor}
				for k, v := range tc.body {
					body[k] = v
				}
				var sr SearchResponse
				if st, _ := p.call("POST", "/v1/search", readKey, body, &sr); st != 200 {
					t.Fatalf("page %d: status %d", page, st)
				}
				for _, h := range sr.Hits {
					if seen[h.ID] {
						t.Errorf("page %d repeats %s", page, h.ID)
					}
					seen[h.ID] = true
					got = append(got, h.ID)
				}
				if cursor = sr.NextCursor; cursor == "" {
					break
				}
				enc.setDrift(vec(tc.target(sr.Hits[len(sr.Hits)-1])))
			}
			enc.setDrift(nil)
			if !slices.Equal(got, want) {
				i := 0
				for i < min(len(got), len(want)) && got[i] == want[i] {
					i++
				}
				t.Fatalf("with drift: %d hits, without: %d; first difference at %d: got %s, want %s", len(got), len(want), i, at(got, i), at(want, i))
			}
		})
	}
}
