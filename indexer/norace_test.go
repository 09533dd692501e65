//go:build !race

package indexer

// raceEnabled: see race_test.go.
const raceEnabled = false
