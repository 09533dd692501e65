package convert

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"imglish/encoder/convert/onnxpb"
	"imglish/encoder/modelfile"
)

// Graph I/O names (defined in modelfile, which the encoder reads them from).
const (
	InputPixels  = modelfile.InputPixels
	InputIDs     = modelfile.InputIDs
	InputMask    = modelfile.InputMask
	OutputImage  = modelfile.OutputImage
	OutputText   = modelfile.OutputText
	opsetVersion = 17
	irVersion    = 8
	lnEps        = 1e-5
	normEps      = 1e-12
)

// graphGen builds the vision or text graph of one checkpoint (spec §2).
type graphGen struct {
	b   *builder
	ck  *Checkpoint
	cfg Config
}

// linearT loads a torch Linear weight [out, in] as a MatMul weight [in, out].
func (g *graphGen) linearT(key string, out, in int) string {
	return g.b.weight(key+".T", []int64{int64(in), int64(out)}, func() ([]float32, error) {
		w, err := g.ck.Float32(key)
		if err != nil {
			return nil, err
		}
		return transpose(w, out, in), nil
	})
}

func (g *graphGen) raw(key string, dims ...int64) string {
	return g.b.weight(key, dims, func() ([]float32, error) { return g.ck.Float32(key) })
}

func transpose(w []float32, rows, cols int) []float32 {
	t := make([]float32, len(w))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			t[c*rows+r] = w[r*cols+c]
		}
	}
	return t
}

func (g *graphGen) layerNorm(x, key string, n int) string {
	s := g.raw(key+".weight", int64(n))
	bias := g.raw(key+".bias", int64(n))
	return g.b.op("LayerNormalization", []string{x, s, bias}, attrInt("axis", -1), attrFloat("epsilon", lnEps))
}

// linear is x·Wᵀ + b for a torch Linear with bias.
func (g *graphGen) linear(x, key string, out, in int) string {
	bias := g.raw(key+".bias", int64(out))
	return g.dense(x, key+".weight.T", in, out, func() ([]float32, error) {
		w, err := g.ck.Float32(key + ".weight")
		if err != nil {
			return nil, err
		}
		return transpose(w, out, in), nil
	}, bias)
}

// layer is one pre-norm encoder layer with sub-LN (spec §2.0 steps 1–14) on
// branch br. maskBias is "" or a float32 [B,1,1,T] additive key mask. With
// clsOnly (the last layer) only token 0 is computed past the k/v projections:
// every later step acts per query token and only token 0 reaches the head, so
// this is exact and saves ~6% of a base model's FLOPs.
func (g *graphGen) layer(x string, i int, br, maskBias string, clsOnly bool) string {
	b, c := g.b, g.cfg
	d, hd := c.Dim, c.HeadDim()
	p := fmt.Sprintf("beit3.encoder.layers.%d.", i)
	attn := p + "self_attn."

	hN := g.layerNorm(x, p+"self_attn_layer_norm."+br, d)
	// One [D, 3D] MatMul for q, k and v. q's scale d^-0.5 is folded into its
	// weight and bias: (h·Wq + bq)·s = h·(Wq·s) + bq·s, exact when s is a power
	// of two (head dim 16, 64, 256), within one rounding otherwise.
	scale := float32(1 / math.Sqrt(float64(hd)))
	wqkv := func() ([]float32, error) {
		out := make([]float32, d*3*d)
		for j, proj := range []string{"q_proj", "k_proj", "v_proj"} {
			w, err := g.ck.Float32(attn + proj + "." + br + ".weight")
			if err != nil {
				return nil, err
			}
			s := float32(1)
			if j == 0 {
				s = scale
			}
			for o := 0; o < d; o++ {
				for in := 0; in < d; in++ {
					out[in*3*d+j*d+o] = w[o*d+in] * s
				}
			}
		}
		return out, nil
	}
	bqkv := b.weight(attn+"qkv.bias", []int64{int64(3 * d)}, func() ([]float32, error) {
		out := make([]float32, 0, 3*d)
		for j, proj := range []string{"q_proj", "k_proj", "v_proj"} {
			v, err := g.ck.Float32(attn + proj + "." + br + ".bias")
			if err != nil {
				return nil, err
			}
			if j == 0 {
				for k := range v {
					v[k] *= scale
				}
			}
			out = append(out, v...)
		}
		return out, nil
	})
	first := func(t string) string {
		return b.op("Slice", []string{t, b.ints(nil, 0), b.ints(nil, 1), b.ints(nil, 1)}) // [B,1,·]
	}
	var o string
	if g.fusedAttention(maskBias) {
		o = g.attentionMHA(g.dense(hN, attn+"qkv.T", d, 3*d, wqkv, ""), bqkv, clsOnly)
	} else {
		o = g.attention(g.dense(hN, attn+"qkv.T", d, 3*d, wqkv, bqkv), maskBias, clsOnly)
	}
	if clsOnly {
		x = first(x)
	}
	o = g.layerNorm(o, attn+"inner_attn_ln."+br, d)
	o = g.linear(o, attn+"out_proj."+br, d, d)
	x = b.op("Add", []string{x, o})

	f := c.FFNDim
	ffn := p + "ffn." + br + "."
	y := g.layerNorm(x, p+"final_layer_norm."+br, d)
	y = g.linear(y, ffn+"fc1", f, d)
	y = g.gelu(y)
	y = g.layerNorm(y, ffn+"ffn_layernorm", f)
	y = g.linear(y, ffn+"fc2", d, f)
	return b.op("Add", []string{x, y})
}

