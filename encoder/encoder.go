package encoder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"imglish/encoder/modelfile"
)

// OptLevel is ONNX Runtime's graph optimisation level. The zero value is
// OptAll, ORT's own default and the fastest.
type OptLevel int

// Graph optimisation levels.
const (
	OptAll      OptLevel = iota // every fusion (default)
	OptDisable                  // none: the graph runs as converted
	OptBasic                    // constant folding and redundant-node removal
	OptExtended                 // basic plus complex fusions
)

func (l OptLevel) ort() (ort.GraphOptimizationLevel, error) {
	switch l {
	case OptAll:
		return ort.GraphOptimizationLevelEnableAll, nil
	case OptDisable:
		return ort.GraphOptimizationLevelDisableAll, nil
	case OptBasic:
		return ort.GraphOptimizationLevelEnableBasic, nil
	case OptExtended:
		return ort.GraphOptimizationLevelEnableExtended, nil
	default:
		return 0, fmt.Errorf("%w: optimisation level %d", ErrInput, l)
	}
}

// Options configures Open. The zero value runs on the CPU with ORT's default
// thread count and every graph optimisation.
type Options struct {
	// Threads is ORT's intra-op thread count; 0 lets ORT choose (one per core).
	Threads int
	// OptLevel is the graph optimisation level.
	OptLevel OptLevel
	// Provider is the execution provider: "" or "cpu", or "cuda" (NVIDIA GPU
	// through ORT's plugin provider API, see cuda.go; fp16 models suit it).
	// When CUDA cannot run here Open returns ErrProvider saying why.
	Provider string
	// Library is the ONNX Runtime shared library; "" resolves it with
	// LibraryPath (CPU) or GPULibraryPath (cuda: the GPU build).
	Library string
	// ImageBatch is the most images per ORT run; 0 means 64 with cuda and,
	// on the CPU, 8, except 1 for fp32 graphs whose feed-forward activation
	// for one image passes 4 MiB (base and large at 384 px), where one image
	// per run measured faster than 8 (bench/HISTORY.md, "Images per ORT call
	// on the CPU"; the cutoff between base-224 and base-384 was not measured,
	// so base-224 keeps 8). int8 graphs run one image per run whatever this
	// says (see perItem). Larger batches add little on the CPU and cost
	// ~100 MB of activations per base-384 image.
	ImageBatch int
	// Spin lets ORT's worker threads busy-wait between parallel sections
	// instead of sleeping: lower latency where waking a sleeping thread is
	// slow (a virtual machine whose idle vCPUs halt: there it can take less
	// CPU time too), but CPU taken from every other process (and from ORT's
	// own threads) on a busy machine, where it measured slower
	// (bench/HISTORY.md, "ORT spinning"). Off by default; the CLI's --spin.
	Spin bool
	// Verify hashes every model file against model.json before loading.
	Verify bool
	// Logger receives load information; nil discards it.
	Logger *slog.Logger
}

// Batch limits per ORT run: bigger batches add little throughput on a CPU and
// cost activation memory (base-384 keeps ~100 MB of activations per image).
const (
	maxImageBatch = 8
	maxTextBatch  = 64
)

// Encoder runs a converted model folder. It is safe for concurrent use: ORT
// sessions allow concurrent Run calls, and Close waits for runs in flight.
type Encoder struct {
	man       *modelfile.Manifest
	log       *slog.Logger
	mu        sync.RWMutex // read-held by runs, write-held by Close
	closed    bool
	vision    *ort.DynamicAdvancedSession
	text      *ort.DynamicAdvancedSession
	maxTokens int // longest id sequence the text graph accepts
	// perItem runs one image or text per ORT run: int8 graphs quantise
	// activations per tensor, so batch mates (and padding) would otherwise
	// shift each other's vectors.
	perItem    bool
	imageBatch int    // most images per run
	provider   string // "cpu" or "cuda"
}

