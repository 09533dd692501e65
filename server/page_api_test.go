package server

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"imglish/app"
	"imglish/demo/scene"
)

// TestModelInfoDemo checks that the server says which model it runs: demo is
// true for a model converted from the bundled demo checkpoint only, so the
// page can say that it knows only the synthetic world.
func TestModelInfoDemo(t *testing.T) {
	for _, tc := range []struct {
		name string
		tiny bool
		want bool
	}{
		{"demo checkpoint", false, true},
		{"another checkpoint", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{tinyModel: tc.tiny})
			if !tc.tiny && !e.trained {
				t.Skip("no demo checkpoint in testdata/models/demo")
			}
			var st struct {
				Model map[string]any `json:"model"`
			}
			if code, _ := e.call("GET", "/v1/index/status", readKey, nil, &st); code != http.StatusOK {
				t.Fatalf("index status: %d", code)
			}
			if got, ok := st.Model["demo"].(bool); !ok || got != tc.want {
				t.Errorf("model.demo = %v (%T), want %v", st.Model["demo"], st.Model["demo"], tc.want)
			}
			if st.Model["id"] != e.model.Info().ID {
				t.Errorf("model.id = %v, want %s", st.Model["id"], e.model.Info().ID)
			}
		})
	}
}

// TestDefaultLabelSet checks what label_set "default" resolves to, in order:
// a stored set "default", else the first auto-tag set, else on the demo model
// the built-in set of its world's 48 prompts; else it is not found.
func TestDefaultLabelSet(t *testing.T) {
	e := newEnv(t, envConfig{scenes: 3})
	tiny := newEnv(t, envConfig{tinyModel: true})
	demoLabels := 48
	colours := colourLabels()
	mine := []string{"a red thing", "a blue thing"}
	for _, tc := range []struct {
		name    string
		env     *env
		setup   func(e *env)
		status  int
		wantSet string
		want    []string // the labels, in any order; nil: only count demoLabels
	}{
		{"demo model, nothing stored", e, func(*env) {}, 200, BuiltinDemoLabelSet, nil},
		{"a stored set that is not an auto-tag set", e, func(e *env) {
			e.call("PUT", "/v1/labelsets/colours", writeKey, map[string]any{"labels": colours}, nil)
		}, 200, BuiltinDemoLabelSet, nil},
		{"the configured auto-tag set", e, func(e *env) { e.setAutoTags("colours") }, 200, "colours", colours},
		{"a stored set named default", e, func(e *env) {
			e.call("PUT", "/v1/labelsets/default", writeKey, map[string]any{"labels": mine}, nil)
		}, 200, "default", mine},
		{"another model, nothing stored", tiny, func(*env) {}, 404, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup(tc.env)
			var cr classified
			img := b64File(t, e.scenePath(1))
			st, _ := tc.env.call("POST", "/v1/classify", readKey, map[string]any{"image": img, "label_set": "default"}, &cr)
			var ls LabelSet
			gst, _ := tc.env.call("GET", "/v1/labelsets/default", readKey, nil, &ls)
			if st != tc.status || gst != tc.status {
				t.Fatalf("classify with the default set: %d, get it: %d; want %d", st, gst, tc.status)
			}
			if st != 200 {
				return
			}
			var got []string
			for _, l := range cr.Labels {
				got = append(got, l.Label)
			}
			want := tc.want
			if want == nil {
				if len(got) != demoLabels {
					t.Fatalf("%d labels, want the demo world's %d", len(got), demoLabels)
				}
				want = got
			}
			if cr.LabelSet != tc.wantSet || !sameSet(got, want) || !sameSet(ls.Labels, want) {
				t.Errorf("label set %q with %v (GET: %v); want %q with %v", cr.LabelSet, got, ls.Labels, tc.wantSet, want)
			}
		})
	}
	// The demo model names what a single-object scene shows among its 48 labels.
	if !e.trained {
		return
	}
	e.setAutoTags()
	e.setRawLabelSet(DefaultLabelSet, nil)
	n := 0
	for i, s := range e.scenes {
		if s.NumObjects() != 1 {
			continue
		}
		n++
		o := s.Objects[0]
		want := "a " + o.Colour.String() + " " + o.Shape.String()
		if o.Colour == scene.Orange {
			want = "an " + want[2:]
		}
		var cr classified
		e.call("POST", "/v1/classify", readKey, map[string]any{"image_id": e.itemID(i), "label_set": DefaultLabelSet}, &cr)
		if cr.LabelSet != BuiltinDemoLabelSet || len(cr.Labels) == 0 || cr.Labels[0].Label != want {
			t.Errorf("scene %d (%q): set %q, top labels %v, want %q", i, s.Caption(), cr.LabelSet, cr.Labels[:min(3, len(cr.Labels))], want)
		}
	}
	if n == 0 {
		t.Error("no single-object scene among the test scenes")
	}
}

