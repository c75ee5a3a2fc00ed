package bgp

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

func newTestRIB(t testing.TB, queueLen int) (*RIB, *sched.Scheduler) {
	t.Helper()
	return newTestRIBWith(t, RIBConfig{LocalAS: 65000, RouterID: netip.MustParseAddr("10.255.0.1"), Partitions: 4, QueueLen: queueLen})
}

// newTestRIBWith is newTestRIB with the RIB configured by cfg.
func newTestRIBWith(t testing.TB, cfg RIBConfig) (*RIB, *sched.Scheduler) {
	t.Helper()
	s, err := sched.New(sched.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		c, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		if err := s.Close(c); err != nil {
			t.Error(err)
		}
	})
	r, err := NewRIB(ctx, s, zap.NewNop(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, s
}

// updateMsgs encodes announcements (and withdrawals) with fanout's builder and returns the
// UPDATE bodies.
func updateMsgs(t testing.TB, opts *proto.SessionOptions, fn func(b *proto.UpdateBuilder)) [][]byte {
	t.Helper()
	var b proto.UpdateBuilder
	b.Reset(opts)
	fn(&b)
	buf, err := b.AppendMessages(nil)
	if err != nil {
		t.Fatal(err)
	}
	var bodies [][]byte
	for len(buf) > 0 {
		h, body, n, err := proto.NextMessage(buf, opts.MaxLen())
		if err != nil || n == 0 || h.Type != proto.MsgUpdate {
			t.Fatalf("builder output not framed: %v", err)
		}
		bodies = append(bodies, body)
		buf = buf[n:]
	}
	return bodies
}

func attrBytes(t testing.TB, path proto.ASPath, med uint32) []byte {
	t.Helper()
	var a proto.Attrs
	a.Present.Set(proto.AttrOrigin)
	a.Present.Set(proto.AttrASPath)
	a.ASPath = path
	a.Present.Set(proto.AttrMED)
	a.MED = med
	b, err := proto.AppendAttrs(nil, &a, &proto.SessionOptions{AS4: true})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func v4Prefixes(n int, second byte) []proto.NLRI {
	ns := make([]proto.NLRI, n)
	for i := range ns {
		ns[i].Prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, second, byte(i >> 8), byte(i)}), 32)
	}
	return ns
}

func feed(t testing.TB, in Ingest, opts *proto.SessionOptions, bodies [][]byte) int {
	t.Helper()
	var u proto.Update
	held := 0
	for _, b := range bodies {
		err := proto.DecodeUpdate(b, opts, &u)
		var perr *proto.Error
		if err != nil {
			var ok bool
			if perr, ok = proto.AsError(err); !ok || perr.Action == proto.ActionSessionReset {
				t.Fatalf("decode: %v", err)
			}
		}
		h, err := in.Update(context.Background(), &u, perr)
		if err != nil {
			t.Fatal(err)
		}
		held = h
	}
	return held
}

func tableLen(t testing.TB, s *sched.Scheduler, tb *rib.Table) int {
	t.Helper()
	n := 0
	inTask(t, s, func(c *sched.Ctx) { n = tb.DB().Len(c) })
	return n
}

