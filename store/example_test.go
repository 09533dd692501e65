package store_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"imglish/store"
)

func ExampleOpen() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "imglish-example")
	defer os.RemoveAll(dir)
	db, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	space := store.ImageSpace("demo")
	if err := db.CreateSpace(ctx, store.Space{Name: space, Kind: store.KindImages, Model: "demo", Dim: 3}); err != nil {
		log.Fatal(err)
	}
	var b store.Batch
	b.PutItem(store.Item{ID: "a1", Hash: "a1", Files: []store.File{{Path: "/photos/cat.jpg"}}})
	b.PutVector(space, "a1", []float32{1, 0, 0})
	b.PutItem(store.Item{ID: "b2", Hash: "b2", Files: []store.File{{Path: "/photos/dog.jpg"}}})
	b.PutVector(space, "b2", []float32{0, 1, 0})
	if err := db.Apply(ctx, &b); err != nil { // durable once it returns
		log.Fatal(err)
	}
	hits, err := db.Search(ctx, space, []float32{0.9, 0.1, 0}, 1, store.SearchOptions{})
	if err != nil {
		log.Fatal(err)
	}
	it, _ := db.Item(hits[0].ID)
	fmt.Println(hits[0].ID, it.Files[0].Path)
	// Output: a1 /photos/cat.jpg
}
