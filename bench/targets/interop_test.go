package targets

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// The interop tests start each real daemon from its Debian package, speak BGP to it from two
// loopback addresses with GoBGP's codec, and check what it forwards. They fail (never skip)
// when a daemon cannot start.

const (
	rsAS      = 65000
	client1AS = 65001
	client2AS = 65002
	bulk      = 4000 // extra prefixes so the daemon does measurable work
)

// wantProcs is the size of each daemon's process tree: OpenBGPD forks its session engine,
// route decision engine and RTR process; the others run as one process.
var wantProcs = map[string]int{"gobgpd": 1, "bird": 1, "frr": 1, "openbgpd": 4}

var checked = netip.MustParsePrefix("10.200.0.0/24") // outside the bulk, 10.64.0.0-10.79.159.0

// testNet returns a daemon address and two neighbor addresses in 127.77.k.0/24, one /24 per
// test so tests never share an address.
func testNet(k int) (daemon, n1, n2 netip.Addr) {
	b := netip.AddrFrom4([4]byte{127, 77, byte(k), 1})
	return b, b.Next(), b.Next().Next()
}

func TestInterop(t *testing.T) {
	targets := []Target{GoBGPD{}, BIRD{}, FRR{}, OpenBGPD{}}
	k := 0
	for _, tg := range targets {
		for _, role := range []Role{RouteServer, RouteReflector} {
			k++
			t.Run(tg.Name()+"/"+role.String(), func(t *testing.T) {
				runInterop(t, tg, role, k)
			})
		}
	}
}

func runInterop(t *testing.T, tg Target, role Role, k int) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	addr, a1, a2 := testNet(k)
	port, err := FreePort(addr)
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{AS: rsAS, RouterID: addr, ListenAddr: addr, Port: port, Role: role, HoldTime: 90 * time.Second}
	as1, as2 := uint32(client1AS), uint32(client2AS)
	if role == RouteReflector {
		as1, as2 = rsAS, rsAS
		spec.ClusterID = netip.MustParseAddr("10.255.0.1")
	}
	for _, n := range []Neighbor{{Address: a1, AS: as1}, {Address: a2, AS: as2}} {
		n.Passive = true
		n.RouteServerClient = role == RouteServer
		n.RouteReflectorClient = role == RouteReflector
		spec.Neighbors = append(spec.Neighbors, n)
	}
	if v, err := tg.Version(ctx); err != nil {
		t.Errorf("version: %v", err)
	} else {
		t.Logf("%s version %s", tg.Name(), v)
	}

	p, err := Start(ctx, tg, spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if stopped {
			return
		}
		if t.Failed() {
			p.Keep()
			t.Logf("run directory kept: %s\n--- log tail ---\n%s", p.Dir(), p.LogTail(logTailLines))
		}
		if _, err := p.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	if ok, err := listening(procRoot, addr, port); !ok || err != nil {
		t.Fatalf("after Start: listening = %v, %v", ok, err)
	}

	target := netip.AddrPortFrom(addr, port)
	deadline := time.Now().Add(15 * time.Second)
	s1 := dialSpeaker(t, "client1", a1, as1, target, deadline)
	s2 := dialSpeaker(t, "client2", a2, as2, target, deadline)
	if s1.open.MyAS != rsAS {
		t.Errorf("OPEN: AS %d, want %d", s1.open.MyAS, rsAS)
	}
	if !s1.open.ID.Equal(addr.AsSlice()) {
		t.Errorf("OPEN: BGP id %v, want %v", s1.open.ID, addr)
	}

	// Client 1 announces the checked prefix and a bulk of others; client 2 must receive them.
	prefixes := []netip.Prefix{checked}
	for i := range bulk {
		prefixes = append(prefixes, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(64 + i>>8), byte(i), 0}), 24))
	}
	// gobgpd treats an UPDATE whose NEXT_HOP is in 127.0.0.0/8 as a withdraw, so the next hop
	// is client 1's "interface" in the benchmarking range (RFC 2544), which nothing resolves.
	nh := "198.18.0.2"
	attrs := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeNextHop(nh),
		bgp.NewPathAttributeMultiExitDisc(50),
		bgp.NewPathAttributeCommunities([]uint32{client1AS<<16 | 7}),
	}
	if role == RouteServer {
		attrs = slices.Insert(attrs, 1, bgp.PathAttributeInterface(bgp.NewPathAttributeAsPath(
			[]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{client1AS})})))
	} else {
		attrs = slices.Insert(attrs, 1, bgp.PathAttributeInterface(bgp.NewPathAttributeAsPath(nil)))
		attrs = append(attrs, bgp.NewPathAttributeLocalPref(100))
	}
	s1.announce(attrs, prefixes)
	got, err := s2.collect(prefixes)
	if err != nil {
		t.Fatalf("client2: %v", err)
	}
	pa := got[checked]
	t.Logf("%s as %s forwarded %v with: %s", tg.Name(), role, checked, describeAttrs(pa))

	if nhs := attrOf[*bgp.PathAttributeNextHop](pa); nhs == nil || nhs.Value.String() != nh {
		t.Errorf("NEXT_HOP %v, want %s unchanged", nhs, nh)
	}
	if med := attrOf[*bgp.PathAttributeMultiExitDisc](pa); med == nil || med.Value != 50 {
		t.Logf("note: MED %v, sent 50", med)
	}
	path := asPath(pa)
	switch role {
	case RouteServer:
		// RFC 7947 section 2.2: the route server does not prepend its own AS.
		if !slices.Equal(path, []uint32{client1AS}) {
			t.Errorf("AS_PATH %v, want [%d] (no route-server AS)", path, client1AS)
		}
	case RouteReflector:
		// RFC 4456 section 8: ORIGINATOR_ID is the originator's BGP id; the cluster id is
		// prepended to CLUSTER_LIST; the AS_PATH stays empty inside the AS.
		if len(path) != 0 {
			t.Errorf("AS_PATH %v, want empty", path)
		}
		if o := attrOf[*bgp.PathAttributeOriginatorId](pa); o == nil || o.Value.String() != a1.String() {
			t.Errorf("ORIGINATOR_ID %v, want %v", o, a1)
		}
		if cl := attrOf[*bgp.PathAttributeClusterList](pa); cl == nil || len(cl.Value) == 0 || cl.Value[0].String() != spec.ClusterID.String() {
			t.Errorf("CLUSTER_LIST %v, want [%v]", cl, spec.ClusterID)
		}
		if lp := attrOf[*bgp.PathAttributeLocalPref](pa); lp == nil || lp.Value != 100 {
			t.Errorf("LOCAL_PREF %v, want 100", lp)
		}
	}

	if rc, ok := tg.(RouteCounter); ok {
		var counts map[netip.Addr]int
		for end := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			counts, err = rc.ReceivedPrefixes(ctx, p)
			if (err == nil && counts[a1] == len(prefixes)) || time.Now().After(end) {
				break
			}
		}
		if err != nil || counts[a1] != len(prefixes) || counts[a2] != 0 || len(counts) != 2 {
			t.Errorf("ReceivedPrefixes = %v, %v; want %v: %d, %v: 0", counts, err, a1, len(prefixes), a2)
		}
	}

	tree := p.Alive()
	t.Logf("%s process tree: %d processes %v", tg.Name(), len(tree), tree)
	if want := wantProcs[tg.Name()]; len(tree) != want {
		t.Errorf("process tree has %d processes, want %d", len(tree), want)
	}
	stopped = true
	u, err := p.Stop(ctx)
	if err != nil {
		t.Fatalf("stop: %v\n%s", err, p.LogTail(logTailLines))
	}
	t.Logf("%s usage: %.2f CPU s, peak RSS %.1f MiB", tg.Name(), u.CPUSeconds, float64(u.PeakRSSBytes)/(1<<20))
	if left := p.Alive(); len(left) != 0 {
		t.Errorf("processes left after Stop: %v", left)
	}
	if u.CPUSeconds <= 0 || u.PeakRSSBytes <= 0 {
		t.Errorf("usage %+v, want non-zero CPU and RSS", u)
	}
}

