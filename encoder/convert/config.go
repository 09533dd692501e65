package convert

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
)

// Official state_dict key names (spec §3.2).
const (
	keyTextEmbed = "beit3.text_embed.weight"
	keyCLS       = "beit3.vision_embed.cls_token"
	keyPatchW    = "beit3.vision_embed.proj.weight"
	keyPatchB    = "beit3.vision_embed.proj.bias"
	keyPosA      = "beit3.encoder.embed_positions.A.weight"
	keyPosB      = "beit3.encoder.embed_positions.B.weight"
	keyVisHead   = "vision_head.weight"
	keyLangHead  = "language_head.weight"
	keyLogit     = "logit_scale"
)

// Config is the architecture inferred from a checkpoint's tensor shapes.
type Config struct {
	Dim       int // D
	Layers    int // L
	Heads     int // H: not visible in shapes; Options.Heads or Dim/64
	FFNDim    int // F
	Patch     int // patch side in pixels
	InChans   int // 3
	Grid      int // checkpoint's patch grid side: A rows = Grid² + 3
	VocabRows int
	TextPos   int // rows of embed_positions.B
}

// ImageSize is the checkpoint's native input side in pixels.
func (c Config) ImageSize() int { return c.Grid * c.Patch }

// HeadDim is D/H.
func (c Config) HeadDim() int { return c.Dim / c.Heads }

var layerKey = regexp.MustCompile(`^beit3\.encoder\.layers\.(\d+)\.`)

// layerKeys returns the 40 per-layer key suffixes with their shapes (spec §3.2).
func layerShapes(d, f int) map[string][]int {
	m := map[string][]int{}
	for _, br := range []string{"A", "B"} {
		for _, p := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
			m["self_attn."+p+"."+br+".weight"] = []int{d, d}
			m["self_attn."+p+"."+br+".bias"] = []int{d}
		}
		for _, ln := range []string{"self_attn.inner_attn_ln." + br, "self_attn_layer_norm." + br, "final_layer_norm." + br} {
			m[ln+".weight"] = []int{d}
			m[ln+".bias"] = []int{d}
		}
		m["ffn."+br+".fc1.weight"] = []int{f, d}
		m["ffn."+br+".fc1.bias"] = []int{f}
		m["ffn."+br+".fc2.weight"] = []int{d, f}
		m["ffn."+br+".fc2.bias"] = []int{d}
		m["ffn."+br+".ffn_layernorm.weight"] = []int{f}
		m["ffn."+br+".ffn_layernorm.bias"] = []int{f}
	}
	return m
}

// ExpectedShapes lists every tensor the dual encoder reads, with its shape.
// logit_scale and mask_token are optional and not listed.
func (c Config) ExpectedShapes() map[string][]int {
	d := c.Dim
	m := map[string][]int{
		keyTextEmbed:                        {c.VocabRows, d},
		keyCLS:                              {1, 1, d},
		keyPatchW:                           {d, c.InChans, c.Patch, c.Patch},
		keyPatchB:                           {d},
		keyPosA:                             {c.Grid*c.Grid + 3, d},
		keyPosB:                             {c.TextPos, d},
		keyVisHead:                          {d, d},
		keyLangHead:                         {d, d},
		"beit3.encoder.layer_norm.A.weight": {d},
		"beit3.encoder.layer_norm.A.bias":   {d},
		"beit3.encoder.layer_norm.B.weight": {d},
		"beit3.encoder.layer_norm.B.bias":   {d},
	}
	ls := layerShapes(d, c.FFNDim)
	for i := 0; i < c.Layers; i++ {
		for k, s := range ls {
			m[fmt.Sprintf("beit3.encoder.layers.%d.%s", i, k)] = s
		}
	}
	return m
}

