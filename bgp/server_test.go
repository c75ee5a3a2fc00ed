package bgp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/fanoutd/fanout/proto"
)

// The in-process tests run fanout servers (and raw test peers built from net.Conn and the
// proto encoders) on loopback, each test in its own 127.1.N.0/24 so tests never share an
// address. Every wait is bounded.

const waitLimit = 10 * time.Second

// eventually polls cond until it holds or waitLimit passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(waitLimit); ; time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// testRoute is one route a testIngest holds.
type testRoute struct {
	fam     proto.Family
	nlri    proto.NLRI
	nextHop netip.Addr
	origin  uint8
	asPath  string
	med     uint32
	hasMED  bool
}

// testRouting is a fake Routing: it records sessions and the routes each holds. An Ingest
// blocks in Update while block is non-nil and open, which is back-pressure to the peer.
type testRouting struct {
	mu      sync.Mutex
	ups     []*SessionInfo
	downs   int
	eors    []proto.Family
	updates int
	routes  map[proto.NLRI]testRoute // of the latest session
	block   chan struct{}            // Update waits for it to close (or ctx)
	entered chan struct{}            // signalled when an Update starts
}

func newTestRouting() *testRouting { return &testRouting{routes: map[proto.NLRI]testRoute{}} }

func (r *testRouting) SessionUp(info *SessionInfo) Ingest {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ups = append(r.ups, info)
	r.routes = map[proto.NLRI]testRoute{}
	return &testIngest{r: r, info: info, routes: r.routes}
}

func (r *testRouting) sessions() (ups, downs int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ups), r.downs
}

func (r *testRouting) lastInfo() *SessionInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ups) == 0 {
		return nil
	}
	return r.ups[len(r.ups)-1]
}

func (r *testRouting) route(p netip.Prefix, pathID uint32) (testRoute, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rt, ok := r.routes[proto.NLRI{Prefix: p, PathID: pathID}]
	return rt, ok
}

type testIngest struct {
	r      *testRouting
	info   *SessionInfo
	routes map[proto.NLRI]testRoute
}

