package scene

import (
	"fmt"
	"image/color"
)

// Colour is a named colour of the demo world.
type Colour int

// The object colours (Red..Black) and the extra background colour Gray.
const (
	Red Colour = iota
	Orange
	Yellow
	Green
	Blue
	Purple
	White
	Black
	Gray
)

var colourNames = [...]string{"red", "orange", "yellow", "green", "blue", "purple", "white", "black", "gray"}

// colourRGB are the base values; each object and background gets a small
// per-scene jitter around them so the model learns colour names, not exact values.
var colourRGB = [...][3]uint8{
	{215, 35, 35}, {245, 140, 25}, {240, 220, 40}, {40, 165, 60}, {40, 85, 215},
	{140, 55, 180}, {245, 245, 245}, {25, 25, 25}, {128, 128, 128},
}

// String returns the colour's caption word.
func (c Colour) String() string {
	if c < 0 || int(c) >= len(colourNames) {
		return fmt.Sprintf("Colour(%d)", int(c))
	}
	return colourNames[c]
}

// ObjectColours lists the colours objects take (Gray is background only).
func ObjectColours() []Colour {
	return []Colour{Red, Orange, Yellow, Green, Blue, Purple, White, Black}
}

// BackgroundColours lists the colours backgrounds take.
func BackgroundColours() []Colour { return append(ObjectColours(), Gray) }

// Shape is an object's shape.
type Shape int

// The shapes of the demo world.
const (
	Circle Shape = iota
	Square
	Triangle
	Star
	Diamond
	Cross
)

var shapeNames = [...][2]string{
	{"circle", "circles"}, {"square", "squares"}, {"triangle", "triangles"},
	{"star", "stars"}, {"diamond", "diamonds"}, {"cross", "crosses"},
}

// String returns the singular caption word.
func (s Shape) String() string {
	if s < 0 || int(s) >= len(shapeNames) {
		return fmt.Sprintf("Shape(%d)", int(s))
	}
	return shapeNames[s][0]
}

// Plural returns the plural caption word.
func (s Shape) Plural() string {
	if s < 0 || int(s) >= len(shapeNames) {
		return fmt.Sprintf("Shape(%d)", int(s))
	}
	return shapeNames[s][1]
}

// Shapes lists every shape.
func Shapes() []Shape { return []Shape{Circle, Square, Triangle, Star, Diamond, Cross} }

// Size is an object's size class.
type Size int

// The size classes; radii are fractions of the image side.
const (
	Small Size = iota
	Large
)

// String returns the canonical caption word.
func (s Size) String() string {
	switch s {
	case Small:
		return "small"
	case Large:
		return "large"
	default:
		return fmt.Sprintf("Size(%d)", int(s))
	}
}

// radius range per size class, as a fraction of the image side.
func (s Size) radius(r *rng) float64 {
	if s == Large {
		return r.uniform(0.22, 0.26)
	}
	return r.uniform(0.15, 0.18)
}

// Position places a single group in the image.
type Position int

// Positions of a single group; Anywhere means the caption names none.
const (
	Anywhere Position = iota
	Left
	Right
	Top
	Bottom
)

// String names the position.
func (p Position) String() string {
	switch p {
	case Anywhere:
		return "anywhere"
	case Left:
		return "left"
	case Right:
		return "right"
	case Top:
		return "top"
	case Bottom:
		return "bottom"
	default:
		return fmt.Sprintf("Position(%d)", int(p))
	}
}

// Relation places group 0 relative to group 1.
type Relation int

// Relations between two groups: "Groups[0] <relation> Groups[1]".
const (
	LeftOf Relation = iota
	RightOf
	Above
	Below
)

// String names the relation.
func (r Relation) String() string {
	switch r {
	case LeftOf:
		return "left of"
	case RightOf:
		return "right of"
	case Above:
		return "above"
	case Below:
		return "below"
	default:
		return fmt.Sprintf("Relation(%d)", int(r))
	}
}

// inverse is the relation seen from the other group.
func (r Relation) inverse() Relation {
	switch r {
	case LeftOf:
		return RightOf
	case RightOf:
		return LeftOf
	case Above:
		return Below
	default:
		return Above
	}
}

// Group is Count identical objects (same colour, shape and size class).
type Group struct {
	Colour Colour `json:"colour"`
	Shape  Shape  `json:"shape"`
	Size   Size   `json:"size"`
	Count  int    `json:"count"`
}

// Object is one drawn object; coordinates and radius are fractions of the side.
type Object struct {
	Group  int        `json:"group"`
	Colour Colour     `json:"colour"`
	Shape  Shape      `json:"shape"`
	Size   Size       `json:"size"`
	X      float64    `json:"x"`
	Y      float64    `json:"y"`
	R      float64    `json:"r"`
	Angle  float64    `json:"angle"` // radians, small jitter
	RGB    color.RGBA `json:"-"`
}

// Scene is one generated image description. Captions[0] is the canonical
// caption (every attribute, fixed wording); the others vary the wording and
// may leave attributes out, but never say anything false.
type Scene struct {
	Split      Split    `json:"split"`
	Seed       uint64   `json:"seed"`
	Index      int      `json:"index"`
	Background Colour   `json:"background"`
	Groups     []Group  `json:"groups"`
	Position   Position `json:"position"` // single group only
	Relation   Relation `json:"relation"` // two groups only: Groups[0] Relation Groups[1]
	Objects    []Object `json:"objects"`
	Captions   []string `json:"captions"`

	bgRGB color.RGBA
}

// Caption returns the canonical caption.
func (s Scene) Caption() string {
	if len(s.Captions) == 0 {
		return ""
	}
	return s.Captions[0]
}

// NumObjects is the number of drawn objects.
func (s Scene) NumObjects() int { return len(s.Objects) }
