package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	apipb "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/fanoutd/fanout/bench/gen"
	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/sched"
)

// fixture is a fanout server, its RIB and the API over a real gRPC connection (bufconn),
// with one generated speaker peered at speakerAddr.
type fixture struct {
	t       testing.TB
	ctx     context.Context
	sched   *sched.Scheduler
	rib     *bgp.RIB
	srv     *bgp.Server
	svc     *Service
	c       apipb.GobgpApiClient
	level   zap.AtomicLevel
	speaker *gen.Session
	peer    netip.Addr
}

func newFixture(t testing.TB, net3 byte, deps Deps) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	s, err := sched.New(sched.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	r, err := bgp.NewRIB(rctx, s, zap.NewNop(), bgp.RIBConfig{LocalAS: 65000, RouterID: netip.MustParseAddr("10.255.0.1"), Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	local := netip.AddrFrom4([4]byte{127, 1, net3, 1})
	srv, err := bgp.New(bgp.ServerConfig{AS: 65000, RouterID: netip.MustParseAddr("10.255.0.1"), ListenAddrs: []netip.Addr{local}},
		bgp.Deps{Logger: zap.NewNop(), Scheduler: s, Routing: r})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: ctx, sched: s, rib: r, srv: srv, level: zap.NewAtomicLevelAt(zapcore.InfoLevel),
		peer: netip.AddrFrom4([4]byte{127, 1, net3, 10})}
	deps.Scheduler = s
	if deps.Level == nil {
		deps.Level = &f.level
	}
	f.svc = New(srv, r, deps)
	lis := bufconn.Listen(1 << 20)
	served := make(chan error, 1)
	go func() { served <- f.svc.Serve(lis) }()
	conn, err := grpc.DialContext(ctx, "bufnet", grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	f.c = apipb.NewGobgpApiClient(conn)
	t.Cleanup(func() {
		conn.Close()
		f.svc.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if f.speaker != nil {
			f.speaker.Close(true)
		}
		srv.Close(context.Background())
		rcancel()
		c, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		if err := s.Close(c); err != nil {
			t.Error(err)
		}
	})
	return f
}

// connectSpeaker peers a generated speaker (AS 65010, IPv4 and IPv6) and announces
// 10.1.{0..n-1}.0/24 (AS path 65010 65020, next hop 198.18.0.1) and 2001:db8:{0..n-1}::/48
// (n above 256 continues in 10.2.0.0/16 and so on).
func (f *fixture) connectSpeaker(n int) {
	t := f.t
	t.Helper()
	if err := f.srv.AddPeer(bgp.PeerConfig{Addr: f.peer, PeerAS: 65010, Passive: true,
		Families: []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast}}); err != nil {
		t.Fatal(err)
	}
	var err error
	f.speaker, err = gen.Dial(f.ctx, gen.SessionConfig{Name: "speaker", Local: f.peer, Remote: f.srv.ListenAddrs()[0],
		AS: 65010, PeerAS: 65000, IPv6: true, Table: gen.NewTable(false, gen.CheckRouteServer)}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	opts := f.speaker.Options()
	var a proto.Attrs
	a.Present.Set(proto.AttrOrigin)
	a.Present.Set(proto.AttrASPath)
	a.Present.Set(proto.AttrMED)
	a.ASPath = proto.ASSeq(65010, 65020)
	a.MED = 5
	attrs, err := proto.AppendAttrs(nil, &a, &opts)
	if err != nil {
		t.Fatal(err)
	}
	var b proto.UpdateBuilder
	b.Reset(&opts)
	for i := range n {
		b.Announce(proto.IPv4Unicast, attrs, proto.MPNextHop{Addr: netip.MustParseAddr("198.18.0.1")},
			proto.NLRI{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(1 + i>>8), byte(i), 0}), 24)})
		b.Announce(proto.IPv6Unicast, attrs, proto.MPNextHop{Addr: netip.MustParseAddr("2001:db8:ffff::1")},
			proto.NLRI{Prefix: netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i)}), 48)})
	}
	wire, err := b.AppendMessages(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.speaker.Send(f.ctx, wire); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the speaker's routes", func() bool {
		st, _ := f.srv.Peer(f.peer)
		return st.Counters.PrefixesReceived == int64(2*n)
	})
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wantCode fails unless err is a status of code whose message contains every part.
func wantCode(t *testing.T, err error, code codes.Code, parts ...string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("got %v, want %v", err, code)
	}
	for _, p := range parts {
		if !strings.Contains(st.Message(), p) {
			t.Fatalf("message %q does not say %q", st.Message(), p)
		}
	}
}

