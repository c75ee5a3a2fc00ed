package bgp

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/fanoutd/fanout/proto"
)

// refreshReader follows what a raw receiver is sent: announced prefixes, End-of-RIB and
// BoRR/EoRR markers, in order.
type refreshReader struct {
	t    *testing.T
	p    *rawPeer
	opts proto.SessionOptions
}

// event is one thing the receiver got: "eor", "borr", "eorr", or "routes" with n prefixes.
type event struct {
	kind string
	n    int
}

// next returns the next event, or ok false when nothing came within d.
func (r *refreshReader) next(d time.Duration) (event, bool) {
	r.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); {
		typ, body, err := r.p.read(time.Until(end))
		if err != nil {
			return event{}, false
		}
		switch typ {
		case proto.MsgRouteRefresh:
			var rr proto.RouteRefresh
			if err := proto.DecodeRouteRefresh(body, &rr); err != nil {
				r.t.Fatal(err)
			}
			switch rr.Subtype {
			case proto.RefreshBoRR:
				return event{kind: "borr"}, true
			case proto.RefreshEoRR:
				return event{kind: "eorr"}, true
			}
			r.t.Fatalf("fanout sent a ROUTE-REFRESH request %v", rr)
		case proto.MsgUpdate:
			var u proto.Update
			if err := proto.DecodeUpdate(body, &r.opts, &u); err != nil {
				r.t.Fatal(err)
			}
			if _, eor := proto.EndOfRIB(&u); eor {
				return event{kind: "eor"}, true
			}
			n := 0
			var x proto.NLRI
			for it := u.IterNLRI(&r.opts); it.Next(&x); {
				n++
			}
			return event{kind: "routes", n: n}, true
		}
	}
	return event{}, false
}

// sync reads until the marker end and returns how many prefixes came before it.
func (r *refreshReader) sync(end string) int {
	r.t.Helper()
	n := 0
	for {
		ev, ok := r.next(waitLimit)
		if !ok {
			r.t.Fatalf("no %s after %d prefixes", end, n)
		}
		switch ev.kind {
		case "routes":
			n += ev.n
		case end:
			return n
		default:
			r.t.Fatalf("got %s while waiting for %s after %d prefixes", ev.kind, end, n)
		}
	}
}

