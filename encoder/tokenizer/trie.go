package tokenizer

import "sort"

// dtrie is a byte-wise double-array trie over piece strings, built at load
// time. A transition from node s on byte c goes to t = base[s] + c when
// check[t] == s. value[t] is the piece id ending at t, or -1. It stands in for
// the Darts double array SentencePiece builds over its pieces: only the set of
// keys matters for the results, not the layout.
type dtrie struct {
	base  []int32
	check []int32
	value []int32
}

// next returns the child of node on c, or -1.
func (t *dtrie) next(node int32, c byte) int32 {
	n := t.base[node] + int32(c)
	if n < int32(len(t.check)) && t.check[n] == node {
		return n
	}
	return -1
}

// longestPrefix returns the byte length of the longest key that is a prefix
// of s, and its value; 0, -1 when none is.
func (t *dtrie) longestPrefix(s string) (length int, value int32) {
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
func (t *dtrie) exact(s string) int32 {
	node := int32(0)
	for i := 0; i < len(s); i++ {
		node = t.next(node, s[i])
		if node < 0 {
			return -1
		}
	}
	return t.value[node]
}

// buildTrie builds a trie of keys (non-empty, unique) mapping to vals.
func buildTrie(keys []string, vals []int32) *dtrie {
	// A plain pointer trie first, then a breadth-first placement into the
	// double array, first fit per node.
	type pnode struct {
		labels   []byte
		children []int32
		value    int32
	}
	nodes := []pnode{{value: -1}}
	for k, key := range keys {
		cur := int32(0)
		for i := 0; i < len(key); i++ {
			c := key[i]
			found := int32(-1)
			for j, l := range nodes[cur].labels {
				if l == c {
					found = nodes[cur].children[j]
					break
				}
			}
			if found < 0 {
				found = int32(len(nodes))
				nodes = append(nodes, pnode{value: -1})
				nodes[cur].labels = append(nodes[cur].labels, c)
				nodes[cur].children = append(nodes[cur].children, found)
			}
			cur = found
		}
		nodes[cur].value = vals[k]
	}

	t := &dtrie{}
	grow := func(n int) {
		for len(t.check) < n {
			t.base = append(t.base, 0)
			t.check = append(t.check, -1)
			t.value = append(t.value, -1)
		}
	}
	grow(256)
	t.check[0] = -2 // the root is never free
	firstFree := 1
	where := make([]int32, len(nodes)) // pointer node -> array index
	queue := []int32{0}
	for len(queue) > 0 {
		pn := queue[0]
		queue = queue[1:]
		at := where[pn]
		t.value[at] = nodes[pn].value
		ls := nodes[pn].labels
		if len(ls) == 0 {
			continue
		}
		order := make([]int, len(ls))
		for i := range order {
			order[i] = i
		}
		sort.Slice(order, func(a, b int) bool { return ls[order[a]] < ls[order[b]] })
		lo := int(ls[order[0]])
		for firstFree < len(t.check) && t.check[firstFree] != -1 {
			firstFree++
		}
		b := firstFree - lo
		if b < 1 {
			b = 1
		}
		for {
			grow(b + 256)
			ok := true
			for _, i := range order {
				if t.check[b+int(ls[i])] != -1 {
					ok = false
					break
				}
			}
			if ok {
				break
			}
			b++
		}
		t.base[at] = int32(b)
		for _, i := range order {
			child := b + int(ls[i])
			t.check[child] = at
			where[nodes[pn].children[i]] = int32(child)
			queue = append(queue, nodes[pn].children[i])
		}
	}
	t.check[0] = -1 // no node's base+c may land on the root as its child
	// Trim trailing unused slots.
	n := len(t.check)
	for n > 1 && t.check[n-1] == -1 && t.base[n-1] == 0 {
		n--
	}
	t.base, t.check, t.value = t.base[:n], t.check[:n], t.value[:n]
	return t
}
