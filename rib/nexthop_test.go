package rib

import (
	"context"
	"net/netip"
	"testing"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/sched"
)

// TestSetNextHopReachable: a path whose next hop is marked unreachable stops being best
// (the other path wins, or the prefix has no best path), its source's Accepted count drops,
// a path added later via that next hop is unusable at once, and all comes back when the next
// hop is reachable again.
func TestSetNextHopReachable(t *testing.T) {
	tb, at, s := newTestTable(t)
	ctx := context.Background()
	nh1, nh2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	mk := func(addr string, pathLen int, nh netip.Addr) (*Source, *Attrs) {
		src := &Source{Addr: netip.MustParseAddr(addr), RouterID: netip.MustParseAddr(addr), EBGP: true, Counters: &SourceCounters{}}
		key := InternKey(nil, []byte{byte(pathLen)}, nh)
		return src, at.InternN(key, &Summary{PathLen: uint16(pathLen), NextHop: nh}, 0)
	}
	a, viaA := mk("10.0.0.1", 1, nh1) // preferred: shorter AS path
	b, viaB := mk("10.0.0.2", 3, nh2)
	both := MakeKey(netip.MustParsePrefix("10.1.0.0/16"), proto.RD{})
	onlyA := MakeKey(netip.MustParsePrefix("10.2.0.0/16"), proto.RD{})
	later := MakeKey(netip.MustParsePrefix("10.3.0.0/16"), proto.RD{})
	add := func(k Key, src *Source, a *Attrs) Request {
		at.Ref(a)
		return Request{Key: k, Op: Op{Kind: OpAdd, Path: Path{Src: src, Attrs: a}}}
	}
	enqueueAll(t, tb, []Request{add(both, a, viaA), add(both, b, viaB), add(onlyA, a, viaA)})

	// best returns the address of the best path's source for k, "" when none.
	best := func(c *sched.Ctx, k Key) string {
		e := tb.DB().Find(c, k)
		if e == nil || e.Data.Best() == nil {
			return ""
		}
		return e.Data.Best().Src.Addr.String()
	}
	check := func(what string, wantBoth, wantOnlyA, wantLater string, acceptedA int64) {
		t.Helper()
		readTable(t, s, func(c *sched.Ctx) {
			if g := best(c, both); g != wantBoth {
				t.Errorf("%s: best of %v from %q, want %q", what, both, g, wantBoth)
			}
			if g := best(c, onlyA); g != wantOnlyA {
				t.Errorf("%s: best of %v from %q, want %q", what, onlyA, g, wantOnlyA)
			}
			if g := best(c, later); g != wantLater {
				t.Errorf("%s: best of %v from %q, want %q", what, later, g, wantLater)
			}
		})
		if g := a.Counters.Accepted.Load(); g != acceptedA {
			t.Errorf("%s: source A accepted %d, want %d", what, g, acceptedA)
		}
		if g := a.Counters.Received.Load(); g != 2 && g != 3 {
			t.Errorf("%s: source A received %d", what, g)
		}
	}
	check("start", "10.0.0.1", "10.0.0.1", "", 2)

	if err := tb.SetNextHopReachable(ctx, nh1, false); err != nil {
		t.Fatal(err)
	}
	check("nh1 down", "10.0.0.2", "", "", 0)
	if !tb.NextHopDown(nh1) || tb.NextHopDown(nh2) {
		t.Fatal("NextHopDown does not say nh1 only")
	}
	// Saying it again changes nothing (and queues nothing).
	if err := tb.SetNextHopReachable(ctx, nh1, false); err != nil {
		t.Fatal(err)
	}
	enqueueAll(t, tb, []Request{add(later, a, viaA)})
	check("added while down", "10.0.0.2", "", "", 0)
	if g := a.Counters.Best.Load(); g != 0 {
		t.Errorf("source A best of %d prefixes while its next hop is down", g)
	}

	if err := tb.SetNextHopReachable(ctx, nh1, true); err != nil {
		t.Fatal(err)
	}
	check("nh1 up", "10.0.0.1", "10.0.0.1", "10.0.0.1", 3)
	if g := a.Counters.Best.Load(); g != 3 {
		t.Errorf("source A best of %d prefixes, want 3", g)
	}
	if err := tb.SetNextHopReachable(ctx, netip.IPv4Unspecified(), true); err == nil {
		t.Error("the unspecified next hop was accepted")
	}
}
