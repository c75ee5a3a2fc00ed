package db

import (
	"errors"
	"fmt"
	"sync"

	"github.com/fanoutd/fanout/sched"
)

// Walks
//
// A walk visits every entry of a table, partition by partition, in low-priority db.walk
// tasks that run beside the db.partition tasks of other partitions and between the bounded
// batches of their own (the policy excludes a partition's walk and drain from each other).
// In each partition it goes down the dense slice of entries, at most WalkSlice entries per
// run. Deleting an entry moves the last entry into its place and new entries are appended,
// so going down never skips an entry that stays in the table: an entry present from the
// start of the walk to its end is visited at least once. An entry may be visited twice when
// others are deleted meanwhile, and entries added during the walk may or may not be visited
// (their listeners hear of them through Changed anyway).

// RequestWalk asks for a walk of the whole table for listener id and returns at once. done
// runs after a walk that began after this call has visited every partition, so every entry
// present from this call until done runs has been passed to the listener's Visit at least
// once. done runs in the db.walk task that finished the walk (it may touch only that task's
// partition) and may be nil.
//
// Requests share walks: per listener there is at most one walk in progress and one queued
// after it. A request made while the listener's walk has not visited any entry yet joins
// that walk; a request made once it has begun joins the walk queued to follow it, which
// starts when the current one completes. However many peers ask, a listener costs at most
// two walks. Safe from any goroutine.
func (t *Table[K, D, R]) RequestWalk(id ListenerID, done func(c *sched.Ctx)) error {
	r := &t.reg
	r.mu.Lock()
	if id < 0 || int(id) >= len(r.ids) || r.ids[id].state != idLive {
		r.mu.Unlock()
		return fmt.Errorf("%w: table %q, id %d", ErrNoListener, t.name, id)
	}
	key := walkKey{id: id, gen: r.ids[id].gen}
	w := r.active[key]
	switch {
	case w != nil && !w.started:
		w.addDoneLocked(done)
		r.mu.Unlock()
		return nil
	case w != nil:
		next := r.pending[key]
		if next == nil {
			var err error
			if next, err = t.newWalk(id, key.gen, false); err != nil {
				r.mu.Unlock()
				return err
			}
			r.pending[key] = next
		}
		next.addDoneLocked(done)
		r.mu.Unlock()
		return nil
	}
	w, err := t.newWalk(id, key.gen, false)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	w.addDoneLocked(done)
	r.active[key] = w
	r.mu.Unlock()
	return w.start()
}

// walk is one walk of a table: one db.walk task per partition. It is created by RequestWalk
// or Unregister, lives until its last partition is done, and is then dropped.
type walk[K comparable, D any, R any] struct {
	t     *Table[K, D, R]
	id    ListenerID
	gen   uint64 // the listener generation it visits for (unused when clean)
	clean bool   // clear the listener's state slot instead of visiting
	tasks []*sched.Task

	// Index p is owned by partition p's db.walk task.
	cursor []int
	begun  []bool

	// Guarded by t.reg.mu.
	started   bool // some partition has begun visiting
	remaining int  // partitions not finished
	done      []func(*sched.Ctx)
}

func (t *Table[K, D, R]) newWalk(id ListenerID, gen uint64, clean bool) (*walk[K, D, R], error) {
	n := len(t.parts)
	w := &walk[K, D, R]{
		t: t, id: id, gen: gen, clean: clean,
		tasks: make([]*sched.Task, n), cursor: make([]int, n), begun: make([]bool, n),
		remaining: n,
	}
	for i := range n {
		task, err := t.s.NewTask(sched.DBWalk, i, func(c *sched.Ctx) sched.Result { return w.slice(c, i) })
		if err != nil {
			return nil, err
		}
		w.tasks[i] = task
	}
	return w, nil
}

func (w *walk[K, D, R]) addDoneLocked(done func(*sched.Ctx)) {
	if done != nil {
		w.done = append(w.done, done)
	}
}