// Answering ROUTE-REFRESH (RFC 2918, RFC 7313 §4) and its rate limit: a receiver that
// asks gets its whole table again, framed by BoRR and EoRR when both sides announced
// enhanced route refresh; a flood of requests causes one re-advertisement at a time, at
// least RefreshInterval apart, and the excess is counted; a soft reset out re-sends too.
func TestRouteRefreshAnswered(t *testing.T) {
	srv, _, _ := exportServer(t, "127.1.63.1")
	const routes = 300
	interval := 300 * time.Millisecond
	raw := func(a string, caps func(*proto.Capabilities)) *rawPeer {
		addPeer(t, srv, PeerConfig{Addr: addr(a), PeerAS: 65000, RRClient: true, Passive: true, RefreshInterval: interval})
		p := dialRaw(t, a, srv.ListenAddrs()[0], 0)
		p.handshake(65000, a, 0, caps)
		waitState(t, srv, addr(a), Established)
		return p
	}
	spk := raw("127.1.63.10", nil)
	enh := raw("127.1.63.20", func(c *proto.Capabilities) { c.EnhancedRouteRefresh = true })
	plain := raw("127.1.63.21", nil)
	opts := proto.SessionOptions{AS4: true}
	wire := ibgpWire(t, 100, nil)
	var b proto.UpdateBuilder
	b.Reset(&opts)
	for _, p := range prefixes("10.60.0.0", routes) {
		b.Announce(proto.IPv4Unicast, wire, proto.MPNextHop{Addr: addr("198.18.9.1")}, proto.NLRI{Prefix: p})
	}
	msg, err := b.AppendMessages(nil)
	if err != nil {
		t.Fatal(err)
	}
	spk.send(msg)
	er := &refreshReader{t: t, p: enh, opts: opts}
	pr := &refreshReader{t: t, p: plain, opts: opts}
	// The initial sync ends with End-of-RIB; the routes may come before or after it.
	total := func(r *refreshReader) int {
		n := r.sync("eor")
		for n < routes {
			ev, ok := r.next(waitLimit)
			if !ok || ev.kind != "routes" {
				t.Fatalf("initial sync: %d of %d prefixes, then %+v", n, routes, ev)
			}
			n += ev.n
		}
		return n
	}
	total(er)
	total(pr)

	rr := proto.AppendRouteRefresh(nil, proto.RouteRefresh{Family: proto.IPv4Unicast})
	enh.send(rr)
	if ev, ok := er.next(waitLimit); !ok || ev.kind != "borr" {
		t.Fatalf("enhanced refresh: first got %+v, want BoRR", ev)
	}
	if n := er.sync("eorr"); n != routes {
		t.Fatalf("enhanced refresh: %d prefixes between BoRR and EoRR, want %d", n, routes)
	}
	peer, _ := srv.Peer(addr("127.1.63.20"))
	if peer.Counters.RefreshesAnswered != 1 {
		t.Fatalf("answered %d refreshes, want 1", peer.Counters.RefreshesAnswered)
	}

	// A flood, once the interval since the last one has passed: 20 requests at once. The
	// first is answered at once; the rest coalesce into one more, an interval later.
	time.Sleep(interval)
	for range 20 {
		enh.send(rr)
	}
	start := time.Now()
	var borr []time.Duration
	for {
		ev, ok := er.next(3 * interval)
		if !ok {
			break
		}
		switch ev.kind {
		case "borr":
			borr = append(borr, time.Since(start))
		case "routes", "eorr":
		default:
			t.Fatalf("flood: unexpected %s", ev.kind)
		}
	}
	if len(borr) != 2 {
		t.Fatalf("20 requests caused %d re-advertisements (at %v), want 2", len(borr), borr)
	}
	if gap := borr[1] - borr[0]; gap < interval-50*time.Millisecond {
		t.Fatalf("re-advertisements %v apart, want at least %v", gap, interval)
	}
	peer, _ = srv.Peer(addr("127.1.63.20"))
	if peer.Counters.RefreshesAnswered != 3 || peer.Counters.RefreshesCoalesced != 19 {
		t.Fatalf("answered %d, coalesced %d; want 3 and 19", peer.Counters.RefreshesAnswered, peer.Counters.RefreshesCoalesced)
	}

	// Without enhanced refresh: the routes again, no markers.
	plain.send(rr)
	n := 0
	for n < routes {
		ev, ok := pr.next(waitLimit)
		if !ok || ev.kind != "routes" {
			t.Fatalf("plain refresh: %d of %d prefixes, then %+v", n, routes, ev)
		}
		n += ev.n
	}
	if n != routes {
		t.Fatalf("plain refresh: %d prefixes, want %d", n, routes)
	}

	// Soft reset out: the same for the peer fanout chooses.
	if err := srv.SoftResetOut(addr("127.1.63.20")); err != nil {
		t.Fatal(err)
	}
	if ev, ok := er.next(waitLimit); !ok || ev.kind != "borr" {
		t.Fatalf("soft reset out: first got %+v, want BoRR", ev)
	}
	if n := er.sync("eorr"); n != routes {
		t.Fatalf("soft reset out: %d prefixes, want %d", n, routes)
	}
	if err := srv.SoftResetOut(netip.MustParseAddr("127.1.63.99")); err == nil {
		t.Fatal("soft reset out of an unknown peer succeeded")
	}
}

