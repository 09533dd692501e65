package scene

import "strings"

// numCaptions is how many captions each scene carries (canonical first).
const numCaptions = 4

var (
	sizeWords  = [2][]string{Small: {"small", "little"}, Large: {"large", "big"}}
	countWords = [...]string{2: "two", 3: "three"}
	posWords   = map[Position][]string{
		Left:   {"on the left", "at the left", "in the left half"},
		Right:  {"on the right", "at the right", "in the right half"},
		Top:    {"at the top", "near the top", "in the upper half"},
		Bottom: {"at the bottom", "near the bottom", "in the lower half"},
	}
	relWords = map[Relation][]string{
		LeftOf:  {"left of", "to the left of", "on the left of"},
		RightOf: {"right of", "to the right of", "on the right of"},
		Above:   {"above", "over"},
		Below:   {"below", "under", "beneath"},
	}
	bgWords = []string{"on a %s background", "against a %s background", "with a %s background"}
)

// style is one caption's wording choices.
type style struct {
	canonical bool
	sizes     bool // name size classes
	bg        int  // -1 none, else bgWords index
	bgFirst   bool // "a green background with ..."
	one       bool // "one" instead of "a"
	where     bool // name position/relation
	swap      bool // two groups: describe group 1 first with the inverse relation
}

// captions returns the canonical caption and numCaptions-1 variants.
func captions(r *rng, s *Scene) []string {
	out := []string{describe(r, s, style{canonical: true, sizes: true, bg: 0, where: true})}
	for len(out) < numCaptions {
		st := style{
			sizes: r.chance(0.6),
			bg:    -1,
			one:   r.chance(0.15),
			where: !r.chance(0.2),
			swap:  r.chance(0.5),
		}
		if r.chance(0.5) {
			st.bg = r.intn(len(bgWords))
			st.bgFirst = r.chance(0.3)
		}
		out = append(out, describe(r, s, st))
	}
	return out
}

// describe words one caption of s in style st; random choices (synonyms) come from r
// unless st is canonical, which always takes the first word.
func describe(r *rng, s *Scene, st style) string {
	word := func(ws []string) string {
		if st.canonical {
			return ws[0]
		}
		return pick(r, ws)
	}
	phrase := func(g Group) string {
		var b []string
		if g.Count == 1 {
			b = append(b, "a")
			if st.one {
				b[0] = "one"
			}
		} else {
			b = append(b, countWords[g.Count])
		}
		if st.sizes {
			b = append(b, word(sizeWords[g.Size]))
		}
		b = append(b, g.Colour.String())
		if g.Count == 1 {
			b = append(b, g.Shape.String())
		} else {
			b = append(b, g.Shape.Plural())
		}
		return strings.Join(fixArticle(b), " ")
	}
	var body string
	switch len(s.Groups) {
	case 1:
		body = phrase(s.Groups[0])
		if st.where && s.Position != Anywhere {
			body += " " + word(posWords[s.Position])
		}
	default:
		a, b, rel := s.Groups[0], s.Groups[1], s.Relation
		if st.swap {
			a, b, rel = b, a, rel.inverse()
		}
		if st.where {
			body = phrase(a) + " " + word(relWords[rel]) + " " + phrase(b)
		} else {
			body = phrase(a) + " and " + phrase(b)
		}
	}
	if st.bg < 0 {
		return body
	}
	bg := s.Background.String()
	if st.bgFirst {
		return strings.Join(fixArticle([]string{"a", bg, "background", "with", body}), " ")
	}
	return body + " " + strings.Join(fixArticle(strings.Fields(strings.Replace(bgWords[st.bg], "%s", bg, 1))), " ")
}

// fixArticle turns "a" into "an" before a vowel ("an orange square").
func fixArticle(words []string) []string {
	for k := 0; k+1 < len(words); k++ {
		if words[k] == "a" && strings.ContainsRune("aeiou", rune(words[k+1][0])) {
			words[k] = "an"
		}
	}
	return words
}