func (in *testIngest) Update(ctx context.Context, u *proto.Update, perr *proto.Error) (int, error) {
	r := in.r
	r.mu.Lock()
	block, entered := r.block, r.entered
	r.mu.Unlock()
	if entered != nil {
		select {
		case entered <- struct{}{}:
		default:
		}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	opts := &in.info.Recv
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates++
	var n proto.NLRI
	for it := u.IterWithdrawn(opts); it.Next(&n); {
		delete(in.routes, n)
	}
	for it := u.IterMPUnreach(opts); it.Next(&n); {
		delete(in.routes, n)
	}
	a := &u.Attrs
	add := func(fam proto.Family, nh netip.Addr, it proto.NLRIIter) {
		for it.Next(&n) {
			if perr != nil && perr.Action == proto.ActionTreatAsWithdraw {
				delete(in.routes, n)
				continue
			}
			in.routes[proto.NLRI{Prefix: n.Prefix, PathID: n.PathID}] = testRoute{fam: fam, nlri: n, nextHop: nh,
				origin: a.Origin, asPath: a.ASPath.String(), med: a.MED, hasMED: a.Present.Has(proto.AttrMED)}
		}
	}
	add(proto.IPv4Unicast, a.NextHop, u.IterNLRI(opts))
	add(a.MPReach.Family, a.MPReach.NextHop, u.IterMPReach(opts))
	// The fake is the RIB side here: it keeps the peer's route count as the RIB would.
	in.info.Counters.Routes.Received.Store(int64(len(in.routes)))
	return len(in.routes), nil
}

func (in *testIngest) EndOfRIB(fam proto.Family) {
	in.r.mu.Lock()
	defer in.r.mu.Unlock()
	in.r.eors = append(in.r.eors, fam)
}

func (in *testIngest) Down() {
	in.r.mu.Lock()
	defer in.r.mu.Unlock()
	in.r.downs++
	in.info.Counters.Routes.Received.Store(0)
}

// testServer starts a server on local:0 with its own logger and routing; Close runs at
// cleanup.
func testServer(t testing.TB, local string, as uint32, id string, clock Clock, routing Routing, mods ...func(*Deps)) *Server {
	t.Helper()
	deps := Deps{Logger: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Named(local), Clock: clock, Routing: routing}
	for _, m := range mods {
		m(&deps)
	}
	s, err := New(ServerConfig{AS: as, RouterID: addr(id), ListenAddrs: []netip.Addr{addr(local)}}, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

func listenPort(s *Server) uint16 { return s.ListenAddrs()[0].Port() }

func addPeer(t testing.TB, s *Server, cfg PeerConfig) {
	t.Helper()
	if err := s.AddPeer(cfg); err != nil {
		t.Fatal(err)
	}
}

func state(s *Server, a netip.Addr) State {
	st, _ := s.Peer(a)
	return st.State
}

func waitState(t testing.TB, s *Server, a netip.Addr, want State) {
	t.Helper()
	eventually(t, fmt.Sprintf("peer %v %v", a, want), func() bool { return state(s, a) == want })
}

// v4Update builds UPDATE messages announcing ps with a fixed attribute set.
func v4Update(t testing.TB, opts *proto.SessionOptions, nh netip.Addr, med uint32, ps ...proto.NLRI) []byte {
	t.Helper()
	attrs := proto.Attrs{Origin: proto.OriginIGP, ASPath: proto.ASSeq(65001, 65100), NextHop: nh, MED: med}
	for _, typ := range []uint8{proto.AttrOrigin, proto.AttrASPath, proto.AttrNextHop, proto.AttrMED} {
		attrs.Present.Set(typ)
	}
	ab, err := proto.AppendAttrs(nil, &attrs, opts)
	if err != nil {
		t.Fatal(err)
	}
	b := proto.NewUpdateBuilder(opts)
	b.Announce(proto.IPv4Unicast, ab, proto.MPNextHop{}, ps...)
	msgs, err := b.AppendMessages(nil)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func nlri(p string) proto.NLRI { return proto.NLRI{Prefix: netip.MustParsePrefix(p)} }

// TestEstablishActivePassive: an active and a passive server establish; the SessionInfo
// holds what was negotiated (RFC 4760 family intersection, RFC 6793 4-octet AS, RFC 8654
// extended messages); an UPDATE sent with SendBulk reaches the other side's Ingest.
func TestEstablishActivePassive(t *testing.T) {
	ra, rb := newTestRouting(), newTestRouting()
	a := testServer(t, "127.1.1.1", 65001, "10.0.0.1", nil, ra)
	b := testServer(t, "127.1.1.2", 4200000000, "10.0.0.2", nil, rb)
	addPeer(t, b, PeerConfig{Addr: addr("127.1.1.1"), PeerAS: 65001, Passive: true,
		Families: []proto.Family{proto.IPv4Unicast}, ExtendedMessage: true})
	addPeer(t, a, PeerConfig{Addr: addr("127.1.1.2"), PeerAS: 4200000000, RemotePort: listenPort(b),
		Families: []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast}, ExtendedMessage: true,
		AddPathReceive: []proto.Family{proto.IPv4Unicast}})
	waitState(t, a, addr("127.1.1.2"), Established)
	waitState(t, b, addr("127.1.1.1"), Established)

	info := ra.lastInfo()
	if info == nil {
		t.Fatal("no SessionUp on a")
	}
	if len(info.Families) != 1 || info.Families[0] != proto.IPv4Unicast {
		t.Errorf("families %v, want the intersection [ipv4-unicast]", info.Families)
	}
	if !info.Recv.AS4 || !info.Send.AS4 || info.PeerAS != 4200000000 || !info.EBGP {
		t.Errorf("AS4/peer AS not negotiated: %+v", info)
	}
	if !info.Recv.ExtendedMessage || !info.Send.ExtendedMessage {
		t.Errorf("extended messages not negotiated")
	}
	// b never announces ADD-PATH send, so a receives no path identifiers.
	if info.Recv.AddPath.Has(proto.IPv4Unicast) {
		t.Errorf("ADD-PATH receive without the peer's send")
	}
	if info.RouterID != addr("10.0.0.2") || info.LocalAddr != addr("127.1.1.1") || info.Counters == nil || info.Peer == nil {
		t.Errorf("session info %+v", info)
	}
	st, _ := a.Peer(addr("127.1.1.2"))
	if st.HoldTime != 90*time.Second || st.KeepaliveTime != 30*time.Second || st.Session == nil || st.EstablishedSince.IsZero() {
		t.Errorf("status %+v", st)
	}

	// a → b: one UPDATE through the export entry point.
	binfo := rb.lastInfo()
	msg := v4Update(t, &binfo.Send, addr("198.18.0.1"), 7, nlri("10.9.0.0/16"), nlri("10.10.1.0/24"))
	if !a.Lookup(addr("127.1.1.2")).SendBulk(msg) {
		t.Fatal("SendBulk refused")
	}
	eventually(t, "route at b", func() bool { _, ok := rb.route(netip.MustParsePrefix("10.10.1.0/24"), 0); return ok })
	rt, _ := rb.route(netip.MustParsePrefix("10.9.0.0/16"), 0)
	if rt.nextHop != addr("198.18.0.1") || rt.med != 7 || !rt.hasMED || rt.asPath != "65001 65100" || rt.origin != proto.OriginIGP {
		t.Errorf("route at b: %+v", rt)
	}
	sa, _ := a.Peer(addr("127.1.1.2"))
	sb, _ := b.Peer(addr("127.1.1.1"))
	if sa.Counters.UpdatesOut() != 1 || sb.Counters.UpdatesIn() != 1 || sb.Counters.PrefixesReceived != 2 {
		t.Errorf("counters: a out %d, b in %d, b received %d", sa.Counters.UpdatesOut(), sb.Counters.UpdatesIn(), sb.Counters.PrefixesReceived)
	}
	if sa.Counters.MsgOut[proto.MsgOpen] != 1 || sb.Counters.MsgIn[proto.MsgOpen] != 1 || sb.Counters.MsgIn[proto.MsgKeepalive] < 1 {
		t.Errorf("message counters a %+v b %+v", sa.Counters, sb.Counters)
	}
}

// TestActiveActiveCollision: two active servers dial each other at once; the collision is
// resolved (RFC 4271 §6.8) and exactly one session survives, the same connection on both
// sides. TestCollisionRawPeer pins which connection the router ids choose.
func TestActiveActiveCollision(t *testing.T) {
	for i := range 3 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			na, nb := fmt.Sprintf("127.1.2.%d", 2*i+1), fmt.Sprintf("127.1.2.%d", 2*i+2)
			a := testServer(t, na, 65001, "10.0.0.1", nil, nil)
			b := testServer(t, nb, 65002, "10.0.0.2", nil, nil)
			cfg := PeerConfig{IdleHoldTime: 50 * time.Millisecond, ConnectRetry: time.Second}
			ca, cb := cfg, cfg
			ca.Addr, ca.PeerAS, ca.RemotePort = addr(nb), 65002, listenPort(b)
			cb.Addr, cb.PeerAS, cb.RemotePort = addr(na), 65001, listenPort(a)
			addPeer(t, a, ca)
			addPeer(t, b, cb)
			pa, pb := a.Lookup(addr(nb)), b.Lookup(addr(na))
			// One TCP connection on both sides: a's local end is b's remote end. (When one
			// side's second connection arrives only after the other side went Established,
			// RFC 4271 §6.8 can cost one flap before this settles.)
			same := func() bool {
				ea, eb := pa.counters.session.Load(), pb.counters.session.Load()
				return ea != nil && eb != nil && ea.conn.nc.LocalAddr().String() == eb.conn.nc.RemoteAddr().String() &&
					ea.conn.outgoing != eb.conn.outgoing
			}
			eventually(t, "one session on both sides", same)
			time.Sleep(100 * time.Millisecond)
			if !same() || state(a, addr(nb)) != Established || state(b, addr(na)) != Established {
				t.Errorf("the session did not stay up")
			}
			if sa, _ := a.Peer(addr(nb)); sa.Flaps > 1 {
				t.Errorf("a flapped %d times", sa.Flaps)
			}
		})
	}
}

