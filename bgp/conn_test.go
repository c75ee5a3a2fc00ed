package bgp

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/fanoutd/fanout/proto"
)

func smallRcvBuf(n int) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n) })
		if err != nil {
			return err
		}
		return serr
	}
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// advanceUntil moves a fake clock in steps of step until cond holds (at most n steps).
func advanceUntil(t testing.TB, c *FakeClock, step time.Duration, n int, what string, cond func() bool) {
	t.Helper()
	for range n {
		if cond() {
			return
		}
		c.Advance(step)
		time.Sleep(2 * time.Millisecond) // let the session goroutine run
	}
	eventually(t, what, cond)
}

// passiveForRaw starts a server at local with one passive peer at peer and returns it.
func passiveForRaw(t testing.TB, local, peer string, clock Clock, routing Routing, cfg PeerConfig) *Server {
	s := testServer(t, local, 65000, "10.0.0.1", clock, routing)
	cfg.Addr, cfg.Passive = addr(peer), true
	if cfg.PeerAS == 0 {
		cfg.PeerAS = 65010
	}
	addPeer(t, s, cfg)
	waitState(t, s, addr(peer), Active)
	return s
}

// TestHoldTimerExpires: a peer that goes silent gets NOTIFICATION 4/0 once the hold time
// passes (RFC 4271 §6.5), measured on the fake clock.
func TestHoldTimerExpires(t *testing.T) {
	clock := NewFakeClock(epoch)
	rt := newTestRouting()
	s := passiveForRaw(t, "127.1.10.1", "127.1.10.2", clock, rt, PeerConfig{HoldTime: 9 * time.Second})
	r := dialRaw(t, "127.1.10.2", s.ListenAddrs()[0], 0)
	r.handshake(65010, "10.0.0.2", 9, nil)
	waitState(t, s, addr("127.1.10.2"), Established)

	clock.Advance(8 * time.Second) // not yet: keepalives flow from fanout only
	if state(s, addr("127.1.10.2")) != Established {
		t.Fatal("session dropped before the hold time")
	}
	advanceUntil(t, clock, time.Second, 5, "hold timer expiry", func() bool { return state(s, addr("127.1.10.2")) != Established })
	n := r.expectNotification(waitLimit)
	if n.Code != proto.CodeHoldTimer {
		t.Errorf("got %v, want Hold Timer Expired", n.String())
	}
	st, _ := s.Peer(addr("127.1.10.2"))
	if st.LastError == nil || !st.LastError.Sent || st.LastError.Code != proto.CodeHoldTimer || st.Flaps != 1 {
		t.Errorf("status %+v", st)
	}
	if _, downs := rt.sessions(); downs != 1 {
		t.Errorf("Ingest.Down called %d times", downs)
	}
}

// TestHoldTimerBackPressure: while the reader waits in a blocked Ingest.Update, the peer's
// hold timer does not expire however long it takes; once the Ingest lets go, the peer gets
// a full hold time again and then expires if it stays silent.
func TestHoldTimerBackPressure(t *testing.T) {
	clock := NewFakeClock(epoch)
	rt := newTestRouting()
	rt.block, rt.entered = make(chan struct{}), make(chan struct{}, 1)
	s := passiveForRaw(t, "127.1.11.1", "127.1.11.2", clock, rt, PeerConfig{HoldTime: 9 * time.Second})
	r := dialRaw(t, "127.1.11.2", s.ListenAddrs()[0], 0)
	r.handshake(65010, "10.0.0.2", 9, nil)
	waitState(t, s, addr("127.1.11.2"), Established)
	info := rt.lastInfo()
	r.send(v4Update(t, &info.Recv, addr("198.18.0.1"), 0, nlri("10.11.0.0/24")))
	select {
	case <-rt.entered:
	case <-time.After(waitLimit):
		t.Fatal("Update not called")
	}
	for range 10 { // 50 s of fake time, well past 9 s
		clock.Advance(5 * time.Second)
		time.Sleep(2 * time.Millisecond)
	}
	if st := state(s, addr("127.1.11.2")); st != Established {
		t.Fatalf("hold timer expired during back-pressure: %v", st)
	}
	close(rt.block)
	eventually(t, "route applied", func() bool { _, ok := rt.route(netip.MustParsePrefix("10.11.0.0/24"), 0); return ok })
	clock.Advance(8 * time.Second)
	time.Sleep(10 * time.Millisecond)
	if st := state(s, addr("127.1.11.2")); st != Established {
		t.Fatalf("hold timer expired less than a hold time after back-pressure ended: %v", st)
	}
	advanceUntil(t, clock, time.Second, 5, "hold timer expiry", func() bool { return state(s, addr("127.1.11.2")) != Established })
	if n := r.expectNotification(waitLimit); n.Code != proto.CodeHoldTimer {
		t.Errorf("got %v", n.String())
	}
}

