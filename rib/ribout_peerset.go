package rib

import "math/bits"

// MaxMembers is how many peers one RibOut can hold: the size of a PeerSet. A larger set of
// peers with one export policy is split over several RibOuts (one encoding each).
const MaxMembers = 512

// PeerSet is a set of member slots of one RibOut: a small comparable value, so sets are
// compared with == and used as map keys when updates are grouped by audience.
type PeerSet [MaxMembers / 64]uint64

// Add adds slot i (ignored when out of range).
func (s *PeerSet) Add(i int) {
	if i >= 0 && i < MaxMembers {
		s[i>>6] |= 1 << (i & 63)
	}
}

// Remove removes slot i.
func (s *PeerSet) Remove(i int) {
	if i >= 0 && i < MaxMembers {
		s[i>>6] &^= 1 << (i & 63)
	}
}

// Has reports whether slot i is in the set.
func (s PeerSet) Has(i int) bool {
	return i >= 0 && i < MaxMembers && s[i>>6]&(1<<(i&63)) != 0
}

// Empty reports whether the set has no slot.
func (s PeerSet) Empty() bool { return s == PeerSet{} }

// Len returns the number of slots in the set.
func (s PeerSet) Len() int {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return n
}

// Or returns s ∪ o.
func (s PeerSet) Or(o PeerSet) PeerSet {
	for i := range s {
		s[i] |= o[i]
	}
	return s
}

// And returns s ∩ o.
func (s PeerSet) And(o PeerSet) PeerSet {
	for i := range s {
		s[i] &= o[i]
	}
	return s
}

// AndNot returns s \ o.
func (s PeerSet) AndNot(o PeerSet) PeerSet {
	for i := range s {
		s[i] &^= o[i]
	}
	return s
}

// Each calls f for every slot in ascending order.
func (s PeerSet) Each(f func(i int)) {
	for wi, w := range s {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			f(wi<<6 | b)
			w &= w - 1
		}
	}
}

// FirstFree returns the lowest slot not in s, or -1 when s is full.
func (s PeerSet) FirstFree() int {
	for wi, w := range s {
		if w != ^uint64(0) {
			return wi<<6 | bits.TrailingZeros64(^w)
		}
	}
	return -1
}
