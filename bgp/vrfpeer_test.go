package bgp

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// nextRoute reads r's UPDATEs until one that is not an End-of-RIB, for at most d; ok is false
// when none came in time.
func nextRoute(t *testing.T, r *rawPeer, opts *proto.SessionOptions, d time.Duration) (*proto.Update, bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); {
		typ, body, err := r.read(time.Until(end))
		if err != nil {
			return nil, false
		}
		if typ != proto.MsgUpdate {
			continue
		}
		u := &proto.Update{}
		if err := proto.DecodeUpdate(body, opts, u); err != nil {
			t.Fatal(err)
		}
		if _, eor := proto.EndOfRIB(u); !eor {
			return u, true
		}
	}
	return nil, false
}

// prefixList lists the prefixes of it.
func prefixList(it proto.NLRIIter) []netip.Prefix {
	var ps []netip.Prefix
	var n proto.NLRI
	for it.Next(&n) {
		ps = append(ps, n.Prefix)
	}
	return ps
}

// untilOnly reads r's routes until one that announces (or, with withdrawn, withdraws) p
// alone, and returns it. The few before it may be a CE's own route sent back, as any eBGP
// peer's would be.
func untilOnly(t *testing.T, r *rawPeer, opts *proto.SessionOptions, p netip.Prefix, withdrawn bool) *proto.Update {
	t.Helper()
	for range 4 {
		u, ok := nextRoute(t, r, opts, waitLimit)
		if !ok {
			break
		}
		it := u.IterNLRI(opts)
		if withdrawn {
			it = u.IterWithdrawn(opts)
		}
		if ps := prefixList(it); len(ps) == 1 && ps[0] == p {
			return u
		}
	}
	t.Fatalf("no UPDATE with only %v (withdrawn %v)", p, withdrawn)
	return nil
}

// expectVPN reads the next route from rr and checks that it announces (or, with withdrawn,
// withdraws) p in fam under red's RD, announced with red's label (RFC 4364 §4.3.1).
func expectVPN(t *testing.T, rr *rawPeer, fam proto.Family, p netip.Prefix, withdrawn bool) *proto.Update {
	t.Helper()
	opts := proto.SessionOptions{AS4: true}
	u, ok := nextRoute(t, rr, &opts, waitLimit)
	if !ok {
		t.Fatalf("the RR client got no %v route for %v", fam, p)
	}
	mp, it := u.Attrs.MPReach.Family, u.IterMPReach(&opts)
	if withdrawn {
		mp, it = u.Attrs.MPUnreach.Family, u.IterMPUnreach(&opts)
	}
	var got proto.NLRI
	if mp != fam || !it.Next(&got) || got.Prefix != p || got.RD != vrfRed.RD ||
		(!withdrawn && (got.Labels.N != 1 || got.Labels.Labels[0] != vrfRed.Label)) {
		t.Fatalf("the RR client got %v NLRI %+v (withdrawn %v), want %v %v RD %v label %d", mp, got, withdrawn, fam, p, vrfRed.RD, vrfRed.Label)
	}
	return u
}

// sendUpdate builds and sends one UPDATE from r.
func sendUpdate(t *testing.T, r *rawPeer, opts *proto.SessionOptions, fn func(b *proto.UpdateBuilder)) {
	t.Helper()
	var b proto.UpdateBuilder
	b.Reset(opts)
	fn(&b)
	msg, err := b.AppendMessages(nil)
	if err != nil {
		t.Fatal(err)
	}
	r.send(msg)
}

// vrfRed and vrfBlue are the VRFs of the VRF peer tests.
var (
	vrfRed = rib.VRFConfig{Name: "red", RD: proto.RD0(65000, 42), Label: 1042,
		ImportRTs: [][8]byte{{0, 2, 0xfd, 0xe8, 0, 0, 0, 42}}, ExportRTs: [][8]byte{{0, 2, 0xfd, 0xe8, 0, 0, 0, 42}}} // 65000:42
	vrfBlue = rib.VRFConfig{Name: "blue", RD: proto.RD0(65000, 43), Label: 1043,
		ImportRTs: [][8]byte{{0, 2, 0xfd, 0xe8, 0, 0, 0, 43}}, ExportRTs: [][8]byte{{0, 2, 0xfd, 0xe8, 0, 0, 0, 43}}} // 65000:43
)

