package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"imglish/encoder/modelfile"
	"imglish/encoder/tokenizer"
)

func init() { register(newTokenizeCmd) }

// tokenizeOutput is one line of `imglish tokenize` output.
type tokenizeOutput struct {
	Pieces []string `json:"pieces"`
	SPMIDs []int    `json:"spm_ids"`
	IDs    []int64  `json:"ids"` // XLM-R ids, without <s> and </s>
}

func newTokenizeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "tokenize [text...]",
		Short: "Print the SentencePiece pieces and ids of texts (one JSON object per text; stdin lines when no text is given)",
		Long: `tokenize encodes each text argument, or else each line of stdin, with the
model's SentencePiece tokenizer and prints one JSON object per input:
{"pieces": [...], "spm_ids": [...], "ids": [...]}, where ids are the XLM-R ids
BEiT-3 uses, without <s> and </s>. --model is a model folder (its model.json
names the tokenizer file) or a .spm/.model file.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tk, err := tokenizerFromModel(g.model)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetEscapeHTML(false)
			emit := func(text string) error {
				ps := tk.Encode(text)
				out := tokenizeOutput{Pieces: make([]string, len(ps)), SPMIDs: make([]int, len(ps)), IDs: make([]int64, len(ps))}
				for i, p := range ps {
					out.Pieces[i], out.SPMIDs[i], out.IDs[i] = p.Text, p.ID, tokenizer.XLMRID(p.ID)
				}
				if err := enc.Encode(out); err != nil {
					return fmt.Errorf("write output: %w", err)
				}
				return nil
			}
			for _, a := range args {
				if err := emit(a); err != nil {
					return err
				}
			}
			if len(args) > 0 {
				return nil
			}
			// Lines end at "\n" only, as for spm_encode; a final line without
			// one still counts.
			r := bufio.NewReader(cmd.InOrStdin())
			ctx := cmd.Context()
			for {
				if err := ctx.Err(); err != nil {
					return err
				}
				line, err := r.ReadString('\n')
				if len(line) > 0 {
					if err := emit(strings.TrimSuffix(line, "\n")); err != nil {
						return err
					}
				}
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return fmt.Errorf("read stdin: %w", err)
				}
			}
		},
	}
}

// tokenizerFromModel opens the tokenizer named by --model: a model folder (its
// model.json's text.tokenizer file) or a SentencePiece model file.
func tokenizerFromModel(model string) (*tokenizer.Tokenizer, error) {
	if model == "" {
		return nil, errors.New("tokenize: --model is required (a model folder or a .spm/.model file)")
	}
	st, err := os.Stat(model)
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	path := model
	if st.IsDir() {
		m, err := modelfile.Load(model)
		if err != nil {
			return nil, err
		}
		if m.Text.Tokenizer == "" {
			return nil, fmt.Errorf("model %s: %w: no tokenizer file in model.json", model, modelfile.ErrInvalid)
		}
		if filepath.Base(m.Text.Tokenizer) != m.Text.Tokenizer {
			return nil, fmt.Errorf("model %s: %w: tokenizer %q is not a file name", model, modelfile.ErrInvalid, m.Text.Tokenizer)
		}
		path = filepath.Join(model, m.Text.Tokenizer)
	}
	return tokenizer.Load(path)
}