// classified is a POST /v1/classify answer.
type classified struct {
	Labels []struct {
		Label       string  `json:"label"`
		Probability float64 `json:"probability"`
	} `json:"labels"`
	LabelSet string `json:"label_set"`
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// foldersEnv indexes 12 scenes and moves some into sub-folders of the root:
// 2024/05 holds scenes 0–3, 2023 scenes 4–5, the root the others. ids are
// the scenes' item ids.
func foldersEnv(t *testing.T) (e *env, ids []string) {
	t.Helper()
	e = newEnv(t, envConfig{scenes: 12})
	for i := range e.scenes {
		ids = append(ids, e.itemID(i))
	}
	for _, mv := range []struct {
		dir    string
		scenes []int
	}{{"2024/05", []int{0, 1, 2, 3}}, {"2023", []int{4, 5}}} {
		dir := filepath.Join(e.photos, mv.dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, i := range mv.scenes {
			if err := os.Rename(e.scenePath(i), filepath.Join(dir, filepath.Base(e.scenePath(i)))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := e.ix.Run(t.Context(), e.photos); err != nil {
		t.Fatalf("re-index: %v", err)
	}
	return e, ids
}

// TestFolders checks GET /v1/folders: the indexed folders under the roots
// with their image counts, matched by an absolute or a relative prefix,
// shallowest first, bounded by limit.
func TestFolders(t *testing.T) {
	e, _ := foldersEnv(t)
	root := filepath.Base(e.photos) // "photos"
	// A prefix through a symlink lists what a search with it finds.
	link := filepath.Join(t.TempDir(), "link2023")
	if err := os.Symlink(filepath.Join(e.photos, "2023"), link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query     string
		status    int
		want      []string // "name count"
		truncated bool
	}{
		{"", 200, []string{root + " 12", root + "/2023 2", root + "/2024 4", root + "/2024/05 4"}, false},
		{"?prefix=" + root, 200, []string{root + " 12", root + "/2023 2", root + "/2024 4", root + "/2024/05 4"}, false},
		{"?prefix=" + root[:3], 200, []string{root + " 12", root + "/2023 2", root + "/2024 4", root + "/2024/05 4"}, false},
		{"?prefix=" + root + "/20", 200, []string{root + "/2023 2", root + "/2024 4", root + "/2024/05 4"}, false},
		{"?prefix=2024/", 200, []string{root + "/2024 4", root + "/2024/05 4"}, false},
		{"?prefix=2024/0", 200, []string{root + "/2024/05 4"}, false},
		{"?prefix=" + url.QueryEscape(e.photos+"/2023"), 200, []string{root + "/2023 2"}, false},
		{"?prefix=" + url.QueryEscape(link+"/"), 200, []string{root + "/2023 2"}, false},
		{"?prefix=elsewhere", 200, nil, false},
		{"?prefix=/elsewhere", 200, nil, false},
		{"?limit=2", 200, []string{root + " 12", root + "/2023 2"}, true},
		{"?limit=0", 400, nil, false},
		{"?limit=201", 400, nil, false},
	} {
		t.Run(tc.query, func(t *testing.T) {
			var fr struct {
				Roots   []string `json:"roots"`
				Folders []struct {
					Path  string `json:"path"`
					Name  string `json:"name"`
					Count int    `json:"count"`
				} `json:"folders"`
				Truncated bool `json:"truncated"`
			}
			st, _ := e.call("GET", "/v1/folders"+tc.query, readKey, nil, &fr)
			if st != tc.status {
				t.Fatalf("status %d, want %d", st, tc.status)
			}
			if st != 200 {
				return
			}
			var got []string
			for _, f := range fr.Folders {
				got = append(got, f.Name+" "+strconv.Itoa(f.Count))
				if f.Path != filepath.Join(filepath.Dir(e.photos), f.Name) {
					t.Errorf("folder %s has path %s", f.Name, f.Path)
				}
			}
			if !slices.Equal(got, tc.want) || fr.Truncated != tc.truncated || !slices.Equal(fr.Roots, []string{e.photos}) {
				t.Errorf("roots %v, folders %v truncated %v; want %v truncated %v", fr.Roots, got, fr.Truncated, tc.want, tc.truncated)
			}
		})
	}
	if st, _ := e.call("GET", "/v1/folders", "", nil, nil); st != http.StatusUnauthorized {
		t.Errorf("folders without a key: %d, want 401", st)
	}
}

// TestRelativePathPrefix checks that a path_prefix that is not absolute is
// matched relative to the roots: from the root itself ("2024/") or from its
// own name ("photos/2024").
func TestRelativePathPrefix(t *testing.T) {
	e, ids := foldersEnv(t)
	root := filepath.Base(e.photos)
	for _, tc := range []struct {
		prefix string
		want   []int // scenes
	}{
		{root, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{root + "/", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{root + "/2024", []int{0, 1, 2, 3}},
		{root + "/2024/05/", []int{0, 1, 2, 3}},
		{"2024/05", []int{0, 1, 2, 3}},
		{"2023/", []int{4, 5}},
		{"20", []int{0, 1, 2, 3, 4, 5}},
		{root + "/test-00000", []int{6, 7, 8, 9}},
		{e.photos + "/2023/", []int{4, 5}},
		{"elsewhere", nil},
		{"05", nil},           // not a folder of the root
		{"../elsewhere", nil}, // climbs out of the root
		{"../" + root + "/2023/", []int{4, 5}},
	} {
		t.Run(tc.prefix, func(t *testing.T) {
			var sr SearchResponse
			if st, _ := e.call("POST", "/v1/search", readKey, map[string]any{"text": "a shape", "k": 50,
				"filter": map[string]any{"path_prefix": tc.prefix}}, &sr); st != 200 {
				t.Fatalf("search: %d", st)
			}
			var got, want []string
			for _, h := range sr.Hits {
				got = append(got, h.ID)
			}
			for _, i := range tc.want {
				want = append(want, ids[i])
			}
			if !sameSet(got, want) {
				t.Errorf("%d hits %v, want scenes %v", len(got), got, tc.want)
			}
		})
	}
}

// TestPageDateCap: the page's DATE_CAP, which its "truncated" note names,
// is the server's cap on sort=date's relevant set.
func TestPageDateCap(t *testing.T) {
	js, err := webFS.ReadFile("web/app.js")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`const DATE_CAP = (\d+);`).FindSubmatch(js)
	if m == nil {
		t.Fatal("app.js declares no DATE_CAP")
	}
	if got, err := strconv.Atoi(string(m[1])); err != nil || got != app.MaxRelevant {
		t.Errorf("app.js DATE_CAP = %s, the core's app.MaxRelevant = %d", m[1], app.MaxRelevant)
	}
}
