package bgp

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
)

// grPeer is a raw speaker that announces graceful restart (RFC 4724 §3).
type grPeer struct {
	t    *testing.T
	srv  *Server
	a    string
	p    *rawPeer
	opts proto.SessionOptions
}

// connect opens a session announcing a Restart Time of restart seconds; fwd sets the F
// bit for IPv4 unicast, restarted the Restart State bit, notif the N bit (RFC 8538).
func (g *grPeer) connect(restart uint16, fwd, restarted, notif bool) *proto.Open {
	g.t.Helper()
	g.p = dialRaw(g.t, g.a, g.srv.ListenAddrs()[0], 0)
	return g.p.handshake(65000, g.a, 0, func(c *proto.Capabilities) {
		gr := &c.GracefulRestart
		gr.Present, gr.Time = true, restart
		if restarted {
			gr.Flags |= proto.GRRestartState
		}
		if notif {
			gr.Flags |= proto.GRNotification
		}
		f := proto.GRFamily{Family: proto.IPv4Unicast}
		if fwd {
			f.Flags = proto.GRForwarding
		}
		gr.Families = []proto.GRFamily{f}
	})
}

// announce sends the prefixes with LOCAL_PREF lp.
func (g *grPeer) announce(lp uint32, ps ...string) { g.announceComm(lp, nil, ps...) }

// announceComm sends the prefixes with LOCAL_PREF lp and COMMUNITIES comm (none if nil).
func (g *grPeer) announceComm(lp uint32, comm []byte, ps ...string) {
	g.t.Helper()
	wire := ibgpWire(g.t, lp, comm)
	var b proto.UpdateBuilder
	b.Reset(&g.opts)
	for _, p := range ps {
		b.Announce(proto.IPv4Unicast, wire, proto.MPNextHop{Addr: addr("198.18.10.1")}, proto.NLRI{Prefix: netip.MustParsePrefix(p)})
	}
	msg, err := b.AppendMessages(nil)
	if err != nil {
		g.t.Fatal(err)
	}
	g.p.send(msg)
}

func (g *grPeer) endOfRIB() {
	g.t.Helper()
	msg, err := proto.AppendEndOfRIB(nil, proto.IPv4Unicast)
	if err != nil {
		g.t.Fatal(err)
	}
	g.p.send(msg)
}

// watcher follows a raw receiver's table: prefix → LOCAL_PREF, and every withdrawal seen.
type watcher struct {
	t         *testing.T
	p         *rawPeer
	opts      proto.SessionOptions
	table     map[string]uint32
	withdrawn []string
	eor       int
	llgr      map[string]bool // prefixes last announced with LLGR_STALE (RFC 9494)
}

// pump applies what arrives within d.
func (w *watcher) pump(d time.Duration) {
	w.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); {
		typ, body, err := w.p.read(time.Until(end))
		if err != nil {
			return
		}
		if typ != proto.MsgUpdate {
			continue
		}
		var u proto.Update
		if err := proto.DecodeUpdate(body, &w.opts, &u); err != nil {
			w.t.Fatal(err)
		}
		if _, eor := proto.EndOfRIB(&u); eor {
			w.eor++
			continue
		}
		var n proto.NLRI
		for it := u.IterWithdrawn(&w.opts); it.Next(&n); {
			delete(w.table, n.Prefix.String())
			w.withdrawn = append(w.withdrawn, n.Prefix.String())
		}
		stale := false
		for c := u.Attrs.Communities; u.Attrs.Present.Has(proto.AttrCommunities) && len(c) >= 4; c = c[4:] {
			stale = stale || string(c[:4]) == "\xff\xff\x00\x06"
		}
		for it := u.IterNLRI(&w.opts); it.Next(&n); {
			w.table[n.Prefix.String()] = u.Attrs.LocalPref
			if w.llgr != nil {
				w.llgr[n.Prefix.String()] = stale
			}
		}
	}
}

// until pumps until cond holds, failing after waitLimit.
func (w *watcher) until(what string, cond func() bool) {
	w.t.Helper()
	for end := time.Now().Add(waitLimit); !cond(); {
		if time.Now().After(end) {
			w.t.Fatalf("%s: table %v, withdrawn %v", what, w.table, w.withdrawn)
		}
		w.pump(20 * time.Millisecond)
	}
}

