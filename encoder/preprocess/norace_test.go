//go:build !race

package preprocess

// raceEnabled: see race_test.go.
const raceEnabled = false