// TestSendHoldTimer: a peer that stops reading is dropped once fanout's writer has been
// stuck for the send hold time (RFC 9687), with NOTIFICATION 8/0 recorded.
func TestSendHoldTimer(t *testing.T) {
	clock := NewFakeClock(epoch)
	s := passiveForRaw(t, "127.1.12.1", "127.1.12.2", clock, nil,
		PeerConfig{HoldTime: 90 * time.Second, SendHoldTime: 20 * time.Second, SendBufferLimit: 64 << 10})
	r := dialRaw(t, "127.1.12.2", s.ListenAddrs()[0], 4096)
	r.handshake(65010, "10.0.0.2", 90, nil)
	pa := addr("127.1.12.2")
	waitState(t, s, pa, Established)
	p := s.Lookup(pa)
	info := p.Status().Session
	var ps []proto.NLRI
	for i := range 400 {
		ps = append(ps, nlri(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24).String()))
	}
	msg := v4Update(t, &info.Send, addr("198.18.0.1"), 0, ps...)
	// The raw peer never reads: fill its receive window, our socket buffer and the
	// SendBuffer until appends are refused for a while.
	refused := 0
	for i := 0; i < 50000 && refused < 50; i++ {
		if p.SendBulk(msg) {
			refused = 0
			continue
		}
		refused++
		time.Sleep(2 * time.Millisecond)
	}
	if refused < 50 {
		t.Fatal("the send buffer never filled")
	}
	clock.Advance(15 * time.Second)
	time.Sleep(10 * time.Millisecond)
	if state(s, pa) != Established {
		t.Fatal("dropped before the send hold time")
	}
	advanceUntil(t, clock, time.Second, 10, "send hold expiry", func() bool { return state(s, pa) != Established })
	st, _ := s.Peer(pa)
	if st.LastError == nil || !st.LastError.Sent || st.LastError.Code != proto.CodeSendHoldTimer || st.Flaps != 1 {
		t.Errorf("status %+v, last error %+v", st, st.LastError)
	}
	r.nc.SetReadDeadline(time.Now().Add(waitLimit))
	var sink [1 << 16]byte
	for {
		if _, err := r.nc.Read(sink[:]); err != nil {
			break // fanout closed the connection
		}
	}
}

