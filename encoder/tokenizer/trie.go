package tokenizer

import "sort"

// byteTrie is a byte-wise trie over piece strings, built at load time. It
// stands in for the Darts double array SentencePiece builds over its pieces:
// only the set of keys matters for the results, not the layout. Node 0 is
// the root, whose children sit in a direct 256-entry table; every other node
// keeps its children as a label-sorted run in labels/child. A double array
// was tried first; its first-fit placement took 260 ms for 8,000 pieces and
// grows quadratically, while this layout builds in linear time and looks up
// as fast (most nodes below the root have one to three children; the few
// with many get a direct table).
type byteTrie struct {
	root   [256]int32
	first  []int32 // index of a node's first edge
	count  []int32 // number of edges of a node
	labels []byte
	child  []int32
	value  []int32 // piece id ending at the node, or -1
	// dense holds 256-entry child tables for nodes with more than
	// denseOver children (count -1, first = table offset), such as the
	// nodes after a UTF-8 lead byte, where a linear scan would be slow.
	dense []int32
}

const denseOver = 8

// next returns the child of node on c, or -1.
func (t *byteTrie) next(node int32, c byte) int32 {
	if node == 0 {
		return t.root[c]
	}
	lo, n := t.first[node], t.count[node]
	if n < 0 {
		return t.dense[int(lo)+int(c)]
	}
	for i := lo; i < lo+n; i++ {
		if t.labels[i] == c {
			return t.child[i]
		}
	}
	return -1
}

// longestPrefix returns the byte length of the longest key that is a prefix
// of s, and its value; 0, -1 when none is.
func (t *byteTrie) longestPrefix(s string) (length int, value int32) {
	value = -1
	node := int32(0)
	for i := 0; i < len(s); i++ {
		node = t.next(node, s[i])
		if node < 0 {
			break
		}
		if v := t.value[node]; v >= 0 {
			length, value = i+1, v
		}
	}
	return length, value
}

// exact returns the value stored for s, or -1.
func (t *byteTrie) exact(s string) int32 {
	node := int32(0)
	for i := 0; i < len(s); i++ {
		node = t.next(node, s[i])
		if node < 0 {
			return -1
		}
	}
	if node == 0 {
		return -1
	}
	return t.value[node]
}

// buildTrie builds a trie of keys (non-empty, unique) mapping to vals.
func buildTrie(keys []string, vals []int32) *byteTrie {
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return keys[idx[a]] < keys[idx[b]] })
	t := &byteTrie{first: []int32{0}, count: []int32{0}, value: []int32{-1}}
	for c := range t.root {
		t.root[c] = -1
	}
	// Breadth-first over ranges of the sorted keys sharing a prefix of
	// length depth: each range becomes one node, and its children are the
	// sub-ranges split by the byte at depth. Nodes are numbered in BFS
	// order, so a node's edges are contiguous.
	type span struct {
		lo, hi, depth int
		node          int32
	}
	queue := []span{{0, len(idx), 0, 0}}
	for q := 0; q < len(queue); q++ {
		sp := queue[q]
		i := sp.lo
		// A key that ends exactly at depth is this node's value.
		if i < sp.hi && len(keys[idx[i]]) == sp.depth {
			t.value[sp.node] = vals[idx[i]]
			i++
		}
		if sp.node != 0 {
			t.first[sp.node] = int32(len(t.labels))
		}
		for i < sp.hi {
			c := keys[idx[i]][sp.depth]
			j := i + 1
			for j < sp.hi && keys[idx[j]][sp.depth] == c {
				j++
			}
			n := int32(len(t.value))
			t.first = append(t.first, 0)
			t.count = append(t.count, 0)
			t.value = append(t.value, -1)
			if sp.node == 0 {
				t.root[c] = n
			} else {
				t.labels = append(t.labels, c)
				t.child = append(t.child, n)
				t.count[sp.node]++
			}
			queue = append(queue, span{i, j, sp.depth + 1, n})
			i = j
		}
		if n := t.count[sp.node]; n > denseOver {
			lo := t.first[sp.node]
			off := int32(len(t.dense))
			for range 256 {
				t.dense = append(t.dense, -1)
			}
			for k := lo; k < lo+n; k++ {
				t.dense[off+int32(t.labels[k])] = t.child[k]
			}
			t.first[sp.node], t.count[sp.node] = off, -1
		}
	}
	return t
}
