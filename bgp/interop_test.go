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
	"github.com/fanoutd/fanout/proto"
)

// TestInteropGoBGPD is the interop smoke test of the issue: a real gobgpd (the Debian
// package, started on loopback) establishes a session with an in-process fanout server,
// a route injected into gobgpd with the gobgp CLI arrives in fanout's Ingest with the
// right attributes. It fails, never skips, when gobgpd cannot start.
func TestInteropGoBGPD(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	gAddr, fAddr := addr("127.1.20.1"), addr("127.1.20.2")
	rt := newTestRouting()
	f := testServer(t, fAddr.String(), 65001, "10.0.0.1", nil, rt)

	port, err := targets.FreePort(gAddr)
	if err != nil {
		t.Fatal(err)
	}
	spec := targets.Spec{AS: 65000, RouterID: addr("10.0.0.100"), ListenAddr: gAddr, Port: port,
		Role: targets.RouteServer, HoldTime: 9 * time.Second,
		Neighbors: []targets.Neighbor{{Address: fAddr, AS: 65001, Port: listenPort(f)}}}
	g, err := targets.Start(ctx, targets.GoBGPD{}, spec, targets.Options{})
	if err != nil {
		t.Fatalf("gobgpd: %v", err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("gobgpd log:\n%s", g.LogTail(40))
		}
		g.Stop(context.Background())
	}()
	// Both sides connect; fanout, started second, is usually first.
	addPeer(t, f, PeerConfig{Addr: gAddr, PeerAS: 65000, RemotePort: port, IdleHoldTime: -1, ConnectRetry: time.Second,
		Families: []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast}})

	waitState(t, f, gAddr, Established)
	info := rt.lastInfo()
	if info.PeerAS != 65000 || !info.Recv.AS4 || info.RouterID != addr("10.0.0.100") || !info.EBGP {
		t.Errorf("session with gobgpd: %+v", info)
	}

	host, apiPort, _ := net.SplitHostPort(g.Control())
	cli := targets.DefaultGoBGP
	args := []string{"-u", host, "-p", apiPort, "global", "rib", "add", "10.99.0.0/24",
		"nexthop", "198.18.0.1", "origin", "igp", "med", "20"}
	var cmd *exec.Cmd
	if _, err := os.Stat(cli); err == nil {
		cmd = exec.CommandContext(ctx, cli, args...)
	} else {
		cmd = exec.CommandContext(ctx, "go", append([]string{"tool", "gobgp"}, args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gobgp global rib add: %v: %s", err, strings.TrimSpace(string(out)))
	}
	p := netip.MustParsePrefix("10.99.0.0/24")
	eventually(t, "the route from gobgpd", func() bool { _, ok := rt.route(p, 0); return ok })
	r, _ := rt.route(p, 0)
	if r.fam != proto.IPv4Unicast || r.nextHop != addr("198.18.0.1") || r.origin != proto.OriginIGP || !r.hasMED || r.med != 20 {
		t.Errorf("route from gobgpd: %+v", r)
	}
	// gobgpd originated the route over an external session: its AS alone.
	if r.asPath != "65000" {
		t.Errorf("AS path %q, want 65000", r.asPath)
	}
	st, _ := f.Peer(gAddr)
	if st.Counters.UpdatesIn() == 0 || st.Counters.PrefixesReceived != 1 {
		t.Errorf("counters %+v", st.Counters)
	}
}
