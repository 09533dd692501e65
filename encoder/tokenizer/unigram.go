package tokenizer

// oneCharLen is SentencePiece's string_util::OneCharLen: the UTF-8 sequence
// length announced by a lead byte (1 for stray continuation bytes).
func oneCharLen(c byte) int {
	return int("\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x02\x02\x03\x04"[c>>4])
}

// unkPenalty is subtracted from the lowest piece score to score an unknown
// character (unigram_model.cc kUnkPenalty).
const unkPenalty float32 = 10.0

// encodeUnigram is unigram_model.cc's Model::EncodeOptimized (the default
// encoder of SentencePiece 0.1.9x): a Viterbi pass over the byte positions
// with the lattice generated on the fly from the piece trie.
//
// The arithmetic follows the C++ exactly, because exact ties between
// segmentations do occur: a piece's score is the expression
// `IsUserDefined ? length*max_score - 0.1 : score`, whose type is double
// (the 0.1 literal), so a piece candidate is the double sum of two floats,
// compared in double with the stored float path score and stored rounded to
// float; the unknown candidate is float throughout. User-defined pieces get
// length (in bytes) * max_score - 0.1, which beats any segmentation into
// normal pieces.
func (t *Tokenizer) encodeUnigram(s string) []Piece {
	type best struct {
		score    float32
		startsAt int32
		id       int32
	}
	size := len(s)
	nodes := make([]best, size+1)
	for i := range nodes {
		nodes[i].startsAt = -1
	}
	unkScore := t.minScore - unkPenalty
	trie := t.trie
	for startsAt := 0; startsAt < size; {
		till := nodes[startsAt].score
		mblen := min(oneCharLen(s[startsAt]), size-startsAt)
		hasSingle := false
		node := int32(0)
		for keyPos := startsAt; keyPos < size; {
			node = trie.next(node, s[keyPos])
			if node < 0 {
				break
			}
			keyPos++
			id := trie.value[node]
			if id < 0 {
				continue
			}
			info := &t.pieces[id]
			if info.typ == typeUnused {
				continue
			}
			length := keyPos - startsAt
			var score float64
			if info.typ == typeUserDefined {
				score = float64(float32(length)*t.maxScore) - 0.1
			} else {
				score = float64(info.score)
			}
			cand := score + float64(till)
			target := &nodes[keyPos]
			if target.startsAt == -1 || cand > float64(target.score) {
				target.score = float32(cand)
				target.startsAt = int32(startsAt)
				target.id = id
			}
			if length == mblen {
				hasSingle = true
			}
		}
		if !hasSingle {
			target := &nodes[startsAt+mblen]
			cand := unkScore + till
			if target.startsAt == -1 || cand > target.score {
				target.score = cand
				target.startsAt = int32(startsAt)
				target.id = t.unkID
			}
		}
		startsAt += mblen
	}
	n := 0
	for end := size; end > 0; end = int(nodes[end].startsAt) {
		n++
	}
	out := make([]Piece, n)
	for end := size; end > 0; end = int(nodes[end].startsAt) {
		n--
		out[n] = Piece{Text: s[nodes[end].startsAt:end], ID: int(nodes[end].id)}
	}
	return out
}
