package index

import (
	"sync"
)

// slotSet is a set of slots backed by an epoch-stamped array, so that clearing it is
// O(1) and pooled sets allocate nothing in steady state.
type slotSet struct {
	epoch uint32
	marks []uint32 // marks[slot] == epoch ⇔ slot is in the set
}

func (s *slotSet) has(slot uint32) bool { return int(slot) < len(s.marks) && s.marks[slot] == s.epoch }

func (s *slotSet) add(slot uint32) { s.marks[slot] = s.epoch }

var slotSets = sync.Pool{New: func() any { return &slotSet{} }}

// getSlotSet returns an empty set able to hold slots below n.
func getSlotSet(n int) *slotSet {
	s := slotSets.Get().(*slotSet)
	if len(s.marks) < n {
		s.marks = make([]uint32, n+n/4)
		s.epoch = 0
	}
	s.epoch++
	if s.epoch == 0 {
		clear(s.marks)
		s.epoch = 1
	}
	return s
}

func putSlotSet(s *slotSet) { slotSets.Put(s) }
