package main

import (
	"encoding/json"

	"github.com/spf13/cobra"

	"imglish/encoder/convert"
)

func init() { register(newConvertCmd) }

func newConvertCmd(g *globals) *cobra.Command {
	var opts convert.Options
	cmd := &cobra.Command{
		Use:   "convert --checkpoint FILE --out DIR",
		Short: "Convert an official BEiT3ForRetrieval checkpoint (.pth) into an imglish model folder",
		Long: `Convert reads a torch.save BEiT3ForRetrieval checkpoint ({'model': sd}, {'module': sd}
or a bare state_dict; fp32, fp16 or bf16 tensors) and writes vision.onnx, text.onnx and
model.json to --out. The architecture is read from tensor shapes; the head count is
width/64 unless --heads is given. --image-size resizes the vision position table
(PyTorch bicubic, as the official loader does), e.g. 224 ITC checkpoints to 384.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Logger = g.logger
			m, err := convert.Convert(cmd.Context(), opts)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(m)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Checkpoint, "checkpoint", "", "torch.save checkpoint file (required)")
	f.StringVar(&opts.OutDir, "out", "", "model folder to write (required)")
	f.StringVar(&opts.Tokenizer, "tokenizer", "", "SentencePiece model (beit3.spm) to copy into the folder")
	f.IntVar(&opts.ImageSize, "image-size", 0, "model input size in pixels (0: the checkpoint's)")
	f.IntVar(&opts.Heads, "heads", 0, "attention heads (0: width/64, right for base and large)")
	f.StringVar(&opts.Precision, "precision", convert.PrecisionFP32, "graph precision: fp32, fp16 (GPU) or int8 (CPU, quantised linear layers)")
	_ = cmd.MarkFlagRequired("checkpoint")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}