// attention is spec §2.0 steps 3–5 in standard ops on qkv = [q·s | k | v]
// [B,T,3D] (bias included): heads split, softmax(q·kᵀ + maskBias)·v in
// float32, heads concatenated. With clsOnly only query row 0 is computed.
func (g *graphGen) attention(qkv, maskBias string, clsOnly bool) string {
	b, c := g.b, g.cfg
	d, h, hd := c.Dim, c.Heads, c.HeadDim()
	parts := b.opN("Split", []string{qkv, b.ints(nil, int64(d), int64(d), int64(d))}, 3, attrInt("axis", -1))
	heads := b.ints(nil, 0, 0, int64(h), int64(hd))
	qIn := parts[0]
	if clsOnly {
		qIn = b.op("Slice", []string{qIn, b.ints(nil, 0), b.ints(nil, 1), b.ints(nil, 1)}) // [B,1,·]
	}
	q := b.op("Transpose", []string{b.op("Reshape", []string{qIn, heads})}, attrInts("perm", 0, 2, 1, 3))       // [B,H,T,d]
	kT := b.op("Transpose", []string{b.op("Reshape", []string{parts[1], heads})}, attrInts("perm", 0, 2, 3, 1)) // [B,H,d,T]
	v := b.op("Transpose", []string{b.op("Reshape", []string{parts[2], heads})}, attrInts("perm", 0, 2, 1, 3))  // [B,H,T,d]
	scores := b.op("MatMul", []string{q, kT})
	if b.act != tFloat {
		scores = b.op("Cast", []string{scores}, attrInt("to", int64(tFloat))) // softmax in float32 (spec §2.0 step 4)
	}
	if maskBias != "" {
		scores = b.op("Add", []string{scores, maskBias})
	}
	probs := b.op("Softmax", []string{scores}, attrInt("axis", -1))
	if b.act != tFloat {
		probs = b.op("Cast", []string{probs}, attrInt("to", int64(b.act)))
	}
	o := b.op("MatMul", []string{probs, v})
	return b.op("Reshape", []string{b.op("Transpose", []string{o}, attrInts("perm", 0, 2, 1, 3)), b.ints(nil, 0, 0, int64(d))})
}

// gelu is the exact erf GELU, 0.5·z·(1 + erf(z/√2)), in the shape ORT fuses.
func (g *graphGen) gelu(z string) string {
	b := g.b
	e := b.op("Erf", []string{b.op("Div", []string{z, b.scalar(float32(math.Sqrt2))})})
	return b.op("Mul", []string{b.op("Mul", []string{z, b.op("Add", []string{e, b.scalar(1)})}), b.scalar(0.5)})
}

