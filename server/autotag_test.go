package server

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"imglish/app"
	"imglish/demo/scene"
	"imglish/indexer"
	"imglish/store"
)

// autoTagger stores cfg.labelSets and builds an AutoTagger when any set is
// to be run (nil otherwise).
func (e *env) autoTagger(cfg envConfig) *AutoTagger {
	e.t.Helper()
	auto := len(cfg.opts.AutoTags) > 0
	// The env's catalog needs the indexer, which needs this tagger: store
	// the sets through a catalog of their own.
	info := e.model.Info()
	cat, err := app.NewCatalog(e.db, nil, info.ID, info.Dim)
	if err != nil {
		e.t.Fatal(err)
	}
	for name, ls := range cfg.labelSets {
		if err := cat.PutLabelSet(context.Background(), name, ls); err != nil {
			e.t.Fatal(err)
		}
	}
	for _, ls := range cfg.labelSets {
		auto = auto || ls.AutoTag
	}
	if !auto {
		return nil
	}
	at, err := app.NewAutoTagger(context.Background(), app.AutoTagOptions{
		Encoder: e.model, Store: e.db, Sets: cfg.opts.AutoTags, MinProb: cfg.opts.AutoTagMinProb})
	if err != nil {
		e.t.Fatalf("auto-tagger: %v", err)
	}
	return at
}

func colourLabels() []string {
	var out []string
	for _, c := range scene.ObjectColours() {
		out = append(out, c.String())
	}
	return out
}