// TestMaxPrefixes: over the limit fanout sends Cease / Maximum Number of Prefixes Reached
// with the AFI, SAFI and limit as data (RFC 4486 §4) and stays down until EnablePeer; with
// RestartAfter it comes back by itself after that delay.
func TestMaxPrefixes(t *testing.T) {
	clock := NewFakeClock(epoch)
	s := passiveForRaw(t, "127.1.13.1", "127.1.13.2", clock, newTestRouting(),
		PeerConfig{MaxPrefixes: MaxPrefixes{Limit: 3}, IdleHoldTime: -1})
	pa := addr("127.1.13.2")
	s2 := passiveForRaw(t, "127.1.13.3", "127.1.13.4", clock, newTestRouting(),
		PeerConfig{MaxPrefixes: MaxPrefixes{Limit: 3, RestartAfter: 30 * time.Second}, IdleHoldTime: -1})
	pb := addr("127.1.13.4")
	for _, c := range []struct {
		s    *Server
		peer netip.Addr
	}{{s, pa}, {s2, pb}} {
		r := dialRaw(t, c.peer.String(), c.s.ListenAddrs()[0], 0)
		r.handshake(65010, "10.0.0.2", 90, nil)
		waitState(t, c.s, c.peer, Established)
		opts := proto.SessionOptions{AS4: true}
		r.send(v4Update(t, &opts, addr("198.18.0.1"), 0, nlri("10.1.0.0/24"), nlri("10.1.1.0/24")))
		r.send(v4Update(t, &opts, addr("198.18.0.1"), 0, nlri("10.1.2.0/24"), nlri("10.1.3.0/24")))
		n := r.expectNotification(waitLimit)
		want := []byte{0, 1, 1, 0, 0, 0, 3}
		if n.Code != proto.CodeCease || n.Subcode != proto.SubMaxPrefixes || string(n.Data) != string(want) {
			t.Errorf("got %v data %x, want 6/1 data %x", n.String(), n.Data, want)
		}
		waitState(t, c.s, c.peer, Idle)
	}
	// Without RestartAfter the peer stays down, whatever the time.
	clock.Advance(time.Hour)
	time.Sleep(10 * time.Millisecond)
	if st := state(s, pa); st != Idle {
		t.Errorf("peer restarted by itself: %v", st)
	}
	if st := state(s2, pb); st != Active {
		t.Errorf("peer with RestartAfter not restarted: %v", st)
	}
	if err := s.EnablePeer(pa); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, pa, Active)
}

// TestAddPathReceive: fanout announces ADD-PATH receive; a peer that announces send gets
// its path identifiers decoded (RFC 7911); extended messages need both sides (RFC 8654).
func TestAddPathReceive(t *testing.T) {
	rt := newTestRouting()
	s := passiveForRaw(t, "127.1.14.1", "127.1.14.2", nil, rt,
		PeerConfig{AddPathReceive: []proto.Family{proto.IPv4Unicast}, Families: []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast}})
	r := dialRaw(t, "127.1.14.2", s.ListenAddrs()[0], 0)
	o := r.handshake(65010, "10.0.0.2", 90, func(c *proto.Capabilities) {
		c.Multiprotocol = []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast}
		c.AddPath = []proto.AddPathFamily{{Family: proto.IPv4Unicast, Mode: proto.AddPathSend}}
		c.ExtendedMessage = true
	})
	if o.Caps.AddPathFor(proto.IPv4Unicast) != proto.AddPathReceive || !o.Caps.HasAS4 || !o.Caps.RouteRefresh || o.Caps.ExtendedMessage {
		t.Errorf("fanout's OPEN capabilities %+v", o.Caps)
	}
	waitState(t, s, addr("127.1.14.2"), Established)
	info := rt.lastInfo()
	if !info.Recv.AddPath.Has(proto.IPv4Unicast) || info.Send.AddPath.Has(proto.IPv4Unicast) || info.Recv.ExtendedMessage {
		t.Errorf("negotiated %+v / %+v", info.Recv, info.Send)
	}
	if len(info.Families) != 2 {
		t.Errorf("families %v", info.Families)
	}
	opts := proto.SessionOptions{AS4: true}
	opts.AddPath.Set(proto.IPv4Unicast)
	p1, p2 := nlri("10.14.0.0/24"), nlri("10.14.0.0/24")
	p1.PathID, p2.PathID = 1, 2
	r.send(v4Update(t, &opts, addr("198.18.0.1"), 0, p1, p2))
	r.send(proto.AppendKeepalive(nil))
	eventually(t, "both paths", func() bool {
		_, ok1 := rt.route(p1.Prefix, 1)
		_, ok2 := rt.route(p2.Prefix, 2)
		return ok1 && ok2
	})
	// End-of-RIB goes to EndOfRIB, not Update.
	eor, _ := proto.AppendEndOfRIB(nil, proto.IPv4Unicast)
	r.send(eor)
	eventually(t, "End-of-RIB", func() bool {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return len(rt.eors) == 1 && rt.eors[0] == proto.IPv4Unicast
	})
}

