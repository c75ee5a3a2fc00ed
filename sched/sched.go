package sched

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

var (
	// ErrClosed is returned when work is offered to a scheduler that has been closed.
	ErrClosed = errors.New("sched: scheduler closed")
	// ErrFull is returned by Run when too many one-shot tasks are outstanding.
	ErrFull = errors.New("sched: too many one-shot tasks queued")
)

// Result is what a task's function returns: Done, or Again to be run once more later.
type Result uint8

const (
	// Done: the task has no more work now.
	Done Result = iota
	// Again: the task did a bounded slice of its work and wants to run again. It goes to the
	// back of its priority's queue, behind tasks already waiting there.
	Again
)

// Func is a task's body. It runs on a worker with c describing the task; c is valid only
// until Func returns and must not be handed to other goroutines.
type Func func(c *Ctx) Result

// maxBlocked bounds how many blocked tasks one pick looks past before giving up.
const maxBlocked = 16

// Scheduler runs tasks on a fixed pool of workers under the exclusion policies of its policy
// table. Its owner (the server root, or a test) creates it with New and must call Close,
// which waits for every worker goroutine. Any number of schedulers may live in one process.
//
// The fields above mu are set by New and read-only after. mu guards every field below it;
// workers park on work and idle waiters on idle, both conditions on mu. Critical sections are a few list operations and a scan of the running
// set (at most one task per worker).
type Scheduler struct {
	pol      *policy
	now      func() time.Duration
	check    bool
	lowEvery int
	maxOnce  int
	workers  int
	wg       sync.WaitGroup
	ctxs     []Ctx // one per worker; ctxs[i] is owned by worker i

	mu       sync.Mutex
	work     sync.Cond // signalled when a task may have become runnable
	idle     sync.Cond // broadcast when nothing is queued or running, and on close
	queues   [numPriorities]queue
	queued   int
	running  []*Task // running tasks, compact; Task.slot is the index
	parked   int     // workers waiting on work
	sinceLow int     // normal picks made while a low task was queued
	closed   bool
	stats    []kindCounters
	pool     []*Task // finished one-shot tasks kept for reuse
	onceN    int     // one-shot tasks queued or running
}

// Option configures a Scheduler.
type Option func(*options)

type options struct {
	workers  int
	specs    []KindSpec
	now      func() time.Duration
	check    *bool
	lowEvery int
	maxOnce  int
}

// WithWorkers sets the number of workers (default GOMAXPROCS).
func WithWorkers(n int) Option { return func(o *options) { o.workers = n } }

// WithPolicy replaces the program's policy table (ProgramKinds) with specs. Tests use it to
// declare kinds of their own; the program never does.
func WithPolicy(specs []KindSpec) Option { return func(o *options) { o.specs = specs } }

// WithClock sets the clock used for statistics: a monotonic reading, the time elapsed since
// an arbitrary origin (default: time.Since the scheduler was built). It is called from every
// worker and from Wake, so it must be safe for concurrent use.
func WithClock(now func() time.Duration) Option { return func(o *options) { o.now = now } }

// WithMaxOneShot bounds how many one-shot tasks (Run) may be queued or running at once
// (default 65536); beyond it Run returns ErrFull. Task handles need no bound: each is queued
// at most once.
func WithMaxOneShot(n int) Option { return func(o *options) { o.maxOnce = n } }

// WithChecking switches the concurrency checker (Check and friends) on or off for tasks of
// this scheduler. The default is on in test binaries and under the schedcheck build tag,
// off otherwise; the build tag forces it on.
func WithChecking(on bool) Option { return func(o *options) { o.check = &on } }

// WithLowEvery sets the starvation bound for low tasks: while low tasks are queued, at most
// n-1 consecutive picks go to normal tasks before a runnable low task is picked (default 8).
func WithLowEvery(n int) Option { return func(o *options) { o.lowEvery = n } }

// New builds a scheduler and starts its workers.
func New(opts ...Option) (*Scheduler, error) {
	origin := time.Now()
	o := options{
		workers:  runtime.GOMAXPROCS(0),
		now:      func() time.Duration { return time.Since(origin) },
		lowEvery: 8,
		maxOnce:  1 << 16,
	}
	for _, f := range opts {
		f(&o)
	}
	if o.workers < 1 {
		return nil, fmt.Errorf("sched: %d workers", o.workers)
	}
	if o.lowEvery < 1 || o.maxOnce < 1 {
		return nil, fmt.Errorf("sched: low-every %d, max one-shot %d", o.lowEvery, o.maxOnce)
	}
	if o.specs == nil {
		o.specs = ProgramKinds()
	}
	pol, err := compilePolicy(o.specs)
	if err != nil {
		return nil, err
	}
	check := checkDefault()
	if o.check != nil && !forceCheck {
		check = *o.check
	}
	s := &Scheduler{
		pol:      pol,
		now:      o.now,
		check:    check,
		lowEvery: o.lowEvery,
		maxOnce:  o.maxOnce,
		workers:  o.workers,
		ctxs:     make([]Ctx, o.workers),
		running:  make([]*Task, 0, o.workers),
		stats:    make([]kindCounters, pol.n),
	}
	s.work.L = &s.mu
	s.idle.L = &s.mu
	s.wg.Add(o.workers)
	for i := range s.ctxs {
		s.ctxs[i] = Ctx{s: s, check: check, kind: noKind}
		go s.worker(&s.ctxs[i])
	}
	return s, nil
}