func inTask(t testing.TB, s *sched.Scheduler, fn func(c *sched.Ctx)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
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

func session(addr string, as uint32) *SessionInfo {
	a := netip.MustParseAddr(addr)
	return &SessionInfo{PeerAddr: a, RouterID: a, PeerAS: as, LocalAS: 65000, EBGP: as != 65000,
		Recv: proto.SessionOptions{AS4: true, EBGP: as != 65000}, Send: proto.SessionOptions{AS4: true}}
}

func TestIngestAnnounceWithdrawDown(t *testing.T) {
	r, s := newTestRIB(t, 0)
	info := session("127.0.0.2", 65001)
	in := r.SessionUp(info)
	opts := &info.Recv
	nh := proto.MPNextHop{Addr: netip.MustParseAddr("198.18.0.1")}
	attrs := attrBytes(t, proto.ASSeq(65001, 65100), 10)
	v6 := []proto.NLRI{{Prefix: netip.MustParsePrefix("2001:db8:1::/48")}, {Prefix: netip.MustParsePrefix("2001:db8:2::/48")}}
	held := feed(t, in, opts, updateMsgs(t, opts, func(b *proto.UpdateBuilder) {
		b.Announce(proto.IPv4Unicast, attrs, nh, v4Prefixes(1000, 1)...)
		b.Announce(proto.IPv6Unicast, attrs, proto.MPNextHop{Addr: netip.MustParseAddr("2001:db8::1")}, v6...)
	}))
	if got := tableLen(t, s, r.Table(proto.IPv4Unicast)); got != 1000 {
		t.Fatalf("IPv4 table has %d prefixes, want 1000", got)
	}
	if got := tableLen(t, s, r.Table(proto.IPv6Unicast)); got != 2 {
		t.Fatalf("IPv6 table has %d prefixes, want 2", got)
	}
	src := in.(*ribIn).Source()
	// held is read as the UPDATEs are queued, before the partitions apply them: it lags.
	if held > 1002 || src.Counters.Received.Load() != 1002 || src.Counters.Best.Load() != 1002 {
		t.Fatalf("held %d, counters received %d best %d", held, src.Counters.Received.Load(), src.Counters.Best.Load())
	}
	// One interned set per distinct (attributes, next hop), however many prefixes share it.
	if n := r.Attrs().Len(); n != 2 {
		t.Fatalf("%d interned attribute sets, want 2", n)
	}
	inTask(t, s, func(c *sched.Ctx) {
		e := r.Table(proto.IPv4Unicast).DB().Find(c, rib.MakeKey(netip.MustParsePrefix("10.1.0.7/32"), proto.RD{}))
		if e == nil || e.Data.Best() == nil {
			t.Fatal("10.1.0.7/32 missing")
		}
		a := e.Data.Best().Attrs
		if a.NextHop != nh.Addr || a.PathLen != 2 || a.NeighborAS != 65001 || !a.HasMED || a.MED != 10 {
			t.Fatalf("stored summary %+v", a.Summary)
		}
	})

	// Withdraw half the IPv4 prefixes.
	feed(t, in, opts, updateMsgs(t, opts, func(b *proto.UpdateBuilder) {
		b.Withdraw(proto.IPv4Unicast, v4Prefixes(500, 1)...)
	}))
	if got := tableLen(t, s, r.Table(proto.IPv4Unicast)); got != 500 {
		t.Fatalf("after withdrawing 500, IPv4 has %d", got)
	}

	// The session goes down: everything it announced goes, and so do the attribute sets.
	in.Down()
	if got := tableLen(t, s, r.Table(proto.IPv4Unicast)) + tableLen(t, s, r.Table(proto.IPv6Unicast)); got != 0 {
		t.Fatalf("%d prefixes left after Down", got)
	}
	if n := r.Attrs().Len(); n != 0 {
		t.Fatalf("%d attribute sets left after Down", n)
	}
	if src.Counters.Received.Load() != 0 || src.Counters.Best.Load() != 0 {
		t.Fatal("counters not back to zero")
	}
}

// RFC 7606 §2: treat-as-withdraw removes every prefix the message carries.
func TestIngestTreatAsWithdraw(t *testing.T) {
	r, s := newTestRIB(t, 0)
	info := session("127.0.0.2", 65001)
	in := r.SessionUp(info)
	opts := &info.Recv
	nh := proto.MPNextHop{Addr: netip.MustParseAddr("198.18.0.1")}
	bodies := updateMsgs(t, opts, func(b *proto.UpdateBuilder) {
		b.Announce(proto.IPv4Unicast, attrBytes(t, proto.ASSeq(65001), 0), nh, v4Prefixes(10, 2)...)
	})
	feed(t, in, opts, bodies)
	var u proto.Update
	if err := proto.DecodeUpdate(bodies[0], opts, &u); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Update(context.Background(), &u, &proto.Error{Action: proto.ActionTreatAsWithdraw}); err != nil {
		t.Fatal(err)
	}
	if got := tableLen(t, s, r.Table(proto.IPv4Unicast)); got != 0 {
		t.Fatalf("%d prefixes survived treat-as-withdraw", got)
	}
}

// RFC 4271 §9.1.2 and RFC 4456 §8: looped paths are stored but never best.
func TestIngestLoops(t *testing.T) {
	r, s := newTestRIB(t, 0)
	info := session("127.0.0.3", 65000)
	in := r.SessionUp(info)
	opts := &info.Recv
	nh := proto.MPNextHop{Addr: netip.MustParseAddr("198.18.0.1")}
	mk := func(f func(a *proto.Attrs)) []byte {
		var a proto.Attrs
		a.Present.Set(proto.AttrOrigin)
		a.Present.Set(proto.AttrASPath)
		a.Present.Set(proto.AttrLocalPref)
		a.LocalPref = 100
		f(&a)
		b, err := proto.AppendAttrs(nil, &a, &proto.SessionOptions{AS4: true})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ownAS := mk(func(a *proto.Attrs) { a.ASPath = proto.ASSeq(65010, 65000) })
	ownOriginator := mk(func(a *proto.Attrs) {
		a.Present.Set(proto.AttrOriginatorID)
		a.OriginatorID = netip.MustParseAddr("10.255.0.1")
	})
	ownCluster := mk(func(a *proto.Attrs) {
		a.Present.Set(proto.AttrOriginatorID)
		a.OriginatorID = netip.MustParseAddr("10.9.9.9")
		a.Present.Set(proto.AttrClusterList)
		a.ClusterList = []byte{10, 7, 7, 7, 10, 255, 0, 1}
	})
	for i, attrs := range [][]byte{ownAS, ownOriginator, ownCluster} {
		feed(t, in, opts, updateMsgs(t, opts, func(b *proto.UpdateBuilder) {
			b.Announce(proto.IPv4Unicast, attrs, nh, proto.NLRI{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 32)})
		}))
	}
	inTask(t, s, func(c *sched.Ctx) {
		for i := 0; i < 3; i++ {
			e := r.Table(proto.IPv4Unicast).DB().Find(c, rib.MakeKey(netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 32), proto.RD{}))
			if e == nil || len(e.Data.Paths()) != 1 {
				t.Fatalf("case %d: looped path not kept in Adj-RIB-In", i)
			}
			if e.Data.Best() != nil {
				t.Fatalf("case %d: looped path selected as best", i)
			}
		}
	})
	src := in.(*ribIn).Source()
	if src.Counters.Received.Load() != 3 || src.Counters.Accepted.Load() != 0 {
		t.Fatalf("received %d accepted %d", src.Counters.Received.Load(), src.Counters.Accepted.Load())
	}
}

