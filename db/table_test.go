package db

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanoutd/fanout/sched"
)

// The tests' table: uint64 keys, an optional int as data, and set/clear operations.
type val struct {
	v   int
	set bool
}

type op struct {
	add bool
	v   int
}

type testTable = Table[uint64, val, op]

// identity keeps keys where a test can predict them: key k is in partition k % n.
func identity(k uint64) uint64 { return k }

// mix is a splitmix64 finaliser, a realistic spread of keys over partitions.
func mix(k uint64) uint64 {
	k ^= k >> 30
	k *= 0xbf58476d1ce4e5b9
	k ^= k >> 27
	k *= 0x94d049bb133111eb
	return k ^ k>>31
}

func applyOp(_ *sched.Ctx, e *Entry[uint64, val], o op) bool {
	if !o.add {
		changed := e.Data.set
		e.Data = val{}
		return changed
	}
	changed := !e.Data.set || e.Data.v != o.v
	e.Data = val{v: o.v, set: true}
	return changed
}

func emptyVal(d *val) bool { return !d.set }

// newSched builds a scheduler closed (with a goroutine-leak check) when the test ends.
func newSched(t testing.TB, workers int) *sched.Scheduler {
	t.Helper()
	before := runtime.NumGoroutine()
	s, err := sched.New(sched.WithWorkers(workers))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("scheduler Close: %v", err)
		}
		n := 0
		for range 200 {
			if n = runtime.NumGoroutine(); n <= before {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Errorf("goroutines: %d before, %d after Close", before, n)
	})
	return s
}

