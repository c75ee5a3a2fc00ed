package db

import "math"

// ListenerID is a listener's small integer id on one table: the index of its state slot in
// every entry. Ids are reused only after an unregistered listener's slots have been
// cleared from every entry.
type ListenerID int

// Entry is one key's entry in a table: the owner's data and one state slot per listener.
// It lives in one partition and is owned by that partition's tasks (db.partition and db.walk
// of its instance, or a task excluding them); there is one per key present in the table.
// It exists while its data is non-empty (see Config.Empty) or any listener holds state on
// it; once both are gone the partition deletes it, and a pointer kept past that refers to a
// detached entry that is never reused.
type Entry[K comparable, D any] struct {
	key K
	// sid is the listener whose state s0 holds, or slotsMode when s0 holds the stateSlots
	// of several listeners. It sits in the padding after a key of odd size.
	sid int16
	pos int32 // index in the partition's dense slice, -1 when not in the table
	// Data is the owner's data for the key, written by Config.Apply.
	Data D
	// s0 is the listener state: one listener's, held inline (a table usually has one
	// listener with state on most entries: one RibOut), or *stateSlots. nil: no state. The
	// RIB's entry is 64 bytes with it.
	s0 any
}

// slotsMode is Entry.sid when s0 holds a *stateSlots.
const slotsMode = -1

// stateSlots holds the states of an entry on which several listeners hold state.
type stateSlots struct {
	n int32 // non-nil slots in v
	v []any // indexed by ListenerID
}

// set sets slot id to v, growing v as needed (never for a nil v).
func (s *stateSlots) set(id ListenerID, v any) {
	if int(id) >= len(s.v) {
		if v == nil {
			return
		}
		grown := make([]any, int(id)+1)
		copy(grown, s.v)
		s.v = grown
	}
	switch old := s.v[id]; {
	case old == nil && v != nil:
		s.n++
	case old != nil && v == nil:
		s.n--
	}
	s.v[id] = v
}

// Key returns the entry's key.
func (e *Entry[K, D]) Key() K { return e.key }

// State returns listener id's state on the entry, or nil.
func (e *Entry[K, D]) State(id ListenerID) any {
	switch {
	case e.s0 == nil:
		return nil
	case e.sid != slotsMode:
		if ListenerID(e.sid) == id {
			return e.s0
		}
		return nil
	}
	if s := e.s0.(*stateSlots); id >= 0 && int(id) < len(s.v) {
		return s.v[id]
	}
	return nil
}

// SetState sets listener id's state on the entry; nil clears it. Listeners keep pointers
// here (storing a pointer in an interface does not allocate). One listener's state is
// held inline; a second one moves both into slots, which grow only to the highest id
// holding state and are released with the last state.
func (e *Entry[K, D]) SetState(id ListenerID, v any) {
	if id < 0 {
		return
	}
	switch {
	case e.s0 == nil:
		if v == nil {
			return
		}
		if id <= math.MaxInt16 {
			e.sid, e.s0 = int16(id), v
			return
		}
		s := &stateSlots{}
		s.set(id, v)
		e.sid, e.s0 = slotsMode, s
	case e.sid != slotsMode:
		if ListenerID(e.sid) == id {
			e.s0 = v
			return
		}
		if v == nil {
			return
		}
		s := &stateSlots{}
		s.set(ListenerID(e.sid), e.s0)
		s.set(id, v)
		e.sid, e.s0 = slotsMode, s
	default:
		s := e.s0.(*stateSlots)
		s.set(id, v)
		if s.n == 0 {
			e.s0 = nil
		}
	}
}

// HasState reports whether any listener holds state on the entry.
func (e *Entry[K, D]) HasState() bool { return e.s0 != nil }

// InTable reports whether the entry is still in its table (false once deleted).
func (e *Entry[K, D]) InTable() bool { return e.pos >= 0 }
