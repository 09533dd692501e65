package tokenizer_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"imglish/encoder/tokenizer"
)

// ExampleTokenizer_BEiT3Input loads a model and builds BEiT-3 text input.
func ExampleTokenizer_BEiT3Input() {
	tk, err := tokenizer.Load(filepath.Join("..", "..", "testdata", "tokenizer", "uni_nmt_nfkc.model"))
	if err != nil {
		fmt.Println(err)
		return
	}
	var out []string
	for _, p := range tk.Encode("Ａ frog — ﬁne!") {
		out = append(out, fmt.Sprintf("%q:%d", p.Text, p.ID))
	}
	fmt.Println(strings.Join(out, " "))
	ids, err := tk.BEiT3Input("Ａ frog — ﬁne!", 64)
	fmt.Println(ids, err)
	_, err = tk.BEiT3Input(" \t ", 64)
	fmt.Println(errors.Is(err, tokenizer.ErrEmpty))
	// spm_encode --output_format=id gives the same ids: 18 3633 42 907 126 437 24.

	// Output:
	// "▁A":18 "▁fro":3633 "g":42 "▁—":907 "▁f":126 "ine":437 "!":24
	// [0 19 3634 43 908 127 438 25 2] <nil>
	// true
}