func (w *watcher) has(want map[string]uint32) func() bool {
	return func() bool {
		if len(w.table) != len(want) {
			return false
		}
		for k, v := range want {
			if w.table[k] != v {
				return false
			}
		}
		return true
	}
}

// Graceful restart, helper side (RFC 4724 §4.2, RFC 8538 §4): a restarting peer's routes
// survive its restart without a withdrawal reaching anyone; what it re-sends replaces them in
// place; what it does not re-send goes at its End-of-RIB; if it does not come back within
// its Restart Time, its routes go; a NOTIFICATION ends the session for good unless both
// announced the N bit; a restart without the F bit sweeps at once.
func TestGracefulRestartHelper(t *testing.T) {
	srv, _, _ := exportServer(t, "127.1.64.1")
	gr := GracefulRestartConfig{Enabled: true, RestartTime: 30 * time.Second, Notification: true}
	addPeer(t, srv, PeerConfig{Addr: addr("127.1.64.10"), PeerAS: 65000, RRClient: true, Passive: true, IdleHoldTime: -1, GracefulRestart: gr})
	addPeer(t, srv, PeerConfig{Addr: addr("127.1.64.20"), PeerAS: 65000, RRClient: true, Passive: true})
	spk := &grPeer{t: t, srv: srv, a: "127.1.64.10", opts: proto.SessionOptions{AS4: true}}
	o := spk.connect(30, true, false, false)
	if !o.Caps.GracefulRestart.Present || o.Caps.GracefulRestart.Flags&proto.GRNotification == 0 {
		t.Fatalf("fanout's OPEN: graceful restart %+v, want present with the N bit", o.Caps.GracefulRestart)
	}
	waitState(t, srv, addr("127.1.64.10"), Established)
	rp := dialRaw(t, "127.1.64.20", srv.ListenAddrs()[0], 0)
	rp.handshake(65000, "127.1.64.20", 0, nil)
	waitState(t, srv, addr("127.1.64.20"), Established)
	w := &watcher{t: t, p: rp, opts: proto.SessionOptions{AS4: true}, table: map[string]uint32{}}

	spk.announce(100, "10.64.1.0/24", "10.64.2.0/24", "10.64.3.0/24")
	spk.endOfRIB()
	w.until("learned", w.has(map[string]uint32{"10.64.1.0/24": 100, "10.64.2.0/24": 100, "10.64.3.0/24": 100}))

	// The TCP connection fails: nothing is withdrawn.
	spk.p.nc.Close()
	eventually(t, "session down", func() bool { st, _ := srv.Peer(addr("127.1.64.10")); return st.State != Established })
	w.pump(300 * time.Millisecond)
	if len(w.withdrawn) != 0 || len(w.table) != 3 {
		t.Fatalf("after the peer's TCP failure: withdrawn %v, table %v", w.withdrawn, w.table)
	}

	// It comes back: one route unchanged, one changed, one not re-sent.
	spk.connect(30, true, true, true)
	waitState(t, srv, addr("127.1.64.10"), Established)
	spk.announce(100, "10.64.1.0/24")
	spk.announce(200, "10.64.2.0/24")
	w.until("refreshed", func() bool { return w.table["10.64.2.0/24"] == 200 })
	if len(w.withdrawn) != 0 {
		t.Fatalf("before End-of-RIB: withdrawn %v", w.withdrawn)
	}
	spk.endOfRIB()
	w.until("stale route swept at End-of-RIB", w.has(map[string]uint32{"10.64.1.0/24": 100, "10.64.2.0/24": 200}))
	if !slices.Equal(w.withdrawn, []string{"10.64.3.0/24"}) {
		t.Fatalf("withdrawn %v, want only the route not re-sent", w.withdrawn)
	}

	// A NOTIFICATION (not Hard Reset) with the N bit on both sides: kept too (RFC 8538).
	spk.p.send(proto.AppendNotification(nil, &proto.Notification{Code: proto.CodeCease, Subcode: proto.SubAdminReset}, proto.MaxMessageLen))
	spk.p.nc.Close()
	eventually(t, "session down", func() bool { st, _ := srv.Peer(addr("127.1.64.10")); return st.State != Established })
	w.pump(300 * time.Millisecond)
	if len(w.withdrawn) != 1 {
		t.Fatalf("after a NOTIFICATION with N: withdrawn %v", w.withdrawn)
	}

	// Back without the F bit: the stale routes go at once (RFC 4724 §4.2).
	spk.connect(1, false, true, true)
	waitState(t, srv, addr("127.1.64.10"), Established)
	w.until("swept without F", w.has(map[string]uint32{}))

	// Announce again, then fail and never come back within the Restart Time (1 s).
	spk.announce(300, "10.64.4.0/24")
	spk.endOfRIB()
	w.until("learned again", w.has(map[string]uint32{"10.64.4.0/24": 300}))
	spk.p.nc.Close()
	start := time.Now()
	w.until("swept at the restart timer", w.has(map[string]uint32{}))
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Fatalf("stale routes removed after %v, before the 1 s Restart Time", d)
	}

	// A Hard Reset ends it for good, N bit or not.
	spk.connect(30, true, false, true)
	waitState(t, srv, addr("127.1.64.10"), Established)
	spk.announce(100, "10.64.5.0/24")
	w.until("learned a fifth", w.has(map[string]uint32{"10.64.5.0/24": 100}))
	spk.p.send(proto.AppendNotification(nil, &proto.Notification{Code: proto.CodeCease, Subcode: proto.SubHardReset}, proto.MaxMessageLen))
	w.until("withdrawn at Hard Reset", w.has(map[string]uint32{}))
}

