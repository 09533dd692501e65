package preprocess_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"imglish/encoder/preprocess"
)

// ExampleFile turns a photo into BEiT-3's input tensor.
func ExampleFile() {
	path := filepath.Join("..", "..", "testdata", "preprocess", "exif_rot6.jpg")
	tensor, info, err := preprocess.File(context.Background(), path, preprocess.Options{Size: 384})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(tensor), info.Format, info.StoredWidth, info.StoredHeight, "→", info.Width, info.Height)
	fmt.Println(info.EXIF.Model, info.EXIF.DateTimeOriginal)

	_, _, err = preprocess.File(context.Background(), filepath.Join("..", "..", "testdata", "preprocess", "bomb_header.png"), preprocess.Options{})
	fmt.Println(errors.Is(err, preprocess.ErrTooLarge))
	// Output:
	// 442368 jpeg 48 32 → 32 48
	// Fixture Cam 1 2021:07:04 12:34:56
	// true
}
