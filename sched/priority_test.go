package sched

import (
	"sync/atomic"
	"testing"
	"time"
)

// Kinds of the priority tests' own table.
const (
	tGate Kind = iota
	tHigh
	tNormal
	tLow
)

func priorityKinds() []KindSpec {
	return []KindSpec{
		tGate:   {Name: "test.gate", Priority: High},
		tHigh:   {Name: "test.high", Priority: High},
		tNormal: {Name: "test.normal", Priority: Normal},
		tLow:    {Name: "test.low", Priority: Low},
	}
}

// A high task queued behind thousands of low tasks is the next task a freed worker starts.
// Gates hold every worker; only the first is released until the high task has run, so the
// order of starts is exact.
func TestHighNotDelayedByQueuedLow(t *testing.T) {
	for _, workers := range []int{1, 2} {
		s := newSched(t, WithWorkers(workers), WithPolicy(priorityKinds()))
		started := make(chan struct{}, workers)
		release := make([]chan struct{}, workers)
		for i := range workers {
			release[i] = make(chan struct{})
			if err := s.Run(tGate, i, gate(started, release[i])); err != nil {
				t.Fatal(err)
			}
		}
		for range workers {
			<-started
		}
		var seq atomic.Int64
		const lows = 5000
		for i := range lows {
			if err := s.Run(tLow, i, func(*Ctx) Result { seq.Add(1); return Done }); err != nil {
				t.Fatal(err)
			}
		}
		var highAt int64
		highRan := make(chan struct{})
		if err := s.Run(tHigh, 0, func(*Ctx) Result { highAt = seq.Add(1); close(highRan); return Done }); err != nil {
			t.Fatal(err)
		}
		close(release[0])
		select {
		case <-highRan:
		case <-time.After(10 * time.Second):
			t.Fatal("high task did not run")
		}
		for _, r := range release[1:] {
			close(r)
		}
		waitIdle(t, s)
		if highAt != 1 {
			t.Errorf("%d workers: high task was start number %d of %d", workers, highAt, lows+1)
		}
	}
}

// While workers are busy with low tasks, a woken high task starts as soon as one of them
// finishes its current task: at most one low task per worker starts after the wake.
func TestHighStartsWithinOneRun(t *testing.T) {
	const workers = 2
	s := newSched(t, WithWorkers(workers), WithPolicy(priorityKinds()))
	var lowStarts atomic.Int64
	const lows = 3000
	for i := range lows {
		if err := s.Run(tLow, i, func(*Ctx) Result {
			lowStarts.Add(1)
			spin(20 * time.Microsecond)
			return Done
		}); err != nil {
			t.Fatal(err)
		}
	}
	for lowStarts.Load() < 50 {
		time.Sleep(100 * time.Microsecond)
	}
	var atHigh int64
	if err := s.Run(tHigh, 0, func(*Ctx) Result { atHigh = lowStarts.Load(); return Done }); err != nil {
		t.Fatal(err)
	}
	atWake := lowStarts.Load()
	waitIdle(t, s)
	if late := atHigh - atWake; late > workers {
		t.Errorf("%d low tasks started between the high task's wake and its start", late)
	}
	if st := s.Stats()[tHigh]; st.Runs != 1 || st.WaitMax > time.Second {
		t.Errorf("high stats %+v", st)
	}
}

// Under a steady stream of normal work that never lets the queues drain, every queued low
// task still runs: at most lowEvery-1 normal picks happen in a row while low work waits.
func TestLowNotStarvedByNormal(t *testing.T) {
	// One worker makes the count exact: picks and starts happen in one order.
	const workers, lowEvery, lows = 1, 8, 200
	s := newSched(t, WithWorkers(workers), WithPolicy(priorityKinds()), WithLowEvery(lowEvery))
	// Gates hold every worker while the normal tasks and the low tasks are queued, so the
	// count starts from a known state.
	started, release := make(chan struct{}, workers), make(chan struct{})
	for i := range workers {
		if err := s.Run(tGate, i, gate(started, release)); err != nil {
			t.Fatal(err)
		}
	}
	for range workers {
		<-started
	}
	var stop atomic.Bool
	var normalRuns, lowDone, during atomic.Int64
	for i := range 4 * workers {
		h, err := s.NewTask(tNormal, i, func(*Ctx) Result {
			normalRuns.Add(1)
			spin(5 * time.Microsecond)
			if stop.Load() {
				return Done
			}
			return Again
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Wake(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range lows {
		if err := s.Run(tLow, i, func(*Ctx) Result {
			if lowDone.Add(1) == lows {
				during.Store(normalRuns.Load())
			}
			return Done
		}); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for lowDone.Load() < lows && time.Now().Before(deadline) {
		time.Sleep(200 * time.Microsecond)
	}
	stop.Store(true)
	waitIdle(t, s)
	if got := lowDone.Load(); got != lows {
		t.Fatalf("%d of %d low tasks ran under normal load", got, lows)
	}
	if limit := int64(lows * (lowEvery - 1)); during.Load() > limit {
		t.Errorf("%d normal runs while %d low tasks waited, limit %d", during.Load(), lows, limit)
	}
}
