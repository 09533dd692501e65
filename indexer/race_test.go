//go:build race

package indexer

// raceEnabled trims TestSharedCollections under -race, where decoding costs
// ~17× more (measured: its first run took 92 s with -race, 5.3 s without);
// plain `go test` indexes the whole collections.
const raceEnabled = true
