package main

import (
	"context"
	"fmt"
	"net/netip"
	"syscall"
	"testing"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
)

// TestNextHopFeedbackToRIB: the default instance's kernel refuses a route through a next
// hop; the actor reports it, the RIB stops using the path (the other path wins and is
// installed), and when the next hop is usable again the first path is best and installed
// again.
func TestNextHopFeedbackToRIB(t *testing.T) {
	d, k := fakeKernelDaemon(t, ` # testHeader ends in [fanout]
  route-reconcile-interval = "100ms"
[[fanout.instances]]
  name = "default"
  table = 100
  install = true
`)

	tb := d.rib.Table(proto.IPv4Unicast)
	at := d.rib.Attrs()
	pfx := netip.MustParsePrefix("10.9.0.0/16")
	key := rib.MakeKey(pfx, proto.RD{})
	add := func(addr string, pathLen uint16, nh string) {
		src := &rib.Source{Addr: netip.MustParseAddr(addr), RouterID: netip.MustParseAddr(addr), EBGP: true, AS: 65001, Counters: &rib.SourceCounters{}}
		n := netip.MustParseAddr(nh)
		a := at.Intern(rib.InternKey(nil, []byte{byte(pathLen)}, n), &rib.Summary{NextHop: n, PathLen: pathLen})
		if _, err := tb.Enqueue(context.Background(), tb.PartitionOf(key), []rib.Request{{Key: key, Op: rib.Op{Kind: rib.OpAdd, Path: rib.Path{Src: src, Attrs: a}}}}); err != nil {
			t.Fatal(err)
		}
	}
	k.FailRoute("192.0.2.66", syscall.ENETUNREACH)
	add("10.0.0.1", 1, "192.0.2.66") // preferred, but its next hop is unreachable
	add("10.0.0.2", 3, "192.0.2.77")
	want := func(nh string) func() bool {
		return func() bool { return k.Dump() == fmt.Sprintf("route table 100 %s via %s", pfx, nh) }
	}
	waitFor(t, "the other path installed", want("192.0.2.77"))
	if !tb.NextHopDown(netip.MustParseAddr("192.0.2.66")) {
		t.Fatal("the RIB does not have the next hop down")
	}
	k.FailRoute("192.0.2.66", nil)
	waitFor(t, "the first path back", want("192.0.2.66"))
	if tb.NextHopDown(netip.MustParseAddr("192.0.2.66")) {
		t.Fatal("the RIB still has the next hop down")
	}
}
