package scene

import "errors"

var (
	// ErrOptions means Options hold an impossible combination (object counts outside 1..3, unknown split).
	ErrOptions = errors.New("scene: invalid options")
	// ErrSize means a render size outside 8..4096 pixels.
	ErrSize = errors.New("scene: invalid image size")
)
