package sched

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
)

// newSched builds a scheduler for a test and closes it, checking for leaked workers, when the
// test ends.
func newSched(t testing.TB, opts ...Option) *Scheduler {
	t.Helper()
	before := runtime.NumGoroutine()
	s, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil && err != ErrClosed {
			t.Errorf("Close: %v", err)
		}
		checkNoLeak(t, before)
	})
	return s
}

// checkNoLeak waits (bounded) for the goroutine count to fall back to before.
func checkNoLeak(t testing.TB, before int) {
	t.Helper()
	n := 0
	for range 200 {
		if n = runtime.NumGoroutine(); n <= before {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Errorf("goroutines: %d before, %d after Close", before, n)
}

func waitIdle(t testing.TB, s *Scheduler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
}

// gate is a task body that blocks its worker until release is closed.
func gate(started chan<- struct{}, release <-chan struct{}) Func {
	return func(*Ctx) Result {
		started <- struct{}{}
		<-release
		return Done
	}
}

func TestProgramPolicyCompiles(t *testing.T) {
	p, err := compilePolicy(ProgramKinds())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		a      Kind
		ai     int
		b      Kind
		bi     int
		exclud bool
	}{
		{BGPConfig, 0, BGPSession, 3, true},
		{BGPConfig, 0, BGPConfig, 1, true},
		{BGPSession, 1, BGPSession, 2, false},
		{BGPSession, 1, BGPSession, 1, true},
		{DBPartition, 1, DBPartition, 2, false},
		{DBPartition, 1, DBPartition, 1, true},
		{DBPartition, 1, BGPMembership, 0, true},
		{DBPartition, 1, BGPSend, 1, false},
		{DBWalk, 1, DBPartition, 1, true},
		{DBPartition, 1, DBWalk, 1, true}, // symmetric
		{DBWalk, 1, DBPartition, 2, false},
		{DBWalk, 1, BGPMembership, 7, true},
		{BGPSend, 3, BGPSend, 3, true},
		{BGPSend, 3, BGPSend, 4, false},
		{BGPSend, 3, BGPMembership, 0, true},
		{BGPMembership, 0, BGPSession, 0, false},
	}
	for _, c := range cases {
		if got := p.conflicts(c.a, c.ai, c.b, c.bi); got != c.exclud {
			t.Errorf("%s/%d beside %s/%d: excluded %v, want %v", p.name(c.a), c.ai, p.name(c.b), c.bi, got, c.exclud)
		}
	}
}

func TestBadPolicies(t *testing.T) {
	for name, specs := range map[string][]KindSpec{
		"empty":    {},
		"noname":   {{Name: ""}},
		"dup":      {{Name: "a"}, {Name: "a"}},
		"unknown":  {{Name: "a", Excludes: []Exclusion{{Kind: 5}}}},
		"priority": {{Name: "a", Priority: 9}},
	} {
		if _, err := New(WithPolicy(specs)); err == nil {
			t.Errorf("%s: New accepted %v", name, specs)
		}
	}
	if _, err := New(WithWorkers(0)); err == nil {
		t.Error("New accepted 0 workers")
	}
}

func TestWakeCoalesces(t *testing.T) {
	s := newSched(t, WithWorkers(2))
	started, release := make(chan struct{}, 1), make(chan struct{})
	var runs atomic.Int32
	task, err := s.NewTask(BGPSend, 1, func(c *Ctx) Result {
		if runs.Add(1) == 1 {
			started <- struct{}{}
			<-release
		}
		return Done
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wake(); err != nil {
		t.Fatal(err)
	}
	<-started
	// Running: three wakes make exactly one more run.
	for range 3 {
		if err := task.Wake(); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	waitIdle(t, s)
	if got := runs.Load(); got != 2 {
		t.Fatalf("runs after wakes while running = %d, want 2", got)
	}

	// Queued: while a conflicting task holds the only slot, wakes of a queued task coalesce.
	started2, release2 := make(chan struct{}, 1), make(chan struct{})
	if err := s.Run(BGPMembership, 0, gate(started2, release2)); err != nil {
		t.Fatal(err)
	}
	<-started2
	for range 5 {
		if err := task.Wake(); err != nil {
			t.Fatal(err)
		}
	}
	close(release2)
	waitIdle(t, s)
	if got := runs.Load(); got != 3 {
		t.Fatalf("runs after wakes while queued = %d, want 3", got)
	}
}

func TestAgainRequeuesAtBack(t *testing.T) {
	s := newSched(t, WithWorkers(1))
	var mu sync.Mutex
	var order []string
	mk := func(name string, slices int) Func {
		n := 0
		return func(*Ctx) Result {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			n++
			if n < slices {
				return Again
			}
			return Done
		}
	}
	started, release := make(chan struct{}, 1), make(chan struct{})
	if err := s.Run(BGPSend, 0, gate(started, release)); err != nil {
		t.Fatal(err)
	}
	<-started
	for _, name := range []string{"a", "b", "c"} {
		if err := s.Run(BGPSend, int(name[0]), mk(name, 3)); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	waitIdle(t, s)
	if got := strings.Join(order, ""); got != "abcabcabc" {
		t.Fatalf("order %q, want abcabcabc", got)
	}
}

func TestStats(t *testing.T) {
	// The clock moves only when a task says it worked: each db.partition run takes 5ms.
	var now atomic.Int64
	clock := func() time.Duration { return time.Duration(now.Load()) }
	s := newSched(t, WithWorkers(1), WithClock(clock))
	started, release := make(chan struct{}, 1), make(chan struct{})
	if err := s.Run(BGPSend, 0, gate(started, release)); err != nil {
		t.Fatal(err)
	}
	<-started
	for range 3 { // all queued at 0, behind the gate
		if err := s.Run(DBPartition, 1, func(*Ctx) Result {
			now.Add(int64(5 * time.Millisecond))
			return Done
		}); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	waitIdle(t, s)
	st := s.Stats()[DBPartition]
	want := KindStats{
		Kind: DBPartition, Name: "db.partition", Runs: 3,
		RunTotal: 15 * time.Millisecond, RunMax: 5 * time.Millisecond,
		WaitTotal: 15 * time.Millisecond, WaitMax: 10 * time.Millisecond, // waited 0, 5, 10
	}
	if st != want {
		t.Fatalf("stats\n%+v, want\n%+v", st, want)
	}
	if g := s.Stats()[BGPSend]; g.Runs != 1 || g.RunTotal != 0 {
		t.Fatalf("gate stats %+v", g)
	}
}

func TestCloseReportsQueued(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := New(WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}, 1), make(chan struct{})
	if err := s.Run(BGPSend, 0, gate(started, release)); err != nil {
		t.Fatal(err)
	}
	<-started
	for i := range 3 {
		if err := s.Run(DBPartition, i, func(*Ctx) Result { return Done }); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	// The running task finishes only once Close has given up waiting and refuses work, so
	// no worker gets to start the queued tasks. Tasks queued while probing for that are
	// reported too.
	extra := 0
	go func() {
		defer close(release)
		<-ctx.Done()
		for range 5000 {
			if s.Run(BGPSend, 1, func(*Ctx) Result { return Done }) == ErrClosed {
				return
			}
			extra++
			time.Sleep(time.Millisecond)
		}
	}()
	err = s.Close(ctx)
	want := fmt.Sprintf("%d tasks not run: bgp.send×%d, db.partition×3", 3+extra, extra)
	if extra == 0 {
		want = "3 tasks not run: db.partition×3"
	}
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want a report containing %q", err, want)
	}
	if err := s.Run(DBPartition, 0, func(*Ctx) Result { return Done }); err != ErrClosed {
		t.Fatalf("Run after Close = %v", err)
	}
	if err := s.Close(context.Background()); err != ErrClosed {
		t.Fatalf("second Close = %v", err)
	}
	checkNoLeak(t, before)
}

func TestCloseRunsQueued(t *testing.T) {
	s, err := New(WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int32
	for i := range 100 {
		if err := s.Run(DBPartition, i%7, func(*Ctx) Result { runs.Add(1); return Done }); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if runs.Load() != 100 {
		t.Fatalf("ran %d of 100 queued tasks", runs.Load())
	}
}

func TestOneShotBoundAndQueuedStat(t *testing.T) {
	s := newSched(t, WithWorkers(1), WithMaxOneShot(3))
	started, release := make(chan struct{}, 1), make(chan struct{})
	if err := s.Run(BGPMembership, 0, gate(started, release)); err != nil {
		t.Fatal(err)
	}
	<-started
	noop := func(*Ctx) Result { return Done }
	for i := range 2 {
		if err := s.Run(BGPSend, i, noop); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Run(BGPSend, 9, noop); err != ErrFull {
		t.Fatalf("fourth one-shot task: %v, want ErrFull", err)
	}
	if st := s.Stats(); st[BGPSend].Queued != 2 || st[BGPMembership].Queued != 0 {
		t.Fatalf("queued now: send %d, membership %d", st[BGPSend].Queued, st[BGPMembership].Queued)
	}
	close(release)
	waitIdle(t, s)
	if err := s.Run(BGPSend, 9, noop); err != nil {
		t.Fatalf("one-shot after the others finished: %v", err)
	}
}
