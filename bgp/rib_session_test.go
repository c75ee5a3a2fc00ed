package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/bench/gen"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// Real sessions into the real RIB: three peers announce overlapping prefixes over TCP; the
// best path per prefix follows RFC 4271 (shortest AS path); when the best peer flaps its
// routes go and the next best takes over; when every peer is gone the RIB, the interned
// attribute sets and the counters are empty again.
func TestSessionsIntoRIBAndRelease(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, s := newTestRIB(t, 64)
	srv, err := New(ServerConfig{AS: 65000, RouterID: netip.MustParseAddr("10.255.0.1"), ListenAddrs: []netip.Addr{addr("127.1.41.1")}},
		Deps{Logger: zap.NewNop(), Scheduler: s, Routing: r})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())

	const n = 2000
	speakers := make([]*gen.Session, 3)
	addrs := make([]netip.Addr, 3)
	for i := range speakers {
		addrs[i] = netip.AddrFrom4([4]byte{127, 1, 41, byte(10 + i)})
		if err := srv.AddPeer(PeerConfig{Addr: addrs[i], PeerAS: uint32(65010 + i), Passive: true}); err != nil {
			t.Fatal(err)
		}
		speakers[i], err = gen.Dial(ctx, gen.SessionConfig{Name: fmt.Sprint("speaker-", i), Local: addrs[i], Remote: srv.ListenAddrs()[0],
			AS: uint32(65010 + i), PeerAS: 65000, Table: gen.NewTable(false, gen.CheckRouteServer)}, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer speakers[i].Close(true)
		// Peer i's path is i+1 ASes long: peer 0 is best everywhere, then peer 1.
		path := []uint32{uint32(65010 + i)}
		for k := 0; k < i; k++ {
			path = append(path, 64999)
		}
		opts := &proto.SessionOptions{AS4: true}
		var a proto.Attrs
		a.Present.Set(proto.AttrOrigin)
		a.Present.Set(proto.AttrASPath)
		a.ASPath = proto.ASSeq(path...)
		msgs := updateMsgs(t, opts, func(b *proto.UpdateBuilder) {
			attrs, err := proto.AppendAttrs(nil, &a, opts)
			if err != nil {
				t.Fatal(err)
			}
			b.Announce(proto.IPv4Unicast, attrs, proto.MPNextHop{Addr: netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)})}, v4Prefixes(n, 50)...)
		})
		var wire []byte
		for _, body := range msgs {
			wire = proto.AppendHeader(wire, proto.HeaderLen+len(body), proto.MsgUpdate)
			wire = append(wire, body...)
		}
		if err := speakers[i].Send(ctx, wire); err != nil {
			t.Fatal(err)
		}
	}
	counters := func(a netip.Addr) CounterSnapshot { st, _ := srv.Peer(a); return st.Counters }
	eventually(t, "every path learned", func() bool {
		return counters(addrs[0]).PrefixesReceived == n && counters(addrs[1]).PrefixesReceived == n && counters(addrs[2]).PrefixesReceived == n
	})
	bestOf := func(p netip.Prefix) netip.Addr {
		var a netip.Addr
		inTask(t, s, func(c *sched.Ctx) {
			if e := r.Table(proto.IPv4Unicast).DB().Find(c, rib.MakeKey(p, proto.RD{})); e != nil && e.Data.Best() != nil {
				a = e.Data.Best().Src.Addr
			}
		})
		return a
	}
	probe := netip.MustParsePrefix("10.50.0.7/32")
	if got := bestOf(probe); got != addrs[0] || counters(addrs[0]).PrefixesBest != n || counters(addrs[1]).PrefixesBest != 0 {
		t.Fatalf("best %v, peer 0 best %d: the shortest AS path must win (RFC 4271 §9.1.2.2 a)", got, counters(addrs[0]).PrefixesBest)
	}
	sets := r.Attrs().Len()
	if sets != 3 {
		t.Fatalf("%d interned sets, want 3 (one per peer)", sets)
	}

	// Peer 0 flaps: its routes are withdrawn in bulk, peer 1 becomes best.
	speakers[0].Close(true)
	eventually(t, "peer 0's paths released", func() bool { return counters(addrs[0]).PrefixesReceived == 0 })
	if got := bestOf(probe); got != addrs[1] || counters(addrs[1]).PrefixesBest != n {
		t.Fatalf("after peer 0 went down best is %v (peer 1 best %d), want peer 1", got, counters(addrs[1]).PrefixesBest)
	}
	// Everyone leaves: nothing remains.
	speakers[1].Close(true)
	speakers[2].Close(true)
	eventually(t, "every path released", func() bool {
		return counters(addrs[1]).PrefixesReceived == 0 && counters(addrs[2]).PrefixesReceived == 0
	})
	if got := tableLen(t, s, r.Table(proto.IPv4Unicast)); got != 0 {
		t.Fatalf("%d prefixes left after every peer went down", got)
	}
	if got := r.Attrs().Len(); got != 0 {
		t.Fatalf("%d attribute sets left after every peer went down", got)
	}
}
