package db

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/fanoutd/fanout/sched"
)

var (
	// ErrWrongPartition is returned by Enqueue when a request's key belongs to another
	// partition than the one it was offered to.
	ErrWrongPartition = errors.New("db: request key belongs to another partition")
	// ErrNoListener is returned for a listener id that is not registered.
	ErrNoListener = errors.New("db: no such listener")
)

// Config describes a table to New. Hash, Empty and Apply are required.
type Config[K comparable, D any, R any] struct {
	// Name names the table in errors.
	Name string
	// Partitions is the number of partitions (default GOMAXPROCS).
	Partitions int
	// Hash is the partition hash of a key; a key's partition is Hash(k) % Partitions. Every
	// table that must keep related keys together uses the same hash.
	Hash func(K) uint64
	// QueueLen bounds each partition's input queue, in requests (default 4096). A producer
	// finding it full waits.
	QueueLen int
	// Batch is how many requests one db.partition run applies before yielding (default 256).
	Batch int
	// WalkSlice is how many entries one db.walk run visits before yielding (default 256).
	WalkSlice int
	// Empty reports whether an entry's data holds nothing. An entry whose data is empty and
	// on which no listener holds state is deleted.
	Empty func(d *D) bool
	// Apply applies op to e and reports whether e changed; if so every listener's Changed
	// runs next, in the same task. It runs in the db.partition task of e's partition. For a
	// key not in the table e is a fresh entry with zero Data; if Apply leaves it empty (and
	// sets no state) it is discarded without notifying anyone, and Apply must not keep it.
	Apply func(c *sched.Ctx, e *Entry[K, D], op R) bool
	// Ran, when set, runs in a partition's task at the end of each of its runs and each
	// slice of a walk, with idle set when the partition has applied everything queued to
	// it: consumers that wait for routing to settle (the RibOuts' senders) are woken by it,
	// and can bound their wait while routing or a walk keeps it busy. It must be quick and
	// must not block.
	Ran func(idle bool)
}

// Table is a table split into partitions by key hash. Its owner (a rib table) creates it
// with New on a scheduler and keeps it as long as that scheduler lives; there is one per
// routing table. Producers call Enqueue from any goroutine; everything else about entries
// and listeners runs in scheduler tasks under the policies of sched.ProgramKinds: a
// partition's entries are owned by its db.partition and db.walk tasks, and the listener
// list by tasks that exclude every db.partition and db.walk (bgp.config, bgp.membership).
type Table[K comparable, D any, R any] struct {
	name      string
	s         *sched.Scheduler
	hash      func(K) uint64
	empty     func(*D) bool
	apply     func(*sched.Ctx, *Entry[K, D], R) bool
	ran       func(idle bool)
	batch     int
	walkSlice int
	parts     []*partition[K, D, R]

	// listeners is indexed by ListenerID; a zero listener is a free or unregistered slot.
	// Written only by tasks excluding all db.partition and db.walk tasks; read by those.
	listeners []listenerSlot[K, D]

	reg registry[K, D, R] // walk bookkeeping and listener-id liveness; its own mutex
}

// partition is one partition of a table: its input queue, its entries, and the task that
// drains the queue. Owned by the table; entries, dense and spare are owned by the db.partition
// and db.walk tasks of this instance.
type partition[K comparable, D any, R any] struct {
	t       *Table[K, D, R]
	index   int
	in      *inQueue[K, R]
	drain   *sched.Task
	keys    keyIndex       // finds entries by key through dense
	dense   []*Entry[K, D] // every entry, in no order; Entry.pos indexes it
	spare   *Entry[K, D]   // a fresh entry Apply left empty, kept for the next miss
	scratch []Request[K, R]
	sweep   *sweepState[R] // a sweep in progress: no other request runs until it ends
}

// sweepState is a partition sweep in progress: next is the index in dense to apply op to,
// going down, so deletions (which move the last entry into the hole) never skip an entry.
type sweepState[R any] struct {
	op   R
	next int
}

