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
	// sid is the listener whose state is inline in s0 (when s0 is not nil). It sits in the
	// padding after a key of odd size: the RIB's 26-byte key makes the entry 80 bytes.
	sid int16
	pos int32 // index in the partition's dense slice, -1 when not in the table
	// Data is the owner's data for the key, written by Config.Apply.
	Data D
	// s0 is one listener's state, held inline: a table usually has one listener with state
	// on most entries (one RibOut), which then costs no allocation beyond its own state.
	s0   any
	more *stateSlots // the other listeners' states; nil when none
}

// stateSlots holds the states of listeners beyond the inline one.
type stateSlots struct {
	n int32 // non-nil slots in v
	v []any // indexed by ListenerID
}

// Key returns the entry's key.
func (e *Entry[K, D]) Key() K { return e.key }

// State returns listener id's state on the entry, or nil.
func (e *Entry[K, D]) State(id ListenerID) any {
	if e.s0 != nil && ListenerID(e.sid) == id {
		return e.s0
	}
	if s := e.more; s != nil && id >= 0 && int(id) < len(s.v) {
		return s.v[id]
	}
	return nil
}

// SetState sets listener id's state on the entry; nil clears it. Listeners keep pointers
// here (storing a pointer in an interface does not allocate). One state is held inline;
// the others' slots grow only to the highest id holding state and are released when the
// last of them is cleared.
func (e *Entry[K, D]) SetState(id ListenerID, v any) {
	if id < 0 {
		return
	}
	if e.s0 != nil && ListenerID(e.sid) == id {
		e.s0 = v
		return
	}
	s := e.more
	if v != nil && e.s0 == nil && id <= math.MaxInt16 && (s == nil || int(id) >= len(s.v) || s.v[id] == nil) {
		e.sid, e.s0 = int16(id), v
		return
	}
	if s == nil {
		if v == nil {
			return
		}
		s = &stateSlots{}
		e.more = s
	}
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
	if s.n == 0 {
		e.more = nil
	}
}

// HasState reports whether any listener holds state on the entry.
func (e *Entry[K, D]) HasState() bool { return e.s0 != nil || e.more != nil }

// InTable reports whether the entry is still in its table (false once deleted).
func (e *Entry[K, D]) InTable() bool { return e.pos >= 0 }
