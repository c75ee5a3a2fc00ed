package bgp

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/bench/gen"
	"github.com/fanoutd/fanout/bench/targets"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// Export tests: real sessions (bench/gen speakers and receivers, which keep the exact
// table they are sent) into a server with the real RIB and export. Each test has its own
// 127.1.5N.0/24.

// exportServer starts a server with the real RIB on local, AS 65000, router id and cluster
// id 10.255.0.1.
func exportServer(t testing.TB, local string, mods ...func(*Deps)) (*Server, *RIB, *sched.Scheduler) {
	t.Helper()
	r, s := newTestRIB(t, 0)
	deps := Deps{Logger: zap.NewNop(), Scheduler: s, Routing: r}
	for _, m := range mods {
		m(&deps)
	}
	srv, err := New(ServerConfig{AS: 65000, RouterID: addr("10.255.0.1"), ListenAddrs: []netip.Addr{addr(local)}}, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(ctx)
	})
	return srv, r, s
}

// genPeer configures a passive peer on srv and dials it from a gen session.
func genPeer(t testing.TB, ctx context.Context, srv *Server, cfg PeerConfig, check gen.Check) *gen.Session {
	t.Helper()
	cfg.Passive = true
	if err := srv.AddPeer(cfg); err != nil {
		t.Fatal(err)
	}
	s, err := gen.Dial(ctx, gen.SessionConfig{Name: cfg.Addr.String(), Local: cfg.Addr, Remote: srv.ListenAddrs()[0],
		AS: cfg.PeerAS, PeerAS: 65000, IPv6: slices.Contains(cfg.Families, proto.IPv6Unicast), Table: gen.NewTable(true, check)}, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(false) })
	return s
}

// attrsOf encodes a gen attribute set as a speaker sends it on a session with opts.
func attrsOf(t testing.TB, a *gen.AttrSet, opts *proto.SessionOptions) []byte {
	t.Helper()
	var at proto.Attrs
	at.Present.Set(proto.AttrOrigin)
	at.Present.Set(proto.AttrASPath)
	at.ASPath = a.ASPath
	if a.HasMED {
		at.Present.Set(proto.AttrMED)
		at.MED = a.MED
	}
	if !opts.EBGP {
		at.Present.Set(proto.AttrLocalPref)
		at.LocalPref = a.LocalPref
	}
	for _, c := range a.Communities {
		at.Present.Set(proto.AttrCommunities)
		at.Communities = binary.BigEndian.AppendUint32(at.Communities, c)
	}
	b, err := proto.AppendAttrs(nil, &at, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sendRoutes sends withdrawals then announcements (prefix → set) from s and records them
// in its model RIB.
func sendRoutes(t testing.TB, ctx context.Context, s *gen.Session, rib *gen.SpeakerRIB, ann map[netip.Prefix]*gen.AttrSet, wd []netip.Prefix) {
	t.Helper()
	opts := s.Options()
	var b proto.UpdateBuilder
	b.Reset(&opts)
	for _, p := range wd {
		fam := proto.IPv4Unicast
		if p.Addr().Is6() {
			fam = proto.IPv6Unicast
		}
		b.Withdraw(fam, proto.NLRI{Prefix: p})
		delete(rib.RIB, p)
	}
	enc := map[*gen.AttrSet][]byte{}
	for p, a := range ann {
		if enc[a] == nil {
			enc[a] = attrsOf(t, a, &opts)
		}
		fam, nh := proto.IPv4Unicast, a.NextHop4
		if p.Addr().Is6() {
			fam, nh = proto.IPv6Unicast, a.NextHop6
		}
		b.Announce(fam, enc[a], proto.MPNextHop{Addr: nh}, proto.NLRI{Prefix: p})
		rib.RIB[p] = a
	}
	out, err := b.AppendMessages(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, out); err != nil {
		t.Fatal(err)
	}
}

// prefixes returns n /24s from base.
func prefixes(base string, n int) []netip.Prefix {
	a := netip.MustParseAddr(base).As4()
	v := binary.BigEndian.Uint32(a[:])
	out := make([]netip.Prefix, n)
	for i := range out {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], v+uint32(i)<<8)
		out[i] = netip.PrefixFrom(netip.AddrFrom4(b), 24)
	}
	return out
}