// New builds a table whose partitions are drained by db.partition tasks on s.
func New[K comparable, D any, R any](s *sched.Scheduler, cfg Config[K, D, R]) (*Table[K, D, R], error) {
	if cfg.Hash == nil || cfg.Empty == nil || cfg.Apply == nil {
		return nil, fmt.Errorf("db: table %q needs Hash, Empty and Apply", cfg.Name)
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = runtime.GOMAXPROCS(0)
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = 4096
	}
	if cfg.Batch == 0 {
		cfg.Batch = 256
	}
	if cfg.WalkSlice == 0 {
		cfg.WalkSlice = 256
	}
	if cfg.Partitions < 1 || cfg.QueueLen < 1 || cfg.Batch < 1 || cfg.WalkSlice < 1 {
		return nil, fmt.Errorf("db: table %q: %d partitions, queue %d, batch %d, walk slice %d",
			cfg.Name, cfg.Partitions, cfg.QueueLen, cfg.Batch, cfg.WalkSlice)
	}
	t := &Table[K, D, R]{
		name: cfg.Name, s: s, hash: cfg.Hash, empty: cfg.Empty, apply: cfg.Apply,
		batch: cfg.Batch, walkSlice: cfg.WalkSlice, ran: cfg.Ran,
	}
	t.reg.init()
	for i := range cfg.Partitions {
		p := &partition[K, D, R]{
			t: t, index: i,
			in: newInQueue[K, R](cfg.QueueLen),
		}
		task, err := s.NewTask(sched.DBPartition, i, p.run)
		if err != nil {
			return nil, err
		}
		p.drain = task
		t.parts = append(t.parts, p)
	}
	return t, nil
}

// Name returns the table's name.
func (t *Table[K, D, R]) Name() string { return t.name }

// Partitions returns the number of partitions.
func (t *Table[K, D, R]) Partitions() int { return len(t.parts) }

// PartitionOf returns the partition of key k.
func (t *Table[K, D, R]) PartitionOf(k K) int { return int(t.hash(k) % uint64(len(t.parts))) }

// Enqueue offers a batch of requests, all for keys of partition part, to that partition's
// queue, and wakes its db.partition task. When the queue is full it waits for the task to
// make room, until ctx ends: that wait is the back-pressure a peer's reader feels. It
// returns how many requests were queued (all of them unless it returns an error; a prefix of
// reqs if ctx ended). Safe from any goroutine. reqs is copied; the caller may reuse it. A task
// that enqueues must be sure the queue has room: a task waiting for space holds a worker
// that a drain may need.
func (t *Table[K, D, R]) Enqueue(ctx context.Context, part int, reqs []Request[K, R]) (int, error) {
	if part < 0 || part >= len(t.parts) {
		return 0, fmt.Errorf("db: table %q has no partition %d", t.name, part)
	}
	for i := range reqs {
		if !reqs[i].All && t.PartitionOf(reqs[i].Key) != part {
			return 0, fmt.Errorf("%w: table %q, request %d of %d for partition %d",
				ErrWrongPartition, t.name, i, len(reqs), part)
		}
	}
	p := t.parts[part]
	return p.in.push(ctx, reqs, p.drain)
}

// QueueLen returns how many requests wait in partition part's queue now.
func (t *Table[K, D, R]) QueueLen(part int) int { return t.parts[part].in.len() }

// EnqueueSweep queues a sweep of partition part: op is applied to every entry of the
// partition once everything queued before it has been applied (see Request.All). It waits
// for queue space like Enqueue.
func (t *Table[K, D, R]) EnqueueSweep(ctx context.Context, part int, op R) error {
	_, err := t.Enqueue(ctx, part, []Request[K, R]{{Op: op, All: true}})
	return err
}

// run is the db.partition task body: apply one bounded batch from the queue, or continue a
// sweep for a bounded number of entries, then tell Config.Ran.
func (p *partition[K, D, R]) run(c *sched.Ctx) sched.Result {
	res := p.runBatch(c)
	if p.t.ran != nil {
		p.t.ran(res == sched.Done)
	}
	return res
}

func (p *partition[K, D, R]) runBatch(c *sched.Ctx) sched.Result {
	budget := p.t.batch
	if p.sweep != nil {
		budget -= p.continueSweep(c, budget)
		if p.sweep != nil {
			return sched.Again
		}
	}
	batch, more := p.in.take(p.scratch[:0], max(budget, 1))
	var zero Request[K, R]
	for i := range batch {
		if batch[i].All {
			// take ends a batch at a sweep, so nothing after it is applied early.
			p.sweep = &sweepState[R]{op: batch[i].Op, next: len(p.dense) - 1}
			budget -= i + 1
			p.continueSweep(c, max(budget, 0))
			more = more || p.sweep != nil
		} else {
			p.applyOne(c, batch[i].Key, batch[i].Op)
		}
		batch[i] = zero
	}
	p.scratch = batch[:0]
	if more {
		return sched.Again
	}
	return sched.Done
}

// Busy reports whether some partition has requests queued that it has not applied yet.
func (t *Table[K, D, R]) Busy() bool {
	for _, p := range t.parts {
		if p.in.len() > 0 {
			return true
		}
	}
	return false
}

