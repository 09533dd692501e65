package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"imglish/demo"
)

// DefaultLabelSet is the label set name the page classifies a query image
// with when no labels are typed. App.LabelSet resolves it to the stored set
// of that name, else the first auto-tag set, else, on the demo model, the
// built-in set BuiltinDemoLabelSet.
const DefaultLabelSet = "default"

// BuiltinDemoLabelSet names the built-in label set of the demo model: the 48
// prompts "a red circle" … "a black cross" of its zero-shot evaluation
// (demo.ZeroShotPrompts). The name cannot be stored (ValidName refuses ':').
const BuiltinDemoLabelSet = "builtin:demo"

// LabelSet returns the stored label set name and the name of the set it
// resolved to: name itself, except for DefaultLabelSet when no set of that
// name is stored, which falls back to the first auto-tag set (Options.AutoTags
// in their order, then the sets stored with auto_tag, by name), so that a
// dropped image shows the labels it would be tagged with; then, on the demo
// model, to BuiltinDemoLabelSet, the world the model knows. Without any set
// the error wraps ErrNotFound. It is safe for concurrent use.
func (a *App) LabelSet(ctx context.Context, name string) (string, LabelSet, error) {
	if err := a.ready(); err != nil {
		return name, LabelSet{}, err
	}
	return a.resolveLabelSet(ctx, name)
}

func (a *App) resolveLabelSet(ctx context.Context, name string) (string, LabelSet, error) {
	ls, err := a.cat.LabelSet(ctx, name)
	if name != DefaultLabelSet || !errors.Is(err, ErrNotFound) {
		return name, ls, err
	}
	if sets := a.autoTagSets(); len(sets) > 0 {
		ls, err := a.cat.LabelSet(ctx, sets[0])
		return sets[0], ls, err
	}
	if a.enc.Info().Demo {
		labels, _ := demo.ZeroShotPrompts()
		return BuiltinDemoLabelSet, LabelSet{Labels: labels}, nil
	}
	return name, ls, fmt.Errorf("%w (store one with PUT /v1/labelsets/%s or name auto_tags in the config)", err, DefaultLabelSet)
}

// autoTagSets lists the auto-tag label sets: the configured ones in their
// order, then the others the AutoTagger runs (sets stored with auto_tag).
func (a *App) autoTagSets() []string {
	out := slices.Clone(a.opts.AutoTags)
	if a.tagger != nil {
		for _, n := range a.tagger.Sets() {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// PutLabelSet validates and stores the label set name (durably: acknowledged
// after the store's sync). With an AutoTagger, newly indexed images are
// tagged with the new labels from then on; when the set is, or was, an
// auto-tag set, a retag Job brings the indexed items in step and is
// returned (nil otherwise, or when the indexer cannot re-tag; a failed
// reload of the auto-tags is logged and leaves the previous sets running). Errors wrap ErrInvalid for a bad name or set. It is safe for
// concurrent use.
func (a *App) PutLabelSet(ctx context.Context, name string, ls LabelSet) (*Job, error) {
	if err := a.ready(); err != nil {
		return nil, err
	}
	if err := ValidName("label set", name); err != nil {
		return nil, err
	}
	if err := ValidateLabels(ls.Labels, ls.Templates); err != nil {
		return nil, err
	}
	if err := checkPrompts(a.enc, ls.Labels, ls.Templates); err != nil {
		return nil, err
	}
	if ls.MinProb < 0 || ls.MinProb > 1 || math.IsNaN(ls.MinProb) {
		return nil, fmt.Errorf("%w: min_prob must be within [0, 1]", ErrInvalid)
	}
	if err := a.cat.PutLabelSet(ctx, name, ls); err != nil {
		return nil, err
	}
	at := a.tagger
	if at == nil {
		return nil, nil
	}
	was := slices.Contains(at.Sets(), name)
	if err := at.Reload(ctx); err != nil {
		a.log.Warn("reload auto-tags", "label_set", name, "err", err)
		return nil, nil
	}
	if was || slices.Contains(at.Sets(), name) {
		return a.startRetag(), nil
	}
	return nil, nil
}
