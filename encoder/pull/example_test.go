package pull_test

import (
	"fmt"

	"imglish/encoder/pull"
)

func ExamplePuller_URL() {
	p, err := pull.New(pull.Options{BaseURL: pull.GitHubMirrorURL})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range p.Catalogue()[:1] {
		fmt.Println(m.Name, p.URL(m))
	}
	// Output: beit3-base-coco https://github.com/addf400/files/releases/download/beit3/beit3_base_patch16_384_coco_retrieval.pth
}
