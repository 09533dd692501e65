package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Decode turns SentencePiece ids back into text as SentencePieceProcessor's
// Decode does: control pieces vanish, the unknown piece becomes the model's
// unk_surface (" ⁇ " by default), runs of byte pieces are reassembled into
// UTF-8 (each invalid byte becoming U+FFFD), "▁" becomes a space and the
// dummy-prefix space of the first piece is dropped. Ids out of range are
// treated as the unknown piece. Safe for concurrent use.
//
// Round trip: for a text x whose pieces include no unknown piece (always
// true with byte_fallback), Decode(EncodeIDs(x)) equals Normalize(x) with
// every "▁" turned into a space, up to leading spaces (which Decode drops
// piece by piece, as SentencePiece does, and so depend on the segmentation).
func (t *Tokenizer) Decode(ids []int) string {
	var text strings.Builder
	var run []byte // pending byte pieces
	flush := func() {
		for len(run) > 0 {
			r, size := utf8.DecodeRune(run)
			if r == utf8.RuneError && size <= 1 {
				text.WriteString("\uFFFD")
				size = 1
			} else {
				text.Write(run[:size])
			}
			run = run[size:]
		}
	}
	// isBOS: a leading "▁" may still be dropped; once text is non-empty, or
	// a piece dropped its leading "▁" while whitespace is kept as is
	// (remove_extra_whitespaces off), no later piece loses one.
	isBOS, bosSeen := true, false
	spec := t.norm.spec
	for _, id := range ids {
		if id < 0 || id >= len(t.pieces) {
			id = int(t.unkID)
		}
		p := &t.pieces[id]
		if p.typ == typeByte {
			if c, ok := pieceByte(p.text); ok {
				run = append(run, c)
				continue
			}
		}
		flush()
		if bosSeen || text.Len() > 0 {
			isBOS = false
		}
		switch p.typ {
		case typeControl:
			bosSeen = false
			continue
		case typeUnknown:
			bosSeen = false
			text.WriteString(t.unkSurface)
			continue
		}
		piece := p.text
		bosSeen = false
		if isBOS && (spec.addDummyPrefix || spec.removeExtraWhitespaces) {
			var cut bool
			piece, cut = strings.CutPrefix(piece, spaceSymbol)
			bosSeen = cut && !spec.removeExtraWhitespaces
		}
		text.WriteString(strings.ReplaceAll(piece, spaceSymbol, " "))
	}
	flush()
	out := text.String()
	if t.denorm != nil {
		out = t.denorm.normalize(out)
	}
	return out
}

// pieceByte parses a byte piece "<0xNN>".
func pieceByte(p string) (byte, bool) {
	if len(p) != 6 || p[:3] != "<0x" || p[5] != '>' {
		return 0, false
	}
	var v byte
	for _, c := range []byte(p[3:5]) {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | (c - '0')
		case c >= 'A' && c <= 'F':
			v = v<<4 | (c - 'A' + 10)
		case c >= 'a' && c <= 'f':
			v = v<<4 | (c - 'a' + 10)
		default:
			return 0, false
		}
	}
	return v, true
}
