package db

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
	pos int32 // index in the partition's dense slice, -1 when not in the table
	// Data is the owner's data for the key, written by Config.Apply.
	Data   D
	states *stateSlots // nil when no listener holds state
}

// stateSlots holds the listener states of an entry on which at least one listener holds
// state; most entries of a table have none and pay one pointer for it.
type stateSlots struct {
	n int32 // non-nil slots in v
	v []any // indexed by ListenerID
}

// Key returns the entry's key.
func (e *Entry[K, D]) Key() K { return e.key }

// State returns listener id's state on the entry, or nil.
func (e *Entry[K, D]) State(id ListenerID) any {
	if s := e.states; s != nil && id >= 0 && int(id) < len(s.v) {
		return s.v[id]
	}
	return nil
}

// SetState sets listener id's state on the entry; nil clears it. Listeners keep pointers
// here (storing a pointer in an interface does not allocate). The slots grow only to the
// highest id holding state and are released when the last state is cleared.
func (e *Entry[K, D]) SetState(id ListenerID, v any) {
	if id < 0 {
		return
	}
	s := e.states
	if s == nil {
		if v == nil {
			return
		}
		s = &stateSlots{}
		e.states = s
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
		e.states = nil
	}
}

// HasState reports whether any listener holds state on the entry.
func (e *Entry[K, D]) HasState() bool { return e.states != nil }

// InTable reports whether the entry is still in its table (false once deleted).
func (e *Entry[K, D]) InTable() bool { return e.pos >= 0 }
