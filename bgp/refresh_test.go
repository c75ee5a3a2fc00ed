package bgp

import (
	"net/netip"
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
	var a proto.Attrs
	for _, typ := range []uint8{proto.AttrOrigin, proto.AttrASPath, proto.AttrLocalPref} {
		a.Present.Set(typ)
	}
	a.LocalPref = 100
	wire, err := proto.AppendAttrs(nil, &a, &opts)
	if err != nil {
		t.Fatal(err)
	}
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