// attrOf returns the first attribute of type T in attrs, or the zero T.
func attrOf[T bgp.PathAttributeInterface](attrs []bgp.PathAttributeInterface) T {
	for _, a := range attrs {
		if v, ok := a.(T); ok {
			return v
		}
	}
	var zero T
	return zero
}

// asPath flattens the AS_PATH in attrs.
func asPath(attrs []bgp.PathAttributeInterface) []uint32 {
	ap := attrOf[*bgp.PathAttributeAsPath](attrs)
	if ap == nil {
		return nil
	}
	var out []uint32
	for _, seg := range ap.Value {
		out = append(out, seg.GetAS()...)
	}
	return out
}

func describeAttrs(attrs []bgp.PathAttributeInterface) string {
	var parts []string
	for _, a := range attrs {
		parts = append(parts, fmt.Sprintf("%v=%v", a.GetType(), a))
	}
	return strings.Join(parts, "; ")
}

// TestActiveNeighbor checks that each daemon connects to a neighbor that is not passive, at the
// neighbor's configured port, from its listen address.
func TestActiveNeighbor(t *testing.T) {
	for i, tg := range []Target{GoBGPD{}, BIRD{}, FRR{}, OpenBGPD{}} {
		t.Run(tg.Name(), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			addr, a1, _ := testNet(20 + i)
			l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(a1, 0)))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			nport := uint16(l.Addr().(*net.TCPAddr).Port)
			port, err := FreePort(addr)
			if err != nil {
				t.Fatal(err)
			}
			spec := Spec{AS: rsAS, RouterID: addr, ListenAddr: addr, Port: port, Role: RouteServer,
				Neighbors: []Neighbor{{Address: a1, AS: client1AS, Port: nport, RouteServerClient: true}}}
			p, err := Start(ctx, tg, spec, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if t.Failed() {
					p.Keep()
					t.Logf("run directory kept: %s\n--- log tail ---\n%s", p.Dir(), p.LogTail(logTailLines))
				}
				if _, err := p.Stop(context.Background()); err != nil {
					t.Error(err)
				}
			}()
			s := acceptSpeaker(t, "client1", l, client1AS, time.Now().Add(20*time.Second))
			if s.open.MyAS != rsAS {
				t.Errorf("OPEN from AS %d, want %d", s.open.MyAS, rsAS)
			}
			if from := s.conn.RemoteAddr().(*net.TCPAddr).AddrPort().Addr(); from != addr {
				t.Errorf("connected from %v, want %v", from, addr)
			}
		})
	}
}
