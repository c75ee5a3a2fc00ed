package db

import (
	"context"
	"testing"

	"github.com/fanoutd/fanout/sched"
)

// A sweep applies its op to every entry of one partition, in order with that partition's
// queue: requests before it are applied first, requests after it wait until it is done,
// and it runs in bounded slices.
func TestSweepInQueueOrder(t *testing.T) {
	s := newSched(t, 2)
	tb := newTable(t, s, Config[uint64, val, op]{Partitions: 2, Batch: 4})
	var changed [2]int
	inConfig(t, s, func(c *sched.Ctx) {
		if _, err := tb.Register(c, Listener[uint64, val]{Name: "count", Changed: func(c *sched.Ctx, e *Entry[uint64, val]) {
			changed[c.Instance()]++
		}}); err != nil {
			t.Fatal(err)
		}
	})
	release := hold(t, s)
	var reqs []Request[uint64, op]
	for k := uint64(0); k < 100; k++ {
		reqs = append(reqs, Request[uint64, op]{Key: k, Op: op{add: true, v: int(k)}})
	}
	enqueue(t, tb, reqs...)
	if err := tb.EnqueueSweep(context.Background(), 0, op{add: false}); err != nil {
		t.Fatal(err)
	}
	enqueue(t, tb, Request[uint64, op]{Key: 0, Op: op{add: true, v: 7}})
	release()
	waitIdle(t, s)

	inConfig(t, s, func(c *sched.Ctx) {
		if n := tb.Len(c); n != 51 {
			t.Errorf("table holds %d entries, want 50 odd keys and key 0", n)
		}
		for k := uint64(0); k < 100; k++ {
			e := tb.Find(c, k)
			switch {
			case k == 0:
				if e == nil || e.Data.v != 7 {
					t.Errorf("key 0: the add queued after the sweep was lost or applied before it: %+v", e)
				}
			case k%2 == 0:
				if e != nil {
					t.Errorf("key %d survived the sweep of partition 0", k)
				}
			default:
				if e == nil || e.Data.v != int(k) {
					t.Errorf("key %d of partition 1 was touched by the sweep", k)
				}
			}
		}
	})
	// Partition 0: 50 adds, 50 sweep clears, 1 add; partition 1: 50 adds.
	if changed[0] != 101 || changed[1] != 50 {
		t.Errorf("listener notified %v times, want [101 50]", changed)
	}
	for _, st := range s.Stats() {
		if st.Name == "db.partition" && st.Runs < 25 {
			t.Errorf("db.partition ran %d times: the sweep was not sliced into bounded runs", st.Runs)
		}
	}
}

func TestSweepEmptyPartition(t *testing.T) {
	s := newSched(t, 1)
	tb := newTable(t, s, Config[uint64, val, op]{Partitions: 2})
	if err := tb.EnqueueSweep(context.Background(), 1, op{add: false}); err != nil {
		t.Fatal(err)
	}
	enqueue(t, tb, Request[uint64, op]{Key: 1, Op: op{add: true, v: 1}})
	waitIdle(t, s)
	inConfig(t, s, func(c *sched.Ctx) {
		if e := tb.Find(c, 1); e == nil || e.Data.v != 1 {
			t.Fatal("request after a sweep of an empty partition was lost")
		}
	})
}
