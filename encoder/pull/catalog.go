package pull

import (
	"fmt"
	"slices"
	"strings"
)

// Model is one downloadable checkpoint.
type Model struct {
	// Name is what `imglish model pull` takes, and the folder name under <data>/models.
	Name string
	// File is the checkpoint's file name on every mirror.
	File string
	// Folder is its sub-folder in the official blob store layout.
	Folder string
	// ImageSize is the checkpoint's native input size.
	ImageSize int
	// Bytes and SHA256 are checked when non-zero/non-empty. The official README
	// publishes neither, so the built-in catalogue leaves them unset and the
	// computed sha256 is only recorded.
	Bytes  int64
	SHA256 string
	// Description says what the checkpoint is for.
	Description string
}

// Tokenizer is the SentencePiece model every official checkpoint uses.
var tokenizerFile = Model{Name: "beit3.spm", File: "beit3.spm", Folder: "sentencepiece", Description: "BEiT-3 SentencePiece model (64000 pieces)"}

// Known returns the built-in catalogue (spec §6.1): the base/large retrieval
// checkpoints fine-tuned on COCO and Flickr30k at 384 px, and the base/large
// ITC checkpoints at 224 px, which work zero-shot. It returns a fresh slice.
func Known() []Model {
	return []Model{
		{Name: "beit3-base-coco", File: "beit3_base_patch16_384_coco_retrieval.pth", Folder: "coco_retrieval", ImageSize: 384, Description: "BEiT-3 base (222M), COCO retrieval fine-tuned, 384 px"},
		{Name: "beit3-large-coco", File: "beit3_large_patch16_384_coco_retrieval.pth", Folder: "coco_retrieval", ImageSize: 384, Description: "BEiT-3 large (675M), COCO retrieval fine-tuned, 384 px"},
		{Name: "beit3-base-f30k", File: "beit3_base_patch16_384_f30k_retrieval.pth", Folder: "f30k_retrieval", ImageSize: 384, Description: "BEiT-3 base (222M), Flickr30k retrieval fine-tuned, 384 px"},
		{Name: "beit3-large-f30k", File: "beit3_large_patch16_384_f30k_retrieval.pth", Folder: "f30k_retrieval", ImageSize: 384, Description: "BEiT-3 large (675M), Flickr30k retrieval fine-tuned, 384 px"},
		{Name: "beit3-base-itc", File: "beit3_base_itc_patch16_224.pth", Folder: "pretraining", ImageSize: 224, Description: "BEiT-3 base (222M), image-text contrastive pretraining, 224 px, zero-shot"},
		{Name: "beit3-large-itc", File: "beit3_large_itc_patch16_224.pth", Folder: "pretraining", ImageSize: 224, Description: "BEiT-3 large (674M), image-text contrastive pretraining, 224 px, zero-shot"},
	}
}

// lookup finds name in catalogue (case-insensitive; a trailing ".pth" file name works too).
func lookup(catalogue []Model, name string) (Model, error) {
	for _, m := range catalogue {
		if strings.EqualFold(m.Name, name) || m.File == name {
			return m, nil
		}
	}
	names := make([]string, 0, len(catalogue))
	for _, m := range catalogue {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	return Model{}, fmt.Errorf("%w: %q (known: %s)", ErrUnknownModel, name, strings.Join(names, ", "))
}
