package convert

import (
	"google.golang.org/protobuf/proto"

	"imglish/encoder/convert/onnxpb"
)

// msDomain is ONNX Runtime's contrib operator domain. Its operators are used
// only where they compute exactly what the standard-op pattern does (same
// maths, float32 rounding aside), so vectors do not depend on the graph shape.
const msDomain = "com.microsoft"

// msOp adds a com.microsoft node with one output.
func (b *builder) msOp(opType string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	out := b.op(opType, inputs, attrs...)
	b.nodes[len(b.nodes)-1].Domain = proto.String(msDomain)
	return out
}

// Residual adds and LayerNorms stay standard ops: ORT fuses neither into
// SkipLayerNormalization here, and emitting it directly measured slower on
// ORT 1.30's CPU kernel (int8 base-384: LayerNormalization + Add 9.6% of
// kernel time, SkipLayerNormalization + LayerNormalization 14.9%).

// fusedAttention reports whether layer attention is emitted as one
// com.microsoft MultiHeadAttention node: float32 activations (fp32 and int8
// graphs) and no key padding mask (the vision graph). ORT's CPU kernel adds
// the q/k/v bias, splits heads and runs softmax(q·kᵀ)·v in float32 without
// the transposes and the [B,H,T,T] score tensor round trips of the unfused
// pattern, which ORT does not fuse itself because of BEiT-3's sub-LN.
func (g *graphGen) fusedAttention(maskBias string) bool {
	return g.b.act == tFloat && maskBias == "" && !g.b.unfused
}

// attentionMHA is spec §2.0 steps 2–5 as MultiHeadAttention: qkv is h·[Wq·s |
// Wk | Wv] without bias (q's scale s = d^-0.5 already folded into Wq and bq,
// so the node's own scale is 1), bqkv the matching [3D] bias. With clsOnly
// only query row 0 is kept (k and v keep every token). It returns the
// concatenated heads [B,T',D].
func (g *graphGen) attentionMHA(qkv, bqkv string, clsOnly bool) string {
	b, d := g.b, g.cfg.Dim
	parts := b.opN("Split", []string{qkv, b.ints(nil, int64(d), int64(d), int64(d))}, 3, attrInt("axis", -1))
	q := parts[0]
	if clsOnly {
		q = b.op("Slice", []string{q, b.ints(nil, 0), b.ints(nil, 1), b.ints(nil, 1)}) // [B,1,D]
	}
	return b.msOp("MultiHeadAttention", []string{q, parts[1], parts[2], bqkv},
		attrInt("num_heads", int64(g.cfg.Heads)), attrFloat("scale", 1))
}
