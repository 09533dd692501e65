package weaviate_test

import (
	"context"
	"log"

	"imglish/vstore"
	"imglish/vstore/weaviate"
)

// ExampleOpen opens a store on a three-node cluster (three replicas,
// QUORUM reads and writes by default) and creates a model's image space;
// a space of that name made for another model or dimension fails with
// vstore.ErrExists.
func ExampleOpen() {
	ctx := context.Background()
	s, err := weaviate.Open(ctx, weaviate.Options{
		URLs: []string{"http://10.0.0.1:8080", "http://10.0.0.2:8080", "http://10.0.0.3:8080"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	sp := vstore.Space{Name: vstore.ImageSpace("beit3-base"), Kind: vstore.KindImages, Model: "beit3-base", Dim: 768}
	if err := s.CreateSpace(ctx, sp); err != nil {
		log.Fatal(err)
	}
}