// TestPeerFlap: when one side goes away the other sees the session go down, releases it
// (Ingest.Down) and, after connect retry, establishes again with the restarted side.
func TestPeerFlap(t *testing.T) {
	ra := newTestRouting()
	a := testServer(t, "127.1.3.1", 65001, "10.0.0.1", nil, ra)
	b := testServer(t, "127.1.3.2", 65002, "10.0.0.2", nil, nil)
	port := listenPort(b)
	addPeer(t, b, PeerConfig{Addr: addr("127.1.3.1"), PeerAS: 65001, Passive: true})
	addPeer(t, a, PeerConfig{Addr: addr("127.1.3.2"), PeerAS: 65002, RemotePort: port,
		IdleHoldTime: -1, ConnectRetry: 200 * time.Millisecond})
	waitState(t, a, addr("127.1.3.2"), Established)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a sees the session down", func() bool { _, downs := ra.sessions(); return downs == 1 })
	st, _ := a.Peer(addr("127.1.3.2"))
	if st.Flaps != 1 || st.State == Established || st.LastError == nil || st.LastError.Sent ||
		st.LastError.Code != proto.CodeCease || st.LastError.Subcode != proto.SubAdminShutdown {
		t.Errorf("after b closed: %+v, last error %+v", st, st.LastError)
	}

	b2, err := New(ServerConfig{AS: 65002, RouterID: addr("10.0.0.2"), ListenAddrs: []netip.Addr{addr("127.1.3.2")}, ListenPort: port},
		Deps{Logger: zaptest.NewLogger(t).Named("b2")})
	if err != nil {
		t.Fatal(err)
	}
	addPeer(t, b2, PeerConfig{Addr: addr("127.1.3.1"), PeerAS: 65001, Passive: true})
	if err := b2.Start(); err != nil {
		t.Fatal(err)
	}
	defer b2.Close(ctx)
	waitState(t, a, addr("127.1.3.2"), Established)
	if ups, downs := ra.sessions(); ups != 2 || downs != 1 {
		t.Errorf("SessionUp %d, Down %d; want 2, 1", ups, downs)
	}
}

