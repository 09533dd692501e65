package search

// cand is a node with its similarity to the current query.
type cand struct {
	s float32
	n uint32
}

// maxHeap pops the most similar candidate first (the paper's C set).
// Hand-written rather than container/heap to avoid interface calls on the
// hot path of every search.
type maxHeap []cand

func (h *maxHeap) push(c cand) {
	*h = append(*h, c)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].s >= a[i].s {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *maxHeap) pop() cand {
	a := *h
	top := a[0]
	last := len(a) - 1
	a[0] = a[last]
	a = a[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(a) {
			break
		}
		b := l
		if r := l + 1; r < len(a) && a[r].s > a[l].s {
			b = r
		}
		if a[i].s >= a[b].s {
			break
		}
		a[i], a[b] = a[b], a[i]
		i = b
	}
	*h = a
	return top
}

// minHeap keeps the least similar result on top (the paper's W set, whose
// worst element bounds the search).
type minHeap []cand

func (h *minHeap) push(c cand) {
	*h = append(*h, c)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].s <= a[i].s {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *minHeap) pop() cand {
	a := *h
	top := a[0]
	last := len(a) - 1
	a[0] = a[last]
	a = a[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(a) {
			break
		}
		b := l
		if r := l + 1; r < len(a) && a[r].s < a[l].s {
			b = r
		}
		if a[i].s <= a[b].s {
			break
		}
		a[i], a[b] = a[b], a[i]
		i = b
	}
	*h = a
	return top
}