// A full partition queue blocks the reader (back-pressure); when the session ends while it
// waits, nothing leaks.
func TestIngestBackPressure(t *testing.T) {
	r, s := newTestRIB(t, 8)
	info := session("127.0.0.2", 65001)
	in := r.SessionUp(info)
	opts := &info.Recv
	bodies := updateMsgs(t, opts, func(b *proto.UpdateBuilder) {
		b.Announce(proto.IPv4Unicast, attrBytes(t, proto.ASSeq(65001), 0), proto.MPNextHop{Addr: netip.MustParseAddr("198.18.0.1")}, v4Prefixes(400, 3)...)
	})
	var u proto.Update
	if err := proto.DecodeUpdate(bodies[0], opts, &u); err != nil {
		t.Fatal(err)
	}
	// Hold every partition: a bgp.membership task excludes db.partition.
	started, release := make(chan struct{}), make(chan struct{})
	if err := s.Run(sched.BGPMembership, 0, func(*sched.Ctx) sched.Result { close(started); <-release; return sched.Done }); err != nil {
		t.Fatal(err)
	}
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := in.Update(ctx, &u, nil); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("Update returned (%v) with every partition queue full", err)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("cancelled Update returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Update did not return after its context ended")
	}
	close(release)
	in.Down()
	if got := tableLen(t, s, r.Table(proto.IPv4Unicast)); got != 0 {
		t.Fatalf("%d prefixes left", got)
	}
	if n := r.Attrs().Len(); n != 0 {
		t.Fatalf("%d attribute sets leaked after an interrupted UPDATE", n)
	}
}