// A route-refresh flood (issue #8): one receiver sends ROUTE-REFRESH continuously for a
// while; it gets at most one re-advertisement per RefreshInterval, and another receiver's
// propagation delay for new routes, measured before and during the flood in one run, stays
// in the same range.
func TestRouteRefreshFlood(t *testing.T) {
	srv, _, _ := exportServer(t, "127.1.70.1")
	interval := 200 * time.Millisecond
	raw := func(a string) *rawPeer {
		addPeer(t, srv, PeerConfig{Addr: addr(a), PeerAS: 65000, RRClient: true, Passive: true, RefreshInterval: interval})
		p := dialRaw(t, a, srv.ListenAddrs()[0], 0)
		p.handshake(65000, a, 0, nil)
		waitState(t, srv, addr(a), Established)
		return p
	}
	spk, flooder, quiet := raw("127.1.70.10"), raw("127.1.70.20"), raw("127.1.70.21")
	opts := proto.SessionOptions{AS4: true}
	wire := ibgpWire(t, 100, nil)
	send := func(ps ...netip.Prefix) {
		var b proto.UpdateBuilder
		b.Reset(&opts)
		for _, p := range ps {
			b.Announce(proto.IPv4Unicast, wire, proto.MPNextHop{Addr: addr("198.18.11.1")}, proto.NLRI{Prefix: p})
		}
		msg, err := b.AppendMessages(nil)
		if err != nil {
			t.Fatal(err)
		}
		spk.send(msg)
	}
	const table = 20000
	send(prefixes("20.0.0.0", table)...)
	qr := &refreshReader{t: t, p: quiet, opts: opts}
	// The flooder is not read from here: a goroutine drains it so it never parks.
	stopDrain := make(chan struct{})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		buf := make([]byte, 1<<16)
		for {
			select {
			case <-stopDrain:
				return
			default:
			}
			flooder.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			flooder.nc.Read(buf)
		}
	}()
	n := 0
	for n < table {
		ev, ok := qr.next(waitLimit)
		if !ok {
			t.Fatalf("initial table: %d of %d", n, table)
		}
		n += ev.n
	}
	// latency announces one new prefix at a time and times its arrival at the quiet peer.
	latency := func(base string, count int) []time.Duration {
		var ds []time.Duration
		for _, p := range prefixes(base, count) {
			start := time.Now()
			send(p)
			for got := false; !got; {
				ev, ok := qr.next(waitLimit)
				if !ok {
					t.Fatalf("%v never reached the quiet peer", p)
				}
				got = ev.kind == "routes" && ev.n > 0
			}
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		return ds
	}
	before := latency("30.0.0.0", 50)
	peer, _ := srv.Peer(addr("127.1.70.20"))
	answered0 := peer.Counters.RefreshesAnswered
	rr := proto.AppendRouteRefresh(nil, proto.RouteRefresh{Family: proto.IPv4Unicast})
	stopFlood := make(chan struct{})
	flooded := make(chan int)
	go func() {
		sent := 0
		for {
			select {
			case <-stopFlood:
				flooded <- sent
				return
			default:
			}
			flooder.nc.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := flooder.nc.Write(rr); err != nil {
				flooded <- sent
				return
			}
			sent++
			time.Sleep(200 * time.Microsecond)
		}
	}()
	floodStart := time.Now()
	during := latency("31.0.0.0", 50)
	time.Sleep(max(0, time.Second-time.Since(floodStart)))
	close(stopFlood)
	sent := <-flooded
	floodFor := time.Since(floodStart)
	close(stopDrain)
	<-drained
	peer, _ = srv.Peer(addr("127.1.70.20"))
	answered := peer.Counters.RefreshesAnswered - answered0
	p50 := func(d []time.Duration) time.Duration { return d[len(d)/2] }
	p99 := func(d []time.Duration) time.Duration { return d[len(d)*99/100] }
	t.Logf("flood: %d ROUTE-REFRESH in %v caused %d re-advertisements of %d routes (%d coalesced); quiet peer's propagation p50/p99 %v/%v before, %v/%v during",
		sent, floodFor.Round(time.Millisecond), answered, table, peer.Counters.RefreshesCoalesced, p50(before), p99(before), p50(during), p99(during))
	if limit := uint64(floodFor/interval) + 2; answered > limit {
		t.Errorf("%d re-advertisements in %v, want at most %d (one per %v)", answered, floodFor, limit, interval)
	}
	if answered == 0 {
		t.Error("the flood was never answered")
	}
	if bound := max(10*p99(before), 250*time.Millisecond); p99(during) > bound {
		t.Errorf("propagation p99 %v during the flood, %v before: the flood slows other peers", p99(during), p99(before))
	}
}

