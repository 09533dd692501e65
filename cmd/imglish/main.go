// Command imglish is the imglish cross-modal search engine: one binary with
// subcommands (convert, embed, tokenize, preprocess, index, search, serve, model,
// backup, doctor). This package only wires flags to the library packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/gin-gonic/gin"
	"github.com/spf13/cobra"

	"imglish/encoder"
	"imglish/internal/fspath"
	"imglish/model"
)

// globals are the flags every subcommand shares.
type globals struct {
	data     string
	model    string
	ortLib   string
	device   string
	logLevel string
	// exactJPEG decodes JPEGs at full size (preprocess.Options.Exact)
	// wherever images are embedded: index, serve, search, embed.
	exactJPEG bool
	// quantize holds the embedded store's image spaces as int8 codes in
	// memory (store.Options.Quantize).
	quantize bool
	// spin lets ONNX Runtime's threads busy-wait between operators
	// (encoder.Options.Spin).
	spin bool
	// backend chooses the vector store (embedded or a Weaviate cluster).
	backend backendFlags
	logger  *slog.Logger
}

// registry collects subcommands; each file of this package adds its own in init,
// so that parallel work on separate commands never edits the same file.
var registry []func(g *globals) *cobra.Command

func register(f func(g *globals) *cobra.Command) { registry = append(registry, f) }

func main() {
	// gin's mode is process state, so the program sets it, not the server
	// package: release mode keeps gin's debug route listing off stderr.
	gin.SetMode(gin.ReleaseMode)
	ctx, stop := notifySignals(context.Background())
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "imglish:", err)
		var ec exitCoder
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}

// exitCoder lets a command choose its process exit status.
type exitCoder interface{ ExitCode() int }

// notifySignals is signal.NotifyContext(parent, SIGINT, SIGTERM), except
// that the context's cause (context.Cause) is a signalCause naming the
// signal: NotifyContext's own cause is an unexported type that only its
// message tells apart, and a command's exit status depends on the signal
// (interrupted).
func notifySignals(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-ch:
			sig, _ := s.(syscall.Signal) // both signals asked for are
			cancel(signalCause{sig: sig})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		cancel(nil)
		signal.Stop(ch)
	}
}

// signalCause is the cause of notifySignals' context being cancelled by a
// signal.
type signalCause struct{ sig syscall.Signal }

func (c signalCause) Error() string { return c.sig.String() + " signal received" }

// interrupted is err, or, when err is ctx's cancellation by a signal
// (notifySignals), an *interruptedError whose message is hint, what to do
// next: "context canceled" says nothing to someone who pressed Ctrl-C.
func interrupted(ctx context.Context, err error, hint string) error {
	var sc signalCause
	if err == nil || !errors.Is(err, context.Canceled) || !errors.As(context.Cause(ctx), &sc) {
		return err
	}
	return &interruptedError{sig: sc.sig, hint: hint, err: err}
}

// interruptedError is a command stopped by a signal. The process exits
// with 128 plus the signal's number, as a shell reports a process the
// signal killed: 130 for SIGINT (Ctrl-C), 143 for SIGTERM. It unwraps to
// the command's own error (context.Canceled).
type interruptedError struct {
	sig  syscall.Signal
	hint string
	err  error
}

func (e *interruptedError) Error() string { return "interrupted: " + e.hint }

func (e *interruptedError) Unwrap() error { return e.err }

// ExitCode is 128 plus the signal's number.
func (e *interruptedError) ExitCode() int { return 128 + int(e.sig) }

func newRoot() *cobra.Command { return newRootFor(&globals{}) }

// newRootFor is newRoot with its flags parsed into g.
func newRootFor(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "imglish",
		Short:         "Self-hosted image↔text search with BEiT-3",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
				return fmt.Errorf("parse --log-level: %w", err)
			}
			g.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
			// The data dir is made canonical once, here, in the form the
			// indexer records paths in (uploads and deletes compare with it).
			// Nothing is created.
			data, err := fspath.Canonical(g.data)
			if err != nil {
				return fmt.Errorf("--data: %w", err)
			}
			g.data = data
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.data, "data", defaultDataDir(), "data directory (the store); env IMGLISH_DATA")
	pf.StringVar(&g.model, "model", os.Getenv("IMGLISH_MODEL"), "model name or folder; env IMGLISH_MODEL")
	pf.StringVar(&g.ortLib, "ort-lib", "", "ONNX Runtime shared library; env IMGLISH_ORT_LIB, else the folder make setup fills")
	pf.StringVar(&g.device, "device", envOr("IMGLISH_DEVICE", "cpu"), "where the encoder runs: cpu, or cuda (NVIDIA GPU, after make setup-gpu); env IMGLISH_DEVICE")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	pf.BoolVar(&g.exactJPEG, "exact-jpeg", false, "decode JPEGs at full size, as the official pipeline does (~4× slower on large photos); "+
		"by default one at least twice the model size is decoded at 1/2-1/8 scale first, about one level off. Index and search with the same setting")
	pf.BoolVar(&g.quantize, "quantize", envBool("IMGLISH_QUANTIZE"), "embedded store: keep image vectors in memory as int8 codes (a byte per dimension instead of four), "+
		"re-ranking each search's best candidates with the full vectors from disk; spaces under 4096 photos stay float; env IMGLISH_QUANTIZE=1")
	pf.BoolVar(&g.spin, "spin", envBool("IMGLISH_SPIN"), "let ONNX Runtime's threads busy-wait between operators instead of sleeping: faster where waking a "+
		"sleeping thread is slow (some virtual machines; make bench's profile section compares the two), slower on a machine busy with other work; env IMGLISH_SPIN=1")
	g.backend.register(pf)
	for _, f := range registry {
		root.AddCommand(f(g))
	}
	return root
}

// encoderOptions are the encoder settings every command shares: the ORT
// library, the device, --spin and the logger, with the command's own thread
// count.
func (g *globals) encoderOptions(threads int) encoder.Options {
	return encoder.Options{Library: g.ortLib, Provider: g.device, Threads: threads, Spin: g.spin, Logger: g.logger}
}

// modelOptions are the model settings every command shares: the encoder's,
// and --exact-jpeg for queries and the index alike.
func (g *globals) modelOptions(threads int) model.Options {
	return model.Options{Encoder: g.encoderOptions(threads), ExactJPEG: g.exactJPEG}
}

// envOr returns the environment variable's value, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// defaultDataDir is $IMGLISH_DATA, else $XDG_DATA_HOME/imglish, else ~/.local/share/imglish.
func defaultDataDir() string {
	if d := os.Getenv("IMGLISH_DATA"); d != "" {
		return d
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "imglish")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "imglish")
	}
	return "imglish-data"
}

// envBool is the boolean in the environment variable (1, true, yes, on),
// false when unset or anything else.
func envBool(name string) bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv(name))) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}
