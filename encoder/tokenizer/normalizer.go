package tokenizer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"
)

// spaceSymbol is U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's visible space.
const spaceSymbol = "\u2581"

// normalizer reproduces SentencePiece's normalizer.cc: the precompiled
// charsmap (a Darts-clone double-array trie over UTF-8 byte strings whose
// values index NUL-terminated replacement strings), longest match first,
// then add_dummy_prefix, remove_extra_whitespaces and escape_whitespaces.
// User-defined pieces bypass the charsmap (SentencePiece's PrefixMatcher).
type normalizer struct {
	units      []uint32 // Darts-clone double-array units
	normalized []byte   // replacement strings, each NUL-terminated
	spec       normalizerSpec
	suffix     bool      // trainer_spec.treat_whitespace_as_suffix
	matcher    *byteTrie // user-defined pieces, nil when none
}

func newNormalizer(spec normalizerSpec, suffix bool, matcher *byteTrie) (*normalizer, error) {
	n := &normalizer{spec: spec, suffix: suffix, matcher: matcher}
	blob := spec.precompiledCharsmap
	if len(blob) == 0 {
		return n, nil
	}
	// Layout (normalizer.cc DecodePrecompiledCharsMap): a little-endian
	// uint32 trie size in bytes, the trie units, then the strings.
	if len(blob) <= 4 {
		return nil, fmt.Errorf("%w: precompiled charsmap of %d bytes", ErrInvalidModel, len(blob))
	}
	size := binary.LittleEndian.Uint32(blob)
	if uint64(size) >= uint64(len(blob)) {
		return nil, fmt.Errorf("%w: charsmap trie size %d exceeds the blob (%d bytes)", ErrInvalidModel, size, len(blob))
	}
	trie := blob[4 : 4+size]
	n.units = make([]uint32, len(trie)/4)
	for i := range n.units {
		n.units[i] = binary.LittleEndian.Uint32(trie[4*i:])
	}
	n.normalized = blob[4+size:]
	if len(n.units) == 0 {
		return nil, fmt.Errorf("%w: empty charsmap trie", ErrInvalidModel)
	}
	return n, nil
}

// Darts-clone unit accessors (darts.h DoubleArrayUnit).
func dartsHasLeaf(u uint32) bool  { return (u>>8)&1 == 1 }
func dartsValue(u uint32) uint32  { return u & (1<<31 - 1) }
func dartsLabel(u uint32) uint32  { return u & (1<<31 | 0xFF) }
func dartsOffset(u uint32) uint32 { return (u >> 10) << ((u & (1 << 9)) >> 6) }

// charsmapMatch returns the byte length of the longest charsmap key that is a
// prefix of s and its replacement, as Darts' commonPrefixSearch followed by
// the longest-rule pick in Normalizer::NormalizePrefix. Out-of-range units,
// which a hostile model could contain, end the search instead of crashing.
func (n *normalizer) charsmapMatch(s string) (int, string) {
	units := n.units
	if len(units) == 0 {
		return 0, ""
	}
	length, value := 0, uint32(0)
	pos := dartsOffset(units[0])
	for i := 0; i < len(s); i++ {
		c := uint32(s[i])
		pos ^= c
		if uint64(pos) >= uint64(len(units)) {
			break
		}
		u := units[pos]
		if dartsLabel(u) != c {
			break
		}
		pos ^= dartsOffset(u)
		if dartsHasLeaf(u) {
			if uint64(pos) >= uint64(len(units)) {
				break
			}
			length, value = i+1, dartsValue(units[pos])
		}
	}
	if length == 0 {
		return 0, ""
	}
	if uint64(value) > uint64(len(n.normalized)) {
		// SentencePiece would read out of bounds; treat as an empty replacement.
		return length, ""
	}
	rep := n.normalized[value:]
	if i := bytes.IndexByte(rep, 0); i >= 0 {
		rep = rep[:i]
	}
	return length, string(rep)
}

// prefix returns the normalised form of the first unit of s and the number
// of input bytes it consumes (Normalizer::NormalizePrefix).
func (n *normalizer) prefix(s string) (string, int) {
	if n.matcher != nil {
		if l, _ := n.matcher.longestPrefix(s); l > 0 {
			return s[:l], l
		}
	}
	if l, rep := n.charsmapMatch(s); l > 0 {
		return rep, l
	}
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size <= 1 {
		// Malformed UTF-8: one byte becomes U+FFFD.
		return "\uFFFD", 1
	}
	return s[:size], size
}

// normalize returns the normalised text (Normalizer::Normalize).
func (n *normalizer) normalize(in string) string {
	if in == "" {
		return ""
	}
	spec := n.spec
	if spec.removeExtraWhitespaces {
		for in != "" {
			p, consumed := n.prefix(in)
			if p != " " {
				break
			}
			in = in[consumed:]
		}
	}
	if in == "" {
		return ""
	}
	ws := " "
	if spec.escapeWhitespaces {
		ws = spaceSymbol
	}
	out := make([]byte, 0, len(in)*3/2+len(ws)*2)
	if !n.suffix && spec.addDummyPrefix {
		out = append(out, ws...)
	}
	prevSpace := spec.removeExtraWhitespaces
	for in != "" {
		p, consumed := n.prefix(in)
		if prevSpace {
			p = strings.TrimLeft(p, " ")
		}
		if p != "" {
			if spec.escapeWhitespaces {
				for i := 0; i < len(p); i++ {
					if p[i] == ' ' {
						out = append(out, spaceSymbol...)
					} else {
						out = append(out, p[i])
					}
				}
			} else {
				out = append(out, p...)
			}
			prevSpace = p[len(p)-1] == ' '
		}
		in = in[consumed:]
		if !spec.removeExtraWhitespaces {
			prevSpace = false
		}
	}
	if spec.removeExtraWhitespaces {
		for bytes.HasSuffix(out, []byte(ws)) {
			out = out[:len(out)-len(ws)]
		}
	}
	if n.suffix && spec.addDummyPrefix {
		out = append(out, ws...)
	}
	return string(out)
}
