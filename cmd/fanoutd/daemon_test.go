package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/bench/targets"
	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/config"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// An operator's gobgpd route-server file maps to the sessions it describes.
func TestPeerConfigFromRouteServerFile(t *testing.T) {
	c, err := config.Load("../../testdata/config/route-server.toml")
	if err != nil {
		t.Fatal(err)
	}
	sc := serverConfig(c)
	if sc.AS != 64512 || sc.RouterID != netip.MustParseAddr("192.0.2.254") || sc.ListenPort != 179 || len(sc.ListenAddrs) != 2 {
		t.Fatalf("server config %+v", sc)
	}
	byAddr := map[netip.Addr]bgp.PeerConfig{}
	for i := range c.Neighbors {
		pc := peerConfig(c, &c.Neighbors[i])
		byAddr[pc.Addr] = pc
	}
	m1 := byAddr[netip.MustParseAddr("192.0.2.1")]
	if m1.PeerAS != 65001 || !m1.Passive || !m1.RSClient || m1.MaxPrefixes.Limit != 1000 || m1.MaxPrefixes.WarnPct != 90 ||
		m1.MaxPrefixes.RestartAfter != 300*time.Second || len(m1.Families) != 1 || m1.Families[0] != proto.IPv4Unicast {
		t.Errorf("192.0.2.1: %+v", m1)
	}
	m2 := byAddr[netip.MustParseAddr("192.0.2.2")]
	if m2.HoldTime != 30*time.Second || m2.KeepaliveTime != 10*time.Second || len(m2.AddPathReceive) == 0 {
		t.Errorf("192.0.2.2: %+v", m2)
	}
	m3 := byAddr[netip.MustParseAddr("2001:db8:ffff::3")]
	if m3.PeerAS != 4200000003 || !m3.GracefulRestart.Enabled || m3.GracefulRestart.RestartTime != 120*time.Second || m3.Families[0] != proto.IPv6Unicast {
		t.Errorf("2001:db8:ffff::3: %+v", m3)
	}
	if !byAddr[netip.MustParseAddr("192.0.2.4")].AdminDown {
		t.Error("admin-down neighbor not kept down")
	}
	// The file's TCP MD5 key reaches the peer; nothing in it is refused (its dynamic
	// neighbors are served: groups_test.go).
	if m1.AuthPassword == "" {
		t.Error("192.0.2.1: auth-password not mapped")
	}
	if err := unsupported(c); err != nil {
		t.Fatalf("refused: %v", err)
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fanoutd.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// run with a file it cannot accept exits 2 and says which key and why.
func TestRunRefusesBadConfig(t *testing.T) {
	p := writeConfig(t, "[global.config]\n  as = 0\n  router-id = \"127.0.0.1\"\n")
	var out bytes.Buffer
	if code := run([]string{"-f", p}, &out, nil); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(out.String(), "global.config.as") {
		t.Fatalf("message does not name the key: %s", out.String())
	}
}

// The daemon starts, and SIGTERM stops it cleanly with exit code 0.
func TestRunStopsOnSignal(t *testing.T) {
	port, err := targets.FreePort(netip.MustParseAddr("127.1.31.1"))
	if err != nil {
		t.Fatal(err)
	}
	apiPort, err := targets.FreePort(netip.MustParseAddr("127.1.31.1"))
	if err != nil {
		t.Fatal(err)
	}
	p := writeConfig(t, fmt.Sprintf("[global.config]\n  as = 65000\n  router-id = \"127.1.31.1\"\n  port = %d\n  local-address-list = [\"127.1.31.1\"]\n[fanout]\n  grpc-address = \"127.1.31.1:%d\"\n  http-address = \"127.0.0.1:0\"\n", port, apiPort))
	sigs := make(chan os.Signal, 1)
	var out safeBuffer
	done := make(chan int, 1)
	go func() { done <- run([]string{"-f", p}, &out, sigs) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.1.31.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fanoutd never listened: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	sigs <- syscall.SIGTERM
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(out.String(), `"stopped"`) {
			t.Fatalf("exit %d: %s", code, out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("fanoutd did not stop on SIGTERM")
	}
}

// The interop check through the real RIB: a real gobgpd (Debian package) peers with
// the daemon's server; a route added with the gobgp CLI lands in fanout's RIB with its
// attributes, and the peer's counters say so. Fails, never skips, when gobgpd cannot start.
func TestDaemonLearnsRoutesFromGoBGPD(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	gAddr, fAddr := netip.MustParseAddr("127.1.30.1"), netip.MustParseAddr("127.1.30.2")
	gPort, err := targets.FreePort(gAddr)
	if err != nil {
		t.Fatal(err)
	}
	fPort, err := targets.FreePort(fAddr)
	if err != nil {
		t.Fatal(err)
	}
	apiPort, err := targets.FreePort(fAddr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.LoadBytes([]byte(fmt.Sprintf(`
[global.config]
  as = 65001
  router-id = "10.0.0.1"
  port = %d
  local-address-list = ["%s"]
[fanout]
  grpc-address = "%s:%d"
  http-address = "127.0.0.1:0"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "%s"
    peer-as = 65000
  [neighbors.timers.config]
    connect-retry = 1
  [neighbors.transport.config]
    remote-port = %d
`, fPort, fAddr, fAddr, apiPort, gAddr, gPort)), "toml")
	if err != nil {
		t.Fatal(err)
	}
	d, g := startWithGoBGPD(t, ctx, c, gAddr, gPort, fAddr, fPort)
	waitFor(t, "session with gobgpd", func() bool { st, ok := d.srv.Peer(gAddr); return ok && st.State == bgp.Established })

	gobgp := func(args ...string) {
		t.Helper()
		gobgpAt(t, ctx, g, args...)
	}
	gobgp("global", "rib", "add", "10.99.0.0/24", "nexthop", "198.18.0.1", "origin", "igp", "med", "20", "community", "65000:7")
	key := rib.MakeKey(netip.MustParsePrefix("10.99.0.0/24"), proto.RD{})
	var best rib.Path
	waitFor(t, "10.99.0.0/24 in fanout's RIB", func() bool {
		found := false
		inTask(t, d.sched, func(c *sched.Ctx) {
			if e := d.rib.Table(proto.IPv4Unicast).DB().Find(c, key); e != nil && e.Data.Best() != nil {
				best, found = *e.Data.Best(), true
			}
		})
		return found
	})
	a := best.Attrs
	if a.NextHop != netip.MustParseAddr("198.18.0.1") || a.Origin != proto.OriginIGP || !a.HasMED || a.MED != 20 ||
		a.PathLen != 1 || a.NeighborAS != 65000 || best.Src.Addr != gAddr || !best.Src.EBGP {
		t.Errorf("stored path: source %v, summary %+v", best.Src.Addr, a.Summary)
	}
	var u proto.Attrs
	if err := decodeWire(a.Wire(), &u); err != nil {
		t.Fatal(err)
	}
	if u.ASPath.String() != "65000" || len(u.Communities) != 4 || !bytes.Equal(u.Communities, []byte{0xfd, 0xe8, 0, 7}) {
		t.Errorf("stored attributes: AS path %q, communities % x", u.ASPath.String(), u.Communities)
	}
	st, _ := d.srv.Peer(gAddr)
	if st.Counters.PrefixesReceived != 1 || st.Counters.PrefixesAccepted != 1 || st.Counters.PrefixesBest != 1 {
		t.Errorf("counters received %d accepted %d best %d", st.Counters.PrefixesReceived, st.Counters.PrefixesAccepted, st.Counters.PrefixesBest)
	}

	// gobgpd withdraws: the RIB forgets the route.
	gobgp("global", "rib", "del", "10.99.0.0/24")
	waitFor(t, "the withdrawal", func() bool {
		gone := false
		inTask(t, d.sched, func(c *sched.Ctx) { gone = d.rib.Table(proto.IPv4Unicast).DB().Find(c, key) == nil })
		return gone
	})
}

// decodeWire decodes a stored canonical attribute encoding by wrapping it in an UPDATE body.
func decodeWire(wire string, a *proto.Attrs) error {
	body := []byte{0, 0, byte(len(wire) >> 8), byte(len(wire))}
	body = append(body, wire...)
	var u proto.Update
	err := proto.DecodeUpdate(body, &proto.SessionOptions{AS4: true}, &u)
	*a = u.Attrs
	return err
}

func inTask(t *testing.T, s *sched.Scheduler, fn func(c *sched.Ctx)) {
	t.Helper()
	done := make(chan struct{})
	if err := s.Run(sched.BGPConfig, 0, func(c *sched.Ctx) sched.Result { fn(c); close(done); return sched.Done }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("bgp.config task did not run")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startWithGoBGPD starts the daemon from c and a real gobgpd (AS 65000, router id
// 10.0.0.100, on gAddr:gPort) peered with fanout at fAddr:fPort; both stop when the test
// ends, and gobgpd's log is shown if it failed. It fails, never skips, when gobgpd cannot
// start.
func startWithGoBGPD(t *testing.T, ctx context.Context, c *config.Config, gAddr netip.Addr, gPort uint16, fAddr netip.Addr, fPort uint16) (*daemon, *targets.Process) {
	t.Helper()
	d, err := start(c, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stop(context.Background()) })
	spec := targets.Spec{AS: 65000, RouterID: netip.MustParseAddr("10.0.0.100"), ListenAddr: gAddr, Port: gPort,
		Role: targets.RouteServer, HoldTime: 9 * time.Second,
		Neighbors: []targets.Neighbor{{Address: fAddr, AS: 65001, Port: fPort}}}
	g, err := targets.Start(ctx, targets.GoBGPD{}, spec, targets.Options{})
	if err != nil {
		t.Fatalf("gobgpd: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gobgpd log:\n%s", g.LogTail(40))
		}
		g.Stop(context.Background())
	})
	return d, g
}
