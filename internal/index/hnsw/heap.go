package hnsw

// minHeap and maxHeap are binary heaps of neighbours ordered by distance. They are
// hand-rolled on []Neighbor (no container/heap interface boxing) and their backing
// arrays are reused across searches.
type minHeap []Neighbor

func (h *minHeap) push(n Neighbor) {
	*h = append(*h, n)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].Dist <= s[i].Dist {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *minHeap) pop() Neighbor {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		m := l
		if r := l + 1; r < len(s) && s[r].Dist < s[l].Dist {
			m = r
		}
		if s[i].Dist <= s[m].Dist {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

type maxHeap []Neighbor

func (h *maxHeap) push(n Neighbor) {
	*h = append(*h, n)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].Dist >= s[i].Dist {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *maxHeap) pop() Neighbor {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	s.siftDown()
	*h = s
	return top
}

// top returns the farthest element; the heap must not be empty.
func (h maxHeap) top() Neighbor { return h[0] }

// replaceTop replaces the farthest element with n and restores the heap order: one
// sift-down instead of a push and a pop. The heap must not be empty.
func (h maxHeap) replaceTop(n Neighbor) {
	h[0] = n
	h.siftDown()
}

// siftDown moves the first element down to its place in the heap order.
func (h maxHeap) siftDown() {
	i := 0
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && h[r].Dist > h[l].Dist {
			m = r
		}
		if h[i].Dist >= h[m].Dist {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