// Graceful restart, restarting side (RFC 4724 §4.1): a restarting fanout announces the
// Restart State bit and sends nothing until its peers' End-of-RIB; then the settled table,
// then End-of-RIB, and later OPENs no longer carry the bit.
func TestGracefulRestartDeferral(t *testing.T) {
	r, s := newTestRIB(t, 0)
	srv, err := New(ServerConfig{AS: 65000, RouterID: addr("10.255.0.1"), ListenAddrs: []netip.Addr{addr("127.1.65.1")}, Restarting: true},
		Deps{Logger: zap.NewNop(), Scheduler: s, Routing: r})
	if err != nil {
		t.Fatal(err)
	}
	r.DeferExport([]netip.Addr{addr("127.1.65.10"), addr("127.1.65.11")}, 20*time.Second, nil, srv.RestartDone)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(ctx)
	})
	gr := GracefulRestartConfig{Enabled: true, RestartTime: 30 * time.Second}
	for _, a := range []string{"127.1.65.10", "127.1.65.11", "127.1.65.20"} {
		addPeer(t, srv, PeerConfig{Addr: addr(a), PeerAS: 65000, RRClient: true, Passive: true, IdleHoldTime: -1, GracefulRestart: gr})
	}
	spk := []*grPeer{{t: t, srv: srv, a: "127.1.65.10"}, {t: t, srv: srv, a: "127.1.65.11"}}
	for _, g := range spk {
		if o := g.connect(30, true, false, false); o.Caps.GracefulRestart.Flags&proto.GRRestartState == 0 {
			t.Fatalf("restarting fanout's OPEN to %s without the Restart State bit", g.a)
		}
	}
	rp := dialRaw(t, "127.1.65.20", srv.ListenAddrs()[0], 0)
	rp.handshake(65000, "127.1.65.20", 0, nil) // no graceful restart: not waited for
	w := &watcher{t: t, p: rp, opts: proto.SessionOptions{AS4: true}, table: map[string]uint32{}}
	spk[0].announce(100, "10.65.1.0/24")
	spk[0].announce(150, "10.65.1.0/24") // superseded before anyone is sent anything
	spk[1].announce(100, "10.65.2.0/24")
	spk[0].endOfRIB()
	w.pump(400 * time.Millisecond)
	if len(w.table) != 0 || w.eor != 0 {
		t.Fatalf("sent during the deferral: table %v, End-of-RIB %d", w.table, w.eor)
	}
	spk[1].endOfRIB()
	w.until("the settled table after the last End-of-RIB", func() bool {
		return w.has(map[string]uint32{"10.65.1.0/24": 150, "10.65.2.0/24": 100})() && w.eor == 1
	})
	// The restart is over: a new session's OPEN has no Restart State bit.
	spk[0].p.nc.Close()
	eventually(t, "session down", func() bool { st, _ := srv.Peer(addr("127.1.65.10")); return st.State != Established })
	if o := spk[0].connect(30, true, false, false); o.Caps.GracefulRestart.Flags&proto.GRRestartState != 0 {
		t.Fatal("OPEN after the restart still has the Restart State bit")
	}
}

