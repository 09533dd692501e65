package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"
	"golang.org/x/sys/cpu"

	"imglish/encoder"
	"imglish/encoder/modelfile"
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
}

func newDoctorCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Report the ONNX Runtime, CPU features, CUDA and the models this install can see",
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
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(rep)
		},
	}
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
