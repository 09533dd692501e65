package vstore

import (
	"fmt"
	"strings"
)

// SpaceKind says what a space indexes.
type SpaceKind string

// Space kinds.
const (
	// KindImages spaces hold one vector per item (key = item id).
	KindImages SpaceKind = "images"
	// KindTexts spaces are text collections: entries with a text and a
	// vector, searched with an image vector (image→text).
	KindTexts SpaceKind = "texts"
)

// MaxSpaceNameLen bounds a space name.
const MaxSpaceNameLen = 200

// Space describes one vector space: a kind, the model that made its
// vectors, the dimension and the index parameters. One model per space, so
// search never mixes models.
type Space struct {
	Name  string    `json:"name"`
	Kind  SpaceKind `json:"kind"`
	Model string    `json:"model"`
	Dim   int       `json:"dim"`
	// M and EfConstruction are HNSW parameters; 0 = the engine's default.
	// An engine without them may ignore them.
	M              int `json:"m,omitempty"`
	EfConstruction int `json:"ef_construction,omitempty"`
	// Count is the number of vectors (filled in by Spaces; ignored on create).
	Count int `json:"count,omitempty"`
}

// ImageSpace is the conventional name of the image space of a model.
func ImageSpace(model string) string { return "images:" + model }

// ValidSpace returns an ErrInvalid error unless s can be created: a name
// of 1 to MaxSpaceNameLen bytes without NUL, a known kind, a positive
// dimension, no negative parameter.
func ValidSpace(s Space) error {
	if s.Name == "" || len(s.Name) > MaxSpaceNameLen || strings.ContainsRune(s.Name, 0) {
		return fmt.Errorf("space name %.40q: %w", s.Name, ErrInvalid)
	}
	switch s.Kind {
	case KindImages, KindTexts:
	default:
		return fmt.Errorf("space kind %q: %w", s.Kind, ErrInvalid)
	}
	if s.Dim <= 0 || s.M < 0 || s.EfConstruction < 0 {
		return fmt.Errorf("space %s: dim %d, m %d, ef %d: %w", s.Name, s.Dim, s.M, s.EfConstruction, ErrInvalid)
	}
	return nil
}
