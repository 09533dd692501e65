package tokenizer

import (
	"fmt"
	"io"
	"math"
	"os"
)

// maxModelBytes bounds the model file read by Load. BEiT-3's beit3.spm
// (64,000 pieces) is about 1.4 MB; 1 GiB leaves room for any real vocabulary.
const maxModelBytes = 1 << 30

// XLM-R/fairseq special ids, as BEiT-3's XLMRobertaTokenizer assigns them.
const (
	BOS int64 = 0 // <s>, also the classification token
	Pad int64 = 1 // <pad>
	EOS int64 = 2 // </s>
	Unk int64 = 3 // <unk>
)

// Piece is one token of an encoded text: the piece string as SentencePiece
// reports it (a run of unknown characters keeps its normalised surface; a
// byte-fallback piece reads "<0xNN>") and its SentencePiece id.
type Piece struct {
	Text string
	ID   int
}

type pieceInfo struct {
	text  string
	score float32
	typ   pieceType
}

// Tokenizer encodes text with one SentencePiece model. It is immutable after
// Load and safe for concurrent use by any number of goroutines.
type Tokenizer struct {
	pieces       []pieceInfo
	model        modelType
	norm         *normalizer
	denorm       *normalizer // nil unless the model has a denormalizer charsmap
	trie         *byteTrie   // NORMAL, USER_DEFINED and UNUSED pieces (SentencePiece's pieces_)
	reserved     map[string]int32
	byteIDs      [256]int32
	unkID        int32
	byteFallback bool
	minScore     float32
	maxScore     float32
	unkSurface   string
	suffix       bool
}

// Load reads a SentencePiece model (.model/.spm, a serialised ModelProto).
func Load(path string) (*Tokenizer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxModelBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read tokenizer %s: %w", path, err)
	}
	if len(b) > maxModelBytes {
		return nil, fmt.Errorf("load tokenizer %s: %w: larger than %d bytes", path, ErrInvalidModel, maxModelBytes)
	}
	t, err := LoadBytes(b)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer %s: %w", path, err)
	}
	return t, nil
}

