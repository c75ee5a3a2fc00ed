package rib

import (
	"math/bits"

	"github.com/fanoutd/fanout/sched"
)

// Reading what a RibOut advertises (Adj-RIB-Out, `gobgp neighbor <addr> adj-out`). The
// per-prefix state belongs to the entry's partition tasks, so every read here runs in one of
// them: a db.walk task of a walk the reader requested, or a short db.walk task of a lookup.

// Advertised is one unit a member holds or is about to be sent: the exported attribute set
// (shared with the RibOut: valid for as long as the caller's task runs, so callers copy
// what they keep, e.g. Wire(), which is an immutable string), its label and, under ADD-PATH,
// the path identifier it goes out with (0 without ADD-PATH).
type Advertised struct {
	Attrs  *Attrs
	Label  Label
	PathID uint32
	// Src and RxID name the stored path an ADD-PATH unit was exported from (Source.ID and
	// Path.ID); without ADD-PATH the unit is the entry's best path's.
	Src, RxID uint32
}

// AdvertisedTo appends to dst what member slot holds of e's prefix (or is queued to receive
// once the queue drains), by path identifier under ADD-PATH. It reads nothing when slot is
// not a member. c must be a task of e's partition (db.partition or db.walk).
//
// Right after a member joined on a slot a departed peer used, entries its initial walk has
// not reached yet may still show what was advertised to the departed peer: the state forgets
// departed members lazily (see Leave); compare Gen before and after a read to notice a
// change of member.
func (r *RibOut) AdvertisedTo(c *sched.Ctx, e *DBEntry, slot int, dst []Advertised) []Advertised {
	sched.Check(c, sched.DBPartition, sched.DBWalk)
	if !r.members.Has(slot) || r.id < 0 {
		return dst
	}
	switch st := e.State(r.id).(type) {
	case *advState:
		if st.attrs != nil && st.adv().Has(slot) {
			dst = append(dst, Advertised{Attrs: st.attrs, Label: st.label()})
		}
	case *pathsState:
		for i := range st.slots {
			s := &st.slots[i]
			if s.st.attrs != nil && s.st.adv().Has(slot) {
				dst = append(dst, Advertised{Attrs: s.st.attrs, Label: s.st.label(), PathID: s.id, Src: s.src, RxID: s.rx})
			}
		}
	}
	return dst
}

// Table returns the table the RibOut exports from.
func (r *RibOut) Table() *Table { return r.table }

// countAdv moves partition pi's advertised counts from set old to set new: one add per
// member that gained or lost the unit, none for members whose holding did not change.
// Plain adds: partition pi's tasks are the only writers.
func (r *RibOut) countAdv(pi int, old, new PeerSet) {
	cnt := &r.advCount[pi]
	for wi := range old {
		gone, got := old[wi]&^new[wi], new[wi]&^old[wi]
		for gone != 0 {
			cnt[wi<<6|bits.TrailingZeros64(gone)]--
			gone &= gone - 1
		}
		for got != 0 {
			cnt[wi<<6|bits.TrailingZeros64(got)]++
			got &= got - 1
		}
	}
}

// AdvertisedCount returns how many units (prefixes; paths under ADD-PATH) member slot holds
// or is queued to receive: the counts apply maintains, summed over the partitions. Stale
// holdings of a departed member on the same slot are included until the joining member's
// initial walk clears them; Join avoids such slots while others are free. c must exclude
// every partition and walk task (bgp.membership, bgp.config).
func (r *RibOut) AdvertisedCount(c *sched.Ctx, slot int) int64 {
	sched.CheckExcludes(c, sched.DBPartition, sched.DBWalk)
	if slot < 0 || slot >= MaxMembers {
		return 0
	}
	var n int64
	for p := range r.advCount {
		n += r.advCount[p][slot]
	}
	return n
}

// freeSlot returns a free member slot, preferring one no entry still counts as holding
// anything (so a joining member's count starts at zero), or -1 when none is free. It runs
// where Join does, which excludes the partition tasks that write the counts.
func (r *RibOut) freeSlot() int {
	first := r.members.FirstFree()
	if first < 0 {
		return -1
	}
	for wi, w := range r.members {
		free := ^w
		for free != 0 {
			s := wi<<6 | bits.TrailingZeros64(free)
			free &= free - 1
			held := false
			for p := range r.advCount {
				if r.advCount[p][s] != 0 {
					held = true
					break
				}
			}
			if !held {
				return s
			}
		}
	}
	return first
}
