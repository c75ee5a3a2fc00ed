package db

import (
	"context"
	"fmt"
	"testing"

	"github.com/fanoutd/fanout/sched"
)

// The benchmark's table looks like a small RIB: each entry holds up to four peers' paths,
// a request sets one peer's path, and a listener recomputes a best path and remembers what
// it last saw in its state slot.
type paths struct {
	metric [4]uint32
	n      int
}

type pathOp struct {
	peer   int
	metric uint32
}

type advertised struct {
	best    int
	updates int
}

func applyPath(_ *sched.Ctx, e *Entry[uint64, paths], o pathOp) bool {
	d := &e.Data
	if d.metric[o.peer] == o.metric {
		return false
	}
	if d.metric[o.peer] == 0 {
		d.n++
	}
	d.metric[o.peer] = o.metric
	return true
}

func benchTable(b *testing.B, workers int) {
	const parts, keys = 8, 1 << 16
	s, err := sched.New(sched.WithWorkers(workers), sched.WithChecking(false))
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := s.Close(context.Background()); err != nil {
			b.Error(err)
		}
	}()
	tb, err := New(s, Config[uint64, paths, pathOp]{
		Name: "bench", Partitions: parts, Hash: mix, QueueLen: keys, Batch: 256,
		Empty: func(d *paths) bool { return d.n == 0 },
		Apply: applyPath,
	})
	if err != nil {
		b.Fatal(err)
	}
	var id ListenerID
	register := func(c *sched.Ctx) sched.Result {
		id, err = tb.Register(c, Listener[uint64, paths]{Name: "best", Changed: func(c *sched.Ctx, e *Entry[uint64, paths]) {
			best := 0
			for i, m := range e.Data.metric {
				if m > e.Data.metric[best] {
					best = i
				}
			}
			st, _ := e.State(id).(*advertised)
			if st == nil {
				st = &advertised{best: -1}
				e.SetState(id, st)
			}
			if st.best != best {
				st.best = best
				st.updates++
			}
		}})
		return sched.Done
	}
	if err := s.Run(sched.BGPConfig, 0, register); err != nil {
		b.Fatal(err)
	}
	if err := s.WaitIdle(context.Background()); err != nil || id != 0 {
		b.Fatal(err, id)
	}
	// One round: every key gets a new path from one peer, grouped by partition as a peer's
	// reader would group an UPDATE's prefixes.
	byPart := make([][]Request[uint64, pathOp], parts)
	round := func(r int) {
		for p := range byPart {
			byPart[p] = byPart[p][:0]
		}
		for k := range uint64(keys) {
			p := tb.PartitionOf(k)
			byPart[p] = append(byPart[p], Request[uint64, pathOp]{Key: k, Op: pathOp{peer: r % 4, metric: uint32(r + int(k)%7 + 1)}})
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for r := range b.N {
		b.StopTimer()
		// Queue the round behind a bgp.config task so the timed part is only the drain.
		started, release := make(chan struct{}), make(chan struct{})
		if err := s.Run(sched.BGPConfig, 0, func(*sched.Ctx) sched.Result {
			close(started)
			<-release
			return sched.Done
		}); err != nil {
			b.Fatal(err)
		}
		<-started
		round(r)
		for p, batch := range byPart {
			for i := 0; i < len(batch); i += 64 {
				if _, err := tb.Enqueue(context.Background(), p, batch[i:min(i+64, len(batch))]); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StartTimer()
		close(release)
		if err := s.WaitIdle(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*keys), "ns/request")
}

// BenchmarkPartitions measures draining a round of 65536 requests (one per key) spread
// over 8 partitions, with 1 and 2 workers on the same data; one op is one round.
func BenchmarkPartitions(b *testing.B) {
	for _, w := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) { benchTable(b, w) })
	}
}
