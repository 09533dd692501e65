package app

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"imglish/store"
)

// TestMigrateLabelSets: label set files of an older data folder move into the
// store and are removed; a set the store already holds keeps its stored
// version; files that are no label set, or do not parse, stay where they are.
func TestMigrateLabelSets(t *testing.T) {
	data := t.TempDir()
	db, err := store.Open(t.Context(), filepath.Join(data, "store"), store.Options{MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := putLabelSets(t.Context(), db, map[string]LabelSet{"kept": {Labels: []string{"stored"}}}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(data, "labelsets")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := []struct {
		name, content string
		stays         bool     // the file is left in place
		want          []string // labels stored under the name (nil: none)
	}{
		{"animals.json", `{"labels":["cat","dog"],"auto_tag":true,"min_prob":0.3}`, false, []string{"cat", "dog"}},
		{"kept.json", `{"labels":["from file"]}`, false, []string{"stored"}},
		{"broken.json", `{"labels":`, true, nil},
		{"notes.txt", `{"labels":["x"]}`, true, nil},
		{"bad:name.json", `{"labels":["x"]}`, true, nil},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n, err := MigrateLabelSets(t.Context(), db, data, nil)
	if err != nil || n != 1 {
		t.Fatalf("MigrateLabelSets: %d, %v; want 1 set stored", n, err)
	}
	for _, f := range files {
		_, serr := os.Stat(filepath.Join(dir, f.name))
		if stays := serr == nil; stays != f.stays {
			t.Errorf("%s: file stays %v, want %v", f.name, stays, f.stays)
		}
		name := strings.TrimSuffix(f.name, ".json")
		if ValidName("label set", name) != nil {
			continue
		}
		ls, err := getLabelSet(db, name)
		switch {
		case f.want == nil && !errors.Is(err, ErrNotFound):
			t.Errorf("%s: %+v, %v; want ErrNotFound", name, ls, err)
		case f.want != nil && (err != nil || !slices.Equal(ls.Labels, f.want)):
			t.Errorf("%s: %+v, %v; want labels %v", name, ls, err, f.want)
		}
	}
	if ls, _ := getLabelSet(db, "animals"); !ls.AutoTag || ls.MinProb != 0.3 {
		t.Errorf("migrated auto-tag settings %+v, want auto_tag with min_prob 0.3", ls)
	}
	if flagged, err := flaggedLabelSets(t.Context(), db); err != nil || !slices.Equal(flagged, []string{"animals"}) {
		t.Errorf("auto-tag sets after migration: %v, %v; want [animals]", flagged, err)
	}
	// A second run finds only what was left and stores nothing.
	if n, err := MigrateLabelSets(t.Context(), db, data, nil); err != nil || n != 0 {
		t.Errorf("second MigrateLabelSets: %d, %v; want 0", n, err)
	}
}
