//go:build race

package preprocess

// raceEnabled trims the shared-data sweeps under -race, where decoding a
// 2 MP JPEG costs ~20× more; the full sweeps run in plain `go test`.
const raceEnabled = true