// Workers returns the number of workers.
func (s *Scheduler) Workers() int { return s.workers }

// KindName returns the name of kind k in this scheduler's policy table.
func (s *Scheduler) KindName(k Kind) string { return s.pol.name(k) }

// Task is a reusable handle for one unit of work: a kind, an instance and a function. Wake
// coalesces: waking a queued task does nothing, and waking a running task makes it run once
// more after the current run. The creator owns the handle and may keep it for the
// scheduler's life (a partition drain, a send group); it may be woken from any goroutine.
type Task struct {
	s    *Scheduler
	kind Kind
	inst int
	prio int // queue index
	fn   Func
	once bool // one-shot (Scheduler.Run): recycled after it finishes

	// Guarded by s.mu.
	state    taskState
	rewake   bool
	next     *Task
	slot     int
	enqueued time.Duration
}

type taskState uint8

const (
	taskIdle taskState = iota
	taskQueued
	taskRunning
)

// NewTask returns a handle for fn as a task of kind k and instance inst. It is not queued
// until woken.
func (s *Scheduler) NewTask(k Kind, inst int, fn Func) (*Task, error) {
	if int(k) >= s.pol.n || fn == nil {
		return nil, fmt.Errorf("sched: task of %s with fn %v", s.pol.name(k), fn != nil)
	}
	return &Task{s: s, kind: k, inst: inst, prio: s.pol.specs[k].Priority.queueIndex(), fn: fn}, nil
}

// Kind returns the task's kind.
func (t *Task) Kind() Kind { return t.kind }

// Instance returns the task's instance number.
func (t *Task) Instance() int { return t.inst }

// Wake queues the task unless it is already queued; if it is running, it runs once more
// after the current run. It returns ErrClosed after Close.
func (t *Task) Wake() error {
	s := t.s
	now := s.now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	switch t.state {
	case taskIdle:
		t.enqueued = now
		s.enqueueLocked(t)
	case taskRunning:
		t.rewake = true
	}
	s.mu.Unlock()
	return nil
}

// Run queues fn once as a task of kind k and instance inst. Unlike a Task handle, every call
// queues a separate run. It returns ErrFull when WithMaxOneShot one-shot tasks are already
// queued or running, and ErrClosed after Close.
func (s *Scheduler) Run(k Kind, inst int, fn Func) error {
	if int(k) >= s.pol.n || fn == nil {
		return fmt.Errorf("sched: task of %s with fn %v", s.pol.name(k), fn != nil)
	}
	now := s.now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.onceN >= s.maxOnce {
		s.mu.Unlock()
		return ErrFull
	}
	s.onceN++
	var t *Task
	if n := len(s.pool); n > 0 {
		t = s.pool[n-1]
		s.pool = s.pool[:n-1]
	} else {
		t = &Task{s: s, once: true}
	}
	t.kind, t.inst, t.prio, t.fn = k, inst, s.pol.specs[k].Priority.queueIndex(), fn
	t.enqueued = now
	s.enqueueLocked(t)
	s.mu.Unlock()
	return nil
}

func (s *Scheduler) enqueueLocked(t *Task) {
	t.state = taskQueued
	s.queues[t.prio].push(t)
	s.queued++
	s.stats[t.kind].queued++
	if s.parked > 0 {
		s.work.Signal()
	}
}

// worker runs tasks until the scheduler closes. c is this worker's context, reused for
// every task it runs. The clock reading that ends one run also starts the next one picked
// in the same critical section, so a busy worker reads the clock once per task.
func (s *Scheduler) worker(c *Ctx) {
	defer s.wg.Done()
	var stamp time.Duration
	fresh := false // stamp is the time the previous run ended, with no parking since
	s.mu.Lock()
	for !s.closed {
		t := s.pickLocked()
		if t == nil {
			s.parked++
			s.work.Wait()
			s.parked--
			fresh = false
			continue
		}
		if s.queued > 0 && s.parked > 0 {
			s.work.Signal() // another worker may find something runnable too
		}
		s.mu.Unlock()

		start := stamp
		if !fresh {
			start = s.now()
		}
		c.kind, c.inst = t.kind, t.inst
		res := t.fn(c)
		c.kind, c.inst = noKind, 0
		stamp = s.now()
		fresh = true

		s.mu.Lock()
		s.stats[t.kind].record(max(start-t.enqueued, 0), stamp-start)
		s.finishLocked(t, res, stamp)
	}
	s.mu.Unlock()
}