// head takes token 0 of x [B,T,D], applies the final LayerNorm (per token, so
// taking the row first is exact), the head (no bias) and L2 normalisation in
// float32, writing output.
func (g *graphGen) head(x, br, headKey, output string) {
	b, d := g.b, g.cfg.Dim
	cls := b.op("Gather", []string{x, b.ints([]int64{}, 0)}, attrInt("axis", 1)) // [B,D]
	cls = g.layerNorm(cls, "beit3.encoder.layer_norm."+br, d)
	f := b.op("MatMul", []string{cls, g.linearT(headKey, d, d)})
	if b.act != tFloat {
		f = b.op("Cast", []string{f}, attrInt("to", int64(tFloat)))
	}
	n := b.op("ReduceL2", []string{f}, attrInts("axes", -1), attrInt("keepdims", 1))
	n = b.op("Max", []string{n, b.weightF32(b.fresh("eps"), nil, []float32{normEps})})
	b.nodes = append(b.nodes, &onnxpb.NodeProto{Name: proto.String(output), OpType: proto.String("Div"), Input: []string{f, n}, Output: []string{output}})
}

// visionGraph builds vision.onnx: pixel_values [B,3,S,S] → image_embeds [B,D]
// (spec §2.1). grid is the model's patch grid side (S/patch), which differs
// from the checkpoint's when the position table is resized.
func visionGraph(ck *Checkpoint, cfg Config, b *builder, grid int) (*onnxpb.GraphProto, *builder) {
	g := &graphGen{b: b, ck: ck, cfg: cfg}
	act := b.act
	d, p := cfg.Dim, cfg.Patch
	x := InputPixels
	if act != tFloat {
		x = b.op("Cast", []string{x}, attrInt("to", int64(act)))
	}
	w := g.raw(keyPatchW, int64(d), 3, int64(p), int64(p))
	x = b.op("Conv", []string{x, w}, attrInts("kernel_shape", int64(p), int64(p)), attrInts("strides", int64(p), int64(p)))
	// [B,D,g,g] → [B,g²,D], row-major grid (spec §2.1 step 2).
	x = b.op("Transpose", []string{b.op("Reshape", []string{x, b.ints(nil, 0, int64(d), -1)})}, attrInts("perm", 0, 2, 1))
	// Patch p gets A-row p+3, plus the conv bias, folded into one [g², D] table.
	n := grid * grid
	patchPos := b.weight("patch_positions", []int64{int64(n), int64(d)}, func() ([]float32, error) {
		pos, err := g.positionsA(grid)
		if err != nil {
			return nil, err
		}
		bias, err := ck.Float32(keyPatchB)
		if err != nil {
			return nil, err
		}
		out := pos[3*d:]
		for i := 0; i < n; i++ {
			for c := 0; c < d; c++ {
				out[i*d+c] += bias[c]
			}
		}
		return out, nil
	})
	x = b.op("Add", []string{x, patchPos})
	// CLS plus its position (A-row 2), broadcast over the batch and prepended.
	clsPos := b.weight("cls_position", []int64{1, 1, int64(d)}, func() ([]float32, error) {
		pos, err := g.positionsA(grid)
		if err != nil {
			return nil, err
		}
		cls, err := ck.Float32(keyCLS)
		if err != nil {
			return nil, err
		}
		for c := range cls {
			cls[c] += pos[2*d+c]
		}
		return cls, nil
	})
	batch := b.op("Shape", []string{InputPixels}, attrInt("start", 0), attrInt("end", 1))
	shape := b.op("Concat", []string{batch, b.ints(nil, 1, int64(d))}, attrInt("axis", 0))
	cls := b.op("Expand", []string{clsPos, shape})
	x = b.op("Concat", []string{cls, x}, attrInt("axis", 1))
	for i := 0; i < cfg.Layers; i++ {
		x = g.layer(x, i, "A", "", i == cfg.Layers-1)
	}
	g.head(x, "A", keyVisHead, OutputImage)
	s := grid * p
	return g.graph("beit3_vision",
		[]*onnxpb.ValueInfoProto{valueInfo(InputPixels, tFloat, "batch", 3, s, s)},
		[]*onnxpb.ValueInfoProto{valueInfo(OutputImage, tFloat, "batch", d)})
}