// Open loads dir's model.json and both graphs. Errors: modelfile.ErrNoManifest
// or ErrInvalid for a bad folder, ErrRuntimeMissing, ErrProvider, and ORT's own
// load errors.
func Open(ctx context.Context, dir string, opts Options) (_ *Encoder, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var cudaCore, cudaProvider string
	imageBatch := maxImageBatch
	switch opts.Provider {
	case "", "cpu":
	case "cuda":
		if cudaCore, cudaProvider, err = cudaLibraries(opts.Library); err != nil {
			return nil, err
		}
		opts.Library, imageBatch = cudaCore, 64
	default:
		return nil, fmt.Errorf("%w: unknown provider %q", ErrProvider, opts.Provider)
	}
	level, err := opts.OptLevel.ort()
	if err != nil {
		return nil, err
	}
	if opts.Threads < 0 || opts.ImageBatch < 0 {
		return nil, fmt.Errorf("%w: %d threads, image batch %d", ErrInput, opts.Threads, opts.ImageBatch)
	}
	man, err := modelfile.Load(dir)
	if err != nil {
		return nil, err
	}
	if cudaCore == "" {
		imageBatch = cpuImageBatch(man)
	}
	if opts.ImageBatch > 0 {
		imageBatch = opts.ImageBatch
	}
	if man.Architecture.Name != "beit3" || man.Architecture.VocabRows <= 0 || man.Architecture.TextPositions < 5 {
		return nil, fmt.Errorf("open %s: %w: architecture %q, vocab rows %d, text positions %d", dir,
			modelfile.ErrInvalid, man.Architecture.Name, man.Architecture.VocabRows, man.Architecture.TextPositions)
	}
	if opts.Verify {
		if err := man.Verify(dir); err != nil {
			return nil, fmt.Errorf("verify %s: %w", dir, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := acquireRuntime(opts.Library); err != nil {
		return nil, err
	}
	provider := "cpu"
	if cudaCore != "" {
		provider = "cuda"
	}
	e := &Encoder{man: man, log: log, maxTokens: man.Architecture.TextPositions - 2, perItem: man.Precision == modelfile.PrecisionInt8,
		imageBatch: imageBatch, provider: provider}
	defer func() {
		if err != nil {
			err = errors.Join(err, e.release())
		}
	}()
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("create session options: %w", err)
	}
	defer so.Destroy()
	if opts.Threads > 0 {
		if err := so.SetIntraOpNumThreads(opts.Threads); err != nil {
			return nil, fmt.Errorf("set threads: %w", err)
		}
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("set inter-op threads: %w", err)
	}
	if err := so.SetGraphOptimizationLevel(level); err != nil {
		return nil, fmt.Errorf("set optimisation level: %w", err)
	}
	if cudaCore != "" {
		if err := appendCUDA(so, cudaCore, cudaProvider, nil); err != nil {
			return nil, err
		}
	}
	if !opts.Spin {
		for _, k := range []string{"session.intra_op.allow_spinning", "session.inter_op.allow_spinning"} {
			if err := so.AddSessionConfigEntry(k, "0"); err != nil {
				return nil, fmt.Errorf("set %s: %w", k, err)
			}
		}
	}
	load := func(file string, in, out []string) (*ort.DynamicAdvancedSession, error) {
		path := filepath.Join(dir, file)
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open %s: %w", dir, errors.Join(modelfile.ErrInvalid, err))
		}
		s, err := ort.NewDynamicAdvancedSession(path, in, out, so)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", path, err)
		}
		return s, nil
	}
	if e.vision, err = load(man.VisionModel, []string{modelfile.InputPixels}, []string{modelfile.OutputImage}); err != nil {
		return nil, err
	}
	if e.text, err = load(man.TextModel, []string{modelfile.InputIDs, modelfile.InputMask}, []string{modelfile.OutputText}); err != nil {
		return nil, err
	}
	log.Info("model loaded", "dir", dir, "id", man.ID, "dim", man.Architecture.Dim, "image_size", man.Image.Size,
		"precision", man.Precision, "threads", opts.Threads, "spin", opts.Spin)
	return e, nil
}