// recvAll reads a server stream to its end, keeping what get takes of each response.
func recvAll[R, T any](st interface{ Recv() (R, error) }, get func(R) T) ([]T, error) {
	var out []T
	for {
		r, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, get(r))
	}
}

func (f *fixture) listPeers(addr string) ([]*apipb.Peer, error) {
	st, err := f.c.ListPeer(f.ctx, &apipb.ListPeerRequest{Address: addr})
	if err != nil {
		return nil, err
	}
	return recvAll(st, (*apipb.ListPeerResponse).GetPeer)
}

func (f *fixture) listPath(req *apipb.ListPathRequest) ([]*apipb.Destination, error) {
	st, err := f.c.ListPath(f.ctx, req)
	if err != nil {
		return nil, err
	}
	return recvAll(st, (*apipb.ListPathResponse).GetDestination)
}

func prefixes(ds []*apipb.Destination) string {
	var s []string
	for _, d := range ds {
		s = append(s, d.Prefix)
	}
	return strings.Join(s, " ")
}

// describe renders a path's attributes as GoBGP's library reads them.
func describe(t *testing.T, p *apipb.Path) string {
	t.Helper()
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, a := range attrs {
		switch a := a.(type) {
		case *gobgp.PathAttributeNextHop:
			s = append(s, "nh "+a.Value.String())
		case *gobgp.PathAttributeMpReachNLRI:
			s = append(s, "mpnh "+a.Nexthop.String())
		case *gobgp.PathAttributeAsPath:
			var segs []string
			for _, v := range a.Value {
				segs = append(segs, v.String())
			}
			s = append(s, "aspath "+strings.Join(segs, " "))
		case *gobgp.PathAttributeMultiExitDisc:
			s = append(s, fmt.Sprint("med ", a.Value))
		case *gobgp.PathAttributeLocalPref:
			s = append(s, fmt.Sprint("lp ", a.Value))
		case *gobgp.PathAttributeOrigin:
			s = append(s, fmt.Sprint("origin ", a.Value))
		}
	}
	return strings.Join(s, ", ")
}

func TestGetBgp(t *testing.T) {
	f := newFixture(t, 77, Deps{})
	r, err := f.c.GetBgp(f.ctx, &apipb.GetBgpRequest{})
	if err != nil {
		t.Fatal(err)
	}
	g := r.Global
	if g.Asn != 65000 || g.RouterId != "10.255.0.1" || len(g.ListenAddresses) != 1 || g.ListenAddresses[0] != "127.1.77.1" ||
		g.ListenPort != int32(f.srv.ListenAddrs()[0].Port()) {
		t.Fatalf("global %+v", g)
	}
}

func TestListPeer(t *testing.T) {
	f := newFixture(t, 78, Deps{})
	f.connectSpeaker(3)
	ps, err := f.listPeers("")
	if err != nil || len(ps) != 1 {
		t.Fatalf("%d peers, %v", len(ps), err)
	}
	p := ps[0]
	var rcv, acc uint64
	for _, af := range p.AfiSafis {
		rcv += af.State.Received
		acc += af.State.Accepted
	}
	if p.State.SessionState != apipb.PeerState_ESTABLISHED || p.State.NeighborAddress != "127.1.78.10" || p.State.PeerAsn != 65010 ||
		p.Timers.State.Uptime == nil || p.State.RouterId != "127.1.78.10" || rcv != 6 || acc != 6 || len(p.AfiSafis) != 2 ||
		p.State.Messages.Received.Update == 0 || p.State.Messages.Sent.Open != 1 || p.Timers.State.NegotiatedHoldTime != 90 ||
		len(p.State.RemoteCap) == 0 || len(p.State.LocalCap) == 0 {
		t.Fatalf("peer %v", p)
	}
	if one, err := f.listPeers("127.1.78.10"); err != nil || len(one) != 1 {
		t.Fatalf("one peer: %v %v", one, err)
	}
	_, err = f.listPeers("127.1.78.99")
	wantCode(t, err, codes.NotFound, "127.1.78.99")
	_, err = f.listPeers("not-an-address")
	wantCode(t, err, codes.InvalidArgument, "not-an-address")
}