// vrfPeerServer starts a server (AS 65000) on listen with VRFs red and blue; peer configures
// a passive peer, connects a raw peer for it with caps and returns it once Established.
func vrfPeerServer(t *testing.T, listen string) (*RIB, *sched.Scheduler, *Server, func(cfg PeerConfig, caps func(c *proto.Capabilities)) *rawPeer) {
	r, s := newTestRIBWith(t, RIBConfig{LocalAS: 65000, RouterID: addr("10.255.0.1"), Partitions: 4, VRFs: []rib.VRFConfig{vrfRed, vrfBlue}})
	srv := startServer(t, ServerConfig{AS: 65000, RouterID: addr("10.255.0.1"), ListenAddrs: []netip.Addr{addr(listen)}},
		Deps{Logger: zap.NewNop(), Scheduler: s, Routing: r})
	peer := func(cfg PeerConfig, caps func(c *proto.Capabilities)) *rawPeer {
		cfg.Passive = true
		addPeer(t, srv, cfg)
		p := dialRaw(t, cfg.Addr.String(), srv.ListenAddrs()[0], 0)
		p.handshake(cfg.PeerAS, cfg.Addr.String(), 0, caps)
		waitState(t, srv, cfg.Addr, Established)
		return p
	}
	return r, s, srv, peer
}

// A CE peer bound to VRF red (a PE-CE session, RFC 4364 §4.2 and §4.3.1): the route it
// announces goes into red's table, not the global one, and reaches a VPNv4 RR client with
// red's RD, export route target and label; a VPNv4 route carrying red's import route target
// reaches the CE as IPv4 unicast with our address as next hop (eBGP, RFC 4271 §5.1.3);
// withdrawals go both ways; a CE in VRF blue and a global eBGP peer see neither route.
func TestVRFPeer(t *testing.T) {
	rtRed := vrfRed.ExportRTs[0]
	r, s, srv, peer := vrfPeerServer(t, "127.1.62.1")
	local := addr("127.1.62.1")
	vpnFams := []proto.Family{proto.IPv4Unicast, proto.VPNv4}
	rr := peer(PeerConfig{Addr: addr("127.1.62.20"), PeerAS: 65000, RRClient: true, Families: vpnFams},
		func(c *proto.Capabilities) { c.Multiprotocol = vpnFams })
	red := peer(PeerConfig{Addr: addr("127.1.62.30"), PeerAS: 65030, VRF: "red"}, nil)
	blue := peer(PeerConfig{Addr: addr("127.1.62.31"), PeerAS: 65031, VRF: "blue"}, nil)
	global := peer(PeerConfig{Addr: addr("127.1.62.32"), PeerAS: 65032}, nil)

	if st, ok := srv.Peer(addr("127.1.62.30")); !ok || st.State != Established {
		t.Fatalf("the VRF peer's status: %+v %v", st, ok)
	}

	ibgp := proto.SessionOptions{AS4: true}
	ebgp := proto.SessionOptions{AS4: true, EBGP: true}
	ce := netip.MustParsePrefix("10.9.0.0/24")
	sendUpdate(t, red, &ebgp, func(b *proto.UpdateBuilder) {
		b.Announce(proto.IPv4Unicast, attrBytes(t, proto.ASSeq(65030), 0), proto.MPNextHop{Addr: addr("127.1.62.30")}, proto.NLRI{Prefix: ce})
	})
	u := expectVPN(t, rr, proto.VPNv4, ce, false)
	if !strings.Contains(string(u.Attrs.ExtCommunities), string(rtRed[:])) {
		t.Fatalf("extended communities %x lack red's export route target", u.Attrs.ExtCommunities)
	}
	if n := tableLen(t, s, r.Table(proto.IPv4Unicast)); n != 0 {
		t.Fatalf("the global IPv4 table holds %d prefixes, want none", n)
	}
	if n := pathCount(t, s, r.VRF("red").Table(proto.IPv4Unicast), ce); n != 1 {
		t.Fatalf("red's IPv4 table holds %d paths of %v, want 1", n, ce)
	}

	// A VPN route with red's route target, from the RR client, is imported into red.
	vpn := proto.NLRI{Prefix: netip.MustParsePrefix("10.10.0.0/24"), RD: proto.RD0(65000, 99), Labels: proto.Label1(3001)}
	var a proto.Attrs
	for _, typ := range []uint8{proto.AttrOrigin, proto.AttrASPath, proto.AttrLocalPref, proto.AttrExtCommunities} {
		a.Present.Set(typ)
	}
	a.LocalPref, a.ExtCommunities = 100, rtRed[:]
	wire, err := proto.AppendAttrs(nil, &a, &ibgp)
	if err != nil {
		t.Fatal(err)
	}
	sendUpdate(t, rr, &ibgp, func(b *proto.UpdateBuilder) {
		b.Announce(proto.VPNv4, wire, proto.MPNextHop{Addr: addr("198.18.6.1")}, vpn)
	})
	u = untilOnly(t, red, &ebgp, vpn.Prefix, false)
	if u.Attrs.NextHop != local {
		t.Fatalf("next hop %v, want ours %v (eBGP)", u.Attrs.NextHop, local)
	}
	if first, _ := u.Attrs.ASPath.First(); first != 65000 {
		t.Fatalf("AS_PATH does not start with our AS: %v", first)
	}

	// Blue's CE and the global peer see neither route.
	for name, p := range map[string]*rawPeer{"blue CE": blue, "global peer": global} {
		if u, ok := nextRoute(t, p, &ebgp, 300*time.Millisecond); ok {
			t.Fatalf("the %s was sent %v %v", name, prefixList(u.IterNLRI(&ebgp)), prefixList(u.IterWithdrawn(&ebgp)))
		}
	}

	// Withdrawals both ways.
	sendUpdate(t, red, &ebgp, func(b *proto.UpdateBuilder) { b.Withdraw(proto.IPv4Unicast, proto.NLRI{Prefix: ce}) })
	expectVPN(t, rr, proto.VPNv4, ce, true)
	sendUpdate(t, rr, &ibgp, func(b *proto.UpdateBuilder) { b.Withdraw(proto.VPNv4, vpn) })
	untilOnly(t, red, &ebgp, vpn.Prefix, true)
	for _, p := range []netip.Prefix{ce, vpn.Prefix} {
		if n := pathCount(t, s, r.VRF("red").Table(proto.IPv4Unicast), p); n != 0 {
			t.Fatalf("red's IPv4 table holds %d paths of %v after the withdrawals", n, p)
		}
	}
}