// LoadBytes builds a Tokenizer from a serialised ModelProto. It validates the
// model as SentencePiece's ModelInterface does and copies what it keeps, so b
// may be reused afterwards.
func LoadBytes(b []byte) (*Tokenizer, error) {
	b = append([]byte(nil), b...)
	m, err := parseModelProto(b)
	if err != nil {
		return nil, err
	}
	switch m.trainer.modelType {
	case modelUnigram, modelBPE:
	case modelWord, modelChar:
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, m.trainer.modelType)
	default:
		return nil, fmt.Errorf("%w: unknown model_type %d", ErrInvalidModel, int32(m.trainer.modelType))
	}
	if len(m.pieces) == 0 {
		return nil, fmt.Errorf("%w: no pieces", ErrInvalidModel)
	}
	if len(m.pieces) > math.MaxInt32/2 {
		return nil, fmt.Errorf("%w: %d pieces", ErrInvalidModel, len(m.pieces))
	}
	t := &Tokenizer{
		pieces:       make([]pieceInfo, len(m.pieces)),
		model:        m.trainer.modelType,
		reserved:     map[string]int32{},
		unkID:        -1,
		byteFallback: m.trainer.byteFallback,
		unkSurface:   m.trainer.unkSurface,
		suffix:       m.trainer.treatWhitespaceAsSuffix,
	}
	seen := make(map[string]struct{}, len(m.pieces))
	var keys, userKeys []string
	var vals, userVals []int32
	// min and max over NORMAL scores, starting where unigram_model.cc does
	// (FLT_MAX and FLT_MIN, the smallest positive float).
	t.minScore, t.maxScore = math.MaxFloat32, 0x1p-126
	for i, p := range m.pieces {
		if p.piece == "" {
			return nil, fmt.Errorf("%w: piece %d is empty", ErrInvalidModel, i)
		}
		if _, dup := seen[p.piece]; dup {
			return nil, fmt.Errorf("%w: piece %q defined twice", ErrInvalidModel, p.piece)
		}
		seen[p.piece] = struct{}{}
		t.pieces[i] = pieceInfo{text: p.piece, score: p.score, typ: p.typ}
		switch p.typ {
		case typeNormal, typeUserDefined, typeUnused:
			keys = append(keys, p.piece)
			vals = append(vals, int32(i))
			if p.typ == typeUserDefined {
				userKeys = append(userKeys, p.piece)
				userVals = append(userVals, int32(i))
			}
			if p.typ == typeNormal {
				t.minScore = min(t.minScore, p.score)
				t.maxScore = max(t.maxScore, p.score)
			}
		case typeUnknown:
			if t.unkID >= 0 {
				return nil, fmt.Errorf("%w: more than one unknown piece", ErrInvalidModel)
			}
			t.unkID = int32(i)
			t.reserved[p.piece] = int32(i)
		case typeControl:
			t.reserved[p.piece] = int32(i)
		case typeByte:
			if !m.trainer.byteFallback {
				return nil, fmt.Errorf("%w: byte piece %q without byte_fallback", ErrInvalidModel, p.piece)
			}
			t.reserved[p.piece] = int32(i)
		default:
			return nil, fmt.Errorf("%w: piece %q has unknown type %d", ErrInvalidModel, p.piece, int32(p.typ))
		}
	}
	if t.unkID < 0 {
		return nil, fmt.Errorf("%w: no unknown piece", ErrInvalidModel)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no normal pieces", ErrInvalidModel)
	}
	for c := range 256 {
		id, ok := t.reserved[bytePiece(byte(c))]
		if !ok || t.pieces[id].typ != typeByte {
			id = t.unkID
		}
		t.byteIDs[c] = id
	}
	t.trie = buildTrie(keys, vals)
	var matcher *byteTrie
	if len(userKeys) > 0 {
		matcher = buildTrie(userKeys, userVals)
	}
	if t.norm, err = newNormalizer(m.normalizer, t.suffix, matcher); err != nil {
		return nil, err
	}
	if m.hasDenormalizer && len(m.denormalizer.precompiledCharsmap) > 0 {
		if t.denorm, err = newNormalizer(m.denormalizer, false, nil); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// VocabSize returns the number of SentencePiece pieces (ids 0 … VocabSize-1).
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// Normalize returns text as SentencePiece's normaliser leaves it before
// segmentation: charsmap applied, whitespace handled per the model's
// normalizer_spec, spaces escaped as "▁" when escape_whitespaces is on.
func (t *Tokenizer) Normalize(text string) string { return t.norm.normalize(text) }

// Encode segments text into pieces exactly as SentencePiece's
// SentencePieceProcessor::Encode does: normalise, segment (unigram Viterbi or
// BPE merges), then split unknown pieces into "<0xNN>" byte pieces when the
// model has byte_fallback, else merge runs of consecutive unknown pieces.
// An empty result means the text normalises to nothing.
func (t *Tokenizer) Encode(text string) []Piece {
	normalized := t.norm.normalize(text)
	if normalized == "" {
		return nil
	}
	var raw []Piece
	if t.model == modelBPE {
		raw = t.encodeBPE(normalized)
	} else {
		raw = t.encodeUnigram(normalized)
	}
	out := make([]Piece, 0, len(raw))
	prevUnk := false
	// The raw pieces tile the normalised text; pos is where p starts and
	// runStart where the current run of unknown pieces does, so a merged run
	// is one slice rather than a quadratic series of concatenations.
	pos, runStart := 0, 0
	for _, p := range raw {
		isUnk := int32(p.ID) == t.unkID
		switch {
		case t.pieces[p.ID].typ == typeControl:
			out = append(out, p)
		case isUnk && t.byteFallback:
			for i := 0; i < len(p.Text); i++ {
				out = append(out, Piece{Text: bytePiece(p.Text[i]), ID: int(t.byteIDs[p.Text[i]])})
			}
		case isUnk && prevUnk:
			out[len(out)-1].Text = normalized[runStart : pos+len(p.Text)]
		default:
			out = append(out, p)
			runStart = pos
		}
		pos += len(p.Text)
		prevUnk = isUnk
	}
	return out
}

// EncodeIDs returns the SentencePiece ids of Encode(text).
func (t *Tokenizer) EncodeIDs(text string) []int {
	ps := t.Encode(text)
	ids := make([]int, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

// XLMRID maps a SentencePiece id to the XLM-R/fairseq id that HuggingFace's
// XLMRobertaTokenizer (and so BEiT-3) uses: SentencePiece id 0, the unknown
// piece, becomes Unk (3); every other id is shifted by one.
func XLMRID(spmID int) int64 {
	if spmID == 0 {
		return Unk
	}
	return int64(spmID) + 1
}

// XLMRIDs returns the XLM-R ids of text's pieces, without <s> and </s>.
func (t *Tokenizer) XLMRIDs(text string) []int64 {
	ps := t.Encode(text)
	ids := make([]int64, len(ps))
	for i, p := range ps {
		ids[i] = XLMRID(p.ID)
	}
	return ids
}

// MaskID returns the XLM-R id of <mask>: VocabSize()+1.
func (t *Tokenizer) MaskID() int64 { return int64(len(t.pieces)) + 1 }

// BEiT3Input returns the token ids BEiT-3's text encoder takes for text
// (spec §5, BaseDataset._get_text_segment): BOS, the first maxTokens-2 XLM-R
// ids, EOS, without padding (padding does not change the embedding). It
// returns ErrEmpty when text yields no pieces and ErrMaxTokens when
// maxTokens < 3. BEiT-3 uses maxTokens 64.
func (t *Tokenizer) BEiT3Input(text string, maxTokens int) ([]int64, error) {
	if maxTokens < 3 {
		return nil, fmt.Errorf("beit3 input: %w: %d", ErrMaxTokens, maxTokens)
	}
	ids := t.XLMRIDs(text)
	if len(ids) == 0 {
		return nil, fmt.Errorf("beit3 input: %w", ErrEmpty)
	}
	ids = ids[:min(len(ids), maxTokens-2)]
	out := make([]int64, 0, len(ids)+2)
	out = append(out, BOS)
	out = append(out, ids...)
	return append(out, EOS), nil
}

// IDToPiece returns the piece string of a SentencePiece id, or "" when id is
// out of range.
func (t *Tokenizer) IDToPiece(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	return t.pieces[id].text
}

func bytePiece(c byte) string {
	const hex = "0123456789ABCDEF"
	return string([]byte{'<', '0', 'x', hex[c>>4], hex[c&15], '>'})
}