func newTable(t testing.TB, s *sched.Scheduler, cfg Config[uint64, val, op]) *testTable {
	t.Helper()
	if cfg.Hash == nil {
		cfg.Hash = identity
	}
	cfg.Empty, cfg.Apply = emptyVal, applyOp
	tb, err := New(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func waitIdle(t testing.TB, s *sched.Scheduler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
}

// inConfig runs fn in a bgp.config task (which excludes every other task) and waits for it.
func inConfig(t testing.TB, s *sched.Scheduler, fn func(c *sched.Ctx)) {
	t.Helper()
	if err := s.Run(sched.BGPConfig, 0, func(c *sched.Ctx) sched.Result { fn(c); return sched.Done }); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, s)
}

// hold runs a bgp.membership task that keeps every db.partition and db.walk task from
// starting until the returned release function is called.
func hold(t testing.TB, s *sched.Scheduler) (release func()) {
	t.Helper()
	started, stop := make(chan struct{}), make(chan struct{})
	if err := s.Run(sched.BGPMembership, 0, func(*sched.Ctx) sched.Result {
		close(started)
		<-stop
		return sched.Done
	}); err != nil {
		t.Fatal(err)
	}
	<-started
	return func() { close(stop) }
}

func enqueue(t testing.TB, tb *testTable, reqs ...Request[uint64, op]) {
	t.Helper()
	byPart := make(map[int][]Request[uint64, op])
	for _, r := range reqs {
		p := tb.PartitionOf(r.Key)
		byPart[p] = append(byPart[p], r)
	}
	for p, batch := range byPart {
		if n, err := tb.Enqueue(context.Background(), p, batch); err != nil || n != len(batch) {
			t.Fatalf("Enqueue: %d of %d, %v", n, len(batch), err)
		}
	}
}

func add(k uint64, v int) Request[uint64, op] {
	return Request[uint64, op]{Key: k, Op: op{add: true, v: v}}
}
func del(k uint64) Request[uint64, op] { return Request[uint64, op]{Key: k, Op: op{}} }

func TestRoutingByPartition(t *testing.T) {
	s := newSched(t, 2)
	var wrong atomic.Int32
	tb, err := New(s, Config[uint64, val, op]{
		Name: "t", Partitions: 4, Hash: identity, Empty: emptyVal,
		Apply: func(c *sched.Ctx, e *Entry[uint64, val], o op) bool {
			if c.Kind() != sched.DBPartition || c.Instance() != int(e.Key()%4) {
				wrong.Add(1)
			}
			return applyOp(c, e, o)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var reqs []Request[uint64, op]
	for k := range uint64(100) {
		reqs = append(reqs, add(k, int(k)))
	}
	enqueue(t, tb, reqs...)
	waitIdle(t, s)
	if wrong.Load() != 0 {
		t.Fatalf("%d requests applied outside their partition's task", wrong.Load())
	}
	inConfig(t, s, func(c *sched.Ctx) {
		if n := tb.Len(c); n != 100 {
			t.Errorf("Len = %d", n)
		}
		for k := range uint64(100) {
			if e := tb.Find(c, k); e == nil || e.Data.v != int(k) || tb.parts[k%4].lookup(k, k) != e {
				t.Errorf("key %d: entry %+v not in partition %d", k, e, k%4)
			}
		}
	})
	// A batch offered to the wrong partition is refused whole.
	if n, err := tb.Enqueue(context.Background(), 1, []Request[uint64, op]{add(5, 0), add(6, 0)}); n != 0 || !errors.Is(err, ErrWrongPartition) {
		t.Fatalf("wrong partition: %d, %v", n, err)
	}
	if _, err := tb.Enqueue(context.Background(), 4, nil); err == nil {
		t.Fatal("Enqueue to partition 4 of 4 succeeded")
	}
}

func TestBackPressure(t *testing.T) {
	s := newSched(t, 2)
	tb := newTable(t, s, Config[uint64, val, op]{Name: "t", Partitions: 2, QueueLen: 4, Batch: 2})
	var reqs []Request[uint64, op]
	for k := range uint64(10) {
		reqs = append(reqs, add(2*k, 1)) // all in partition 0
	}

	// With the drain held off, a producer fills the queue and then waits until aborted.
	release := hold(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		n   int
		err error
	}
	out := make(chan result, 1)
	go func() {
		n, err := tb.Enqueue(ctx, 0, reqs)
		out <- result{n, err}
	}()
	for i := 0; tb.QueueLen(0) < 4; i++ {
		if i > 5000 {
			t.Fatal("queue never filled")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case r := <-out:
		t.Fatalf("Enqueue into a full queue returned %+v", r)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	if r := <-out; r.n != 4 || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("aborted Enqueue = %+v, want 4 queued and Canceled", r)
	}

	// Once the drain may run, a blocked producer gets through.
	go func() {
		n, err := tb.Enqueue(context.Background(), 0, reqs)
		out <- result{n, err}
	}()
	time.Sleep(5 * time.Millisecond)
	release()
	select {
	case r := <-out:
		if r.n != 10 || r.err != nil {
			t.Fatalf("Enqueue after release = %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("producer still blocked after the drain ran")
	}
	waitIdle(t, s)
	inConfig(t, s, func(c *sched.Ctx) {
		if n := tb.Len(c); n != 10 {
			t.Errorf("Len = %d, want 10", n)
		}
	})
	if st := s.Stats()[sched.DBPartition]; st.Runs < 5 {
		t.Errorf("batches of 2 from a queue of 4 took only %d runs", st.Runs)
	}
}

// A listener's state on one entry, counting the changes it was told about.
type seen struct{ changes int }

func TestListenerStateAndEntryLifetime(t *testing.T) {
	s := newSched(t, 2)
	tb := newTable(t, s, Config[uint64, val, op]{Name: "t", Partitions: 2})
	var a, b ListenerID
	// a keeps state on every entry it hears of while the entry has data, and clears it on
	// a withdraw. b keeps state only on even values and never clears it.
	var changedA, changedB atomic.Int32
	inConfig(t, s, func(c *sched.Ctx) {
		var err error
		if a, err = tb.Register(c, Listener[uint64, val]{Name: "a", Changed: func(c *sched.Ctx, e *Entry[uint64, val]) {
			sched.Check(c, sched.DBPartition, sched.DBWalk)
			changedA.Add(1)
			if !e.Data.set {
				e.SetState(a, nil)
				return
			}
			st, _ := e.State(a).(*seen)
			if st == nil {
				st = &seen{}
				e.SetState(a, st)
			}
			st.changes++
		}}); err != nil {
			t.Fatal(err)
		}
		if b, err = tb.Register(c, Listener[uint64, val]{Name: "b", Changed: func(c *sched.Ctx, e *Entry[uint64, val]) {
			changedB.Add(1)
			if e.Data.set && e.Data.v%2 == 0 {
				e.SetState(b, &seen{changes: e.Data.v})
			}
		}}); err != nil {
			t.Fatal(err)
		}
	})
	if a != 0 || b != 1 {
		t.Fatalf("ids %d, %d", a, b)
	}
	enqueue(t, tb, add(1, 1), add(2, 2), add(1, 3), add(1, 3), del(9))
	waitIdle(t, s)
	// add(1,3) twice: the second is no change. del(9) of an absent key: no entry, no news.
	if changedA.Load() != 3 || changedB.Load() != 3 {
		t.Fatalf("notified a %d, b %d times, want 3 each", changedA.Load(), changedB.Load())
	}
	inConfig(t, s, func(c *sched.Ctx) {
		e1, e2 := tb.Find(c, 1), tb.Find(c, 2)
		if e1 == nil || e2 == nil || tb.Find(c, 9) != nil {
			t.Fatalf("entries 1 %v, 2 %v, 9 %v", e1, e2, tb.Find(c, 9))
		}
		if st := e1.State(a).(*seen); st.changes != 2 || e1.State(b) != nil {
			t.Errorf("entry 1 slots: a %+v, b %v", st, e1.State(b))
		}
		if e2.State(a).(*seen).changes != 1 || e2.State(b).(*seen).changes != 2 {
			t.Errorf("entry 2 slots: a %v, b %v", e2.State(a), e2.State(b))
		}
		if e1.State(7) != nil || e1.State(-1) != nil {
			t.Error("a slot beyond the listeners holds state")
		}
	})

	// Withdrawing both: entry 1 loses its data and a's state and goes; entry 2 keeps b's
	// state and stays, with empty data, until b clears it.
	var e2 *Entry[uint64, val]
	inConfig(t, s, func(c *sched.Ctx) { e2 = tb.Find(c, 2) })
	enqueue(t, tb, del(1), del(2))
	waitIdle(t, s)
	inConfig(t, s, func(c *sched.Ctx) {
		if tb.Find(c, 1) != nil {
			t.Error("entry 1 outlived its data and state")
		}
		if e := tb.Find(c, 2); e != e2 || e.Data.set || e.State(a) != nil || e.State(b) == nil {
			t.Errorf("entry 2 after withdraw: %+v", e)
		}
		if tb.Len(c) != 1 {
			t.Errorf("Len = %d, want 1", tb.Len(c))
		}
	})

	// Unregistering b clears its slots by a walk, which deletes entry 2; b's id is then
	// free for the next listener.
	unregistered := make(chan struct{})
	inConfig(t, s, func(c *sched.Ctx) {
		if err := tb.Unregister(c, b, func(*sched.Ctx) { close(unregistered) }); err != nil {
			t.Fatal(err)
		}
		if err := tb.Unregister(c, b, nil); !errors.Is(err, ErrNoListener) {
			t.Errorf("second Unregister: %v", err)
		}
	})
	<-unregistered
	if e2.InTable() {
		t.Error("entry 2 still in the table after its last state was cleared")
	}
	inConfig(t, s, func(c *sched.Ctx) {
		if tb.Len(c) != 0 {
			t.Errorf("Len = %d, want 0", tb.Len(c))
		}
		id, err := tb.Register(c, Listener[uint64, val]{Name: "c", Changed: func(*sched.Ctx, *Entry[uint64, val]) {}})
		if err != nil || id != b {
			t.Errorf("Register after Unregister: id %d, %v; want %d", id, err, b)
		}
	})
	if err := tb.RequestWalk(5, nil); !errors.Is(err, ErrNoListener) {
		t.Errorf("RequestWalk for no listener: %v", err)
	}
}

func TestCheckerGuardsTable(t *testing.T) {
	s := newSched(t, 2)
	tb := newTable(t, s, Config[uint64, val, op]{Name: "t", Partitions: 2})
	panicMsg := func(fn func()) (msg string) {
		defer func() {
			if r := recover(); r != nil {
				msg = fmt.Sprint(r)
			}
		}()
		fn()
		return ""
	}
	if msg := panicMsg(func() { tb.Find(nil, 1) }); !strings.Contains(msg, "outside any task") {
		t.Errorf("Find outside any task: %q", msg)
	}
	var msgs [3]string
	if err := s.Run(sched.DBPartition, 0, func(c *sched.Ctx) sched.Result {
		msgs[0] = panicMsg(func() { tb.Find(c, 1) }) // key 1 is in partition 1
		msgs[1] = panicMsg(func() { tb.Find(c, 2) })
		msgs[2] = panicMsg(func() {
			_, _ = tb.Register(c, Listener[uint64, val]{Changed: func(*sched.Ctx, *Entry[uint64, val]) {}})
		})
		return sched.Done
	}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, s)
	if !strings.Contains(msgs[0], "want db.partition instance 1, called from db.partition instance 0") {
		t.Errorf("Find from another partition: %q", msgs[0])
	}
	if msgs[1] != "" {
		t.Errorf("Find from its own partition: %q", msgs[1])
	}
	if !strings.Contains(msgs[2], "called from db.partition instance 0") {
		t.Errorf("Register from a partition task: %q", msgs[2])
	}
}

func TestEnqueueAfterSchedulerClose(t *testing.T) {
	s, err := sched.New(sched.WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	tb := newTable(t, s, Config[uint64, val, op]{Name: "t", Partitions: 1})
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The request is queued but nothing will drain it: the producer is told.
	if n, err := tb.Enqueue(context.Background(), 0, []Request[uint64, op]{add(1, 1)}); n != 1 || !errors.Is(err, sched.ErrClosed) {
		t.Fatalf("Enqueue after Close = %d, %v", n, err)
	}
	if err := tb.RequestWalk(0, nil); !errors.Is(err, ErrNoListener) {
		t.Fatalf("RequestWalk = %v", err)
	}
}

// TestRanAndBusy checks the hooks senders wait on: Busy while requests are queued, and
// Ran after every partition run, idle once the partition has applied everything.
func TestRanAndBusy(t *testing.T) {
	s := newSched(t, 1)
	var mu sync.Mutex
	runs, idles := 0, 0
	tb := newTable(t, s, Config[uint64, val, op]{Partitions: 2, Batch: 4, Ran: func(idle bool) {
		mu.Lock()
		runs++
		if idle {
			idles++
		}
		mu.Unlock()
	}})
	if tb.Busy() {
		t.Fatal("busy with nothing queued")
	}
	var reqs []Request[uint64, op]
	for k := uint64(0); k < 40; k += 2 { // 20 keys, all in partition 0
		reqs = append(reqs, add(k, 1))
	}
	if _, err := tb.Enqueue(context.Background(), 0, reqs); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, s)
	if tb.Busy() {
		t.Fatal("busy after everything was applied")
	}
	mu.Lock()
	defer mu.Unlock()
	if runs < 5 || idles != 1 {
		t.Fatalf("%d runs (%d idle) for 20 requests in batches of 4: want at least 5, the last one idle", runs, idles)
	}
}