// TestBadPeerAS: a peer configured with the wrong AS answers the OPEN with 2/2 (RFC 4271
// §6.2); both sides record it as their last error.
func TestBadPeerAS(t *testing.T) {
	a := testServer(t, "127.1.4.1", 65001, "10.0.0.1", nil, nil)
	b := testServer(t, "127.1.4.2", 65002, "10.0.0.2", nil, nil)
	addPeer(t, b, PeerConfig{Addr: addr("127.1.4.1"), PeerAS: 65001, Passive: true, IdleHoldTime: -1})
	addPeer(t, a, PeerConfig{Addr: addr("127.1.4.2"), PeerAS: 65099, RemotePort: listenPort(b)})
	eventually(t, "b receives 2/2", func() bool {
		st, _ := b.Peer(addr("127.1.4.1"))
		return st.LastError != nil && !st.LastError.Sent && st.LastError.Code == proto.CodeOpen && st.LastError.Subcode == proto.SubBadPeerAS
	})
	sb, _ := b.Peer(addr("127.1.4.1"))
	if sb.LastError.Name != "OPEN Message Error / Bad Peer AS" {
		t.Errorf("name %q", sb.LastError.Name)
	}
	sa, _ := a.Peer(addr("127.1.4.2"))
	if sa.LastError == nil || !sa.LastError.Sent || sa.LastError.Subcode != proto.SubBadPeerAS || sa.State == Established {
		t.Errorf("a: %+v", sa)
	}
}