// continueSweep applies the sweep's op to up to budget entries and returns how many it
// visited; it clears p.sweep when the partition is done.
func (p *partition[K, D, R]) continueSweep(c *sched.Ctx, budget int) int {
	s := p.sweep
	n := 0
	for ; n < budget && s.next >= 0; n++ {
		if s.next >= len(p.dense) {
			s.next = len(p.dense) - 1
			if s.next < 0 {
				break
			}
		}
		e := p.dense[s.next]
		s.next--
		if p.t.apply(c, e, s.op) {
			p.t.notify(c, e)
		}
		p.deleteIfUnused(e)
	}
	if s.next < 0 {
		p.sweep = nil
	}
	return n
}

func (p *partition[K, D, R]) applyOne(c *sched.Ctx, k K, op R) {
	t := p.t
	h := t.hash(k)
	e := p.lookup(k, h)
	if e == nil {
		e = p.spare
		if e == nil {
			e = &Entry[K, D]{pos: -1}
		}
		p.spare = nil
		e.key = k
		changed := t.apply(c, e, op)
		if t.empty(&e.Data) && !e.HasState() {
			var zero D
			e.Data = zero
			p.spare = e // never entered the table: nobody can hold it
			return
		}
		p.insert(e, h)
		if changed {
			t.notify(c, e)
		}
		p.deleteIfUnused(e)
		return
	}
	if t.apply(c, e, op) {
		t.notify(c, e)
	}
	p.deleteIfUnused(e)
}

// lookup returns the entry of key k (hash h), or nil.
func (p *partition[K, D, R]) lookup(k K, h uint64) *Entry[K, D] {
	if i := find(&p.keys, p.dense, k, h); i >= 0 {
		return p.dense[i]
	}
	return nil
}

// insert adds e, whose key has hash h and is not in the partition yet.
func (p *partition[K, D, R]) insert(e *Entry[K, D], h uint64) {
	insert(&p.keys, p.dense, p.t.hash, h)
	e.pos = int32(len(p.dense))
	p.dense = append(p.dense, e)
}

// deleteIfUnused deletes e if its data is empty and no listener holds state on it. The last
// entry of dense takes its place, so a walk going down dense never misses an entry that stays
// in the table (see walk.go).
func (p *partition[K, D, R]) deleteIfUnused(e *Entry[K, D]) {
	if e.pos < 0 || !p.t.empty(&e.Data) || e.HasState() {
		return
	}
	hash := p.t.hash
	remove(&p.keys, p.dense, hash, int(e.pos), hash(e.key))
	last := len(p.dense) - 1
	if moved := p.dense[last]; moved != e {
		p.keys.move(last, int(e.pos), hash(moved.key))
		p.dense[e.pos] = moved
		moved.pos = e.pos
	}
	p.dense[last] = nil
	p.dense = p.dense[:last]
	e.pos = -1
	if c := cap(p.dense); c > 1024 && last < c/4 {
		// Give back most of a slice that a mass withdrawal emptied.
		p.dense = append(make([]*Entry[K, D], 0, 2*last), p.dense...)
	}
	shrink(&p.keys, p.dense, hash)
}

// notify runs every listener's Changed on e.
func (t *Table[K, D, R]) notify(c *sched.Ctx, e *Entry[K, D]) {
	for i := range t.listeners {
		if f := t.listeners[i].l.Changed; f != nil {
			f(c, e)
		}
	}
}

// checkOwner states that c may touch partition part's entries: it is that partition's
// db.partition or db.walk task, or a task excluding all of them.
func (t *Table[K, D, R]) checkOwner(c *sched.Ctx, part int) {
	if c != nil && (c.Kind() == sched.DBPartition || c.Kind() == sched.DBWalk) {
		sched.CheckInstance(c, c.Kind(), part)
		return
	}
	sched.CheckExcludes(c, sched.DBPartition, sched.DBWalk)
}

// Find returns the entry of key k, or nil. c must own k's partition: its db.partition or
// db.walk task, or a task excluding every partition (bgp.config, bgp.membership).
func (t *Table[K, D, R]) Find(c *sched.Ctx, k K) *Entry[K, D] {
	h := t.hash(k)
	part := int(h % uint64(len(t.parts)))
	t.checkOwner(c, part)
	return t.parts[part].lookup(k, h)
}

// Len returns the number of entries in the table. c must exclude every db.partition and
// db.walk task.
func (t *Table[K, D, R]) Len(c *sched.Ctx) int {
	sched.CheckExcludes(c, sched.DBPartition, sched.DBWalk)
	n := 0
	for _, p := range t.parts {
		n += len(p.dense)
	}
	return n
}
