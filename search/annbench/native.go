package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// nativeSource is the C++ driver for hnswlib, compiled at bench time with
// the CPU's own instruction set.
const nativeSource = "bench/hnswlib/hnswbench.cpp"

// errNoNative means native hnswlib cannot be built here (no compiler or no
// hnswlib headers); the benchmark goes on without it.
var errNoNative = errors.New("native hnswlib unavailable")

// native is a running hnswbench process: annbench sends it one command per
// line and reads one JSON line back, so its passes interleave with
// imglish's on the same thread without reloading the data. While annbench
// measures imglish, the driver is blocked reading stdin and uses no CPU.
type native struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// buildNative compiles the driver into dir with cxx -O3 -march=native and
// returns the binary's path and the compiler's version line.
func buildNative(cxx, dir string) (bin, version string, err error) {
	if _, err := os.Stat("/usr/include/hnswlib/hnswlib.h"); err != nil {
		return "", "", fmt.Errorf("hnswlib headers (apt-get install libhnswlib-dev): %w", errNoNative)
	}
	path, err := exec.LookPath(cxx)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", cxx, errNoNative)
	}
	bin = filepath.Join(dir, "hnswbench")
	c := exec.Command(path, "-O3", "-march=native", "-std=c++17", "-pthread", "-o", bin, nativeSource)
	c.Stderr = os.Stderr
	if err := c.Run(); err != nil {
		return "", "", fmt.Errorf("compile %s: %w", nativeSource, err)
	}
	v, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "", "", fmt.Errorf("%s --version: %w", cxx, err)
	}
	version, _, _ = strings.Cut(string(v), "\n")
	return bin, version, nil
}

func startNative(bin, data string, m, efc int) (*native, error) {
	c := exec.Command(bin, data, fmt.Sprint(m), fmt.Sprint(efc))
	c.Stderr = os.Stderr
	in, err := c.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	return &native{cmd: c, in: in, out: bufio.NewReader(out)}, nil
}

// call sends one command and decodes the answer into v.
func (n *native) call(command string, v any) error {
	if _, err := fmt.Fprintln(n.in, command); err != nil {
		return fmt.Errorf("hnswbench %s: %w", command, err)
	}
	line, err := n.out.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("hnswbench %s: %w", command, err)
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(line, &e) == nil && e.Error != "" {
		return fmt.Errorf("hnswbench %s: %s", command, e.Error)
	}
	return json.Unmarshal(line, v)
}

// build builds a fresh index over all vectors.
func (n *native) build() (build, error) {
	var r struct {
		S     float64 `json:"build_s"`
		CPUS  float64 `json:"build_cpu_s"`
		Bytes float64 `json:"bytes_per_vector"`
	}
	if err := n.call("build", &r); err != nil {
		return build{}, err
	}
	return build{S: r.S, CPUS: r.CPUS, BytesPerVector: r.Bytes}, nil
}

// search runs one pass over the nq queries at ef.
func (n *native) search(ef, nq int) (run, error) {
	var r struct {
		Recall float64 `json:"recall"`
		S      float64 `json:"s"`
		CPUS   float64 `json:"cpu_s"`
	}
	if err := n.call(fmt.Sprintf("search %d", ef), &r); err != nil {
		return run{}, err
	}
	return run{Ef: ef, Recall: r.Recall, QPS: float64(nq) / r.S, QPSCPU: float64(nq) / r.CPUS}, nil
}

// threads runs the query set reps times at ef on workers threads that take
// the next query from a shared counter; the run's QPS counts every search.
func (n *native) threads(ef, workers, reps, nq int) (run, error) {
	var r struct {
		Recall float64 `json:"recall"`
		S      float64 `json:"s"`
		CPUS   float64 `json:"cpu_s"`
	}
	if err := n.call(fmt.Sprintf("threads %d %d %d", ef, workers, reps), &r); err != nil {
		return run{}, err
	}
	total := float64(reps * nq)
	return run{Ef: ef, Recall: r.Recall, QPS: total / r.S, QPSCPU: total / r.CPUS}, nil
}

func (n *native) close() error {
	fmt.Fprintln(n.in, "quit")
	n.in.Close()
	return n.cmd.Wait()
}
