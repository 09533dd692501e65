package indexer

import (
	"context"
	"errors"
	"testing"

	"imglish/store"
)

// itemValue is an item's vector in the env's space.
type itemValue struct {
	Vector []float32
	Item   store.Item
}

// items returns every item that has a vector in the space, by content hash.
func (e *env) items() (map[Hash]itemValue, error) {
	out := map[Hash]itemValue{}
	err := e.db.Items(context.Background(), nil, func(it store.Item) bool {
		v, err := e.db.Vector(store.ImageSpace(e.model), it.ID)
		if errors.Is(err, store.ErrNotFound) {
			return true
		}
		h, _ := hashOf(it.ID)
		out[h] = itemValue{Vector: v, Item: it}
		return true
	})
	return out, err
}

func TestStoreCheckAfterRun(t *testing.T) {
	e := newEnv(t, Options{})
	root := t.TempDir()
	collection(t, root, 6, 9)
	e.run(root)
	if err := e.db.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	sp := store.ImageSpace(e.model)
	for _, s := range e.db.Spaces() {
		if s.Name == sp && s.Count != 6 {
			t.Errorf("space %s holds %d vectors, want 6", sp, s.Count)
		}
	}
}
