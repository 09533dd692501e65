package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"imglish/encoder/pull"
)

func init() { register(newModelCmd) }

func newModelCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Download official BEiT-3 checkpoints and list installed models",
	}
	cmd.AddCommand(newModelPullCmd(g), newModelListCmd(g))
	return cmd
}

func newModelPullCmd(g *globals) *cobra.Command {
	var (
		mirror, layout, precision string
		noConvert, quiet          bool
	)
	cmd := &cobra.Command{
		Use:   "pull NAME",
		Short: "Download a known checkpoint and beit3.spm into <data>/models/NAME and convert it",
		Long: `pull downloads one of the official BEiT-3 checkpoints (see 'imglish model list --available')
with its SentencePiece model into <data>/models/NAME/, resuming an interrupted download, and
converts it to ONNX there. --mirror (env IMGLISH_MIRROR) picks the server: the official blob
store (default, sub-folder layout) or e.g. ` + pull.GitHubMirrorURL + ` (flat layout,
detected from github.com; --layout overrides).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lay, err := pull.ParseLayout(layout)
			if err != nil {
				return err
			}
			opts := pull.Options{
				BaseURL: mirror, Layout: lay, Logger: g.logger, Precision: precision, NoConvert: noConvert,
			}
			if !quiet {
				opts.Progress = os.Stderr
			}
			p, err := pull.New(opts)
			if err != nil {
				return err
			}
			res, err := p.Pull(cmd.Context(), g.data, args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s\n  checkpoint %s (%s, sha256 %s)\n", res.Dir, res.Checkpoint.Path, pull.HumanBytes(res.Checkpoint.Bytes), res.Checkpoint.SHA256)
			if res.Manifest != nil {
				fmt.Fprintf(out, "  model id %s; use it with --model %s\n", res.Manifest.ID, res.Dir)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&mirror, "mirror", os.Getenv("IMGLISH_MIRROR"), "base URL of the checkpoint server; env IMGLISH_MIRROR (default: the official blob store)")
	f.StringVar(&layout, "layout", "auto", "mirror layout: auto, folders (official blob store) or flat (GitHub release)")
	f.StringVar(&precision, "precision", "fp32", "converted graph precision: fp32 or fp16")
	f.BoolVar(&noConvert, "no-convert", false, "download only")
	f.BoolVar(&quiet, "quiet", false, "no progress bar")
	return cmd
}

func newModelListCmd(g *globals) *cobra.Command {
	var available bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List models installed under <data>/models (with --available: the names pull knows)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			if available {
				fmt.Fprintln(tw, "NAME\tSIZE PX\tFILE\tDESCRIPTION")
				for _, m := range pull.Known() {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", m.Name, m.ImageSize, m.File, m.Description)
				}
				return tw.Flush()
			}
			list, err := pull.List(g.data)
			if err != nil {
				return err
			}
			fmt.Fprintln(tw, "NAME\tSIZE\tDIM\tIMAGE\tPRECISION\tSTATUS\tDIR")
			for _, m := range list {
				dim, img, prec, status := "-", "-", "-", "ready"
				switch {
				case m.Manifest != nil:
					dim = fmt.Sprint(m.Manifest.Architecture.Dim)
					img = fmt.Sprint(m.Manifest.Image.Size)
					prec = m.Manifest.Precision
				case m.Partial:
					status = "downloading (resume with pull)"
				default:
					status = "not converted"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, pull.HumanBytes(m.Bytes), dim, img, prec, status, m.Dir)
			}
			if len(list) == 0 {
				fmt.Fprintf(tw, "(none under %s/models; try 'imglish model pull beit3-base-coco')\n", g.data)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&available, "available", false, "list the names 'pull' accepts instead")
	return cmd
}