// TestOpenRefusals: OPENs fanout refuses, each with its NOTIFICATION.
func TestOpenRefusals(t *testing.T) {
	cases := []struct {
		name      string
		as        uint32
		id        string
		caps      func(c *proto.Capabilities)
		cfg       PeerConfig
		code, sub uint8
	}{
		{"bad peer AS", 65011, "10.0.0.2", nil, PeerConfig{}, proto.CodeOpen, proto.SubBadPeerAS},
		{"no common family", 65010, "10.0.0.2", func(c *proto.Capabilities) { c.Multiprotocol = []proto.Family{proto.IPv6Unicast} },
			PeerConfig{}, proto.CodeOpen, proto.SubUnsupportedCapability},
		{"internal peer with our identifier", 65000, "10.0.0.1", nil, PeerConfig{PeerAS: 65000}, proto.CodeOpen, proto.SubBadBGPIdentifier},
		{"role mismatch", 65010, "10.0.0.2", func(c *proto.Capabilities) { c.HasRole, c.Role = true, proto.RoleProvider },
			PeerConfig{HasRole: true, Role: proto.RoleProvider}, proto.CodeOpen, proto.SubRoleMismatch},
		{"strict role missing", 65010, "10.0.0.2", nil,
			PeerConfig{HasRole: true, Role: proto.RoleRS, StrictRole: true}, proto.CodeOpen, proto.SubRoleMismatch},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			local, peer := netip.AddrFrom4([4]byte{127, 1, 15, byte(2*i + 1)}), netip.AddrFrom4([4]byte{127, 1, 15, byte(2*i + 2)})
			s := passiveForRaw(t, local.String(), peer.String(), nil, nil, c.cfg)
			r := dialRaw(t, peer.String(), s.ListenAddrs()[0], 0)
			r.sendOpen(c.as, c.id, 90, c.caps)
			r.expect(proto.MsgOpen)
			n := r.expectNotification(waitLimit)
			if n.Code != c.code || n.Subcode != c.sub {
				t.Errorf("got %v, want %d/%d", n.String(), c.code, c.sub)
			}
			st, _ := s.Peer(peer)
			if st.LastError == nil || !st.LastError.Sent || st.LastError.Subcode != c.sub {
				t.Errorf("last error %+v", st.LastError)
			}
		})
	}
}

// TestUpdateErrors: RFC 7606 outcomes. A treat-as-withdraw error withdraws the message's
// prefixes and keeps the session; a session-reset error sends its NOTIFICATION; an UPDATE
// before Established is an FSM error (RFC 6608).
func TestUpdateErrors(t *testing.T) {
	rt := newTestRouting()
	s := passiveForRaw(t, "127.1.16.1", "127.1.16.2", nil, rt, PeerConfig{IdleHoldTime: -1})
	pa := addr("127.1.16.2")
	r := dialRaw(t, "127.1.16.2", s.ListenAddrs()[0], 0)
	r.handshake(65010, "10.0.0.2", 90, nil)
	waitState(t, s, pa, Established)
	opts := proto.SessionOptions{AS4: true}
	good := v4Update(t, &opts, addr("198.18.0.1"), 0, nlri("10.16.0.0/24"))
	r.send(good)
	eventually(t, "route", func() bool { _, ok := rt.route(netip.MustParsePrefix("10.16.0.0/24"), 0); return ok })
	// The same UPDATE with an invalid ORIGIN value: treat-as-withdraw (RFC 7606 §7.1).
	bad := append([]byte(nil), good...)
	i := originValueOffset(t, bad)
	bad[i] = 7
	r.send(bad)
	eventually(t, "withdrawn", func() bool { _, ok := rt.route(netip.MustParsePrefix("10.16.0.0/24"), 0); return !ok })
	if st, _ := s.Peer(pa); st.State != Established || st.Counters.UpdateErrors != 1 {
		t.Fatalf("after treat-as-withdraw: %+v", st)
	}
	// A bad message length in the header: 1/2.
	hdr := proto.AppendHeader(nil, 19, proto.MsgUpdate)
	r.send(hdr)
	n := r.expectNotification(waitLimit)
	if n.Code != proto.CodeHeader || n.Subcode != proto.SubBadMessageLength {
		t.Errorf("got %v, want 1/2", n.String())
	}
	waitState(t, s, pa, Active)

	// UPDATE in OpenConfirm: 5/2.
	r2 := dialRaw(t, "127.1.16.2", s.ListenAddrs()[0], 0)
	r2.sendOpen(65010, "10.0.0.2", 90, nil)
	r2.expect(proto.MsgOpen)
	r2.expect(proto.MsgKeepalive)
	r2.send(good)
	if n := r2.expectNotification(waitLimit); n.Code != proto.CodeFSM || n.Subcode != proto.SubFSMUnexpectedOpenConfirm {
		t.Errorf("got %v, want 5/2", n.String())
	}
}