// start queues the walk's tasks. It fails only on a closed scheduler, whose Close reports
// the abandoned work.
func (w *walk[K, D, R]) start() error {
	var errs []error
	for _, task := range w.tasks {
		if err := task.Wake(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// slice is the db.walk task body for partition pi: visit up to WalkSlice entries.
func (w *walk[K, D, R]) slice(c *sched.Ctx, pi int) sched.Result {
	t := w.t
	p := t.parts[pi]
	if !w.begun[pi] {
		w.begun[pi] = true
		t.reg.mu.Lock()
		w.started = true
		t.reg.mu.Unlock()
		w.cursor[pi] = len(p.dense)
	}
	var visit func(*sched.Ctx, *Entry[K, D])
	if !w.clean && int(w.id) < len(t.listeners) && t.listeners[w.id].gen == w.gen {
		visit = t.listeners[w.id].l.Visit
	}
	cur := min(w.cursor[pi], len(p.dense))
	for n := 0; cur > 0 && n < t.walkSlice; n++ {
		cur--
		e := p.dense[cur]
		if w.clean {
			e.SetState(w.id, nil)
		} else if visit != nil {
			visit(c, e)
		}
		p.deleteIfUnused(e)
	}
	w.cursor[pi] = cur
	if t.ran != nil {
		t.ran(false) // a walk slice is a run of the partition that does not make it idle
	}
	if cur > 0 {
		return sched.Again
	}
	w.partitionDone(c)
	return sched.Done
}

// partitionDone counts a finished partition; the last one completes the walk, starts the
// listener's queued walk if any, and runs the callbacks.
func (w *walk[K, D, R]) partitionDone(c *sched.Ctx) {
	r := &w.t.reg
	r.mu.Lock()
	w.remaining--
	if w.remaining > 0 {
		r.mu.Unlock()
		return
	}
	var next *walk[K, D, R]
	if !w.clean {
		key := walkKey{id: w.id, gen: w.gen}
		delete(r.active, key)
		if next = r.pending[key]; next != nil {
			delete(r.pending, key)
			r.active[key] = next
		}
	}
	done := w.done
	w.done = nil
	r.mu.Unlock()
	if next != nil {
		// Fails only when the scheduler's Close has given up waiting; Close reports that.
		_ = next.start()
	}
	for _, f := range done {
		f(c)
	}
}

// registry is a table's bookkeeping shared by RequestWalk callers (any goroutine) and walk
// tasks of different partitions: the state of each listener id, and each listener's walk in
// progress and walk queued after it. One per table. mu guards every field.
type registry[K comparable, D any, R any] struct {
	mu      sync.Mutex
	ids     []idInfo // by ListenerID
	lastGen uint64
	active  map[walkKey]*walk[K, D, R]
	pending map[walkKey]*walk[K, D, R]
}

type idInfo struct {
	state idState
	gen   uint64
}

type idState uint8

const (
	idFree     idState = iota
	idLive             // registered
	idCleaning         // unregistered; its state slots are being cleared
)

// walkKey names one registration of a listener.
type walkKey struct {
	id  ListenerID
	gen uint64
}

func (r *registry[K, D, R]) init() {
	r.active = make(map[walkKey]*walk[K, D, R])
	r.pending = make(map[walkKey]*walk[K, D, R])
}

// allocate marks the lowest free id live under a new generation.
func (r *registry[K, D, R]) allocate() (ListenerID, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastGen++
	for i := range r.ids {
		if r.ids[i].state == idFree {
			r.ids[i] = idInfo{state: idLive, gen: r.lastGen}
			return ListenerID(i), r.lastGen
		}
	}
	r.ids = append(r.ids, idInfo{state: idLive, gen: r.lastGen})
	return ListenerID(len(r.ids) - 1), r.lastGen
}

func (r *registry[K, D, R]) retire(id ListenerID) {
	r.mu.Lock()
	r.ids[id] = idInfo{state: idCleaning}
	r.mu.Unlock()
}

func (r *registry[K, D, R]) release(id ListenerID) {
	r.mu.Lock()
	r.ids[id] = idInfo{state: idFree}
	r.mu.Unlock()
}
