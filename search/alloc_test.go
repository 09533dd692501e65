package search

import "testing"

// TestSearchAllocs checks that a graph search allocates only the result
// slice it returns: the query buffer, heaps and batch buffers are pooled.
func TestSearchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops pooled items at random")
	}
	f := build(t, 3000, Options{ExactBelow: 1})
	for _, ef := range []int{16, 128} {
		q := f.queries[0]
		got := testing.AllocsPerRun(50, func() {
			if _, err := f.x.Search(t.Context(), q, 10, SearchOptions{Ef: ef}); err != nil {
				t.Fatal(err)
			}
		})
		if got > 1 {
			t.Errorf("ef=%d: %.1f allocations per search, want 1 (the result)", ef, got)
		}
	}
}
