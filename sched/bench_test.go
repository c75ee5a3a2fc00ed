package sched

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
)

// BenchmarkRun measures enqueue-to-run overhead: one op is one one-shot task queued by a
// producer goroutine, picked by a worker, run (empty body), timed and accounted.
func BenchmarkRun(b *testing.B) {
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(map[bool]string{true: "workers=1", false: "workers=max"}[workers == 1], func(b *testing.B) {
			s := newSched(b, WithWorkers(workers), WithChecking(false), WithMaxOneShot(b.N+1))
			var ran atomic.Int64
			fn := func(*Ctx) Result { ran.Add(1); return Done }
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := s.Run(DBPartition, i&63, fn); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.WaitIdle(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if ran.Load() != int64(b.N) {
				b.Fatalf("ran %d of %d", ran.Load(), b.N)
			}
		})
	}
}

// BenchmarkAgain measures the cost of one cooperative slice: a task that asks to run again
// is requeued and picked with no producer involved. One op is one slice.
func BenchmarkAgain(b *testing.B) {
	s := newSched(b, WithWorkers(runtime.GOMAXPROCS(0)), WithChecking(false))
	var left atomic.Int64
	left.Store(int64(b.N))
	fn := func(*Ctx) Result {
		if left.Add(-1) > 0 {
			return Again
		}
		return Done
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range 8 {
		h, err := s.NewTask(DBPartition, i, fn)
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Wake(); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.WaitIdle(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWakeLatency measures a round trip from waking a task on a parked worker to
// hearing that it ran: mostly the cost of unparking a goroutine, reported for context.
func BenchmarkWakeLatency(b *testing.B) {
	s := newSched(b, WithWorkers(1), WithChecking(false))
	done := make(chan struct{}, 1)
	h, err := s.NewTask(BGPSession, 0, func(*Ctx) Result { done <- struct{}{}; return Done })
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := h.Wake(); err != nil {
			b.Fatal(err)
		}
		<-done
	}
}

// BenchmarkCheck measures a policy assertion with checking off and on.
func BenchmarkCheck(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(map[bool]string{false: "off", true: "on"}[on], func(b *testing.B) {
			c := &Ctx{check: on, kind: DBPartition, inst: 3}
			b.ReportAllocs()
			for range b.N {
				Check(c, BGPMembership, DBPartition)
			}
		})
	}
}
