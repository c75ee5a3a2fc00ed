package bgp

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fanoutd/fanout/bench/targets"
)

// gobgp runs the gobgp CLI against the gobgpd run by p.
func gobgp(ctx context.Context, t testing.TB, p *targets.Process, args ...string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(p.Control())
	args = append([]string{"-u", host, "-p", port}, args...)
	var cmd *exec.Cmd
	if _, err := os.Stat(targets.DefaultGoBGP); err == nil {
		cmd = exec.CommandContext(ctx, targets.DefaultGoBGP, args...)
	} else {
		cmd = exec.CommandContext(ctx, "go", append([]string{"tool", "gobgp"}, args...)...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gobgp %v: %v: %s", args, err, strings.TrimSpace(string(out)))
	}
	return string(out)
}

// Interop, route-server mode: two gobgpd, BIRD 2, FRR and OpenBGPD (the Debian packages,
// each on its own loopback address) are clients of an in-process fanout route server. Routes injected
// into one gobgpd reach the other daemons through fanout, with the AS path, NEXT_HOP and
// MED unchanged (RFC 7947 §2.2); a withdrawal reaches them too. Fails, never skips, when a
// daemon cannot start.
func TestExportInteropRouteServer(t *testing.T) {
	interop(t, targets.RouteServer, "127.1.58")
}

// Interop, route-reflector mode: the same daemons as internal route-reflector clients of
// fanout. A client's routes reach the other clients with ORIGINATOR_ID (the originating
// daemon's router id) and CLUSTER_LIST (fanout's cluster id) (RFC 4456 §8); a withdrawal
// reaches them too.
func TestExportInteropRouteReflector(t *testing.T) {
	interop(t, targets.RouteReflector, "127.1.59")
}

func interop(t *testing.T, role targets.Role, net24 string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	fAddr := addr(net24 + ".1")
	srv, _, _ := exportServer(t, fAddr.String())
	rr := role == targets.RouteReflector
	as := func(a uint32) uint32 {
		if rr {
			return 65000
		}
		return a
	}
	type daemon struct {
		target targets.Target
		addr   netip.Addr
		as     uint32
		p      *targets.Process
	}
	ds := []*daemon{
		{target: targets.GoBGPD{}, addr: addr(net24 + ".10"), as: as(65001)},
		{target: targets.GoBGPD{}, addr: addr(net24 + ".11"), as: as(65002)},
		{target: targets.BIRD{}, addr: addr(net24 + ".12"), as: as(65003)},
		{target: targets.FRR{}, addr: addr(net24 + ".13"), as: as(65004)},
		{target: targets.OpenBGPD{}, addr: addr(net24 + ".14"), as: as(65005)},
	}
	for _, d := range ds {
		port, err := targets.FreePort(d.addr)
		if err != nil {
			t.Fatal(err)
		}
		spec := targets.Spec{AS: d.as, RouterID: d.addr, ListenAddr: d.addr, Port: port, Role: role,
			HoldTime: 9 * time.Second, Neighbors: []targets.Neighbor{{Address: fAddr, AS: 65000, Port: listenPort(srv), RouteServer: !rr}}}
		d.p, err = targets.Start(ctx, d.target, spec, targets.Options{})
		if err != nil {
			t.Fatalf("%s: %v", d.target.Name(), err)
		}
		p := d.p
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s log:\n%s", p.Target().Name(), p.LogTail(30))
			}
			p.Stop(context.Background())
		})
		addPeer(t, srv, PeerConfig{Addr: d.addr, PeerAS: d.as, RemotePort: port, RSClient: !rr, RRClient: rr, IdleHoldTime: -1, ConnectRetry: time.Second})
	}
	for _, d := range ds {
		waitState(t, srv, d.addr, Established)
	}
	received := func(d *daemon) int {
		counts, err := d.target.(targets.RouteCounter).ReceivedPrefixes(ctx, d.p)
		if err != nil {
			t.Logf("%s: %v", d.target.Name(), err)
			return -1
		}
		return counts[fAddr]
	}
	for _, p := range []string{"10.99.0.0/24", "10.99.1.0/24"} {
		gobgp(ctx, t, ds[0].p, "global", "rib", "add", p, "nexthop", "198.18.0.1", "origin", "igp", "med", "20")
	}
	for _, d := range ds[1:] {
		eventually(t, d.target.Name()+" receives both routes", func() bool { return received(d) == 2 })
	}
	if n := received(ds[0]); n != 0 {
		t.Fatalf("the originating gobgpd was sent %d of its own routes back", n)
	}
	out := gobgp(ctx, t, ds[1].p, "global", "rib", "10.99.0.0/24")
	if !strings.Contains(out, "198.18.0.1") || !strings.Contains(out, "Med: 20") {
		t.Fatalf("route through fanout, want next hop 198.18.0.1 and MED 20:\n%s", out)
	}
	if rr && (!strings.Contains(out, "Originator: "+ds[0].addr.String()) || !strings.Contains(out, "10.255.0.1")) {
		t.Fatalf("reflected route, want ORIGINATOR_ID %v and CLUSTER_LIST [10.255.0.1]:\n%s", ds[0].addr, out)
	}
	if !rr && (!strings.Contains(out, "65001") || strings.Contains(out, "65000")) {
		t.Fatalf("route through the route server, want AS path 65001 alone:\n%s", out)
	}
	gobgp(ctx, t, ds[0].p, "global", "rib", "del", "10.99.1.0/24")
	for _, d := range ds[1:] {
		eventually(t, d.target.Name()+" sees the withdrawal", func() bool { return received(d) == 1 })
	}
}