// TestAdminAndDelete: DisablePeer sends Administrative Shutdown with its RFC 9003 message
// and keeps the peer down; EnablePeer brings it back; a hard reset sends Administrative
// Reset and re-establishes; a soft reset sends ROUTE-REFRESH (RFC 2918), which reaches the
// other side's hook; DeletePeer sends Peer De-configured.
func TestAdminAndDelete(t *testing.T) {
	a := testServer(t, "127.1.5.1", 65001, "10.0.0.1", nil, nil)
	refreshes := make(chan proto.RouteRefresh, 4)
	b := testServer(t, "127.1.5.2", 65002, "10.0.0.2", nil, nil, func(d *Deps) {
		d.OnRouteRefresh = func(info *SessionInfo, rr proto.RouteRefresh) {
			if info.PeerAddr == addr("127.1.5.1") {
				refreshes <- rr
			}
		}
	})
	addPeer(t, b, PeerConfig{Addr: addr("127.1.5.1"), PeerAS: 65001, Passive: true, IdleHoldTime: -1})
	addPeer(t, a, PeerConfig{Addr: addr("127.1.5.2"), PeerAS: 65002, RemotePort: listenPort(b), IdleHoldTime: -1, ConnectRetry: 200 * time.Millisecond})
	pb := addr("127.1.5.2")
	waitState(t, a, pb, Established)

	if err := a.DisablePeer(pb, "maintenance"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b hears the shutdown", func() bool {
		st, _ := b.Peer(addr("127.1.5.1"))
		return st.LastError != nil && st.LastError.Shutdown == "maintenance"
	})
	// a sends the NOTIFICATION before its own FSM reaches Idle: b may hear it first.
	eventually(t, "the disabled peer idle and admin-down", func() bool {
		st, _ := a.Peer(pb)
		return st.AdminDown && st.State == Idle
	})
	if err := a.EnablePeer(pb); err != nil {
		t.Fatal(err)
	}
	waitState(t, a, pb, Established)

	if err := a.ResetPeer(pb, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b hears the reset", func() bool {
		st, _ := b.Peer(addr("127.1.5.1"))
		return st.LastError != nil && st.LastError.Subcode == proto.SubAdminReset
	})
	waitState(t, a, pb, Established)
	if err := a.ResetPeer(pb, true); err != nil {
		t.Errorf("soft reset: %v", err)
	}
	select {
	case rr := <-refreshes:
		if rr.Family != proto.IPv4Unicast || rr.Subtype != proto.RefreshNormal {
			t.Errorf("refresh %v", rr)
		}
	case <-time.After(waitLimit):
		t.Fatal("b's route-refresh hook not called")
	}
	if st, _ := b.Peer(addr("127.1.5.1")); st.Counters.MsgIn[proto.MsgRouteRefresh] != 1 {
		t.Errorf("ROUTE-REFRESH in: %d", st.Counters.MsgIn[proto.MsgRouteRefresh])
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.DeletePeer(ctx, pb); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b hears de-configured", func() bool {
		st, _ := b.Peer(addr("127.1.5.1"))
		return st.LastError != nil && st.LastError.Subcode == proto.SubPeerDeconfigured
	})
	if _, ok := a.Peer(pb); ok {
		t.Error("deleted peer still listed")
	}
}