// cpuImageBatch is Options.ImageBatch's CPU default for man (see there).
func cpuImageBatch(man *modelfile.Manifest) int {
	a := man.Architecture
	if (man.Precision != modelfile.PrecisionFP32 && man.Precision != "") || a.PatchSize <= 0 {
		return maxImageBatch
	}
	g := man.Image.Size / a.PatchSize
	if ffn := (g*g + 1) * a.FFNDim * 4; ffn > 4<<20 {
		return 1
	}
	return maxImageBatch
}

// release destroys the sessions and drops the runtime reference.
func (e *Encoder) release() error {
	var errs []error
	if e.text != nil {
		errs = append(errs, e.text.Destroy())
		e.text = nil
	}
	if e.vision != nil {
		errs = append(errs, e.vision.Destroy())
		e.vision = nil
	}
	errs = append(errs, releaseRuntime())
	return errors.Join(errs...)
}

// Close waits for runs in flight, then frees the sessions. It is idempotent and
// safe for concurrent use; later calls to Embed* return ErrClosed.
func (e *Encoder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	return e.release()
}

// Manifest returns a copy of the model's manifest.
func (e *Encoder) Manifest() *modelfile.Manifest {
	m := *e.man
	m.Files = maps.Clone(e.man.Files)
	return &m
}

// Dim is the embedding width.
func (e *Encoder) Dim() int { return e.man.Architecture.Dim }

// ImageSize is the side of the square input the vision graph takes.
func (e *Encoder) ImageSize() int { return e.man.Image.Size }

// Provider is the execution provider the graphs run on: "cpu" or "cuda".
func (e *Encoder) Provider() string { return e.provider }

// TextWindow is the text window every caller should frame texts to (<s>
// and </s> included): model.json's max_tokens (64 for the official retrieval
// checkpoints, as their fine-tuning and spec/beit3.md frame texts), never
// more than MaxTokens. Longer texts keep their first TextWindow−2 pieces.
func (e *Encoder) TextWindow() int { return min(e.man.Text.MaxTokens, e.maxTokens) }

// MaxTokens is the longest id sequence (with <s> and </s>) EmbedTexts accepts.
func (e *Encoder) MaxTokens() int { return e.maxTokens }

// EmbedImages embeds n preprocessed images, given as n×3×S×S float32 values in
// CHW order (S = ImageSize, values normalised per model.json). It returns n
// unit vectors. A wrong length or n < 1 is ErrInput.
func (e *Encoder) EmbedImages(ctx context.Context, pixels []float32, n int) ([][]float32, error) {
	s := e.man.Image.Size
	per := 3 * s * s
	if n < 1 || len(pixels) != n*per {
		return nil, fmt.Errorf("%w: %d values for %d images of 3×%d×%d", ErrInput, len(pixels), n, s, s)
	}
	unlock, err := e.enter()
	if err != nil {
		return nil, err
	}
	defer unlock()
	out := make([][]float32, 0, n)
	step := e.imageBatch
	if e.perItem {
		step = 1
	}
	for i := 0; i < n; i += step {
		k := min(step, n-i)
		vecs, err := e.runVision(ctx, pixels[i*per:(i+k)*per], k)
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// EmbedTexts embeds token id sequences, each already framed as [0] … [2] (see
// the tokenizer). Sequences may differ in length: they are sorted by length
// and padded within a run with the key padding mask, so a vector does not
// depend on its batch mates (spec §2.2). An empty batch or sequence, a
// sequence longer than MaxTokens or an id outside the vocabulary is ErrInput.
func (e *Encoder) EmbedTexts(ctx context.Context, ids [][]int64) ([][]float32, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: no texts", ErrInput)
	}
	vocab := int64(e.man.Architecture.VocabRows)
	for i, seq := range ids {
		if len(seq) == 0 || len(seq) > e.maxTokens {
			return nil, fmt.Errorf("%w: text %d has %d tokens (want 1..%d)", ErrInput, i, len(seq), e.maxTokens)
		}
		for _, id := range seq {
			if id < 0 || id >= vocab {
				return nil, fmt.Errorf("%w: text %d has token id %d outside [0, %d)", ErrInput, i, id, vocab)
			}
		}
	}
	unlock, err := e.enter()
	if err != nil {
		return nil, err
	}
	defer unlock()
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return len(ids[a]) - len(ids[b]) })
	out := make([][]float32, len(ids))
	step := maxTextBatch
	if e.perItem {
		step = 1
	}
	for i := 0; i < len(order); i += step {
		chunk := order[i:min(i+step, len(order))]
		batch := make([][]int64, len(chunk))
		for j, k := range chunk {
			batch[j] = ids[k]
		}
		vecs, err := e.runText(ctx, batch)
		if err != nil {
			return nil, err
		}
		for j, k := range chunk {
			out[k] = vecs[j]
		}
	}
	return out, nil
}