func routesOf(ps []netip.Prefix, a *gen.AttrSet) map[netip.Prefix]*gen.AttrSet {
	m := make(map[netip.Prefix]*gen.AttrSet, len(ps))
	for _, p := range ps {
		m[p] = a
	}
	return m
}

// expectTables sets each receiver's expectation from the model and waits until every one
// holds exactly it.
func expectTables(t testing.TB, what string, m *gen.Model, rcv []*gen.Session, addrs []netip.Addr) {
	t.Helper()
	for i, s := range rcv {
		e, err := m.Expected(addrs[i])
		if err != nil {
			t.Fatalf("%s: model: %v", what, err)
		}
		s.Table().Expect(e, nil, time.Now())
	}
	end := time.Now().Add(waitLimit)
	for i, s := range rcv {
		for !s.Table().Stats().Equal {
			if time.Now().After(end) {
				d := s.Table().Diff(3)
				t.Fatalf("%s: receiver %v: %+v", what, addrs[i], d)
			}
			if why := s.Dropped(); why != "" {
				t.Fatalf("%s: receiver %v dropped: %s", what, addrs[i], why)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func ribOutsNow(t testing.TB, s *sched.Scheduler, r *RIB) []RibOutStatus {
	t.Helper()
	var out []RibOutStatus
	inTask(t, s, func(c *sched.Ctx) { out = r.RibOuts(c) })
	return out
}

// A route server (RFC 7947) with three speakers and three receivers, all clients: every
// receiver ends with exactly the best routes, AS path, NEXT_HOP and MED as the speakers sent
// them (§2.2); a client's own routes are not sent back to it; withdrawals propagate; when a
// speaker's session goes down its routes are replaced by the next best or withdrawn.
func TestExportRouteServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, r, s := exportServer(t, "127.1.50.1")
	var speakers, receivers []*gen.Session
	var spkAddrs, rcvAddrs []netip.Addr
	model := &gen.Model{Role: targets.RouteServer, Check: gen.CheckRouteServer}
	for i := range 3 {
		a := netip.AddrFrom4([4]byte{127, 1, 50, byte(10 + i)})
		spkAddrs = append(spkAddrs, a)
		speakers = append(speakers, genPeer(t, ctx, srv, PeerConfig{Addr: a, PeerAS: uint32(65010 + i), RSClient: true}, gen.CheckRouteServer))
		model.Speakers = append(model.Speakers, &gen.SpeakerRIB{Peer: gen.Peer{Addr: a, AS: uint32(65010 + i)}, RIB: map[netip.Prefix]*gen.AttrSet{}})
	}
	for i := range 3 {
		a := netip.AddrFrom4([4]byte{127, 1, 50, byte(20 + i)})
		rcvAddrs = append(rcvAddrs, a)
		receivers = append(receivers, genPeer(t, ctx, srv, PeerConfig{Addr: a, PeerAS: uint32(65020 + i), RSClient: true}, gen.CheckRouteServer))
	}
	own := prefixes("10.0.0.0", 300)
	shared := prefixes("20.0.0.0", 300)
	lone := prefixes("30.0.0.0", 200)
	a0 := &gen.AttrSet{ASPath: proto.ASSeq(65010), HasMED: true, MED: 5, Communities: []uint32{65010<<16 | 1}, NextHop4: addr("198.18.0.1")}
	a0long := &gen.AttrSet{ASPath: proto.ASSeq(65010, 64999, 64998), HasMED: true, MED: 9, NextHop4: addr("198.18.0.1")}
	a1 := &gen.AttrSet{ASPath: proto.ASSeq(65011, 64512), HasMED: true, MED: 7, NextHop4: addr("198.18.0.2")}
	a2 := &gen.AttrSet{ASPath: proto.ASSeq(65012, 64512, 64513), NextHop4: addr("198.18.0.3")}
	sendRoutes(t, ctx, speakers[0], model.Speakers[0], routesOf(own, a0), nil)
	sendRoutes(t, ctx, speakers[0], model.Speakers[0], routesOf(shared, a0long), nil)
	sendRoutes(t, ctx, speakers[1], model.Speakers[1], routesOf(shared, a1), nil)
	sendRoutes(t, ctx, speakers[2], model.Speakers[2], routesOf(lone, a2), nil)

	// Receivers, and speaker 2 (whose prefixes nobody else announces), hold exactly the
	// best routes of the others.
	check := append(append([]*gen.Session(nil), receivers...), speakers[2])
	checkAddrs := append(append([]netip.Addr(nil), rcvAddrs...), spkAddrs[2])
	expectTables(t, "initial", model, check, checkAddrs)
	if st := speakers[2].Table().Stats(); st.Held != len(own)+len(shared) {
		t.Fatalf("speaker 2 holds %d prefixes, want %d: its own routes must not come back", st.Held, len(own)+len(shared))
	}

	// Withdrawals: speaker 1 withdraws half the shared prefixes, speaker 0's longer path
	// takes over; speaker 2 withdraws everything.
	sendRoutes(t, ctx, speakers[1], model.Speakers[1], nil, shared[:150])
	sendRoutes(t, ctx, speakers[2], model.Speakers[2], nil, lone)
	expectTables(t, "after withdrawals", model, check, checkAddrs)

	// Flap: speaker 0 goes down; its routes go, speaker 1's remain.
	speakers[0].Close(true)
	model.Speakers[0].RIB = map[netip.Prefix]*gen.AttrSet{}
	expectTables(t, "after speaker 0 went down", model, check, checkAddrs)

	ros := ribOutsNow(t, s, r)
	if len(ros) != 1 || ros[0].Policy.Role != rib.RoleRSClient || ros[0].Members != 5 {
		t.Fatalf("RibOuts %+v, want one route-server RibOut with the 5 remaining clients", ros)
	}
	if ros[0].Rewrites > 64 {
		t.Fatalf("%d attribute rewrites: rewriting must run once per distinct set, not per prefix", ros[0].Rewrites)
	}
}

// A route reflector (RFC 4456): a client's routes reach every other client and every
// non-client, a non-client's routes reach clients only (§6); reflected routes carry the
// originator's BGP identifier as ORIGINATOR_ID and the cluster id in CLUSTER_LIST (§8);
// a route is never sent back to its originator.
func TestExportRouteReflector(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, r, s := exportServer(t, "127.1.51.1")
	client := func(i byte, rr bool) *gen.Session {
		return genPeer(t, ctx, srv, PeerConfig{Addr: netip.AddrFrom4([4]byte{127, 1, 51, i}), PeerAS: 65000, RRClient: rr}, gen.CheckRouteReflector)
	}
	c1, c2, n1 := client(10, true), client(11, true), client(12, false)
	r1, r2 := client(20, true), client(21, false)
	spk := func(a string) *gen.SpeakerRIB {
		return &gen.SpeakerRIB{Peer: gen.Peer{Addr: addr(a), AS: 65000}, RIB: map[netip.Prefix]*gen.AttrSet{}}
	}
	s1, s2, sn := spk("127.1.51.10"), spk("127.1.51.11"), spk("127.1.51.12")
	p1, p2, p3 := prefixes("10.1.0.0", 100), prefixes("10.2.0.0", 100), prefixes("10.3.0.0", 100)
	sendRoutes(t, ctx, c1, s1, routesOf(p1, &gen.AttrSet{ASPath: proto.ASSeq(65100), LocalPref: 100, NextHop4: addr("198.18.1.1")}), nil)
	sendRoutes(t, ctx, c2, s2, routesOf(p2, &gen.AttrSet{ASPath: proto.ASSeq(65200, 65201), LocalPref: 200, HasMED: true, MED: 3, NextHop4: addr("198.18.1.2")}), nil)
	sendRoutes(t, ctx, n1, sn, routesOf(p3, &gen.AttrSet{ASPath: proto.ASSeq(65300), LocalPref: 100, NextHop4: addr("198.18.1.3")}), nil)

	cid := addr("10.255.0.1")
	all := &gen.Model{Role: targets.RouteReflector, ClusterID: cid, Check: gen.CheckRouteReflector, Speakers: []*gen.SpeakerRIB{s1, s2, sn}}
	clientsOnly := &gen.Model{Role: targets.RouteReflector, ClusterID: cid, Check: gen.CheckRouteReflector, Speakers: []*gen.SpeakerRIB{s1, s2}}
	// Clients get everything but their own routes; non-clients get the clients' routes.
	expectTables(t, "clients", all, []*gen.Session{c1, c2, r1}, []netip.Addr{addr("127.1.51.10"), addr("127.1.51.11"), addr("127.1.51.20")})
	expectTables(t, "non-clients", clientsOnly, []*gen.Session{n1, r2}, []netip.Addr{addr("127.1.51.12"), addr("127.1.51.21")})

	// Withdrawals are reflected too.
	sendRoutes(t, ctx, c1, s1, nil, p1[:40])
	sendRoutes(t, ctx, n1, sn, nil, p3[:10])
	expectTables(t, "clients after withdrawals", all, []*gen.Session{c1, c2, r1}, []netip.Addr{addr("127.1.51.10"), addr("127.1.51.11"), addr("127.1.51.20")})
	expectTables(t, "non-clients after withdrawals", clientsOnly, []*gen.Session{n1, r2}, []netip.Addr{addr("127.1.51.12"), addr("127.1.51.21")})

	roles := map[rib.Role]int{}
	for _, ro := range ribOutsNow(t, s, r) {
		roles[ro.Policy.Role] += ro.Members
	}
	if roles[rib.RoleIBGPClient] != 3 || roles[rib.RoleIBGPNonClient] != 2 {
		t.Fatalf("members by role %v, want 3 clients and 2 non-clients", roles)
	}
}

// One RibOut shared by 100 receivers (and the speaker): each UPDATE is encoded once for
// all of them, so the RibOut's encoding count equals what one receiver was sent.
func TestExportSharedEncoding(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, r, s := exportServer(t, "127.1.52.1")
	spk := genPeer(t, ctx, srv, PeerConfig{Addr: addr("127.1.52.2"), PeerAS: 65001, RSClient: true}, gen.CheckRouteServer)
	const n = 100
	var rcv []*gen.Session
	var addrs []netip.Addr
	for i := range n {
		a := netip.AddrFrom4([4]byte{127, 1, 52, byte(10 + i)})
		addrs = append(addrs, a)
		rcv = append(rcv, genPeer(t, ctx, srv, PeerConfig{Addr: a, PeerAS: uint32(65100 + i), RSClient: true}, gen.CheckRouteServer))
	}
	// Every receiver has had its (empty) initial table and End-of-RIB.
	eventually(t, "initial End-of-RIBs", func() bool {
		for _, x := range rcv {
			if x.Table().Stats().EndOfRIBs == 0 {
				return false
			}
		}
		return true
	})
	before := ribOutsNow(t, s, r)
	var encBefore uint64
	for _, ro := range before {
		encBefore += ro.Encoded
	}
	updBefore := make([]int64, n)
	for i, x := range rcv {
		updBefore[i] = x.Table().Stats().Updates
	}
	model := &gen.Model{Role: targets.RouteServer, Check: gen.CheckRouteServer,
		Speakers: []*gen.SpeakerRIB{{Peer: gen.Peer{Addr: addr("127.1.52.2")}, RIB: map[netip.Prefix]*gen.AttrSet{}}}}
	for k := range 10 {
		a := &gen.AttrSet{ASPath: proto.ASSeq(65001, uint32(64512+k)), HasMED: true, MED: uint32(k), NextHop4: addr("198.18.2.1")}
		sendRoutes(t, ctx, spk, model.Speakers[0], routesOf(prefixes(fmt.Sprintf("10.%d.0.0", 10+k), 1000), a), nil)
	}
	expectTables(t, "shared", model, rcv, addrs)
	ros := ribOutsNow(t, s, r)
	if len(ros) != 1 || ros[0].Members != n+1 {
		t.Fatalf("RibOuts %+v, want one with %d members", ros, n+1)
	}
	encoded := ros[0].Encoded - encBefore
	for i, x := range rcv {
		got := uint64(x.Table().Stats().Updates - updBefore[i])
		if got != encoded {
			t.Fatalf("receiver %d was sent %d UPDATEs, the RibOut encoded %d: every receiver must get the same encoded messages", i, got, encoded)
		}
	}
	t.Logf("%d UPDATEs encoded once for %d receivers (%d prefixes)", encoded, n, ros[0].Prefixes)
}

// readRoute reads from a raw peer until an UPDATE announcing something arrives and returns
// its attributes and IPv4 next hop.
func readRoute(t testing.TB, r *rawPeer) *proto.Attrs {
	t.Helper()
	opts := proto.SessionOptions{AS4: true, EBGP: true}
	for end := time.Now().Add(waitLimit); time.Now().Before(end); {
		typ, body, err := r.read(time.Until(end))
		if err != nil {
			t.Fatalf("raw receiver: %v", err)
		}
		if typ != proto.MsgUpdate {
			continue
		}
		var u proto.Update
		if err := proto.DecodeUpdate(body, &opts, &u); err != nil {
			t.Fatalf("raw receiver: %v", err)
		}
		if len(u.NLRI) > 0 {
			return &u.Attrs
		}
	}
	t.Fatal("raw receiver: no route")
	return nil
}

// What external peers and route-server clients are sent: eBGP export prepends our AS, sets
// the next hop to our address and drops the MED (RFC 4271 §5.1); a route server changes
// none of that (RFC 7947). An unknown optional transitive attribute reaches both with the
// Partial bit set (RFC 4271 §9), except for a peer configured to strip it. When every
// session is gone, the RibOuts and every exported attribute set are gone too.
func TestExportExternalAndUnknownAttribute(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, r, s := exportServer(t, "127.1.54.1")
	raw := func(a string, as uint32, rs, strip bool) *rawPeer {
		if err := srv.AddPeer(PeerConfig{Addr: addr(a), PeerAS: as, RSClient: rs, StripUnknownAttrs: strip, Passive: true}); err != nil {
			t.Fatal(err)
		}
		p := dialRaw(t, a, srv.ListenAddrs()[0], 0)
		p.handshake(as, a, 0, nil)
		waitState(t, srv, addr(a), Established)
		return p
	}
	ebgp := raw("127.1.54.20", 65020, false, false)
	stripped := raw("127.1.54.21", 65021, false, true)
	rsc := raw("127.1.54.22", 65022, true, false)

	spk := genPeer(t, ctx, srv, PeerConfig{Addr: addr("127.1.54.10"), PeerAS: 65010}, gen.CheckRouteServer)
	opts := spk.Options()
	var a proto.Attrs
	for _, typ := range []uint8{proto.AttrOrigin, proto.AttrASPath, proto.AttrMED} {
		a.Present.Set(typ)
	}
	a.ASPath, a.MED = proto.ASSeq(65010, 64999), 42
	a.Unknown = []proto.RawAttr{{Flags: proto.FlagOptional | proto.FlagTransitive, Type: 200, Value: []byte("opaque")}}
	wire, err := proto.AppendAttrs(nil, &a, &opts)
	if err != nil {
		t.Fatal(err)
	}
	var b proto.UpdateBuilder
	b.Reset(&opts)
	b.Announce(proto.IPv4Unicast, wire, proto.MPNextHop{Addr: addr("198.18.4.1")}, proto.NLRI{Prefix: netip.MustParsePrefix("203.0.113.0/24")})
	msg, err := b.AppendMessages(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := spk.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}

	unknown := func(a *proto.Attrs) *proto.RawAttr {
		for i := range a.Unknown {
			if a.Unknown[i].Type == 200 {
				return &a.Unknown[i]
			}
		}
		return nil
	}
	got := readRoute(t, ebgp)
	if got.ASPath.String() != "65000 65010 64999" || got.NextHop != addr("127.1.54.1") || got.Present.Has(proto.AttrMED) {
		t.Fatalf("eBGP export: path %v next hop %v MED %v", got.ASPath, got.NextHop, got.Present.Has(proto.AttrMED))
	}
	if u := unknown(got); u == nil || u.Flags&proto.FlagPartial == 0 || string(u.Value) != "opaque" {
		t.Fatalf("unknown transitive attribute %+v: want it passed with Partial", u)
	}
	got = readRoute(t, rsc)
	if got.ASPath.String() != "65010 64999" || got.NextHop != addr("198.18.4.1") || !got.Present.Has(proto.AttrMED) || got.MED != 42 {
		t.Fatalf("route server export: path %v next hop %v MED %d", got.ASPath, got.NextHop, got.MED)
	}
	if u := unknown(got); u == nil || u.Flags&proto.FlagPartial == 0 {
		t.Fatalf("unknown transitive attribute %+v: want it passed with Partial", u)
	}
	if got = readRoute(t, stripped); unknown(got) != nil {
		t.Fatal("unknown attribute sent to a peer that strips them")
	}

	spk.Close(true)
	for _, p := range []*rawPeer{ebgp, stripped, rsc} {
		p.nc.Close()
	}
	eventually(t, "RibOuts and exported sets released", func() bool {
		return len(ribOutsNow(t, s, r)) == 0 && r.ExportAttrs().Len() == 0 && r.Attrs().Len() == 0
	})
}

// prefixes6 returns n /48s from base.
func prefixes6(base string, n int) []netip.Prefix {
	a := netip.MustParseAddr(base).As16()
	out := make([]netip.Prefix, n)
	for i := range out {
		b := a
		binary.BigEndian.PutUint16(b[4:], uint16(i))
		out[i] = netip.PrefixFrom(netip.AddrFrom16(b), 48)
	}
	return out
}

// IPv4 and IPv6 unicast through one route server: each session joins two RibOuts (one per
// family), which its session links into one scheduling group.
func TestExportTwoFamilies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, r, s := exportServer(t, "127.1.56.1")
	fams := []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast}
	spk := genPeer(t, ctx, srv, PeerConfig{Addr: addr("127.1.56.10"), PeerAS: 65010, RSClient: true, Families: fams}, gen.CheckRouteServer)
	var rcv []*gen.Session
	var addrs []netip.Addr
	for i := range 3 {
		a := netip.AddrFrom4([4]byte{127, 1, 56, byte(20 + i)})
		addrs = append(addrs, a)
		rcv = append(rcv, genPeer(t, ctx, srv, PeerConfig{Addr: a, PeerAS: uint32(65020 + i), RSClient: true, Families: fams}, gen.CheckRouteServer))
	}
	model := &gen.Model{Role: targets.RouteServer, Check: gen.CheckRouteServer,
		Speakers: []*gen.SpeakerRIB{{Peer: gen.Peer{Addr: addr("127.1.56.10")}, RIB: map[netip.Prefix]*gen.AttrSet{}}}}
	a := &gen.AttrSet{ASPath: proto.ASSeq(65010, 64512), HasMED: true, MED: 3, NextHop4: addr("198.18.5.1"), NextHop6: addr("2001:db8::1")}
	sendRoutes(t, ctx, spk, model.Speakers[0], routesOf(prefixes("10.6.0.0", 500), a), nil)
	sendRoutes(t, ctx, spk, model.Speakers[0], routesOf(prefixes6("2001:db8:100::", 500), a), nil)
	expectTables(t, "both families", model, rcv, addrs)
	sendRoutes(t, ctx, spk, model.Speakers[0], nil, prefixes6("2001:db8:100::", 200))
	expectTables(t, "after IPv6 withdrawals", model, rcv, addrs)

	ros := ribOutsNow(t, s, r)
	if len(ros) != 2 || ros[0].Group != ros[1].Group || ros[0].Policy.Family == ros[1].Policy.Family {
		t.Fatalf("RibOuts %+v: want one per family, in one scheduling group", ros)
	}
}

// Receivers join while the speakers churn, and a receiver that leaves is replaced by a new
// one on the same member slot (whose per-prefix state still names the old member): every
// receiver ends with exactly the final table.
func TestExportJoinsDuringChurn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, r, s := exportServer(t, "127.1.61.1")
	model := &gen.Model{Role: targets.RouteServer, Check: gen.CheckRouteServer}
	var spk []*gen.Session
	for i := range 2 {
		a := netip.AddrFrom4([4]byte{127, 1, 61, byte(10 + i)})
		spk = append(spk, genPeer(t, ctx, srv, PeerConfig{Addr: a, PeerAS: uint32(65010 + i), RSClient: true}, gen.CheckRouteServer))
		model.Speakers = append(model.Speakers, &gen.SpeakerRIB{Peer: gen.Peer{Addr: a}, RIB: map[netip.Prefix]*gen.AttrSet{}})
	}
	ps := prefixes("10.61.0.0", 3000)
	members := func() int {
		n := 0
		for _, ro := range ribOutsNow(t, s, r) {
			n += ro.Members
		}
		return n
	}
	var rcv []*gen.Session
	var addrs []netip.Addr
	join := func(i byte) {
		a := netip.AddrFrom4([4]byte{127, 1, 61, 20 + i})
		rcv = append(rcv, genPeer(t, ctx, srv, PeerConfig{Addr: a, PeerAS: 65020 + uint32(i), RSClient: true}, gen.CheckRouteServer))
		addrs = append(addrs, a)
	}
	for round := range 6 {
		// Speaker 0 announces a third of the prefixes with a path that changes every round,
		// speaker 1 the middle third (withdrawing some every other round), both the rest.
		a0 := &gen.AttrSet{ASPath: proto.ASSeq(65010, uint32(64512+round)), NextHop4: addr("198.18.7.1")}
		a1 := &gen.AttrSet{ASPath: proto.ASSeq(65011, 64600, uint32(64700+round)), HasMED: true, MED: uint32(round), NextHop4: addr("198.18.7.2")}
		var wd []netip.Prefix
		if round%2 == 1 {
			wd = ps[1000:1200]
		}
		sendRoutes(t, ctx, spk[0], model.Speakers[0], routesOf(ps[:1000], a0), nil)
		sendRoutes(t, ctx, spk[0], model.Speakers[0], routesOf(ps[2000:], a0), nil)
		sendRoutes(t, ctx, spk[1], model.Speakers[1], routesOf(ps[1000:], a1), wd)
		switch round {
		case 1, 2, 3:
			join(byte(round))
		case 4:
			// Receiver 0 leaves; once it is gone a new receiver takes its slot.
			before := members()
			rcv[0].Close(true)
			eventually(t, "receiver 0 gone", func() bool { return members() == before-1 })
			rcv, addrs = rcv[1:], addrs[1:]
			join(9)
		}
	}
	expectTables(t, "after churn and joins", model, rcv, addrs)
}