// TestNoGoroutineLeak: after Close every goroutine a server started has ended.
func TestNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var servers []*Server
		for i, as := range []uint32{65001, 65002, 65003} {
			s, err := New(ServerConfig{AS: as, RouterID: addr(fmt.Sprintf("10.0.0.%d", i+1)),
				ListenAddrs: []netip.Addr{addr(fmt.Sprintf("127.1.6.%d", i+1))}}, Deps{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			servers = append(servers, s)
		}
		// A full mesh, every pair active on both sides, plus a peer that never answers.
		for i, s := range servers {
			for j, o := range servers {
				if i != j {
					addPeer(t, s, PeerConfig{Addr: addr(fmt.Sprintf("127.1.6.%d", j+1)), PeerAS: uint32(65001 + j),
						RemotePort: listenPort(o), IdleHoldTime: 20 * time.Millisecond, ConnectRetry: 500 * time.Millisecond})
				}
			}
			addPeer(t, s, PeerConfig{Addr: addr("127.1.6.99"), PeerAS: 65099, RemotePort: 1})
		}
		for i, s := range servers {
			for j := range servers {
				if i != j {
					waitState(t, s, addr(fmt.Sprintf("127.1.6.%d", j+1)), Established)
				}
			}
		}
		for _, s := range servers {
			if err := s.Close(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}()
	eventually(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= base })
}

// rawPeer is a BGP speaker made of a net.Conn and the proto encoders, for behaviour a
// fanout server cannot produce (silence, not reading, chosen capabilities).
type rawPeer struct {
	t     testing.TB
	nc    net.Conn
	buf   []byte
	start int
	end   int
}

func dialRaw(t testing.TB, local string, to netip.AddrPort, rcvBuf int) *rawPeer {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	if rcvBuf > 0 {
		d.Control = smallRcvBuf(rcvBuf)
	}
	nc, err := d.Dial("tcp", to.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawPeer{t: t, nc: nc, buf: make([]byte, 1<<17)}
}

func (r *rawPeer) send(b []byte) {
	r.t.Helper()
	r.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("raw peer write: %v", err)
	}
}

func (r *rawPeer) sendOpen(as uint32, id string, hold uint16, caps func(c *proto.Capabilities)) {
	r.t.Helper()
	o := &proto.Open{Version: 4, AS: uint16(as), HoldTime: hold, ID: addr(id)}
	if as > 0xffff {
		o.AS = uint16(proto.ASTrans)
	}
	o.Caps.HasAS4, o.Caps.AS4 = true, as
	o.Caps.Multiprotocol = []proto.Family{proto.IPv4Unicast}
	o.Caps.RouteRefresh = true
	if caps != nil {
		caps(&o.Caps)
	}
	b, err := proto.AppendOpen(nil, o)
	if err != nil {
		r.t.Fatal(err)
	}
	r.send(b)
}

// read returns the next message (body copied), failing the test after d.
func (r *rawPeer) read(d time.Duration) (uint8, []byte, error) {
	for {
		h, body, n, err := proto.NextMessage(r.buf[r.start:r.end], proto.MaxExtendedMessage)
		if err != nil {
			return 0, nil, err
		}
		if n > 0 {
			r.start += n
			return h.Type, append([]byte(nil), body...), nil
		}
		if r.start > 0 {
			r.end = copy(r.buf, r.buf[r.start:r.end])
			r.start = 0
		}
		r.nc.SetReadDeadline(time.Now().Add(d))
		nr, err := r.nc.Read(r.buf[r.end:])
		r.end += nr
		if err != nil && nr == 0 {
			return 0, nil, err
		}
	}
}

func (r *rawPeer) expect(typ uint8) []byte {
	r.t.Helper()
	got, body, err := r.read(waitLimit)
	if err != nil {
		r.t.Fatalf("raw peer: waiting for %s: %v", proto.MessageTypeName(typ), err)
	}
	if got != typ {
		extra := ""
		if got == proto.MsgNotification {
			var n proto.Notification
			proto.DecodeNotification(body, &n)
			extra = ": " + n.String()
		}
		r.t.Fatalf("raw peer: got %s, want %s%s", proto.MessageTypeName(got), proto.MessageTypeName(typ), extra)
	}
	return body
}

// expectNotification skips KEEPALIVEs until a NOTIFICATION arrives.
func (r *rawPeer) expectNotification(d time.Duration) proto.Notification {
	r.t.Helper()
	for range 1000 {
		typ, body, err := r.read(d)
		if err != nil {
			r.t.Fatalf("raw peer: waiting for a NOTIFICATION: %v", err)
		}
		if typ == proto.MsgNotification {
			var n proto.Notification
			if err := proto.DecodeNotification(body, &n); err != nil {
				r.t.Fatal(err)
			}
			return n
		}
	}
	r.t.Fatal("no NOTIFICATION")
	return proto.Notification{}
}

// handshake runs the OPEN exchange up to Established from the raw side and returns
// fanout's OPEN.
func (r *rawPeer) handshake(as uint32, id string, hold uint16, caps func(c *proto.Capabilities)) *proto.Open {
	r.t.Helper()
	r.sendOpen(as, id, hold, caps)
	var o proto.Open
	if err := proto.DecodeOpen(r.expect(proto.MsgOpen), &o); err != nil {
		r.t.Fatal(err)
	}
	r.expect(proto.MsgKeepalive)
	r.send(proto.AppendKeepalive(nil))
	return &o
}
