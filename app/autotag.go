package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"imglish/vstore"
)

// DefaultAutoTagMinProb is the probability the top label of an auto-tag
// label set needs to become a tag when the set gives no min_prob.
const DefaultAutoTagMinProb = 0.5

// AutoTagOptions configure NewAutoTagger.
type AutoTagOptions struct {
	// Encoder embeds the labels' prompts. Required.
	Encoder Encoder
	// Store holds the label sets (see MigrateLabelSets for the files older
	// versions kept). Required.
	Store vstore.Store
	// Sets names label sets to run whatever their auto_tag flag
	// (Options.AutoTags); each must exist. Stored sets with "auto_tag": true
	// are run too.
	Sets []string
	// MinProb is the threshold for sets without their own min_prob
	// (default DefaultAutoTagMinProb).
	MinProb float64
	// Logger hears of stored sets that Reload skips; nil discards.
	Logger *slog.Logger
}

// AutoTagger runs the auto-tag label sets on image vectors: for each set, a
// zero-shot classification (softmax over exp(logit_scale)·cosine against the
// prompt-ensemble label vectors, as POST /v1/classify) whose top label is a
// tag when its probability reaches the set's min_prob. Pass it as
// indexer.Options.Tagger (the indexer stores the tags as "auto:<label>" in
// the same transaction as the item) and as Deps.AutoTagger. It is safe for
// concurrent use.
type AutoTagger struct {
	opts AutoTagOptions

	mu   sync.RWMutex
	sets []autoTagSet
}

type autoTagSet struct {
	name    string
	labels  []string
	vecs    [][]float32
	minProb float64
}

// NewAutoTagger loads the auto-tag label sets and embeds their labels. A set
// named in opts.Sets that is not stored is an error wrapping ErrConfig and
// ErrNotFound.
func NewAutoTagger(ctx context.Context, opts AutoTagOptions) (*AutoTagger, error) {
	if opts.Encoder == nil || opts.Store == nil {
		return nil, fmt.Errorf("%w: auto-tags need an encoder and a store", ErrConfig)
	}
	if opts.MinProb < 0 || opts.MinProb > 1 {
		return nil, fmt.Errorf("%w: auto-tag min_prob %v not within [0, 1]", ErrConfig, opts.MinProb)
	}
	if opts.MinProb == 0 {
		opts.MinProb = DefaultAutoTagMinProb
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	for _, n := range opts.Sets {
		if err := ValidName("label set", n); err != nil {
			return nil, fmt.Errorf("%w: auto-tags: %w", ErrConfig, err)
		}
	}
	a := &AutoTagger{opts: opts}
	if err := a.Reload(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// Sets returns the names of the label sets being run, sorted.
func (a *AutoTagger) Sets() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]string, len(a.sets))
	for i, s := range a.sets {
		out[i] = s.name
	}
	return out
}

// Reload re-reads the label sets (the configured ones and every stored set
// with auto_tag) and re-embeds their labels. On error the previous sets stay.
// A stored auto_tag set that cannot run (its labels are invalid, or one
// cannot be embedded: stored by a version that did not check) is skipped
// and logged, so that one bad set neither stops the others nor the start of
// a server; a set named in the configuration is an error instead.
func (a *AutoTagger) Reload(ctx context.Context) error {
	names := slices.Clone(a.opts.Sets)
	flagged, err := flaggedLabelSets(ctx, a.opts.Store)
	if err != nil {
		return err
	}
	names = append(names, flagged...)
	slices.Sort(names)
	names = slices.Compact(names)
	sets := make([]autoTagSet, 0, len(names))
	for _, n := range names {
		ls, err := getLabelSet(a.opts.Store, n)
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%w: auto-tag label set %q: %w", ErrConfig, n, err)
		}
		if err != nil {
			return fmt.Errorf("auto-tags: %w", err)
		}
		err = ValidateLabels(ls.Labels, ls.Templates)
		var vecs [][]float32
		if err == nil {
			vecs, err = LabelVectors(ctx, a.embed, ls.Labels, ls.Templates)
		}
		if errors.Is(err, ErrInvalid) && !slices.Contains(a.opts.Sets, n) {
			a.opts.Logger.Warn("auto-tag label set skipped: store it again with valid labels", "label_set", n, "err", err)
			continue
		}
		if errors.Is(err, ErrInvalid) {
			return fmt.Errorf("%w: auto-tag label set %q: %w", ErrConfig, n, err)
		}
		if err != nil {
			return fmt.Errorf("auto-tag label set %q: %w", n, err)
		}
		mp := ls.MinProb
		if mp <= 0 || mp > 1 {
			mp = a.opts.MinProb
		}
		sets = append(sets, autoTagSet{name: n, labels: ls.Labels, vecs: vecs, minProb: mp})
	}
	a.mu.Lock()
	a.sets = sets
	a.mu.Unlock()
	return nil
}

func (a *AutoTagger) embed(ctx context.Context, texts []string) ([][]float32, error) {
	return EmbedTexts(ctx, a.opts.Encoder, texts)
}

// Tags returns the winning label of each auto-tag set for the image vector
// vec, in set order; a set whose top label is below its min_prob adds none.
// It satisfies indexer.Tagger.
func (a *AutoTagger) Tags(_ context.Context, vec []float32) ([]string, error) {
	a.mu.RLock()
	sets := a.sets
	a.mu.RUnlock()
	scale := a.opts.Encoder.Info().LogitScale
	var tags []string
	for _, s := range sets {
		if len(s.vecs) == 0 || len(s.vecs[0]) != len(vec) {
			return nil, fmt.Errorf("auto-tag %s: %d-d vector, labels are %d-d", s.name, len(vec), len(s.vecs[0]))
		}
		if top := ZeroShot(vec, s.labels, s.vecs, scale)[0]; top.Probability >= s.minProb {
			tags = append(tags, top.Label)
		}
	}
	return tags, nil
}

// flaggedLabelSets lists the stored label sets with "auto_tag": true, by
// name. A set that does not parse is not flagged (GET reports it).
func flaggedLabelSets(ctx context.Context, db vstore.Store) ([]string, error) {
	var out []string
	err := scanLabelSets(ctx, db, func(name string, raw []byte) {
		var ls LabelSet
		if json.Unmarshal(raw, &ls) == nil && ls.AutoTag {
			out = append(out, name)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("list label sets: %w", err)
	}
	return out, nil
}