// TestAutoTags indexes demo scenes with a colour label set as auto-tags and
// checks the tags against the scenes' objects, the tags filter of search,
// a path added while tagging, and a set stored later with auto_tag.
func TestAutoTags(t *testing.T) {
	const n = 24
	var hookOnce sync.Once
	entered, release := make(chan struct{}), make(chan struct{})
	var hookOn bool
	var hookMu sync.Mutex
	e := newEnv(t, envConfig{
		scenes:    n,
		opts:      Options{AutoTags: []string{"colours"}},
		labelSets: map[string]LabelSet{"colours": {Labels: colourLabels(), Templates: []string{"a {} object"}}},
		tagHook: func() {
			hookMu.Lock()
			on := hookOn
			hookMu.Unlock()
			if on {
				hookOnce.Do(func() {
					close(entered)
					<-release
				})
			}
		},
	})
	if !e.trained {
		t.Skip("auto-tag quality needs the trained demo model (testdata/models/demo/*.pth)")
	}

	// Ground truth: the top colour is one of the scene's object colours.
	tagged, right := 0, 0
	byTag := map[string][]string{}
	for i, sc := range e.scenes {
		it, err := e.db.ItemByPath(e.scenePath(i))
		if err != nil {
			t.Fatal(err)
		}
		auto := indexer.AutoTags(it.Tags)
		if len(auto) > 1 {
			t.Errorf("scene %d: %d auto-tags %q from one set", i, len(auto), it.Tags)
		}
		if len(auto) == 0 {
			continue
		}
		tagged++
		byTag[indexer.AutoTagPrefix+auto[0]] = append(byTag[indexer.AutoTagPrefix+auto[0]], it.ID)
		if slices.ContainsFunc(sc.Groups, func(g scene.Group) bool { return g.Colour.String() == auto[0] }) {
			right++
		} else {
			t.Logf("scene %d (%v): tagged %q", i, sc.Captions[0], auto[0])
		}
	}
	t.Logf("%d of %d scenes tagged, %d with a colour of their objects", tagged, n, right)
	if tagged < n*3/4 || right < tagged*3/4 {
		t.Errorf("%d of %d scenes tagged, %d of them right; want at least 3/4 each", tagged, n, right)
	}

	// The tags filter of /v1/search returns exactly the items with that tag.
	if len(byTag) < 2 {
		t.Fatalf("only tags %v", byTag)
	}
	for tag, ids := range byTag {
		var resp SearchResponse
		body := map[string]any{"text": "an object", "k": n, "filter": map[string]any{"tags": []string{tag}}}
		if st, _ := e.call("POST", "/v1/search", readKey, body, &resp); st != http.StatusOK {
			t.Fatalf("search tag %s: status %d", tag, st)
		}
		var got []string
		for _, h := range resp.Hits {
			got = append(got, h.ID)
			if h.Metadata == nil || !slices.Contains(h.Metadata.Tags, tag) {
				t.Errorf("search tag %s: hit %s without it: %+v", tag, h.ID, h.Metadata)
			}
		}
		slices.Sort(got)
		slices.Sort(ids)
		if !slices.Equal(got, ids) {
			t.Errorf("search tag %s: hits %v, want %v", tag, got, ids)
		}
	}

	// An upload of an indexed scene's bytes adds a path to that item while an
	// index job is inside its commit, tagging new scenes: nothing is lost.
	more := filepath.Join(e.photos, "more")
	gen, err := scene.New(scene.Options{Seed: 8, Split: scene.Test})
	if err != nil {
		t.Fatal(err)
	}
	if err := scene.WriteDataset(t.Context(), more, gen, scene.DatasetOptions{N: 3, Size: 96}); err != nil {
		t.Fatal(err)
	}
	more = filepath.Join(more, scene.ImagesDir)
	hookMu.Lock()
	hookOn = true
	hookMu.Unlock()
	var j job
	if st, _ := e.call("POST", "/v1/index/jobs", writeKey, map[string]any{"folder": more}, &j); st != http.StatusAccepted {
		t.Fatalf("index job: status %d", st)
	}
	<-entered
	// Meanwhile a copy of scene 0 appears and a second job indexes it.
	late := filepath.Join(e.photos, "late")
	data, err := os.ReadFile(e.scenePath(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(late, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(late, "copy.png"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	var j2 job
	if st, _ := e.call("POST", "/v1/index/jobs", writeKey, map[string]any{"folder": late}, &j2); st != http.StatusAccepted {
		t.Fatalf("second index job: status %d", st)
	}
	close(release)
	for _, jb := range []*job{&j, &j2} {
		deadline := time.Now().Add(60 * time.Second)
		for jb.State == "running" && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			e.call("GET", "/v1/index/jobs/"+jb.ID, readKey, nil, jb)
		}
		if jb.State != "done" {
			t.Fatalf("job %s ended %s, error %q", jb.Folder, jb.State, jb.Error)
		}
	}
	before := indexer.AutoTags(mustItem(t, e, e.scenePath(0)).Tags)
	it := mustItem(t, e, filepath.Join(late, "copy.png"))
	if it.ID != e.itemID(0) || len(it.Files) != 2 {
		t.Errorf("scene 0 after its copy was indexed: id %s, files %+v", it.ID, it.Files)
	}
	if got := indexer.AutoTags(it.Tags); !slices.Equal(got, before) || len(got) == 0 && tagged == n {
		t.Errorf("scene 0 tags %q after the copy", it.Tags)
	}
	moreTagged := 0
	for i := range 3 {
		p := filepath.Join(more, filepath.Base(e.scenePath(i)))
		switch mit := mustItem(t, e, p); len(indexer.AutoTags(mit.Tags)) {
		case 0:
		case 1:
			moreTagged++
		default:
			t.Errorf("%s: tags %q", p, mit.Tags)
		}
	}
	if moreTagged == 0 {
		t.Errorf("none of the scenes indexed by the job was tagged")
	}

	// A set stored later with auto_tag joins the tagger at once,
	// and a retag job brings the indexed items in step; unflagging it takes
	// its tags away again, leaving the colours.
	shapes := []string{"circle", "square", "triangle", "star", "diamond", "cross"}
	for _, flag := range []bool{true, false} {
		ls := LabelSet{Labels: shapes, Templates: []string{"a {}"}, AutoTag: flag, MinProb: 0.2}
		st, h := e.call("PUT", "/v1/labelsets/shapes", writeKey, ls, nil)
		if st != http.StatusOK || h.Get("X-Retag-Job") == "" {
			t.Fatalf("put label set: %d, retag job %q", st, h.Get("X-Retag-Job"))
		}
		want := []string{"colours"}
		if flag {
			want = append(want, "shapes")
		}
		if got := e.tagger.Sets(); !slices.Equal(got, want) {
			t.Errorf("auto-tag sets %v after storing shapes (auto_tag %v)", got, flag)
		}
		rj := job{ID: h.Get("X-Retag-Job"), State: "running"}
		deadline := time.Now().Add(60 * time.Second)
		for rj.State == "running" && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			e.call("GET", "/v1/index/jobs/"+rj.ID, readKey, nil, &rj)
		}
		if rj.State != "done" || !rj.Retag || rj.Retagged == 0 {
			t.Fatalf("retag job: %+v", rj)
		}
		withShape := 0
		for i := range e.scenes {
			it := mustItem(t, e, e.scenePath(i))
			auto := indexer.AutoTags(it.Tags)
			if slices.ContainsFunc(auto, func(a string) bool { return slices.Contains(shapes, a) }) {
				withShape++
			}
			if len(auto) > len(want) {
				t.Errorf("scene %d: tags %q with sets %v", i, it.Tags, want)
			}
		}
		if flag != (withShape > 0) {
			t.Errorf("auto_tag %v: %d scenes with a shape tag", flag, withShape)
		}
		t.Logf("auto_tag %v: retag changed %d items, %d scenes with a shape tag", flag, rj.Retagged, withShape)
	}
	if st, _ := e.call("PUT", "/v1/labelsets/bad", writeKey, LabelSet{Labels: []string{"x"}, MinProb: 2}, nil); st != http.StatusBadRequest {
		t.Errorf("min_prob 2: status %d, want 400", st)
	}
}

func TestAutoTaggerErrors(t *testing.T) {
	e := newEnv(t, envConfig{})
	for _, tc := range []struct {
		name string
		opts app.AutoTagOptions
		want []error
	}{
		{"unknown set", app.AutoTagOptions{Encoder: e.model, Store: e.db, Sets: []string{"nope"}}, []error{ErrConfig, ErrNotFound}},
		{"bad name", app.AutoTagOptions{Encoder: e.model, Store: e.db, Sets: []string{"../x"}}, []error{ErrConfig}},
		{"no encoder", app.AutoTagOptions{Store: e.db}, []error{ErrConfig}},
		{"min prob", app.AutoTagOptions{Encoder: e.model, Store: e.db, MinProb: 1.5}, []error{ErrConfig}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := app.NewAutoTagger(t.Context(), tc.opts)
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("err %v, want %v", err, w)
				}
			}
		})
	}
}

