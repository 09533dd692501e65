package scene

import (
	"fmt"
	"image/color"
	"math"
)

// Split selects a disjoint family of scenes: the model is trained on Train and
// measured on Test.
type Split int

// The splits. Their seed streams never meet (see streamSeed).
const (
	Train Split = iota
	Test
)

// String names the split as the command line spells it.
func (s Split) String() string {
	switch s {
	case Train:
		return "train"
	case Test:
		return "test"
	default:
		return fmt.Sprintf("Split(%d)", int(s))
	}
}

// ParseSplit reads "train" or "test".
func ParseSplit(s string) (Split, error) {
	switch s {
	case "train":
		return Train, nil
	case "test":
		return Test, nil
	default:
		return 0, fmt.Errorf("parse split %q: %w", s, ErrOptions)
	}
}

// Options configure a Generator. The zero value is the training split with
// seed 0 and one to three objects per scene.
type Options struct {
	Seed  uint64
	Split Split
	// MinObjects and MaxObjects bound the objects per scene (1..3); zero means 1 and 3.
	MinObjects, MaxObjects int
}

// Generator makes scenes; it is immutable and safe for concurrent use.
type Generator struct {
	seed     uint64
	split    Split
	min, max int
}

// New validates opts and returns a Generator.
func New(opts Options) (*Generator, error) {
	g := &Generator{seed: opts.Seed, split: opts.Split, min: opts.MinObjects, max: opts.MaxObjects}
	if g.min == 0 {
		g.min = 1
	}
	if g.max == 0 {
		g.max = 3
	}
	switch {
	case g.split != Train && g.split != Test:
		return nil, fmt.Errorf("new generator: split %d: %w", int(g.split), ErrOptions)
	case g.min < 1 || g.max > 3 || g.min > g.max:
		return nil, fmt.Errorf("new generator: objects %d..%d: %w", g.min, g.max, ErrOptions)
	}
	return g, nil
}

// Generate returns training-split scene i of seed (one to three objects).
func Generate(seed uint64, i int) Scene {
	return (&Generator{seed: seed, split: Train, min: 1, max: 3}).Scene(i)
}

// splitSalt separates the splits' PCG seeds; any seed of one split maps to a
// different PCG state than every seed of the other (XOR with a constant is a bijection).
var splitSalt = [...]uint64{Train: 0x7261696e5f736565, Test: 0x746573745f736565}

// Scene returns scene i (any int; negative indices are valid too).
func (g *Generator) Scene(i int) Scene {
	r := newRNG(g.seed^splitSalt[g.split], uint64(i))
	s := Scene{Split: g.split, Seed: g.seed, Index: i}
	// Rejection sampling always ends: a single small object fits anywhere, and
	// after 200 failed layouts the scene falls back to exactly that.
	for attempt := 0; ; attempt++ {
		n := g.min + r.intn(g.max-g.min+1)
		if attempt >= 200 {
			n = 1
		}
		s.Background = pick(r, BackgroundColours())
		s.Groups = makeGroups(r, n, s.Background, attempt >= 200)
		s.Position, s.Relation = Anywhere, LeftOf
		if len(s.Groups) == 1 {
			s.Position = pickPosition(r)
		} else {
			s.Relation = Relation(r.intn(4))
		}
		if objs, ok := place(r, s.Groups, s.Position, s.Relation); ok {
			s.Objects = objs
			break
		}
	}
	s.bgRGB = jitter(r, s.Background)
	for k := range s.Objects {
		s.Objects[k].RGB = jitter(r, s.Objects[k].Colour)
	}
	s.Captions = captions(r, &s)
	return s
}

func pickPosition(r *rng) Position {
	if r.chance(0.3) {
		return Anywhere
	}
	return Position(1 + r.intn(4))
}

// makeGroups splits n objects into one or two groups of distinct kinds.
func makeGroups(r *rng, n int, bg Colour, forceSmall bool) []Group {
	counts := []int{n}
	if n >= 2 && !r.chance(0.35) {
		a := 1 + r.intn(n-1)
		counts = []int{a, n - a}
	}
	groups := make([]Group, 0, len(counts))
	for _, c := range counts {
		for {
			gr := Group{Colour: pick(r, ObjectColours()), Shape: pick(r, Shapes()), Size: Size(r.intn(2)), Count: c}
			if forceSmall {
				gr.Size = Small
			}
			if gr.Colour == bg {
				continue
			}
			if len(groups) == 1 && groups[0].Colour == gr.Colour && groups[0].Shape == gr.Shape {
				continue // "a red circle left of a red circle" would make captions ambiguous
			}
			groups = append(groups, gr)
			break
		}
	}
	return groups
}

// margin keeps objects off the border so that small crops never cut them.
const margin = 0.05

// gap keeps two groups (and a single group's half) clear of the midline.
const gap = 0.02

// extent is the outer radius of every shape relative to its nominal radius.
const extent = 1.15

type region struct{ x0, y0, x1, y1 float64 }

func halves(pos Position) region {
	switch pos {
	case Left:
		return region{margin, margin, 0.5 - gap, 1 - margin}
	case Right:
		return region{0.5 + gap, margin, 1 - margin, 1 - margin}
	case Top:
		return region{margin, margin, 1 - margin, 0.5 - gap}
	case Bottom:
		return region{margin, 0.5 + gap, 1 - margin, 1 - margin}
	default:
		return region{margin, margin, 1 - margin, 1 - margin}
	}
}

// place lays out every object, or reports false when they do not fit.
func place(r *rng, groups []Group, pos Position, rel Relation) ([]Object, bool) {
	regions := []region{halves(pos)}
	if len(groups) == 2 {
		switch rel {
		case LeftOf:
			regions = []region{halves(Left), halves(Right)}
		case RightOf:
			regions = []region{halves(Right), halves(Left)}
		case Above:
			regions = []region{halves(Top), halves(Bottom)}
		default:
			regions = []region{halves(Bottom), halves(Top)}
		}
	}
	var objs []Object
	for gi, gr := range groups {
		reg := regions[gi]
		for range gr.Count {
			o := Object{Group: gi, Colour: gr.Colour, Shape: gr.Shape, Size: gr.Size}
			o.R = gr.Size.radius(r)
			if gr.Shape != Circle {
				o.Angle = r.uniform(-10, 10) * math.Pi / 180
			}
			e := float64(o.R * extent)
			if reg.x1-reg.x0 < 2*e || reg.y1-reg.y0 < 2*e {
				return nil, false
			}
			ok := false
			for try := 0; try < 60 && !ok; try++ {
				o.X = r.uniform(reg.x0+e, reg.x1-e)
				o.Y = r.uniform(reg.y0+e, reg.y1-e)
				ok = true
				for _, p := range objs {
					if math.Hypot(o.X-p.X, o.Y-p.Y) < e+float64(p.R*extent)+0.03 {
						ok = false
						break
					}
				}
			}
			if !ok {
				return nil, false
			}
			objs = append(objs, o)
		}
	}
	return objs, true
}

// jitter returns the colour's base RGB moved by up to ±12 per channel.
func jitter(r *rng, c Colour) color.RGBA {
	base := colourRGB[c]
	var out [3]uint8
	for k, v := range base {
		out[k] = uint8(min(255, max(0, int(v)+r.intn(25)-12)))
	}
	return color.RGBA{out[0], out[1], out[2], 255}
}