// pathCount is the number of paths of p in tb, read in a task that excludes its partitions.
func pathCount(t *testing.T, s *sched.Scheduler, tb *rib.Table, p netip.Prefix) int {
	t.Helper()
	n := 0
	inTask(t, s, func(c *sched.Ctx) {
		if e := tb.DB().Find(c, rib.MakeKey(p, proto.RD{})); e != nil {
			n = len(e.Data.Paths())
		}
	})
	return n
}

// An IPv6 CE in VRF red: its route reaches a VPNv6 RR client with red's RD and label
// (RFC 4659), and its withdrawal too; the global IPv6 table stays empty.
func TestVRFPeerIPv6(t *testing.T) {
	r, s, _, peer := vrfPeerServer(t, "127.1.64.1")
	vpnFams := []proto.Family{proto.IPv6Unicast, proto.VPNv6}
	rr := peer(PeerConfig{Addr: addr("127.1.64.20"), PeerAS: 65000, RRClient: true, Families: vpnFams},
		func(c *proto.Capabilities) { c.Multiprotocol = vpnFams })
	v6 := []proto.Family{proto.IPv6Unicast}
	ce := peer(PeerConfig{Addr: addr("127.1.64.30"), PeerAS: 65030, VRF: "red", Families: v6},
		func(c *proto.Capabilities) { c.Multiprotocol = v6 })

	ebgp := proto.SessionOptions{AS4: true, EBGP: true}
	pfx := netip.MustParsePrefix("2001:db8:9::/48")
	sendUpdate(t, ce, &ebgp, func(b *proto.UpdateBuilder) {
		b.Announce(proto.IPv6Unicast, attrBytes(t, proto.ASSeq(65030), 0), proto.MPNextHop{Addr: addr("2001:db8::30")}, proto.NLRI{Prefix: pfx})
	})
	expectVPN(t, rr, proto.VPNv6, pfx, false)
	if n := tableLen(t, s, r.Table(proto.IPv6Unicast)); n != 0 {
		t.Fatalf("the global IPv6 table holds %d prefixes, want none", n)
	}
	sendUpdate(t, ce, &ebgp, func(b *proto.UpdateBuilder) { b.Withdraw(proto.IPv6Unicast, proto.NLRI{Prefix: pfx}) })
	expectVPN(t, rr, proto.VPNv6, pfx, true)
}