func mustItem(t *testing.T, e *env, path string) store.Item {
	t.Helper()
	it, err := e.db.ItemByPath(path)
	if err != nil {
		t.Fatalf("%s not indexed: %v", path, err)
	}
	return it
}

// TestAutoTagBadLabels: a label that the tokenizer leaves with no pieces
// (only zero-width and control characters) passes the label rules but
// cannot be embedded. Storing a set with one is refused with a 400 that
// names it; a set stored by a version that did not check is skipped by the
// auto-tagger, so the other sets still run and a server still starts; a
// configured set with one is a configuration error.
func TestAutoTagBadLabels(t *testing.T) {
	e := newEnv(t, envConfig{
		labelSets: map[string]LabelSet{"colours": {Labels: colourLabels(), AutoTag: true}},
	})
	bad := LabelSet{Labels: []string{"red", "\u200b\u0001"}, AutoTag: true}
	var eb errorBody
	if st, _ := e.call("PUT", "/v1/labelsets/zw", writeKey, bad, &eb); st != http.StatusBadRequest || !strings.Contains(eb.Error.Message, `label "\u200b\x01"`) {
		t.Errorf("put a set with an empty-after-normalisation label: %d %q, want 400 naming the label", st, eb.Error.Message)
	}
	if st, _ := e.call("GET", "/v1/labelsets/zw", readKey, nil, nil); st != http.StatusNotFound {
		t.Errorf("refused set: GET status %d, want 404", st)
	}
	if got := e.tagger.Sets(); !slices.Equal(got, []string{"colours"}) {
		t.Errorf("auto-tag sets %v after the refused set", got)
	}

	// As an older version stored it.
	info := e.model.Info()
	cat, err := app.NewCatalog(e.db, nil, info.ID, info.Dim)
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.PutLabelSet(t.Context(), "zw", bad); err != nil {
		t.Fatal(err)
	}
	at, err := app.NewAutoTagger(t.Context(), app.AutoTagOptions{Encoder: e.model, Store: e.db})
	if err != nil {
		t.Fatalf("auto-tagger with a bad stored set: %v", err)
	}
	if got := at.Sets(); !slices.Equal(got, []string{"colours"}) {
		t.Errorf("auto-tag sets %v with a bad stored set, want [colours]", got)
	}
	_, err = app.NewAutoTagger(t.Context(), app.AutoTagOptions{Encoder: e.model, Store: e.db, Sets: []string{"zw"}})
	if !errors.Is(err, ErrConfig) {
		t.Errorf("configured bad set: err %v, want ErrConfig", err)
	}
	// Stored again with valid labels, it runs.
	bad.Labels[1] = "blue"
	if st, _ := e.call("PUT", "/v1/labelsets/zw", writeKey, bad, nil); st != http.StatusOK {
		t.Errorf("put the fixed set: status %d", st)
	}
	if got := e.tagger.Sets(); !slices.Equal(got, []string{"colours", "zw"}) {
		t.Errorf("auto-tag sets %v after the fixed set", got)
	}
}
