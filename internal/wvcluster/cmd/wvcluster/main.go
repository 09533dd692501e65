// Command wvcluster starts a Weaviate cluster on loopback for people to try
// imglish's Weaviate work by hand (`make cluster`): N nodes on free ports,
// each with its own data folder, until Ctrl-C. Extra environment for every
// node comes from -env (repeatable), e.g. the multi2vec-clip module:
//
//	go run ./internal/wvcluster/cmd/wvcluster -nodes 3 -dir .run/cluster \
//	    -env ENABLE_MODULES=multi2vec-clip -env CLIP_INFERENCE_API=http://127.0.0.1:8081
//
// -urls-file FILE writes the nodes' URLs there, comma-separated (the form of
// imglish's --weaviate), once every node is ready, and removes it on exit:
// its presence says the cluster is up (`make run BACKEND=weaviate` waits for
// it). -grpc-file FILE likewise writes their gRPC addresses (imglish's
// --weaviate-grpc), before the URLs file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"imglish/internal/wvcluster"
)

type envFlags []string

func (e *envFlags) String() string     { return strings.Join(*e, " ") }
func (e *envFlags) Set(v string) error { *e = append(*e, v); return nil }

func main() {
	nodes := flag.Int("nodes", 3, "number of nodes")
	dir := flag.String("dir", ".run/cluster", "data and log folder")
	bin := flag.String("bin", "", "weaviate-server binary (default: make setup-weaviate's, $"+wvcluster.BinEnv+", or PATH)")
	urlsFile := flag.String("urls-file", "", "write the node URLs (comma-separated) to this file once ready; removed on exit")
	grpcFile := flag.String("grpc-file", "", "write the nodes' gRPC addresses (comma-separated) to this file once ready, before -urls-file; removed on exit")
	var env envFlags
	flag.Var(&env, "env", "NAME=VALUE added to every node's environment (repeatable)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*nodes, *dir, *bin, *urlsFile, *grpcFile, env, log); err != nil {
		fmt.Fprintln(os.Stderr, "wvcluster:", err)
		os.Exit(1)
	}
}

func run(nodes int, dir, bin, urlsFile, grpcFile string, env []string, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if bin == "" {
		wd, _ := os.Getwd()
		if bin, err = wvcluster.Find(wd); err != nil {
			return err
		}
	}
	cl, err := wvcluster.Start(ctx, wvcluster.Options{Bin: bin, Nodes: nodes, Dir: abs, Env: env, Logger: log})
	if err != nil {
		return err
	}
	for _, n := range cl.Nodes {
		fmt.Printf("%s  http %s  grpc %s  log %s\n", n.Name, n.URL(), n.GRPCAddr(), n.LogPath())
	}
	// Each file is written whole under another name, then renamed: a
	// reader never sees half a list.
	for _, f := range []struct{ path, list string }{
		{grpcFile, strings.Join(cl.GRPCAddrs(), ",")},
		{urlsFile, strings.Join(cl.URLs(), ",")},
	} {
		if f.path == "" {
			continue
		}
		tmp := f.path + ".tmp"
		if err := os.WriteFile(tmp, []byte(f.list+"\n"), 0o644); err != nil {
			return errors.Join(err, cl.Stop())
		}
		if err := os.Rename(tmp, f.path); err != nil {
			return errors.Join(err, cl.Stop())
		}
		defer os.Remove(f.path)
	}
	fmt.Printf("imglish flags: --backend weaviate --weaviate %s --weaviate-grpc %s\n", strings.Join(cl.URLs(), ","), strings.Join(cl.GRPCAddrs(), ","))
	fmt.Printf("weaviate %s: %d nodes ready; Ctrl-C stops them\n", wvcluster.Version, nodes)
	<-ctx.Done()
	return cl.Stop()
}
