package rib

import (
	"net/netip"
	"testing"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/sched"
)

// The advertised counts follow each member's holdings as routes come and go, and the
// Adj-RIB-Out read shows what a member holds; a member joining after another left gets a
// slot with no stale holdings, so its count starts at zero.
func TestRibOutAdvertisedCountsAndRead(t *testing.T) {
	tb, at, s := newTestTable(t)
	ro := NewRibOut(tb, NewAttrTable(), ExportPolicy{Family: proto.IPv4Unicast, Role: RoleRSClient, AS4: true})
	src := func(id uint32) *Source {
		a := netip.AddrFrom4([4]byte{10, 0, 0, byte(id)})
		return &Source{ID: id, EBGP: true, RouterID: a, Addr: a}
	}
	s1, s2 := src(1), src(2)
	var m1, m2 int
	readTable(t, s, func(c *sched.Ctx) {
		if err := ro.Register(c); err != nil {
			t.Fatal(err)
		}
		m1, _ = ro.Join(c, 1, s1.RouterID)
		m2, _ = ro.Join(c, 2, s2.RouterID)
		ro.Force(c, ro.Members()) // as a sync walk starting does
	})
	a := inputSet(t, at, fullAttrs(), nhIn)
	const n = 20
	var reqs []Request
	for i := range n {
		at.Ref(a)
		reqs = append(reqs, Request{Key: keyN(i), Op: Op{Kind: OpAdd, Path: Path{Src: s1, Attrs: a}}})
	}
	enqueueAll(t, tb, reqs)
	counts := func() (c1, c2 int64) {
		readTable(t, s, func(c *sched.Ctx) { c1, c2 = ro.AdvertisedCount(c, m1), ro.AdvertisedCount(c, m2) })
		return
	}
	if c1, c2 := counts(); c1 != 0 || c2 != n {
		t.Fatalf("counts %d, %d; want 0 (split horizon), %d", c1, c2, n)
	}
	read := func(k Key, slot int) []Advertised {
		var out []Advertised
		done := make(chan struct{})
		p := tb.PartitionOf(k)
		if err := s.Run(sched.DBWalk, p, func(c *sched.Ctx) sched.Result {
			if e := tb.DB().Find(c, k); e != nil {
				out = ro.AdvertisedTo(c, e, slot, nil)
			}
			close(done)
			return sched.Done
		}); err != nil {
			t.Fatal(err)
		}
		<-done
		return out
	}
	if got := read(keyN(3), m2); len(got) != 1 || got[0].Attrs == nil || got[0].Attrs.NextHop != nhIn || got[0].PathID != 0 {
		t.Fatalf("member 2 holds %+v, want the route with next hop %v", got, nhIn)
	}
	if got := read(keyN(3), m1); len(got) != 0 {
		t.Fatalf("member 1 (the source) holds %+v", got)
	}
	var wd []Request
	for i := range n / 2 {
		wd = append(wd, Request{Key: keyN(i), Op: Op{Kind: OpWithdraw, Path: Path{Src: s1}}})
	}
	enqueueAll(t, tb, wd)
	if c1, c2 := counts(); c1 != 0 || c2 != n/2 {
		t.Fatalf("after withdrawals counts %d, %d; want 0, %d", c1, c2, n/2)
	}
	// Member 2 leaves; its slot still counts stale holdings, so a new member gets another.
	var m3 int
	var c3 int64
	readTable(t, s, func(c *sched.Ctx) {
		ro.Leave(c, 2, m2)
		m3, _ = ro.Join(c, 3, src(3).RouterID)
		c3 = ro.AdvertisedCount(c, m3)
	})
	if m3 == m2 || c3 != 0 {
		t.Fatalf("new member on slot %d (the departed one's: %d) with count %d", m3, m2, c3)
	}
}

// BenchmarkCountAdv: the cost apply adds where a unit's advertised set changes, for a prefix
// newly advertised to (or withdrawn from) every member of a full RibOut, and for a change
// that moves one member.
func BenchmarkCountAdv(b *testing.B) {
	r := &RibOut{advCount: make([][MaxMembers]int64, 1)}
	var all PeerSet
	for i := range MaxMembers {
		all.Add(i)
	}
	one := all
	one.Remove(7)
	b.Run("all-members", func(b *testing.B) {
		for i := range b.N {
			if i&1 == 0 {
				r.countAdv(0, PeerSet{}, all)
			} else {
				r.countAdv(0, all, PeerSet{})
			}
		}
	})
	b.Run("one-member", func(b *testing.B) {
		for i := range b.N {
			if i&1 == 0 {
				r.countAdv(0, all, one)
			} else {
				r.countAdv(0, one, all)
			}
		}
	})
}