func TestListPath(t *testing.T) {
	f := newFixture(t, 79, Deps{})
	f.connectSpeaker(12)
	ds, err := f.listPath(&apipb.ListPathRequest{TableType: apipb.TableType_GLOBAL, Family: ipv4UC})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 12 || ds[0].Prefix != "10.1.0.0/24" || ds[1].Prefix != "10.1.1.0/24" || ds[2].Prefix != "10.1.2.0/24" || ds[11].Prefix != "10.1.11.0/24" {
		t.Fatalf("not every prefix, or not sorted: %s", prefixes(ds))
	}
	p := ds[3].Paths[0]
	if got := describe(t, p); !p.Best || got != "origin 0, aspath 65010 65020, nh 198.18.0.1, med 5" || p.NeighborIp != "127.1.79.10" || p.SourceAsn != 65010 {
		t.Fatalf("path %q best %v from %s", got, p.Best, p.NeighborIp)
	}
	ds, err = f.listPath(&apipb.ListPathRequest{TableType: apipb.TableType_GLOBAL, Family: ipv6UC})
	if err != nil || len(ds) != 12 || ds[0].Prefix != "2001:db8::/48" || ds[1].Prefix != "2001:db8:1::/48" {
		t.Fatalf("ipv6: %s %v", prefixes(ds), err)
	}
	if got := describe(t, ds[0].Paths[0]); got != "origin 0, aspath 65010 65020, med 5, mpnh 2001:db8:ffff::1" {
		t.Fatalf("ipv6 path %q", got)
	}
	for _, c := range []struct {
		filter *apipb.TableLookupPrefix
		want   string
	}{
		{&apipb.TableLookupPrefix{Prefix: "10.1.7.0/24"}, "10.1.7.0/24"},
		{&apipb.TableLookupPrefix{Prefix: "10.1.7.9"}, "10.1.7.0/24"},
		{&apipb.TableLookupPrefix{Prefix: "10.1.8.0/23", Type: apipb.TableLookupPrefix_LONGER}, "10.1.8.0/24 10.1.9.0/24"},
		{&apipb.TableLookupPrefix{Prefix: "10.1.5.128/25", Type: apipb.TableLookupPrefix_SHORTER}, "10.1.5.0/24"},
		{&apipb.TableLookupPrefix{Prefix: "10.9.0.0/16"}, ""},
	} {
		ds, err := f.listPath(&apipb.ListPathRequest{TableType: apipb.TableType_GLOBAL, Family: ipv4UC, Prefixes: []*apipb.TableLookupPrefix{c.filter}})
		if err != nil || prefixes(ds) != c.want {
			t.Errorf("filter %v: %q %v, want %q", c.filter, prefixes(ds), err, c.want)
		}
	}
	// Adj-RIB-In of the speaker: its paths, none marked best.
	ds, err = f.listPath(&apipb.ListPathRequest{TableType: apipb.TableType_ADJ_IN, Name: "127.1.79.10", Family: ipv4UC})
	if err != nil || len(ds) != 12 || ds[0].Paths[0].Best {
		t.Fatalf("adj-in: %s %v", prefixes(ds), err)
	}
	_, err = f.listPath(&apipb.ListPathRequest{TableType: apipb.TableType_ADJ_IN, Name: "127.1.79.77", Family: ipv4UC})
	wantCode(t, err, codes.NotFound, "127.1.79.77")
	_, err = f.listPath(&apipb.ListPathRequest{TableType: apipb.TableType_GLOBAL, Family: ipv4UC, Prefixes: []*apipb.TableLookupPrefix{{Prefix: "10.1/99"}}})
	wantCode(t, err, codes.InvalidArgument, "10.1/99")
	_, err = f.listPath(&apipb.ListPathRequest{TableType: apipb.TableType_GLOBAL, Family: ipv4UC, Prefixes: []*apipb.TableLookupPrefix{{Prefix: "2001:db8::/32"}}})
	wantCode(t, err, codes.InvalidArgument, "ipv4-unicast")
	_, err = f.listPath(&apipb.ListPathRequest{TableType: apipb.TableType_GLOBAL})
	wantCode(t, err, codes.InvalidArgument, "family")
	_, err = f.listPath(&apipb.ListPathRequest{TableType: apipb.TableType_VRF, Name: "red", Family: ipv4UC})
	wantCode(t, err, codes.Unknown, "vrf red not found")

	tb, err := f.c.GetTable(f.ctx, &apipb.GetTableRequest{TableType: apipb.TableType_GLOBAL, Family: ipv6UC})
	if err != nil || tb.NumDestination != 12 || tb.NumPath != 12 || tb.NumAccepted != 12 {
		t.Fatalf("GetTable %v %v", tb, err)
	}
	_, err = f.c.GetTable(f.ctx, &apipb.GetTableRequest{TableType: apipb.TableType_ADJ_IN, Name: "10.0.0.9", Family: ipv4UC})
	wantCode(t, err, codes.NotFound, "10.0.0.9")
}