// finishLocked takes a task that has just run off the running set and requeues, idles or
// recycles it.
func (s *Scheduler) finishLocked(t *Task, res Result, now time.Duration) {
	last := len(s.running) - 1
	moved := s.running[last]
	s.running[t.slot] = moved
	moved.slot = t.slot
	s.running = s.running[:last]

	if res == Again || t.rewake {
		t.rewake = false
		t.enqueued = now
		s.enqueueLocked(t)
	} else {
		t.state = taskIdle
		if t.once {
			s.onceN--
			t.fn = nil
			if len(s.pool) < 4*s.workers {
				s.pool = append(s.pool, t)
			}
		}
	}
	if s.queued > 0 && s.parked > 0 {
		s.work.Signal() // the finished task may have been what blocked a queued one
	}
	if s.queued == 0 && len(s.running) == 0 {
		s.idle.Broadcast()
	}
}

// pickLocked removes and returns the first runnable task, or nil. Queues are scanned high,
// normal, low, except that after lowEvery-1 normal picks made while low work waited the low
// queue is scanned before the normal one. A task is runnable when it conflicts with no
// running task and with no blocked task seen earlier in the scan, so a waiting task is not
// overtaken by later tasks it excludes (an ExcludesAll task is not starved).
func (s *Scheduler) pickLocked() *Task {
	if s.queued == 0 {
		return nil
	}
	order := [numPriorities]int{0, 1, 2}
	if s.sinceLow >= s.lowEvery-1 && s.queues[2].n > 0 {
		order = [numPriorities]int{0, 2, 1}
	}
	var blocked [maxBlocked]*Task
	nb := 0
	for _, qi := range order {
		q := &s.queues[qi]
		var prev *Task
		for t := q.head; t != nil; prev, t = t, t.next {
			if s.runnableLocked(t, blocked[:nb]) {
				q.unlink(prev, t)
				s.queued--
				s.stats[t.kind].queued--
				switch {
				case qi == 2:
					s.sinceLow = 0
				case qi == 1 && s.queues[2].n > 0:
					s.sinceLow++
				}
				t.state = taskRunning
				t.slot = len(s.running)
				s.running = append(s.running, t)
				return t
			}
			if nb == maxBlocked {
				return nil
			}
			blocked[nb] = t
			nb++
		}
	}
	return nil
}

func (s *Scheduler) runnableLocked(t *Task, blocked []*Task) bool {
	for _, r := range s.running {
		if s.pol.conflicts(t.kind, t.inst, r.kind, r.inst) {
			return false
		}
	}
	for _, b := range blocked {
		if s.pol.conflicts(t.kind, t.inst, b.kind, b.inst) {
			return false
		}
	}
	return true
}

// WaitIdle blocks until no task is queued or running, or ctx ends.
func (s *Scheduler) WaitIdle(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.idle.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.queued > 0 || len(s.running) > 0 {
		if s.closed {
			return ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		s.idle.Wait()
	}
	return nil
}

// Close waits until the scheduler is idle (or ctx ends), stops accepting work, and waits for
// every worker to finish its current task and exit. Work is never dropped silently: if tasks
// are still queued when the workers have stopped (ctx ended first, or a task was woken
// during shutdown), Close returns an error naming their kinds and counts. Closing twice
// returns ErrClosed. Close must not be called from a task: it would wait for itself.
func (s *Scheduler) Close(ctx context.Context) error {
	waitErr := s.WaitIdle(ctx)
	if errors.Is(waitErr, ErrClosed) {
		return ErrClosed
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.work.Broadcast()
	s.idle.Broadcast()
	s.mu.Unlock()
	s.wg.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queued == 0 {
		return nil
	}
	counts := map[string]int{}
	for qi := range s.queues {
		for t := s.queues[qi].head; t != nil; t = t.next {
			counts[s.pol.name(t.kind)]++
			s.stats[t.kind].queued--
			t.state = taskIdle
		}
		s.queues[qi] = queue{}
	}
	n := s.queued
	s.queued = 0
	var parts []string
	for name, c := range counts {
		parts = append(parts, fmt.Sprintf("%s×%d", name, c))
	}
	sort.Strings(parts)
	err := fmt.Errorf("sched: closed with %d tasks not run: %s", n, strings.Join(parts, ", "))
	if waitErr != nil {
		err = fmt.Errorf("%w (%w)", err, waitErr)
	}
	return err
}

// queue is a FIFO of tasks linked through Task.next; guarded by its scheduler's mu.
type queue struct {
	head, tail *Task
	n          int
}

func (q *queue) push(t *Task) {
	t.next = nil
	if q.tail == nil {
		q.head = t
	} else {
		q.tail.next = t
	}
	q.tail = t
	q.n++
}

// unlink removes t, whose predecessor is prev (nil at the head).
func (q *queue) unlink(prev, t *Task) {
	if prev == nil {
		q.head = t.next
	} else {
		prev.next = t.next
	}
	if q.tail == t {
		q.tail = prev
	}
	t.next = nil
	q.n--
}
