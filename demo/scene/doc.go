// Package scene generates the synthetic captioned images of imglish's demo
// world: one to three flat-coloured objects (a colour, a shape, a size) in one
// or two groups, placed left/right/top/bottom or relative to each other, on a
// plain background, each with several captions in varied wording ("two small
// red circles left of a blue square on a green background", "a large green
// triangle on a white background").
//
// Objects are big on purpose: a small one is 0.30-0.36 of the side across, a
// large one 0.44-0.52, so that at the demo model's 80 px input (a 5×5 grid of
// 16 px patches) every shape spans one and a half patches or more; at half
// that size its vision tower did not learn shapes (testdata/models/demo). A
// large object fits neither in half the image nor beside another one, so
// large objects are always drawn alone, with no position word.
//
// Everything is a pure function of (seed, split, index): the generator uses its
// own PCG stream per scene and its own integer-to-float conversions (never
// math/rand's derived helpers, whose algorithms are not frozen), so the same
// arguments give the same scene, the same captions and the same pixels on every
// machine and Go version. The train and test splits use disjoint seed streams,
// so `make run` and the quality tests can regenerate the held-out set instead of
// storing it.
//
// Rendering is pure Go (golang.org/x/image/vector), antialiased, at any size;
// positions and radii are fractions of the side, so a scene looks the same at
// 64 px and at 512 px.
//
// Concurrency: Generator and Scene are immutable after construction and safe
// for concurrent use; Render allocates a fresh image per call.
package scene