// apiPath builds an API path as the gobgp CLI does.
func apiPath(t *testing.T, prefix string, attrs ...gobgp.PathAttributeInterface) *apipb.Path {
	t.Helper()
	pfx := netip.MustParsePrefix(prefix)
	var nlri gobgp.AddrPrefixInterface
	if pfx.Addr().Is4() {
		nlri = gobgp.NewIPAddrPrefix(uint8(pfx.Bits()), pfx.Addr().String())
	} else {
		nlri = gobgp.NewIPv6AddrPrefix(uint8(pfx.Bits()), pfx.Addr().String())
	}
	p, err := apiutil.NewPath(nlri, false, attrs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// withNLRI replaces p's prefix with addr/bits as a client could send it.
func withNLRI(p *apipb.Path, addr string, bits uint32) *apipb.Path {
	p.Nlri, _ = anypb.New(&apipb.IPAddressPrefix{Prefix: addr, PrefixLen: bits})
	return p
}

func TestAddDeletePath(t *testing.T) {
	f := newFixture(t, 80, Deps{})
	f.connectSpeaker(2)
	origin := gobgp.NewPathAttributeOrigin(0)
	p := apiPath(t, "10.1.1.0/24", origin, gobgp.NewPathAttributeNextHop("192.0.2.7"), gobgp.NewPathAttributeMultiExitDisc(9))
	if _, err := f.c.AddPath(f.ctx, &apipb.AddPathRequest{TableType: apipb.TableType_GLOBAL, Path: p}); err != nil {
		t.Fatal(err)
	}
	p6 := apiPath(t, "2001:db8:99::/48", origin, gobgp.NewPathAttributeLocalPref(200), gobgp.NewPathAttributeMpReachNLRI("2001:db8::7", []gobgp.AddrPrefixInterface{gobgp.NewIPv6AddrPrefix(48, "2001:db8:99::")}))
	if _, err := f.c.AddPath(f.ctx, &apipb.AddPathRequest{TableType: apipb.TableType_GLOBAL, Path: p6}); err != nil {
		t.Fatal(err)
	}
	var ds []*apipb.Destination
	eventually(t, "the local path to win", func() bool {
		var err error
		ds, err = f.listPath(&apipb.ListPathRequest{TableType: apipb.TableType_GLOBAL, Family: ipv4UC, Prefixes: []*apipb.TableLookupPrefix{{Prefix: "10.1.1.0/24"}}})
		return err == nil && len(ds) == 1 && len(ds[0].Paths) == 2
	})
	var local *apipb.Path
	for _, p := range ds[0].Paths {
		if p.NeighborIp == "<nil>" {
			local = p
		}
	}
	if local == nil || !local.Best || describe(t, local) != "origin 0, aspath , nh 192.0.2.7, med 9" {
		t.Fatalf("local path %v", local)
	}
	eventually(t, "the local IPv6 path", func() bool {
		ds, err := f.listPath(&apipb.ListPathRequest{TableType: apipb.TableType_GLOBAL, Family: ipv6UC, Prefixes: []*apipb.TableLookupPrefix{{Prefix: "2001:db8:99::/48"}}})
		return err == nil && len(ds) == 1 && describe(t, ds[0].Paths[0]) == "origin 0, aspath , lp 200, mpnh 2001:db8::7"
	})

	// Invalid paths are refused with the reason; nothing reaches the RIB.
	bad := []struct {
		name string
		path *apipb.Path
		want string
	}{
		{"no path", nil, "no path"},
		{"host bits", withNLRI(apiPath(t, "10.7.0.0/16", origin, gobgp.NewPathAttributeNextHop("192.0.2.7")), "10.7.0.1", 16), "host bits"},
		{"prefix too long", withNLRI(apiPath(t, "10.7.0.0/16", origin, gobgp.NewPathAttributeNextHop("192.0.2.7")), "10.7.0.0", 33), "longer than"},
		{"bad origin", apiPath(t, "10.7.0.0/16", gobgp.NewPathAttributeOrigin(9), gobgp.NewPathAttributeNextHop("192.0.2.7")), "ORIGIN"},
		{"no next hop", apiPath(t, "10.7.0.0/16", origin), "NEXT_HOP"},
		{"v6 without MP_REACH", apiPath(t, "2001:db8:7::/48", origin), "MP_REACH_NLRI"},
	}
	for _, c := range bad {
		_, err := f.c.AddPath(f.ctx, &apipb.AddPathRequest{TableType: apipb.TableType_GLOBAL, Path: c.path})
		st, _ := status.FromError(err)
		if st.Code() != codes.InvalidArgument || !strings.Contains(strings.ToLower(st.Message()), strings.ToLower(c.want)) {
			t.Errorf("%s: %v, want InvalidArgument saying %q", c.name, err, c.want)
		}
	}
	if n := f.svc.local.Counters().Received.Load(); n != 2 {
		t.Fatalf("%d local paths, want the 2 valid ones", n)
	}
	_, err := f.c.AddPath(f.ctx, &apipb.AddPathRequest{TableType: apipb.TableType_VRF, VrfId: "red", Path: p})
	wantCode(t, err, codes.NotFound, "AddPath", "red") // no VRFs in this fixture (vrf_test.go has them)

	// Delete one path, then every local IPv6 path.
	if _, err := f.c.DeletePath(f.ctx, &apipb.DeletePathRequest{TableType: apipb.TableType_GLOBAL, Path: p}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.DeletePath(f.ctx, &apipb.DeletePathRequest{TableType: apipb.TableType_GLOBAL, Family: ipv6UC}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the local paths withdrawn", func() bool { return f.svc.local.Counters().Received.Load() == 0 })
	ds, err = f.listPath(&apipb.ListPathRequest{TableType: apipb.TableType_GLOBAL, Family: ipv4UC, Prefixes: []*apipb.TableLookupPrefix{{Prefix: "10.1.1.0/24"}}})
	if err != nil || len(ds) != 1 || len(ds[0].Paths) != 1 || !ds[0].Paths[0].Best || ds[0].Paths[0].NeighborIp != "127.1.80.10" {
		t.Fatalf("after delete: %v %v", ds, err)
	}
	_, err = f.c.DeletePath(f.ctx, &apipb.DeletePathRequest{TableType: apipb.TableType_GLOBAL, Uuid: []byte{1, 2}})
	wantCode(t, err, codes.InvalidArgument, "UUID")
}

func TestPeerAdministration(t *testing.T) {
	f := newFixture(t, 81, Deps{})
	f.connectSpeaker(1)
	add := func(addr string, as uint32) error {
		_, err := f.c.AddPeer(f.ctx, &apipb.AddPeerRequest{Peer: &apipb.Peer{Conf: &apipb.PeerConf{NeighborAddress: addr, PeerAsn: as},
			Transport: &apipb.Transport{PassiveMode: true}}})
		return err
	}
	wantCode(t, add("10.0.0.300", 65001), codes.InvalidArgument, "10.0.0.300")
	wantCode(t, add("127.1.81.20", 0), codes.InvalidArgument, "AS 0")
	wantCode(t, add("127.1.81.20", 23456), codes.InvalidArgument, "AS_TRANS")
	if err := add("127.1.81.20", 65020); err != nil {
		t.Fatal(err)
	}
	wantCode(t, add("127.1.81.20", 65020), codes.AlreadyExists, "127.1.81.20")
	ps, err := f.listPeers("127.1.81.20")
	if err != nil || ps[0].Conf.PeerAsn != 65020 || ps[0].State.SessionState == apipb.PeerState_ESTABLISHED {
		t.Fatalf("added peer %v %v", ps, err)
	}

	// Disable and enable: the admin state follows.
	if _, err := f.c.DisablePeer(f.ctx, &apipb.DisablePeerRequest{Address: "127.1.81.20", Communication: "maintenance"}); err != nil {
		t.Fatal(err)
	}
	if ps, _ := f.listPeers("127.1.81.20"); ps[0].State.AdminState != apipb.PeerState_DOWN {
		t.Fatalf("disabled peer admin state %v", ps[0].State.AdminState)
	}
	if _, err := f.c.EnablePeer(f.ctx, &apipb.EnablePeerRequest{Address: "127.1.81.20"}); err != nil {
		t.Fatal(err)
	}
	if ps, _ := f.listPeers("127.1.81.20"); ps[0].State.AdminState != apipb.PeerState_UP {
		t.Fatalf("enabled peer admin state %v", ps[0].State.AdminState)
	}
	_, err = f.c.ShutdownPeer(f.ctx, &apipb.ShutdownPeerRequest{Address: "127.1.81.20", Communication: strings.Repeat("x", 300)})
	wantCode(t, err, codes.InvalidArgument, "255")
	if _, err := f.c.ShutdownPeer(f.ctx, &apipb.ShutdownPeerRequest{Address: "127.1.81.20"}); err != nil {
		t.Fatal(err)
	}

	// UpdatePeer: a new AS replaces the neighbor.
	if _, err := f.c.UpdatePeer(f.ctx, &apipb.UpdatePeerRequest{Peer: &apipb.Peer{Conf: &apipb.PeerConf{NeighborAddress: "127.1.81.20", PeerAsn: 65021}}}); err != nil {
		t.Fatal(err)
	}
	if ps, _ := f.listPeers("127.1.81.20"); ps[0].Conf.PeerAsn != 65021 {
		t.Fatalf("updated peer AS %d", ps[0].Conf.PeerAsn)
	}
	_, err = f.c.UpdatePeer(f.ctx, &apipb.UpdatePeerRequest{Peer: &apipb.Peer{Conf: &apipb.PeerConf{NeighborAddress: "127.1.81.21", PeerAsn: 65021}}})
	wantCode(t, err, codes.NotFound, "127.1.81.21")

	// Soft reset inbound sends a ROUTE-REFRESH.
	before, _ := f.srv.Peer(f.peer)
	if _, err := f.c.ResetPeer(f.ctx, &apipb.ResetPeerRequest{Address: f.peer.String(), Soft: true, Direction: apipb.ResetPeerRequest_IN}); err != nil {
		t.Fatal(err)
	}
	after, _ := f.srv.Peer(f.peer)
	if after.Counters.MsgOut[proto.MsgRouteRefresh] <= before.Counters.MsgOut[proto.MsgRouteRefresh] {
		t.Fatal("soft reset in sent no ROUTE-REFRESH")
	}
	// Soft reset outbound re-sends the peer its routes (bgp's refresh tests check what).
	if _, err := f.c.ResetPeer(f.ctx, &apipb.ResetPeerRequest{Address: f.peer.String(), Soft: true, Direction: apipb.ResetPeerRequest_OUT}); err != nil {
		t.Fatal(err)
	}
	_, err = f.c.ResetPeer(f.ctx, &apipb.ResetPeerRequest{Address: "127.1.81.20", Soft: true, Direction: apipb.ResetPeerRequest_OUT})
	wantCode(t, err, codes.FailedPrecondition, "not established")
	_, err = f.c.ResetPeer(f.ctx, &apipb.ResetPeerRequest{Address: "127.1.81.20", Soft: true, Direction: apipb.ResetPeerRequest_IN})
	wantCode(t, err, codes.FailedPrecondition, "not established")

	for name, call := range map[string]func(addr string) error{
		"EnablePeer": func(a string) error {
			_, err := f.c.EnablePeer(f.ctx, &apipb.EnablePeerRequest{Address: a})
			return err
		},
		"DisablePeer": func(a string) error {
			_, err := f.c.DisablePeer(f.ctx, &apipb.DisablePeerRequest{Address: a})
			return err
		},
		"ShutdownPeer": func(a string) error {
			_, err := f.c.ShutdownPeer(f.ctx, &apipb.ShutdownPeerRequest{Address: a})
			return err
		},
		"ResetPeer": func(a string) error { _, err := f.c.ResetPeer(f.ctx, &apipb.ResetPeerRequest{Address: a}); return err },
		"DeletePeer": func(a string) error {
			_, err := f.c.DeletePeer(f.ctx, &apipb.DeletePeerRequest{Address: a})
			return err
		},
	} {
		if err := call("127.1.81.99"); status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "127.1.81.99") {
			t.Errorf("%s of an unknown neighbor: %v", name, err)
		}
		if err := call("nonsense"); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "nonsense") {
			t.Errorf("%s of a bad address: %v", name, err)
		}
	}
	if _, err := f.c.DeletePeer(f.ctx, &apipb.DeletePeerRequest{Address: "127.1.81.20"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.listPeers("127.1.81.20"); status.Code(err) != codes.NotFound {
		t.Fatalf("deleted peer still listed: %v", err)
	}
}

func TestUnimplementedNamesTheRPC(t *testing.T) {
	f := newFixture(t, 82, Deps{})
	_, err := f.c.AddBmp(f.ctx, &apipb.AddBmpRequest{})
	wantCode(t, err, codes.Unimplemented, "AddBmp", "fanout")
	st, err := f.c.ListRpki(f.ctx, &apipb.ListRpkiRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	wantCode(t, err, codes.Unimplemented, "ListRpki")
	// ListVrf answers truthfully: there are none.
	vs, err := f.c.ListVrf(f.ctx, &apipb.ListVrfRequest{})
	if err == nil {
		_, err = vs.Recv()
	}
	if err != io.EOF {
		t.Fatalf("ListVrf: %v, want an empty list", err)
	}
	vs, err = f.c.ListVrf(f.ctx, &apipb.ListVrfRequest{Name: "red"})
	if err == nil {
		_, err = vs.Recv()
	}
	wantCode(t, err, codes.NotFound, "red")
}

func TestSetLogLevel(t *testing.T) {
	f := newFixture(t, 83, Deps{})
	if _, err := f.c.SetLogLevel(f.ctx, &apipb.SetLogLevelRequest{Level: apipb.SetLogLevelRequest_DEBUG}); err != nil {
		t.Fatal(err)
	}
	if f.level.Level() != zapcore.DebugLevel {
		t.Fatalf("level %v", f.level.Level())
	}
	_, err := f.c.SetLogLevel(f.ctx, &apipb.SetLogLevelRequest{Level: 42})
	wantCode(t, err, codes.InvalidArgument, "42")
}

// ListPath over a table of 40k paths while another 40k arrive: the stream is complete for
// what was there before it began, sorted, and routing goes on meanwhile (the walk runs in
// low-priority slices between the partitions' batches).
func TestListPathWhileRouting(t *testing.T) {
	f := newFixture(t, 88, Deps{})
	f.connectSpeaker(20000) // 20k IPv4 + 20k IPv6 from 127.1.88.10
	second := netip.MustParseAddr("127.1.88.11")
	if err := f.srv.AddPeer(bgp.PeerConfig{Addr: second, PeerAS: 65011, Passive: true}); err != nil {
		t.Fatal(err)
	}
	sp, err := gen.Dial(f.ctx, gen.SessionConfig{Name: "second", Local: second, Remote: f.srv.ListenAddrs()[0],
		AS: 65011, PeerAS: 65000, Table: gen.NewTable(false, gen.CheckRouteServer)}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close(true)
	opts := sp.Options()
	var a proto.Attrs
	a.Present.Set(proto.AttrOrigin)
	a.Present.Set(proto.AttrASPath)
	a.ASPath = proto.ASSeq(65011)
	attrs, err := proto.AppendAttrs(nil, &a, &opts)
	if err != nil {
		t.Fatal(err)
	}
	var b proto.UpdateBuilder
	b.Reset(&opts)
	for i := range 40000 {
		b.Announce(proto.IPv4Unicast, attrs, proto.MPNextHop{Addr: netip.MustParseAddr("198.18.0.11")},
			proto.NLRI{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}), 32)})
	}
	wire, err := b.AppendMessages(nil)
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() { sent <- sp.Send(f.ctx, wire) }()
	ds, err := f.listPath(&apipb.ListPathRequest{TableType: apipb.TableType_GLOBAL, Family: ipv4UC})
	if err != nil {
		t.Fatal(err)
	}
	during, _ := f.srv.Peer(second)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	first := 0
	prev := netip.Prefix{}
	for i, d := range ds {
		p := netip.MustParsePrefix(d.Prefix)
		if i > 0 && comparePrefix(prev, p) >= 0 {
			t.Fatalf("not sorted: %v then %v", prev, p)
		}
		prev = p
		if netip.MustParsePrefix("10.0.0.0/8").Contains(p.Addr()) {
			first++
		}
	}
	if first != 20000 {
		t.Fatalf("%d of the first speaker's 20000 prefixes listed", first)
	}
	eventually(t, "the second speaker's routes", func() bool {
		st, _ := f.srv.Peer(second)
		return st.Counters.PrefixesReceived == 40000
	})
	t.Logf("listed %d destinations; the second speaker had %d of its 40000 routes applied when the listing ended",
		len(ds), during.Counters.PrefixesReceived)
}

// AddPathStream adds each path as AddPath does; an invalid one ends the stream with
// InvalidArgument naming it, and the paths before it stay.
func TestAddPathStream(t *testing.T) {
	f := newFixture(t, 89, Deps{})
	st, err := f.c.AddPathStream(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	origin, nh := gobgp.NewPathAttributeOrigin(0), gobgp.NewPathAttributeNextHop("192.0.2.1")
	if err := st.Send(&apipb.AddPathStreamRequest{TableType: apipb.TableType_GLOBAL, Paths: []*apipb.Path{
		apiPath(t, "10.20.0.0/16", origin, nh), apiPath(t, "10.21.0.0/16", origin, nh)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the streamed paths", func() bool { return f.svc.local.Counters().Received.Load() == 2 })

	st, err = f.c.AddPathStream(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&apipb.AddPathStreamRequest{TableType: apipb.TableType_GLOBAL, Paths: []*apipb.Path{
		apiPath(t, "10.22.0.0/16", origin, nh), apiPath(t, "10.23.0.0/16", origin)}}); err != nil {
		t.Fatal(err)
	}
	_, err = st.CloseAndRecv()
	wantCode(t, err, codes.InvalidArgument, "path 1 of the stream", "NEXT_HOP")
	eventually(t, "the valid path before the invalid one", func() bool { return f.svc.local.Counters().Received.Load() == 3 })
}

// LoadTLS refuses incomplete or unreadable TLS options, naming what is wrong (the happy
// path, mutual TLS with the real CLI, is tested in cmd/fanoutd).
func TestLoadTLSErrors(t *testing.T) {
	if _, err := LoadTLS("", "key.pem", ""); err == nil || !strings.Contains(err.Error(), "certificate file and a key file") {
		t.Errorf("no certificate: %v", err)
	}
	if _, err := LoadTLS("/nonexistent/cert.pem", "/nonexistent/key.pem", ""); err == nil || !strings.Contains(err.Error(), "/nonexistent/cert.pem") {
		t.Errorf("missing files: %v", err)
	}
}
