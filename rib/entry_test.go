package rib

import "testing"

func TestEntryUpsertSelectRemove(t *testing.T) {
	o := &BestOptions{}
	a, b := src("10.0.0.1", 65001, true), src("10.0.0.2", 65002, true)
	long := attrs(func(s *Summary) { s.PathLen = 3 })
	short := attrs(func(s *Summary) { s.PathLen = 1 })
	e := NewEntry()

	prev := e.Snapshot()
	if old, changed := e.Upsert(Path{Src: a, Attrs: long}); old != nil || !changed {
		t.Fatal("first path not reported new")
	}
	if !e.Select(o, prev) || e.Best().Src != a {
		t.Fatal("first path not best")
	}

	prev = e.Snapshot()
	e.Upsert(Path{Src: b, Attrs: short})
	if !e.Select(o, prev) || e.Best().Src != b {
		t.Fatal("shorter AS path did not win")
	}

	// Re-announcing the same thing changes nothing and selects nothing new.
	prev = e.Snapshot()
	if _, changed := e.Upsert(Path{Src: b, Attrs: short}); changed {
		t.Fatal("identical re-announcement reported as a change")
	}
	if e.Select(o, prev) {
		t.Fatal("best reported changed after an identical re-announcement")
	}

	// A change to a non-best path leaves the best alone.
	prev = e.Snapshot()
	if old, changed := e.Upsert(Path{Src: a, Attrs: attrs(func(s *Summary) { s.PathLen = 4 })}); old != long || !changed {
		t.Fatal("replacement did not return the old attributes")
	}
	if e.Select(o, prev) {
		t.Fatal("best reported changed by a change to a losing path")
	}

	// Withdrawing the best path moves the best to the other peer.
	prev = e.Snapshot()
	if got := e.Remove(b, 0); got != short {
		t.Fatal("Remove returned the wrong attributes")
	}
	if !e.Select(o, prev) || e.Best().Src != a {
		t.Fatal("best did not fall back")
	}
	if e.Remove(b, 0) != nil {
		t.Fatal("removing an absent path returned attributes")
	}

	// A peer going down removes all its paths (ADD-PATH ids included).
	e.Upsert(Path{Src: a, ID: 7, Attrs: short})
	released := 0
	prev = e.Snapshot()
	if n := e.RemoveSource(a, func(*Attrs) { released++ }); n != 2 || released != 2 {
		t.Fatalf("RemoveSource removed %d, released %d", n, released)
	}
	if !e.Select(o, prev) || e.Best() != nil || !e.Empty() {
		t.Fatal("entry not empty after its last source went down")
	}
}

func TestEntryFlagsChangeBest(t *testing.T) {
	o := &BestOptions{}
	a, b := src("10.0.0.1", 65001, true), src("10.0.0.2", 65002, true)
	e := NewEntry()
	e.Upsert(Path{Src: a, Attrs: attrs(nil)})
	e.Upsert(Path{Src: b, Attrs: attrs(nil)})
	e.Select(o, Path{})
	if e.Best().Src != a {
		t.Fatal("lower router id should win")
	}
	prev := e.Snapshot()
	if !e.UpdateFlags(a, func(f uint8) uint8 { return f | FlagNextHopUnreachable }) {
		t.Fatal("flag change not reported")
	}
	if !e.Select(o, prev) || e.Best().Src != b {
		t.Fatal("unreachable next hop did not move the best path")
	}
}