// RFC 4456 §8: a route whose CLUSTER_LIST holds the cluster id configured for the peer it
// came from is a reflection loop: it is kept but never best, so never reflected.
func TestExportClusterLoopPerPeerClusterID(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, r, s := exportServer(t, "127.1.62.1")
	cl := netip.MustParseAddr("10.99.99.99")
	c1 := genPeer(t, ctx, srv, PeerConfig{Addr: addr("127.1.62.10"), PeerAS: 65000, RRClient: true, ClusterID: cl}, gen.CheckRouteReflector)
	c2 := genPeer(t, ctx, srv, PeerConfig{Addr: addr("127.1.62.11"), PeerAS: 65000, RRClient: true, ClusterID: cl}, gen.CheckRouteReflector)
	opts := c1.Options()
	send := func(p string, cluster []byte) {
		var a proto.Attrs
		for _, typ := range []uint8{proto.AttrOrigin, proto.AttrASPath, proto.AttrLocalPref} {
			a.Present.Set(typ)
		}
		a.LocalPref = 100
		if cluster != nil {
			a.Present.Set(proto.AttrClusterList)
			a.ClusterList = cluster
			a.Present.Set(proto.AttrOriginatorID)
			a.OriginatorID = addr("10.1.1.1")
		}
		wire, err := proto.AppendAttrs(nil, &a, &opts)
		if err != nil {
			t.Fatal(err)
		}
		var b proto.UpdateBuilder
		b.Reset(&opts)
		b.Announce(proto.IPv4Unicast, wire, proto.MPNextHop{Addr: addr("198.18.8.1")}, proto.NLRI{Prefix: netip.MustParsePrefix(p)})
		msg, err := b.AppendMessages(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c1.Send(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	send("10.62.1.0/24", append([]byte{1, 2, 3, 4}, cl.AsSlice()...)) // a loop through our cluster
	send("10.62.2.0/24", nil)                                         // a plain route, as a marker
	eventually(t, "both routes learned", func() bool {
		st, _ := srv.Peer(addr("127.1.62.10"))
		return st.Counters.PrefixesReceived == 2
	})
	ribOutsNow(t, s, r) // waits until every partition and send task is idle
	eventually(t, "the plain route reflected", func() bool { return c2.Table().Stats().Held >= 1 })
	time.Sleep(50 * time.Millisecond)
	if held := c2.Table().Stats().Held; held != 1 {
		t.Fatalf("client 2 holds %d routes: the looped route must not be reflected", held)
	}
}
