package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"
	"golang.org/x/sys/cpu"

	"imglish/encoder"
	"imglish/encoder/modelfile"
	"imglish/store"
)

func init() { register(newDoctorCmd) }

// doctorReport is what `imglish doctor` prints, as JSON.
type doctorReport struct {
	GoVersion   string               `json:"go_version"`
	CPUs        int                  `json:"cpus"`
	CPUFeatures map[string]bool      `json:"cpu_features"`
	Runtime     *encoder.RuntimeInfo `json:"onnxruntime,omitempty"`
	RuntimeErr  string               `json:"onnxruntime_error,omitempty"`
	CUDA        encoder.CUDAInfo     `json:"cuda"`
	Models      []string             `json:"models"`
	DataDir     string               `json:"data_dir"`
	Store       *storeReport         `json:"store,omitempty"`
	// Cluster is the Weaviate cluster of --backend weaviate.
	Cluster *clusterReport `json:"cluster,omitempty"`
}

// storeReport is the store part of `imglish doctor`: per space, its size and the
// recall@10 of its HNSW graph against an exact scan on a random sample.
type storeReport struct {
	Items  int           `json:"items"`
	Spaces []spaceReport `json:"spaces"`
	Err    string        `json:"error,omitempty"`
}

type spaceReport struct {
	store.Space
	Recall10  float64 `json:"recall_at_10"`
	RecallErr string  `json:"recall_error,omitempty"`
}

func newDoctorCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Report the ONNX Runtime, CPU features, CUDA, the models this install can see and the store (or Weaviate cluster)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep := doctorReport{
				GoVersion: runtime.Version(),
				CPUs:      runtime.NumCPU(),
				CPUFeatures: map[string]bool{
					"avx2": cpu.X86.HasAVX2, "fma": cpu.X86.HasFMA, "avx512f": cpu.X86.HasAVX512F,
					"avx512vnni": cpu.X86.HasAVX512VNNI, "avx512bf16": cpu.X86.HasAVX512BF16,
				},
				DataDir: g.data,
			}
			if info, err := encoder.ProbeRuntime(g.ortLib); err != nil {
				rep.RuntimeErr = err.Error()
			} else {
				rep.Runtime = &info
			}
			// After the CPU probe has released its runtime: listing CUDA
			// devices loads the GPU build of ORT ($IMGLISH_ORT_GPU_LIB or
			// `make setup-gpu`'s folder).
			rep.CUDA = encoder.ProbeCUDA("")
			rep.Models = findModels(g)
			if wv, err := g.backend.weaviate(); err != nil {
				return err
			} else if wv {
				rep.Cluster = checkCluster(cmd.Context(), g)
			} else {
				rep.Store = checkStore(cmd.Context(), g.data)
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(rep)
		},
	}
}

// recallSample is how many stored vectors doctor uses as queries for the
// recall self-check; 200 keeps it to a second or two on 100k vectors.
const recallSample = 200

// checkStore opens the data directory read-only when it holds a store and
// reports each space with its recall self-check; nil when there is no store.
func checkStore(ctx context.Context, dir string) *storeReport {
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err != nil {
		return nil
	}
	db, err := store.Open(ctx, dir, store.Options{ReadOnly: true})
	if err != nil {
		return &storeReport{Err: err.Error()}
	}
	defer db.Close()
	rep := &storeReport{Items: db.ItemCount()}
	for _, sp := range db.Spaces() {
		sr := spaceReport{Space: sp}
		if sp.Count > 0 {
			r, err := db.RecallCheck(ctx, sp.Name, recallSample, 10, 0)
			if err != nil {
				sr.RecallErr = err.Error()
			}
			sr.Recall10 = r
		}
		rep.Spaces = append(rep.Spaces, sr)
	}
	return rep
}

// findModels lists model folders (those holding model.json) under the data
// directory's models/ folder and the explicit --model folder.
func findModels(g *globals) []string {
	var out []string
	if g.model != "" {
		if _, err := modelfile.Load(g.model); err == nil {
			out = append(out, g.model)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(g.data, "models"))
	for _, e := range entries {
		dir := filepath.Join(g.data, "models", e.Name())
		if _, err := modelfile.Load(dir); err == nil {
			out = append(out, dir)
		}
	}
	return out
}
