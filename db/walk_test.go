package db

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanoutd/fanout/sched"
)

// A walk visits every entry present throughout it, while db.partition tasks keep applying
// updates to other keys of every partition between and beside its slices. The walk itself
// drives the churn, so the two overlap however fast the machine is: every few visits it
// queues an add or a withdraw of a churn key somewhere in the table.
func TestWalkSeesStableEntriesUnderChurn(t *testing.T) {
	const parts, stable, churnKeys = 4, 20000, 5000
	s := newSched(t, 2)
	tb := newTable(t, s, Config[uint64, val, op]{
		Name: "t", Partitions: parts, Hash: mix, WalkSlice: 64, Batch: 32, QueueLen: 1 << 16,
	})
	// visited[p] and churn[p] are used only by partition p's db.walk tasks.
	var visited [parts]map[uint64]int
	var churn [parts]uint64
	for p := range visited {
		visited[p] = make(map[uint64]int)
	}
	var walking atomic.Bool
	var overlap, deleted atomic.Int64
	var id ListenerID
	inConfig(t, s, func(c *sched.Ctx) {
		var err error
		id, err = tb.Register(c, Listener[uint64, val]{
			Name: "walker",
			Changed: func(c *sched.Ctx, e *Entry[uint64, val]) {
				if walking.Load() {
					overlap.Add(1)
					if !e.Data.set {
						deleted.Add(1)
					}
				}
			},
			Visit: func(c *sched.Ctx, e *Entry[uint64, val]) {
				p := c.Instance()
				sched.CheckInstance(c, sched.DBWalk, tb.PartitionOf(e.Key()))
				visited[p][e.Key()]++
				if churn[p]++; churn[p]%4 != 0 {
					return
				}
				i := churn[p]*parts + uint64(p)
				k := 1<<32 + i%churnKeys
				r := del(k)
				if i%3 == 0 {
					r = add(k, int(i))
				}
				if _, err := tb.Enqueue(context.Background(), tb.PartitionOf(k), []Request[uint64, op]{r}); err != nil {
					t.Error(err)
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	// Stable keys and churn keys are loaded interleaved, so stable entries sit all along
	// each partition's dense slice, tail included, where deleting churn entries moves them.
	var reqs []Request[uint64, op]
	for k := range uint64(stable) {
		reqs = append(reqs, add(k, 1))
		if k%4 == 0 {
			reqs = append(reqs, add(1<<32+k/4, 1))
		}
	}
	enqueue(t, tb, reqs...)
	waitIdle(t, s)

	done := make(chan struct{})
	walking.Store(true)
	if err := tb.RequestWalk(id, func(c *sched.Ctx) {
		walking.Store(false)
		close(done)
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("walk did not complete")
	}
	waitIdle(t, s)

	missing := 0
	for k := range uint64(stable) {
		if visited[tb.PartitionOf(k)][k] == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("walk missed %d of %d entries present throughout", missing, stable)
	}
	if overlap.Load() == 0 || deleted.Load() == 0 {
		t.Errorf("%d changes (%d deletions) applied while the walk ran", overlap.Load(), deleted.Load())
	}
	t.Logf("%d changes (%d deletions) applied during the walk", overlap.Load(), deleted.Load())
}

// Requests made before a walk has visited anything share it; requests made once it has
// begun share the one walk queued after it.
func TestWalkRequestsShare(t *testing.T) {
	const parts, keys = 2, 100
	s := newSched(t, 2)
	tb := newTable(t, s, Config[uint64, val, op]{Name: "t", Partitions: parts, WalkSlice: 8})
	var visits atomic.Int64
	firstVisit := make(chan struct{})
	resume := make(chan struct{})
	var blockOnce atomic.Bool
	var id ListenerID
	inConfig(t, s, func(c *sched.Ctx) {
		var err error
		id, err = tb.Register(c, Listener[uint64, val]{
			Name:    "rib-out",
			Changed: func(*sched.Ctx, *Entry[uint64, val]) {},
			Visit: func(*sched.Ctx, *Entry[uint64, val]) {
				visits.Add(1)
				if blockOnce.CompareAndSwap(true, false) {
					close(firstVisit)
					<-resume
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	var reqs []Request[uint64, op]
	for k := range uint64(keys) {
		reqs = append(reqs, add(k, 1))
	}
	enqueue(t, tb, reqs...)
	waitIdle(t, s)

	// Three requests while walks cannot start: one walk.
	var dones atomic.Int32
	count := func(*sched.Ctx) { dones.Add(1) }
	release := hold(t, s)
	for range 3 {
		if err := tb.RequestWalk(id, count); err != nil {
			t.Fatal(err)
		}
	}
	release()
	waitIdle(t, s)
	if visits.Load() != keys || dones.Load() != 3 {
		t.Fatalf("3 requests before the walk began: %d visits, %d callbacks; want %d and 3", visits.Load(), dones.Load(), keys)
	}

	// A walk that has begun: three more requests share one follow-up walk.
	visits.Store(0)
	dones.Store(0)
	blockOnce.Store(true)
	if err := tb.RequestWalk(id, count); err != nil {
		t.Fatal(err)
	}
	select {
	case <-firstVisit:
	case <-time.After(10 * time.Second):
		t.Fatal("walk never began")
	}
	for range 3 {
		if err := tb.RequestWalk(id, count); err != nil {
			t.Fatal(err)
		}
	}
	close(resume)
	waitIdle(t, s)
	if visits.Load() != 2*keys || dones.Load() != 4 {
		t.Fatalf("requests during a walk: %d visits, %d callbacks; want %d and 4", visits.Load(), dones.Load(), 2*keys)
	}
	if st := s.Stats()[sched.DBWalk]; st.Runs < uint64(2*keys/8) {
		t.Errorf("walks of %d entries in slices of 8 took only %d runs", keys, st.Runs)
	}
}