// enter read-locks the encoder for one Embed call, so that Close waits for it.
func (e *Encoder) enter() (func(), error) {
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		return nil, ErrClosed
	}
	return e.mu.RUnlock, nil
}

// runVision runs one batch through the vision graph.
func (e *Encoder) runVision(ctx context.Context, pixels []float32, n int) (_ [][]float32, err error) {
	s := int64(e.man.Image.Size)
	in, err := ort.NewTensor(ort.NewShape(int64(n), 3, s, s), pixels)
	if err != nil {
		return nil, fmt.Errorf("create input tensor: %w", err)
	}
	defer func() { err = errors.Join(err, in.Destroy()) }()
	return e.run(ctx, e.vision, []ort.Value{in}, n)
}

// runText pads one batch to its longest sequence with id 1 and mask 1.
func (e *Encoder) runText(ctx context.Context, batch [][]int64) (_ [][]float32, err error) {
	t := 0
	for _, seq := range batch {
		t = max(t, len(seq))
	}
	n := len(batch)
	ids := make([]int64, n*t)
	mask := make([]int64, n*t)
	for i, seq := range batch {
		copy(ids[i*t:], seq)
		for j := len(seq); j < t; j++ {
			ids[i*t+j], mask[i*t+j] = e.man.Text.Pad, 1
		}
	}
	return e.runTextMasked(ctx, ids, mask, n, t)
}

// runTextMasked runs n rows of t ids with their padding mask (1 = pad).
func (e *Encoder) runTextMasked(ctx context.Context, ids, mask []int64, n, t int) (_ [][]float32, err error) {
	idT, err := ort.NewTensor(ort.NewShape(int64(n), int64(t)), ids)
	if err != nil {
		return nil, fmt.Errorf("create input tensor: %w", err)
	}
	defer func() { err = errors.Join(err, idT.Destroy()) }()
	maskT, err := ort.NewTensor(ort.NewShape(int64(n), int64(t)), mask)
	if err != nil {
		return nil, fmt.Errorf("create input tensor: %w", err)
	}
	defer func() { err = errors.Join(err, maskT.Destroy()) }()
	return e.run(ctx, e.text, []ort.Value{idT, maskT}, n)
}

// run executes a session (the caller holds the read lock), cancelling ORT when ctx ends,
// and copies the [n, D] output into fresh slices.
func (e *Encoder) run(ctx context.Context, s *ort.DynamicAdvancedSession, inputs []ort.Value, n int) (_ [][]float32, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d := e.man.Architecture.Dim
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(n), int64(d)))
	if err != nil {
		return nil, fmt.Errorf("create output tensor: %w", err)
	}
	defer func() { err = errors.Join(err, out.Destroy()) }()
	ro, err := ort.NewRunOptions()
	if err != nil {
		return nil, fmt.Errorf("create run options: %w", err)
	}
	defer func() { err = errors.Join(err, ro.Destroy()) }()
	// Terminate runs on its own goroutine when ctx ends; the deferred
	// Destroy must not free ro while it does, so a stop that comes too late
	// waits for it.
	terminated := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { defer close(terminated); _ = ro.Terminate() })
	runErr := s.RunWithOptions(inputs, []ort.Value{out}, ro)
	if !stop() {
		<-terminated
	}
	if runErr != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("run model: %w", ctx.Err())
		}
		return nil, fmt.Errorf("run model: %w", runErr)
	}
	data := out.GetData()
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = slices.Clone(data[i*d : (i+1)*d])
	}
	return vecs, nil
}
