package db

import (
	"fmt"

	"github.com/fanoutd/fanout/sched"
)

// Listener is a party interested in a table's changes (a RibOut, a VRF import, a route
// event feed). It gets a ListenerID and a state slot on every entry.
type Listener[K comparable, D any] struct {
	// Name names the listener in errors.
	Name string
	// Changed runs after Apply changed e, in the same db.partition task, for every
	// listener in id order.
	Changed func(c *sched.Ctx, e *Entry[K, D])
	// Visit runs for each entry during a walk requested for this listener, in a db.walk task
	// of e's partition. Nil means Changed.
	Visit func(c *sched.Ctx, e *Entry[K, D])
}

// listenerSlot is a registered listener with the generation it was registered under; a
// zero slot (gen 0) is free or unregistered. A walk visits for a listener only while the
// slot's generation is the one the walk was requested under, so a reused id never inherits
// an old listener's walk.
type listenerSlot[K comparable, D any] struct {
	l   Listener[K, D]
	gen uint64
}

// Register adds a listener and returns its id, the lowest one free. c must be a task that
// excludes every db.partition and db.walk task (bgp.config, bgp.membership), so no entry is
// being changed or visited meanwhile.
func (t *Table[K, D, R]) Register(c *sched.Ctx, l Listener[K, D]) (ListenerID, error) {
	sched.CheckExcludes(c, sched.DBPartition, sched.DBWalk)
	if l.Changed == nil {
		return -1, fmt.Errorf("db: table %q: listener %q has no Changed", t.name, l.Name)
	}
	if l.Visit == nil {
		l.Visit = l.Changed
	}
	id, gen := t.reg.allocate()
	slot := listenerSlot[K, D]{l: l, gen: gen}
	if int(id) == len(t.listeners) {
		t.listeners = append(t.listeners, slot)
	} else {
		t.listeners[id] = slot
	}
	return id, nil
}

// Unregister removes listener id: from now on it is neither notified nor visited. A walk
// then clears its state slot on every entry (deleting entries left with no data and no
// state); when that walk is complete the id becomes free for reuse and done (if not nil)
// runs, in the db.walk task that finished the walk. Walks already requested for the
// listener still complete and call their callbacks. c must be as for Register.
func (t *Table[K, D, R]) Unregister(c *sched.Ctx, id ListenerID, done func(c *sched.Ctx)) error {
	sched.CheckExcludes(c, sched.DBPartition, sched.DBWalk)
	if id < 0 || int(id) >= len(t.listeners) || t.listeners[id].gen == 0 {
		return fmt.Errorf("%w: table %q, id %d", ErrNoListener, t.name, id)
	}
	t.listeners[id] = listenerSlot[K, D]{}
	t.reg.retire(id)
	w, err := t.newWalk(id, 0, true)
	if err != nil {
		return err
	}
	w.done = append(w.done, func(c *sched.Ctx) {
		t.reg.release(id)
		if done != nil {
			done(c)
		}
	})
	return w.start()
}