// originValueOffset finds the ORIGIN attribute value in a single UPDATE message built by
// v4Update (attributes in type order, so ORIGIN is first).
func originValueOffset(t testing.TB, msg []byte) int {
	wlen := int(binary.BigEndian.Uint16(msg[19:]))
	at := 19 + 2 + wlen + 2 // first attribute
	if msg[at+1] != proto.AttrOrigin {
		t.Fatalf("first attribute is %d", msg[at+1])
	}
	return at + 3
}

// TestCollisionRawPeer: RFC 4271 §6.8 with a raw peer holding both connections: fanout
// keeps the connection initiated by the speaker with the higher BGP identifier and sends
// Cease / Connection Collision Resolution (6/7) on the other.
func TestCollisionRawPeer(t *testing.T) {
	for i, c := range []struct {
		name       string
		peerID     string
		keepDialed bool // fanout's outgoing connection survives
	}{
		{"peer id higher", "10.0.0.9", false},
		{"peer id lower", "9.0.0.1", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			local := netip.AddrFrom4([4]byte{127, 1, 17, byte(2*i + 1)})
			peer := netip.AddrFrom4([4]byte{127, 1, 17, byte(2*i + 2)})
			// The raw peer listens; fanout dials it.
			ln, err := net.Listen("tcp", netip.AddrPortFrom(peer, 0).String())
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			s := testServer(t, local.String(), 65000, "10.0.0.5", nil, nil)
			addPeer(t, s, PeerConfig{Addr: peer, PeerAS: 65010, RemotePort: uint16(ln.Addr().(*net.TCPAddr).Port), IdleHoldTime: -1})
			ln.(*net.TCPListener).SetDeadline(time.Now().Add(waitLimit))
			nc, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			dialed := &rawPeer{t: t, nc: nc, buf: make([]byte, 1<<17)}
			defer nc.Close()
			dialed.expect(proto.MsgOpen)
			dialed.sendOpen(65010, c.peerID, 90, nil)
			dialed.expect(proto.MsgKeepalive) // fanout's dialled connection is in OpenConfirm
			accepted := dialRaw(t, peer.String(), s.ListenAddrs()[0], 0)
			accepted.expect(proto.MsgOpen)
			accepted.sendOpen(65010, c.peerID, 90, nil)
			loser, winner := accepted, dialed
			if !c.keepDialed {
				loser, winner = dialed, accepted
			}
			if n := loser.expectNotification(waitLimit); n.Code != proto.CodeCease || n.Subcode != proto.SubCollisionResolution {
				t.Fatalf("loser got %v, want 6/7", n.String())
			}
			winner.send(proto.AppendKeepalive(nil))
			waitState(t, s, peer, Established)
			e := s.Lookup(peer).counters.session.Load()
			if e == nil || e.conn.outgoing != c.keepDialed {
				t.Errorf("kept the wrong connection")
			}
		})
	}
}