// positionsA reads table A, resized to grid (spec §3.3) when it differs.
func (g *graphGen) positionsA(grid int) ([]float32, error) {
	pos, err := g.ck.Float32(keyPosA)
	if err != nil {
		return nil, err
	}
	return resizePositions(pos, g.cfg.Dim, g.cfg.Grid, grid), nil
}

// textGraph builds text.onnx: input_ids, padding_mask [B,T] int64 (1 = pad) →
// text_embeds [B,D] (spec §2.2).
func textGraph(ck *Checkpoint, cfg Config, b *builder) (*onnxpb.GraphProto, *builder) {
	g := &graphGen{b: b, ck: ck, cfg: cfg}
	act, d := b.act, cfg.Dim
	emb := g.raw(keyTextEmbed, int64(cfg.VocabRows), int64(d))
	x := b.op("Gather", []string{emb, InputIDs}, attrInt("axis", 0))
	// Token t gets B-row t+2: rows 2.. stored, sliced to the sequence length.
	rows := cfg.TextPos - 2
	posB := b.weight("text_positions", []int64{int64(rows), int64(d)}, func() ([]float32, error) {
		pos, err := ck.Float32(keyPosB)
		if err != nil {
			return nil, err
		}
		return pos[2*d:], nil
	})
	seq := b.op("Shape", []string{InputIDs}, attrInt("start", 1), attrInt("end", 2))
	pos := b.op("Slice", []string{posB, b.ints(nil, 0), seq, b.ints(nil, 0)})
	x = b.op("Add", []string{x, pos})
	// Zero padded rows after the positions (spec §2.2 step 3).
	maskF := b.op("Cast", []string{InputMask}, attrInt("to", int64(act)))
	keep := b.op("Sub", []string{b.scalar(1), maskF})
	x = b.op("Mul", []string{x, b.op("Unsqueeze", []string{keep, b.ints(nil, -1)})})
	// Key padding mask: −inf on padded key columns, [B,1,1,T], float32.
	isPad := b.op("Cast", []string{InputMask}, attrInt("to", int64(tBool)))
	bias := b.op("Where", []string{isPad, b.weightF32(b.fresh("neg_inf"), nil, []float32{float32(math.Inf(-1))}), b.weightF32(b.fresh("zero"), nil, []float32{0})})
	bias = b.op("Unsqueeze", []string{bias, b.ints(nil, 1, 2)})
	for i := 0; i < cfg.Layers; i++ {
		x = g.layer(x, i, "B", bias, i == cfg.Layers-1)
	}
	g.head(x, "B", keyLangHead, OutputText)
	return g.graph("beit3_text",
		[]*onnxpb.ValueInfoProto{valueInfo(InputIDs, tInt64, "batch", "seq"), valueInfo(InputMask, tInt64, "batch", "seq")},
		[]*onnxpb.ValueInfoProto{valueInfo(OutputText, tFloat, "batch", d)})
}

func (g *graphGen) graph(name string, in, out []*onnxpb.ValueInfoProto) (*onnxpb.GraphProto, *builder) {
	return &onnxpb.GraphProto{Name: proto.String(name), Node: g.b.nodes, Input: in, Output: out}, g.b
}

// modelProto wraps a graph with the IR version and opset.
func modelProto(graph *onnxpb.GraphProto, version string) *onnxpb.ModelProto {
	return &onnxpb.ModelProto{
		IrVersion:       proto.Int64(irVersion),
		ProducerName:    proto.String("imglish"),
		ProducerVersion: proto.String(version),
		OpsetImport: []*onnxpb.OperatorSetIdProto{
			{Domain: proto.String(""), Version: proto.Int64(opsetVersion)},
			{Domain: proto.String(msDomain), Version: proto.Int64(1)},
		},
		Graph: graph,
	}
}
