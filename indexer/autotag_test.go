package indexer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"imglish/store"
)

// signTagger tags an image by the sign of one vector coordinate, a function
// of the vector the test can recompute from the store.
func signTagger(dim int, calls *atomic.Int64) TaggerFunc {
	return func(_ context.Context, vec []float32) ([]string, error) {
		if calls != nil {
			calls.Add(1)
		}
		if vec[dim] >= 0 {
			return []string{fmt.Sprintf("d%d-pos", dim)}, nil
		}
		return []string{fmt.Sprintf("d%d-neg", dim)}, nil
	}
}

// wantAutoTags checks that every item in the model's space carries exactly
// the auto-tag tagger gives its stored vector, plus the other tags in keep.
func (e *env) wantAutoTags(tagger Tagger, keep map[string][]string) {
	e.t.Helper()
	n := 0
	err := e.db.Items(context.Background(), nil, func(it store.Item) bool {
		vec, err := e.db.Vector(store.ImageSpace(e.model), it.ID)
		if err != nil {
			e.t.Errorf("item %s: vector: %v", it.ID, err)
			return true
		}
		tags, _ := tagger.Tags(context.Background(), vec)
		want := append(slices.Clone(keep[it.ID]), AutoTagPrefix+tags[0])
		slices.Sort(want)
		if !slices.Equal(it.Tags, want) {
			e.t.Errorf("item %s: tags %q, want %q", it.ID, it.Tags, want)
		}
		n++
		return true
	})
	if err != nil || n == 0 {
		e.t.Fatalf("items: %d, %v", n, err)
	}
}

func TestAutoTags(t *testing.T) {
	var calls atomic.Int64
	tagger := signTagger(0, &calls)
	e := newEnv(t, Options{Tagger: tagger})
	root := t.TempDir()
	paths := collection(t, root, 8, 11)
	e.run(root)
	if got := calls.Load(); got != 8 {
		t.Errorf("tagger called %d times for 8 new images", got)
	}
	e.wantAutoTags(tagger, nil)

	// A person's tag is kept when auto-tags change (Retag with another rule).
	it, err := e.db.ItemByPath(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	it.Tags = append(it.Tags, "holiday")
	var b store.Batch
	b.PutItem(it)
	if err := e.db.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	other := signTagger(1, nil)
	ix2 := e.indexer(e.enc, Options{Tagger: other})
	n, err := ix2.Retag(t.Context())
	if err != nil || n != 8 {
		t.Fatalf("retag: %d changed, %v; want 8", n, err)
	}
	e.wantAutoTags(other, map[string][]string{it.ID: {"holiday"}})
	if n, err := ix2.Retag(t.Context()); err != nil || n != 0 {
		t.Errorf("second retag: %d changed, %v; want 0", n, err)
	}

	// A copy costs no inference and no tagging; the tags stay.
	calls.Store(0)
	copyFile(t, paths[1], filepath.Join(root, "copy.png"))
	e.run(root)
	if calls.Load() != 0 {
		t.Errorf("a copy was tagged again")
	}

	if _, err := e.indexer(e.enc, Options{}).Retag(t.Context()); !errors.Is(err, ErrOptions) {
		t.Errorf("retag without a tagger: %v, want ErrOptions", err)
	}
}

// TestAutoTagsConcurrentPath adds a path to an item while the tagger is busy
// with another batch: the new path and the tags both survive.
func TestAutoTagsConcurrentPath(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	base := signTagger(0, nil)
	tagger := TaggerFunc(func(ctx context.Context, vec []float32) ([]string, error) {
		once.Do(func() {
			close(entered)
			<-release
		})
		return base(ctx, vec)
	})
	e := newEnv(t, Options{})
	first, second := t.TempDir(), t.TempDir()
	paths := collection(t, first, 3, 21)
	e.run(first) // untagged items
	tagging := e.indexer(e.enc, Options{Tagger: tagger})
	collection(t, second, 4, 22)
	copyFile(t, paths[0], filepath.Join(second, "copy-of-0.png"))

	done := make(chan error, 2)
	go func() { _, err := tagging.Run(t.Context(), second); done <- err }()
	<-entered // the tagging run is inside its commit
	// Meanwhile another run links a new path to an existing item and a Retag
	// of the whole space is queued.
	copyFile(t, paths[1], filepath.Join(first, "late.png"))
	go func() { _, err := tagging.Run(t.Context(), first); done <- err }()
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tagging.Retag(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(first, "late.png"), filepath.Join(second, "copy-of-0.png"), paths[0], paths[1]} {
		if _, err := e.db.ItemByPath(p); err != nil {
			t.Errorf("path %s lost: %v", p, err)
		}
	}
	e.wantAutoTags(base, nil)
	e.checkConsistent(first, nil)
}