// InferConfig reads the architecture from tensor shapes and checks every tensor
// the dual encoder needs. heads overrides the head count (0: Dim/64, which holds
// for base and large). All missing and mis-shaped keys come back in one
// *CheckpointError.
func InferConfig(ck *Checkpoint, heads int) (Config, error) {
	var c Config
	bad := &CheckpointError{Path: ck.path, Op: "validate"}
	dimOf := func(key string, axis int) int {
		s, ok := ck.Shape(key)
		if !ok || len(s) <= axis {
			return 0
		}
		return s[axis]
	}
	// D from the first of several tensors that carry it.
	for _, k := range []struct {
		key  string
		axis int
	}{{keyTextEmbed, 1}, {keyVisHead, 0}, {keyPatchW, 0}, {keyPosA, 1}, {keyPosB, 1}} {
		if c.Dim = dimOf(k.key, k.axis); c.Dim > 0 {
			break
		}
	}
	for _, k := range ck.Keys() {
		if m := layerKey.FindStringSubmatch(k); m != nil {
			if i, err := strconv.Atoi(m[1]); err == nil && i+1 > c.Layers && i < 1<<16 {
				c.Layers = i + 1
			}
		}
	}
	c.FFNDim = dimOf("beit3.encoder.layers.0.ffn.A.fc1.weight", 0)
	if c.FFNDim == 0 {
		c.FFNDim = dimOf("beit3.encoder.layers.0.ffn.B.fc1.weight", 0)
	}
	c.InChans = dimOf(keyPatchW, 1)
	c.Patch = dimOf(keyPatchW, 3)
	c.VocabRows = dimOf(keyTextEmbed, 0)
	c.TextPos = dimOf(keyPosB, 0)
	if rows := dimOf(keyPosA, 0); rows > 3 {
		g := int(math.Sqrt(float64(rows - 3)))
		for g*g > rows-3 {
			g--
		}
		for (g+1)*(g+1) <= rows-3 {
			g++
		}
		c.Grid = g
		if g*g != rows-3 {
			bad.Mismatched = append(bad.Mismatched, ShapeMismatch{Key: keyPosA, Got: []int{rows, c.Dim}, Want: []int{g*g + 3, c.Dim}})
		}
	}
	if c.Dim == 0 || c.Layers == 0 || c.Patch == 0 || c.Grid == 0 || c.FFNDim == 0 {
		// Too little to infer a shape: report what the shapes come from.
		for _, k := range []string{keyTextEmbed, keyPatchW, keyPosA, keyPosB, "beit3.encoder.layers.0.ffn.A.fc1.weight"} {
			if _, ok := ck.Shape(k); !ok {
				bad.Missing = append(bad.Missing, k)
			}
		}
		if len(bad.Missing) == 0 && len(bad.Mismatched) == 0 {
			bad.Err = fmt.Errorf("cannot infer the architecture (dim %d, layers %d, patch %d, grid %d, ffn %d)", c.Dim, c.Layers, c.Patch, c.Grid, c.FFNDim)
		}
		return c, bad
	}
	if c.VocabRows == 0 {
		c.VocabRows = 1 // reported as missing below
	}
	if c.TextPos == 0 {
		c.TextPos = 3
	}
	want := c.ExpectedShapes()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		got, ok := ck.Shape(k)
		switch {
		case !ok:
			bad.Missing = append(bad.Missing, k)
		case !slices.Equal(got, want[k]):
			bad.Mismatched = append(bad.Mismatched, ShapeMismatch{Key: k, Got: got, Want: want[k]})
		}
	}
	if c.InChans != 3 {
		bad.Mismatched = append(bad.Mismatched, ShapeMismatch{Key: keyPatchW, Got: []int{c.Dim, c.InChans, c.Patch, c.Patch}, Want: []int{c.Dim, 3, c.Patch, c.Patch}})
	}
	if c.TextPos < 5 {
		bad.Err = fmt.Errorf("text position table has %d rows; need at least 5 (2 offset rows, <s>, a token, </s>)", c.TextPos)
	}
	if len(bad.Missing) > 0 || len(bad.Mismatched) > 0 || bad.Err != nil {
		return c, bad
	}
	switch {
	case heads > 0:
		c.Heads = heads
	case c.Dim%64 == 0:
		c.Heads = c.Dim / 64
	default:
		return c, fmt.Errorf("%w: width %d is not a multiple of 64, so the head count cannot be inferred; pass Heads", ErrOptions, c.Dim)
	}
	if c.Dim%c.Heads != 0 {
		return c, fmt.Errorf("%w: %d heads do not divide width %d", ErrOptions, c.Heads, c.Dim)
	}
	return c, nil
}
