package tokenizer

// bpePair is a candidate merge of two adjacent symbols (bpe_model.cc SymbolPair).
type bpePair struct {
	left, right int32
	score       float32
	size        int32
}

// bpeAgenda is a binary max-heap: the highest score first, the leftmost on a
// tie (bpe_model.cc SymbolPairComparator). Hand-written rather than
// container/heap, whose interface boxing allocated once per push.
type bpeAgenda []bpePair

func (a bpeAgenda) before(i, j int) bool {
	return a[i].score > a[j].score || (a[i].score == a[j].score && a[i].left < a[j].left)
}

func (a *bpeAgenda) push(p bpePair) {
	*a = append(*a, p)
	h := *a
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h.before(i, parent) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func (a *bpeAgenda) pop() bpePair {
	h := *a
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		l, best := 2*i+1, i
		if l < len(h) && h.before(l, best) {
			best = l
		}
		if r := l + 1; r < len(h) && h.before(r, best) {
			best = r
		}
		if best == i {
			break
		}
		h[i], h[best] = h[best], h[i]
		i = best
	}
	*a = h
	return top
}

type bpeSymbol struct {
	prev, next int32
	start, end int32 // byte range in the normalised text; empty once merged away
	freeze     bool  // a user-defined piece, never merged
}

// encodeBPE is bpe_model.cc's Model::Encode (no dropout): split the text into
// characters (user-defined pieces kept whole and frozen), then repeatedly
// merge the adjacent pair whose concatenation is a piece with the highest
// score, leftmost first; stale agenda entries are recognised by their size.
// Merges that produced an UNUSED piece are undone at the end.
func (t *Tokenizer) encodeBPE(s string) []Piece {
	symbols := make([]bpeSymbol, 0, len(s))
	for pos := 0; pos < len(s); {
		l := 0
		freeze := false
		if t.norm.matcher != nil {
			l, _ = t.norm.matcher.longestPrefix(s[pos:])
			freeze = l > 0
		}
		if l == 0 {
			l = min(oneCharLen(s[pos]), len(s)-pos)
		}
		idx := int32(len(symbols))
		sym := bpeSymbol{prev: idx - 1, next: idx + 1, start: int32(pos), end: int32(pos + l), freeze: freeze}
		pos += l
		if pos == len(s) {
			sym.next = -1
		}
		symbols = append(symbols, sym)
	}
	if len(symbols) == 0 {
		return nil
	}
	var revMerge map[string][2]string
	agenda := make(bpeAgenda, 0, len(symbols))
	maybeAdd := func(left, right int32) {
		if left == -1 || right == -1 || symbols[left].freeze || symbols[right].freeze {
			return
		}
		piece := s[symbols[left].start:symbols[right].end]
		id := t.trie.exact(piece)
		if id < 0 {
			return
		}
		agenda.push(bpePair{left: left, right: right, score: t.pieces[id].score, size: int32(len(piece))})
		if t.pieces[id].typ == typeUnused {
			if revMerge == nil {
				revMerge = map[string][2]string{}
			}
			revMerge[piece] = [2]string{s[symbols[left].start:symbols[left].end], s[symbols[right].start:symbols[right].end]}
		}
	}
	for i := int32(1); i < int32(len(symbols)); i++ {
		maybeAdd(i-1, i)
	}
	for len(agenda) > 0 {
		top := agenda.pop()
		l, r := &symbols[top.left], &symbols[top.right]
		if l.start == l.end || r.start == r.end || (l.end-l.start)+(r.end-r.start) != top.size {
			continue
		}
		l.end = r.end
		l.next = r.next
		if r.next >= 0 {
			symbols[r.next].prev = top.left
		}
		r.start, r.end = 0, 0
		maybeAdd(l.prev, top.left)
		maybeAdd(top.left, l.next)
	}
	var out []Piece
	var resegment func(w string)
	resegment = func(w string) {
		id := t.pieceToID(w)
		if t.pieces[id].typ != typeUnused {
			out = append(out, Piece{Text: w, ID: int(id)})
			return
		}
		p, ok := revMerge[w]
		if !ok {
			out = append(out, Piece{Text: w, ID: int(id)})
			return
		}
		resegment(p[0])
		resegment(p[1])
	}
	for i := int32(0); i != -1; i = symbols[i].next {
		resegment(s[symbols[i].start:symbols[i].end])
	}
	return out
}

// pieceToID is ModelInterface::PieceToId: reserved pieces (unknown, control,
// byte) first, then the others, else the unknown id.
func (t *Tokenizer) pieceToID(w string) int32 {
	if id, ok := t.reserved[w]; ok {
		return id
	}
	if id := t.trie.exact(w); id >= 0 {
		return id
	}
	return t.unkID
}