// Long-lived graceful restart (RFC 9494 §4): when a restarting peer's restart time runs
// out, its routes that allow it become long-lived stale: sent with LLGR_STALE to peers that
// announced LLGR and withdrawn from the others; a route with NO_LLGR goes; when the
// long-lived stale time runs out too, the rest go.
func TestLongLivedGracefulRestart(t *testing.T) {
	srv, _, _ := exportServer(t, "127.1.71.1")
	llgr := []proto.GRFamily{{Family: proto.IPv4Unicast, StaleTime: 60}}
	gr := GracefulRestartConfig{Enabled: true, RestartTime: 30 * time.Second, LongLived: llgr}
	addPeer(t, srv, PeerConfig{Addr: addr("127.1.71.10"), PeerAS: 65000, RRClient: true, Passive: true, IdleHoldTime: -1, GracefulRestart: gr})
	addPeer(t, srv, PeerConfig{Addr: addr("127.1.71.20"), PeerAS: 65000, RRClient: true, Passive: true, GracefulRestart: gr})
	addPeer(t, srv, PeerConfig{Addr: addr("127.1.71.21"), PeerAS: 65000, RRClient: true, Passive: true})
	spk := &grPeer{t: t, srv: srv, a: "127.1.71.10", opts: proto.SessionOptions{AS4: true}}
	spk.p = dialRaw(t, spk.a, srv.ListenAddrs()[0], 0)
	o := spk.p.handshake(65000, spk.a, 0, func(c *proto.Capabilities) {
		c.GracefulRestart = proto.GracefulRestart{Present: true, Time: 1,
			Families: []proto.GRFamily{{Family: proto.IPv4Unicast, Flags: proto.GRForwarding}}}
		c.LongLivedGR = proto.LongLivedGR{Present: true,
			Families: []proto.GRFamily{{Family: proto.IPv4Unicast, Flags: proto.GRForwarding, StaleTime: 2}}}
	})
	if !o.Caps.LongLivedGR.Present || len(o.Caps.LongLivedGR.Families) != 1 || o.Caps.LongLivedGR.Families[0].StaleTime != 60 {
		t.Fatalf("fanout's OPEN: LLGR %+v, want IPv4 unicast with stale time 60", o.Caps.LongLivedGR)
	}
	waitState(t, srv, addr(spk.a), Established)
	receiver := func(a string, caps func(*proto.Capabilities)) *watcher {
		p := dialRaw(t, a, srv.ListenAddrs()[0], 0)
		p.handshake(65000, a, 0, caps)
		waitState(t, srv, addr(a), Established)
		return &watcher{t: t, p: p, opts: proto.SessionOptions{AS4: true}, table: map[string]uint32{}, llgr: map[string]bool{}}
	}
	wl := receiver("127.1.71.20", func(c *proto.Capabilities) {
		c.LongLivedGR = proto.LongLivedGR{Present: true, Families: []proto.GRFamily{{Family: proto.IPv4Unicast, StaleTime: 60}}}
	})
	wp := receiver("127.1.71.21", nil)

	spk.announce(100, "10.71.1.0/24")
	spk.announceComm(100, []byte{0xff, 0xff, 0x00, 0x07}, "10.71.2.0/24") // NO_LLGR
	spk.endOfRIB()
	both := map[string]uint32{"10.71.1.0/24": 100, "10.71.2.0/24": 100}
	wl.until("LLGR receiver learns", wl.has(both))
	wp.until("plain receiver learns", wp.has(both))

	spk.p.nc.Close()
	start := time.Now()
	// Restart time (1 s): then LLGR_STALE to the LLGR receiver, withdrawn from the other;
	// the NO_LLGR route withdrawn from both.
	wl.until("long-lived stale", func() bool {
		return wl.has(map[string]uint32{"10.71.1.0/24": 100})() && wl.llgr["10.71.1.0/24"]
	})
	wp.until("withdrawn from the receiver without LLGR", wp.has(map[string]uint32{}))
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Fatalf("long-lived stale after %v, before the 1 s restart time", d)
	}
	// Long-lived stale time (2 s): gone.
	wl.until("long-lived stale time over", wl.has(map[string]uint32{}))
	if d := time.Since(start); d < 2500*time.Millisecond {
		t.Fatalf("long-lived stale routes removed after %v, before restart + stale time (3 s)", d)
	}
}
