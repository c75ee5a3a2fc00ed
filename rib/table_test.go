package rib

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/sched"
)

func newTestTable(t *testing.T) (*Table, *AttrTable, *sched.Scheduler) {
	t.Helper()
	s, err := sched.New(sched.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	at := NewAttrTable()
	tb, err := NewTable(s, at, TableConfig{Family: proto.IPv4Unicast, Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	return tb, at, s
}

// readTable runs fn in a bgp.config task, which excludes every partition, and waits.
func readTable(t *testing.T, s *sched.Scheduler, fn func(c *sched.Ctx)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Run(sched.BGPConfig, 0, func(c *sched.Ctx) sched.Result { fn(c); return sched.Done }); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

func enqueueAll(t *testing.T, tb *Table, reqs []Request) {
	t.Helper()
	by := map[int][]Request{}
	for _, r := range reqs {
		p := tb.PartitionOf(r.Key)
		by[p] = append(by[p], r)
	}
	for p, rs := range by {
		if _, err := tb.Enqueue(context.Background(), p, rs); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTableBestPathAndCounters(t *testing.T) {
	tb, at, s := newTestTable(t)
	mk := func(addr string, pathLen int) (*Source, *Attrs) {
		src := &Source{Addr: netip.MustParseAddr(addr), RouterID: netip.MustParseAddr(addr), EBGP: true, Counters: &SourceCounters{}}
		key := InternKey(nil, []byte{byte(pathLen)}, netip.MustParseAddr("198.18.0.1"))
		return src, at.InternN(key, &Summary{PathLen: uint16(pathLen)}, 0)
	}
	a, short := mk("10.0.0.1", 1)
	b, long := mk("10.0.0.2", 3)
	const n = 1000
	var reqs []Request
	for i := 0; i < n; i++ {
		k := MakeKey(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24), proto.RD{})
		at.Ref(long)
		reqs = append(reqs, Request{Key: k, Op: Op{Kind: OpAdd, Path: Path{Src: b, Attrs: long}}})
		if i%2 == 0 {
			at.Ref(short)
			reqs = append(reqs, Request{Key: k, Op: Op{Kind: OpAdd, Path: Path{Src: a, Attrs: short}}})
		}
	}
	enqueueAll(t, tb, reqs)
	readTable(t, s, func(c *sched.Ctx) {
		if got := tb.DB().Len(c); got != n {
			t.Fatalf("table has %d prefixes, want %d", got, n)
		}
	})
	if a.Counters.Received.Load() != n/2 || b.Counters.Received.Load() != n {
		t.Fatalf("received a=%d b=%d", a.Counters.Received.Load(), b.Counters.Received.Load())
	}
	// The same counts by family: all IPv4 unicast here.
	if f := &b.Counters.ByFamily[FamilySlot(proto.IPv4Unicast)]; f.Received.Load() != n || f.Accepted.Load() != n ||
		b.Counters.ByFamily[FamilySlot(proto.IPv6Unicast)].Received.Load() != 0 {
		t.Fatalf("b by family: %d received, %d accepted as IPv4; %d as IPv6", f.Received.Load(), f.Accepted.Load(),
			b.Counters.ByFamily[FamilySlot(proto.IPv6Unicast)].Received.Load())
	}
	if a.Counters.Best.Load() != n/2 || b.Counters.Best.Load() != n/2 {
		t.Fatalf("best a=%d b=%d, want %d each (shorter AS path wins where both)", a.Counters.Best.Load(), b.Counters.Best.Load(), n/2)
	}

	// Re-announcing identical paths changes nothing and leaks no reference.
	refsBefore := short.Refs(at)
	reqs = reqs[:0]
	for i := 0; i < n; i += 2 {
		at.Ref(short)
		k := MakeKey(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24), proto.RD{})
		reqs = append(reqs, Request{Key: k, Op: Op{Kind: OpAdd, Path: Path{Src: a, Attrs: short}}})
	}
	enqueueAll(t, tb, reqs)
	readTable(t, s, func(*sched.Ctx) {})
	if short.Refs(at) != refsBefore {
		t.Fatalf("identical re-announcement moved refs from %d to %d", refsBefore, short.Refs(at))
	}

	// Withdraw one of a's prefixes: b becomes best there.
	k0 := MakeKey(netip.MustParsePrefix("10.0.0.0/24"), proto.RD{})
	enqueueAll(t, tb, []Request{{Key: k0, Op: Op{Kind: OpWithdraw, Path: Path{Src: a}}}})
	readTable(t, s, func(c *sched.Ctx) {
		e := tb.DB().Find(c, k0)
		if e == nil || e.Data.Best() == nil || e.Data.Best().Src != b {
			t.Fatal("withdrawal did not move the best path to b")
		}
	})
	if a.Counters.Received.Load() != n/2-1 || b.Counters.Best.Load() != n/2+1 {
		t.Fatalf("after withdraw: a received %d, b best %d", a.Counters.Received.Load(), b.Counters.Best.Load())
	}

	// b goes down: one sweep per partition removes all its paths; prefixes only b had go.
	if err := tb.DropSource(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	readTable(t, s, func(c *sched.Ctx) {
		if got := tb.DB().Len(c); got != n/2-1 {
			t.Fatalf("after b went down the table has %d prefixes, want %d", got, n/2-1)
		}
	})
	if b.Counters.Received.Load() != 0 || b.Counters.Best.Load() != 0 || b.Counters.Accepted.Load() != 0 {
		t.Fatalf("b's counters not zero after down: %d %d %d", b.Counters.Received.Load(), b.Counters.Best.Load(), b.Counters.Accepted.Load())
	}
	if a.Counters.Best.Load() != n/2-1 {
		t.Fatalf("a best %d", a.Counters.Best.Load())
	}
	if err := tb.DropSource(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	readTable(t, s, func(c *sched.Ctx) {
		if got := tb.DB().Len(c); got != 0 {
			t.Fatalf("%d prefixes left after every source went down", got)
		}
	})
	if at.Len() != 0 {
		t.Fatalf("%d attribute sets still interned after every path went: a reference leaked", at.Len())
	}
}

func TestTableLoopPathNeverBest(t *testing.T) {
	tb, at, s := newTestTable(t)
	src := &Source{Addr: netip.MustParseAddr("10.0.0.1"), EBGP: true, Counters: &SourceCounters{}}
	a := at.Intern(InternKey(nil, []byte{1}, netip.Addr{}), &Summary{})
	k := MakeKey(netip.MustParsePrefix("192.0.2.0/24"), proto.RD{})
	enqueueAll(t, tb, []Request{{Key: k, Op: Op{Kind: OpAdd, Path: Path{Src: src, Attrs: a, Flags: FlagASLoop}}}})
	readTable(t, s, func(c *sched.Ctx) {
		e := tb.DB().Find(c, k)
		if e == nil || len(e.Data.Paths()) != 1 || e.Data.Best() != nil {
			t.Fatal("a looped path must be kept in Adj-RIB-In but never be best")
		}
	})
	if src.Counters.Received.Load() != 1 || src.Counters.Accepted.Load() != 0 {
		t.Fatalf("received %d accepted %d", src.Counters.Received.Load(), src.Counters.Accepted.Load())
	}
}
