package rib

import "unsafe"

// Entry is every path known for one prefix in one table (the Adj-RIB-In of all peers for
// that prefix, RFC 4271 §3.2), with the selected best path first.
//
// Owner: the db.partition task of the partition its key hashes to; nothing else reads or
// writes it. Cardinality: one per prefix per table. Lifetime: from the first path until
// the last path and the last listener state are gone.
//
// The zero Entry is empty and ready to use, so entries are stored by value in db entries.
//
// Select keeps the best path at index 0: there is a best path exactly when paths[0] is
// usable (selection picks an unusable path never, so when paths[0] is not usable none is).
// That costs no field. The paths are held as a pointer and two 32-bit counts rather than a
// slice header, so the entry is 16 bytes and a db entry with it 64 (one allocation class
// below a slice's 80).
type Entry struct {
	p    *Path  // the first element of the paths' backing array; nil when there is none
	n, c uint32 // paths held, and the backing array's capacity
}

// paths returns the paths as a slice over their backing array.
func (e *Entry) paths() []Path {
	if e.p == nil {
		return nil
	}
	return unsafe.Slice(e.p, e.c)[:e.n]
}

// setPaths stores s (its backing array and length).
func (e *Entry) setPaths(s []Path) {
	if cap(s) == 0 {
		e.p, e.n, e.c = nil, 0, 0
		return
	}
	e.p, e.n, e.c = unsafe.SliceData(s), uint32(len(s)), uint32(cap(s))
}

// NewEntry returns an empty entry.
func NewEntry() *Entry { return &Entry{} }

// Paths returns the entry's paths, the best one first (see Best); the slice is owned by the
// entry and its order changes as paths come, go and win.
func (e *Entry) Paths() []Path { return e.paths() }

// Best returns the best path, or nil.
func (e *Entry) Best() *Path {
	if e.n == 0 || !e.p.Usable() {
		return nil
	}
	return e.p
}

// Empty reports whether the entry holds no path.
func (e *Entry) Empty() bool { return e.n == 0 }

func (e *Entry) find(src *Source, id uint32) int {
	ps := e.paths()
	for i := range ps {
		if ps[i].Src == src && ps[i].ID == id {
			return i
		}
	}
	return -1
}

// Upsert adds p or replaces the path with the same source and path id. It returns the
// replaced path's attributes (nil when p is new) so the caller can release them, and
// whether the stored path changed at all.
func (e *Entry) Upsert(p Path) (old *Attrs, changed bool) {
	i := e.find(p.Src, p.ID)
	if i < 0 {
		e.setPaths(append(e.paths(), p))
		return nil, true
	}
	q := &e.paths()[i]
	if q.Attrs == p.Attrs && q.Label == p.Label && q.Flags == p.Flags {
		return p.Attrs, false
	}
	old = q.Attrs
	*q = p
	return old, true
}

// Remove deletes the path of src with path id id and returns its attributes (nil when
// absent) for the caller to release.
func (e *Entry) Remove(src *Source, id uint32) *Attrs {
	i := e.find(src, id)
	if i < 0 {
		return nil
	}
	return e.removeAt(i)
}

// RemoveSource deletes every path of src (a session going down) and calls release for
// each one's attributes. It returns how many were removed.
func (e *Entry) RemoveSource(src *Source, release func(*Attrs)) int {
	return e.removeFlagged(src, 0, release)
}

// RemoveStale deletes the paths of src marked FlagStale (not refreshed after a graceful
// restart, RFC 4724 §4.2) and calls release for each one's attributes. It returns how many
// were removed and how many of those were usable.
func (e *Entry) RemoveStale(src *Source, release func(*Attrs)) (n, usable int) {
	ps := e.paths()
	for i := range ps {
		if p := &ps[i]; p.Src == src && p.Flags&FlagStale != 0 && p.Usable() {
			usable++
		}
	}
	return e.removeFlagged(src, FlagStale, release), usable
}

// LongLivedStale moves the stale paths of src to long-lived stale (RFC 9494 §4.2): each
// is marked FlagLLGRStale, or removed when drop says so (the NO_LLGR community). It returns
// whether anything changed, how many paths were removed and how many of those were usable.
func (e *Entry) LongLivedStale(src *Source, drop func(*Attrs) bool, release func(*Attrs)) (changed bool, n, usable int) {
	for i := 0; i < int(e.n); {
		p := &e.paths()[i]
		if p.Src != src || p.Flags&FlagStale == 0 {
			i++
			continue
		}
		if drop(p.Attrs) {
			if p.Usable() {
				usable++
			}
			release(e.removeAt(i))
			n++
			changed = true
			continue
		}
		if p.Flags&FlagLLGRStale == 0 {
			p.Flags |= FlagLLGRStale
			changed = true
		}
		i++
	}
	return changed, n, usable
}

// removeFlagged deletes the paths of src that have every flag in mask.
func (e *Entry) removeFlagged(src *Source, mask uint8, release func(*Attrs)) int {
	n := 0
	for i := 0; i < int(e.n); {
		if p := &e.paths()[i]; p.Src == src && p.Flags&mask == mask {
			release(e.removeAt(i))
			n++
			continue
		}
		i++
	}
	return n
}

// UpdateFlags applies fn to every path of src and reports whether any flag changed.
func (e *Entry) UpdateFlags(src *Source, fn func(uint8) uint8) bool {
	changed := false
	ps := e.paths()
	for i := range ps {
		if ps[i].Src == src {
			if f := fn(ps[i].Flags); f != ps[i].Flags {
				ps[i].Flags = f
				changed = true
			}
		}
	}
	return changed
}

func (e *Entry) removeAt(i int) *Attrs {
	ps := e.paths()
	a := ps[i].Attrs
	last := len(ps) - 1
	ps[i] = ps[last]
	ps[last] = Path{}
	if last == 0 {
		e.setPaths(nil) // give the backing array back with the last path
	} else {
		e.n = uint32(last)
	}
	return a
}

// Snapshot returns a copy of the current best path (the zero Path when none). Take it
// before modifying the entry and hand it to Select afterwards: modifications move paths.
func (e *Entry) Snapshot() Path {
	if b := e.Best(); b != nil {
		return *b
	}
	return Path{}
}

// Select runs best-path selection and reports whether the best path changed from prev (a
// Snapshot): a different path, or the same path with other attributes, label or flags.
// Listeners are notified only then.
func (e *Entry) Select(o *BestOptions, prev Path) (changed bool) {
	ps := e.paths()
	if i := o.SelectBest(ps); i > 0 {
		ps[0], ps[i] = ps[i], ps[0]
	}
	after := e.Best()
	if after == nil {
		return prev.Src != nil
	}
	return *after != prev
}
