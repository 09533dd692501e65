package demo

import "errors"

// ErrOptions means EvalOptions are unusable (fewer than 10 scenes, a tiny render size).
var ErrOptions = errors.New("demo: invalid evaluation options")
