package rib

// ADD-PATH send (RFC 7911): a RibOut whose policy has AddPathSend = n advertises the n most
// preferred usable paths of each prefix that the policy allows, each under a path
// identifier of its own. The identifier is chosen by the RibOut, per prefix, when a path
// is first advertised, and stays the path's until it is withdrawn, so a changed path is
// re-announced under the same identifier (an implicit replacement, RFC 7911 §3) and the
// receiver never sees one path flap to another identifier.

// pathsState is an ADD-PATH RibOut's state on one entry: one advertised unit per path it
// advertises or is withdrawing. Owned by the entry's partition tasks.
type pathsState struct {
	slots []pathSlot
}

// pathSlot is one path advertised under identifier id: the path of source src with
// received identifier rx.
type pathSlot struct {
	src, rx, id uint32
	seen        bool      // scratch of one export run
	st          *advState // its own allocation: the queue points at it while an update is pending
}

func (ps *pathsState) find(src, rx uint32) int {
	for i := range ps.slots {
		if ps.slots[i].src == src && ps.slots[i].rx == rx {
			return i
		}
	}
	return -1
}

// add appends a slot for (src, rx) under the lowest identifier (from 1) no slot uses.
func (ps *pathsState) add(src, rx uint32) int {
	id := uint32(1)
	for again := true; again; {
		again = false
		for i := range ps.slots {
			if ps.slots[i].id == id {
				id++
				again = true
			}
		}
	}
	ps.slots = append(ps.slots, pathSlot{src: src, rx: rx, id: id, st: &advState{}})
	return len(ps.slots) - 1
}

// choose leaves in order the indexes of the paths of e to advertise, most preferred
// first: usable paths the policy allows, at most AddPathSend of them. The best path
// (index 0) leads when it qualifies, whatever the pairwise order says (deterministic MED
// can make the two disagree).
func (r *RibOut) choose(x *Exporter, paths []Path) []int {
	ord := x.order[:0]
	for i := range paths {
		if paths[i].Usable() && r.Policy.Allows(paths[i].Src) {
			ord = append(ord, i)
		}
	}
	n := min(len(ord), int(r.Policy.AddPathSend))
	k := 0
	if len(ord) > 0 && ord[0] == 0 {
		k = 1
	}
	for ; k < n; k++ {
		best := k
		for j := k + 1; j < len(ord); j++ {
			if better, _ := r.table.best.Compare(&paths[ord[j]], &paths[ord[best]]); better {
				best = j
			}
		}
		ord[k], ord[best] = ord[best], ord[k]
	}
	x.order = ord
	return ord[:n]
}

// exportPaths is export for an ADD-PATH policy: each chosen path is one unit with its
// own state and queued updates; units of paths no longer chosen are withdrawn.
func (r *RibOut) exportPaths(pi int, e *DBEntry, force PeerSet) {
	st, _ := e.State(r.id).(*pathsState)
	members := r.active
	var ord []int
	paths := e.Data.Paths()
	if !members.Empty() {
		ord = r.choose(r.parts[pi], paths)
	}
	if st == nil {
		if len(ord) == 0 {
			return
		}
		st = &pathsState{}
		e.SetState(r.id, st)
	}
	key := e.Key()
	for i := range st.slots {
		st.slots[i].seen = false
	}
	for _, pix := range ord {
		p := &paths[pix]
		i := st.find(p.Src.ID, p.ID)
		if i < 0 {
			i = st.add(p.Src.ID, p.ID)
		}
		s := &st.slots[i]
		s.seen = true
		out, label, targets := r.exportPath(pi, p, members)
		r.apply(pi, s.st, key, s.id, out, label, targets, force, members)
	}
	kept := st.slots[:0]
	for i := range st.slots {
		s := &st.slots[i]
		if !s.seen {
			r.apply(pi, s.st, key, s.id, nil, Label{}, PeerSet{}, force, members)
		}
		if !s.st.empty() {
			kept = append(kept, *s)
		}
	}
	clear(st.slots[len(kept):])
	st.slots = kept
	if len(st.slots) == 0 {
		e.SetState(r.id, nil)
	}
}