// ibgpWire encodes the attributes of a plain iBGP route: ORIGIN, an empty AS_PATH,
// LOCAL_PREF lp and, when comm is not nil, COMMUNITIES comm.
func ibgpWire(t testing.TB, lp uint32, comm []byte) []byte {
	t.Helper()
	var a proto.Attrs
	for _, typ := range []uint8{proto.AttrOrigin, proto.AttrASPath, proto.AttrLocalPref} {
		a.Present.Set(typ)
	}
	if comm != nil {
		a.Present.Set(proto.AttrCommunities)
		a.Communities = comm
	}
	a.LocalPref = lp
	wire, err := proto.AppendAttrs(nil, &a, &proto.SessionOptions{AS4: true})
	if err != nil {
		t.Fatal(err)
	}
	return wire
}

// Enhanced route refresh, receiving side (RFC 7313 §4): routes a peer does not re-send
// between BoRR and EoRR go at EoRR; the re-sent ones stay without a withdrawal.
func TestEnhancedRefreshReceived(t *testing.T) {
	srv, _, _ := exportServer(t, "127.1.73.1")
	addPeer(t, srv, PeerConfig{Addr: addr("127.1.73.10"), PeerAS: 65000, RRClient: true, Passive: true})
	addPeer(t, srv, PeerConfig{Addr: addr("127.1.73.20"), PeerAS: 65000, RRClient: true, Passive: true})
	spk := &grPeer{t: t, srv: srv, a: "127.1.73.10", opts: proto.SessionOptions{AS4: true}}
	spk.p = dialRaw(t, spk.a, srv.ListenAddrs()[0], 0)
	spk.p.handshake(65000, spk.a, 0, func(c *proto.Capabilities) { c.EnhancedRouteRefresh = true })
	waitState(t, srv, addr(spk.a), Established)
	rp := dialRaw(t, "127.1.73.20", srv.ListenAddrs()[0], 0)
	rp.handshake(65000, "127.1.73.20", 0, nil)
	waitState(t, srv, addr("127.1.73.20"), Established)
	w := &watcher{t: t, p: rp, opts: proto.SessionOptions{AS4: true}, table: map[string]uint32{}}

	spk.announce(100, "10.73.1.0/24", "10.73.2.0/24")
	w.until("learned", w.has(map[string]uint32{"10.73.1.0/24": 100, "10.73.2.0/24": 100}))
	spk.p.send(proto.AppendRouteRefresh(nil, proto.RouteRefresh{Family: proto.IPv4Unicast, Subtype: proto.RefreshBoRR}))
	spk.announce(100, "10.73.1.0/24")
	spk.p.send(proto.AppendRouteRefresh(nil, proto.RouteRefresh{Family: proto.IPv4Unicast, Subtype: proto.RefreshEoRR}))
	w.until("the route not re-sent goes at EoRR", w.has(map[string]uint32{"10.73.1.0/24": 100}))
	w.pump(200 * time.Millisecond)
	if !slices.Equal(w.withdrawn, []string{"10.73.2.0/24"}) {
		t.Fatalf("withdrawn %v, want only the route not re-sent", w.withdrawn)
	}
	if st, _ := srv.Peer(addr(spk.a)); st.Counters.PrefixesReceived != 1 {
		t.Fatalf("the peer's Adj-RIB-In holds %d routes, want 1", st.Counters.PrefixesReceived)
	}
}
