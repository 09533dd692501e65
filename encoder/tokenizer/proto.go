package tokenizer

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file decodes the subset of SentencePiece's ModelProto
// (sentencepiece_model.proto, proto2) that encoding and decoding need, straight
// from the wire format with protowire, so no generated code or protoc is
// involved. Field numbers and proto2 defaults were checked against the
// descriptor shipped in Debian's python3-sentencepiece 0.1.97
// (sentencepiece_model_pb2):
//
//	ModelProto     { repeated SentencePiece pieces = 1; TrainerSpec trainer_spec = 2;
//	                 NormalizerSpec normalizer_spec = 3; NormalizerSpec denormalizer_spec = 5; }
//	SentencePiece  { string piece = 1; float score = 2; Type type = 3 [default = NORMAL]; }
//	TrainerSpec    { ModelType model_type = 3 [default = UNIGRAM];
//	                 bool treat_whitespace_as_suffix = 24; bool byte_fallback = 35;
//	                 string unk_surface = 44 [default = " \u2047 "]; }
//	NormalizerSpec { string name = 1; bytes precompiled_charsmap = 2;
//	                 bool add_dummy_prefix = 3 [default = true];
//	                 bool remove_extra_whitespaces = 4 [default = true];
//	                 bool escape_whitespaces = 5 [default = true];
//	                 string normalization_rule_tsv = 6; }
//
// Every other field is skipped. As in proto2, a repeated occurrence of a
// scalar field overrides the earlier one and a repeated sub-message merges.

// pieceType is SentencePiece.Type.
type pieceType int32

const (
	typeNormal      pieceType = 1
	typeUnknown     pieceType = 2
	typeControl     pieceType = 3
	typeUserDefined pieceType = 4
	typeUnused      pieceType = 5
	typeByte        pieceType = 6
)

// modelType is TrainerSpec.ModelType.
type modelType int32

const (
	modelUnigram modelType = 1
	modelBPE     modelType = 2
	modelWord    modelType = 3
	modelChar    modelType = 4
)

func (m modelType) String() string {
	switch m {
	case modelUnigram:
		return "unigram"
	case modelBPE:
		return "bpe"
	case modelWord:
		return "word"
	case modelChar:
		return "char"
	default:
		return fmt.Sprintf("model_type(%d)", int32(m))
	}
}

type protoPiece struct {
	piece string
	score float32
	typ   pieceType
}

type trainerSpec struct {
	modelType               modelType
	treatWhitespaceAsSuffix bool
	byteFallback            bool
	unkSurface              string
}

type normalizerSpec struct {
	name                   string
	precompiledCharsmap    []byte
	addDummyPrefix         bool
	removeExtraWhitespaces bool
	escapeWhitespaces      bool
}

type modelProto struct {
	pieces          []protoPiece
	trainer         trainerSpec
	normalizer      normalizerSpec
	denormalizer    normalizerSpec
	hasDenormalizer bool
}

func defaultNormalizerSpec() normalizerSpec {
	return normalizerSpec{addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true}
}

// parseModelProto decodes b. Byte slices in the result alias b.
func parseModelProto(b []byte) (*modelProto, error) {
	m := &modelProto{
		trainer:      trainerSpec{modelType: modelUnigram, unkSurface: " \u2047 "},
		normalizer:   defaultNormalizerSpec(),
		denormalizer: defaultNormalizerSpec(),
	}
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch num {
		case 1:
			if typ != protowire.BytesType {
				return errWire("ModelProto.pieces", typ)
			}
			p := protoPiece{typ: typeNormal}
			if err := parsePiece(v, &p); err != nil {
				return err
			}
			m.pieces = append(m.pieces, p)
		case 2:
			if typ != protowire.BytesType {
				return errWire("ModelProto.trainer_spec", typ)
			}
			return parseTrainerSpec(v, &m.trainer)
		case 3:
			if typ != protowire.BytesType {
				return errWire("ModelProto.normalizer_spec", typ)
			}
			return parseNormalizerSpec(v, &m.normalizer)
		case 5:
			if typ != protowire.BytesType {
				return errWire("ModelProto.denormalizer_spec", typ)
			}
			m.hasDenormalizer = true
			return parseNormalizerSpec(v, &m.denormalizer)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func parsePiece(b []byte, p *protoPiece) error {
	return walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch num {
		case 1:
			if typ != protowire.BytesType {
				return errWire("SentencePiece.piece", typ)
			}
			p.piece = string(v)
		case 2:
			if typ != protowire.Fixed32Type {
				return errWire("SentencePiece.score", typ)
			}
			p.score = math.Float32frombits(uint32(x))
		case 3:
			if typ != protowire.VarintType {
				return errWire("SentencePiece.type", typ)
			}
			p.typ = pieceType(int32(x))
		}
		return nil
	})
}

func parseTrainerSpec(b []byte, t *trainerSpec) error {
	return walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch num {
		case 3:
			if typ != protowire.VarintType {
				return errWire("TrainerSpec.model_type", typ)
			}
			t.modelType = modelType(int32(x))
		case 24:
			if typ != protowire.VarintType {
				return errWire("TrainerSpec.treat_whitespace_as_suffix", typ)
			}
			t.treatWhitespaceAsSuffix = x != 0
		case 35:
			if typ != protowire.VarintType {
				return errWire("TrainerSpec.byte_fallback", typ)
			}
			t.byteFallback = x != 0
		case 44:
			if typ != protowire.BytesType {
				return errWire("TrainerSpec.unk_surface", typ)
			}
			t.unkSurface = string(v)
		}
		return nil
	})
}

func parseNormalizerSpec(b []byte, n *normalizerSpec) error {
	return walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		want := protowire.VarintType
		if num == 1 || num == 2 {
			want = protowire.BytesType
		}
		if num >= 1 && num <= 5 && typ != want {
			return errWire(fmt.Sprintf("NormalizerSpec field %d", num), typ)
		}
		switch num {
		case 1:
			n.name = string(v)
		case 2:
			n.precompiledCharsmap = v
		case 3:
			n.addDummyPrefix = x != 0
		case 4:
			n.removeExtraWhitespaces = x != 0
		case 5:
			n.escapeWhitespaces = x != 0
		}
		return nil
	})
}

// walk calls fn for every field of the message b: v holds the payload of a
// length-delimited field, x the value of a varint or fixed field.
func walk(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrInvalidModel, protowire.ParseError(n))
		}
		b = b[n:]
		var (
			v []byte
			x uint64
		)
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var u uint32
			u, n = protowire.ConsumeFixed32(b)
			x = uint64(u)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("%w: field %d: %v", ErrInvalidModel, num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

func errWire(field string, typ protowire.Type) error {
	return fmt.Errorf("%w: %s has wire type %d", ErrInvalidModel, field, typ)
}
