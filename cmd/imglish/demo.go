package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"imglish/demo"
	"imglish/demo/scene"
	"imglish/model"
)

func init() { register(newDemoCmd) }

func newDemoCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "The synthetic demo world: generate captioned scenes",
	}
	cmd.AddCommand(newDemoScenesCmd(g), newDemoEvalCmd(g))
	return cmd
}

func newDemoScenesCmd(g *globals) *cobra.Command {
	var (
		out, split, format string
		n, first, size     int
		seed               uint64
		minObj, maxObj     int
		all                bool
	)
	cmd := &cobra.Command{
		Use:   "scenes",
		Short: "Write N generated scenes into --out: the images in --out/images (index that), captions.tsv and scenes.jsonl beside it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sp, err := scene.ParseSplit(split)
			if err != nil {
				return err
			}
			f, err := scene.ParseFormat(format)
			if err != nil {
				return err
			}
			gen, err := scene.New(scene.Options{Seed: seed, Split: sp, MinObjects: minObj, MaxObjects: maxObj})
			if err != nil {
				return err
			}
			if out == "" {
				return fmt.Errorf("demo scenes: --out is required: %w", scene.ErrOptions)
			}
			err = scene.WriteDataset(cmd.Context(), out, gen, scene.DatasetOptions{
				N: n, First: first, Size: size, Format: f, AllCaptions: all,
			})
			if err != nil {
				return err
			}
			g.logger.Info("wrote scenes", "dir", out, "n", n, "split", sp, "seed", seed, "size", size)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&out, "out", "", "output folder (created)")
	fl.IntVar(&n, "n", 200, "number of scenes")
	fl.IntVar(&first, "first", 0, "index of the first scene")
	fl.Uint64Var(&seed, "seed", 1, "seed of the scene stream")
	fl.IntVar(&size, "size", 128, "image side in pixels")
	fl.StringVar(&split, "split", "train", "train or test (disjoint streams)")
	fl.StringVar(&format, "format", "png", "png or jpg")
	fl.IntVar(&minObj, "min-objects", 1, "fewest objects per scene (1..3)")
	fl.IntVar(&maxObj, "max-objects", 3, "most objects per scene (1..3)")
	fl.BoolVar(&all, "all-captions", false, "write every caption variant to captions.tsv, not only the canonical one")
	return cmd
}

func newDemoEvalCmd(g *globals) *cobra.Command {
	var opts demo.EvalOptions
	var threads int
	cmd := &cobra.Command{
		Use:   "eval --model DIR",
		Short: "Measure a converted demo model on held-out scenes: R@1/5/10 both ways and zero-shot accuracy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.model == "" {
				return fmt.Errorf("demo eval: --model is required: %w", demo.ErrOptions)
			}
			m, err := model.Open(cmd.Context(), g.model, g.modelOptions(threads))
			if err != nil {
				return err
			}
			defer m.Close()
			if !m.HasTokenizer() {
				return fmt.Errorf("demo eval: %s has no tokenizer: %w", g.model, demo.ErrOptions)
			}
			rep, err := demo.Evaluate(cmd.Context(), m, opts)
			if err != nil {
				return err
			}
			e := json.NewEncoder(cmd.OutOrStdout())
			e.SetIndent("", "  ")
			return e.Encode(rep)
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&opts.Seed, "seed", 1, "test-split seed")
	f.IntVar(&opts.Scenes, "scenes", 1000, "scenes per set (multi-object retrieval, single-object zero-shot)")
	f.IntVar(&opts.RenderSize, "size", 128, "render size in pixels before preprocessing")
	f.IntVar(&threads, "threads", 0, "ONNX Runtime threads (0: one per core)")
	return cmd
}
