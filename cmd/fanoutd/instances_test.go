package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/bench/targets"
	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/config"
	"github.com/fanoutd/fanout/netinst"
	"github.com/fanoutd/fanout/netinst/nstest"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// gobgpAt runs the gobgp CLI against gobgpd process g.
func gobgpAt(t *testing.T, ctx context.Context, g *targets.Process, args ...string) {
	t.Helper()
	host, apiPort, _ := net.SplitHostPort(g.Control())
	args = append([]string{"-u", host, "-p", apiPort}, args...)
	cmd := exec.CommandContext(ctx, targets.DefaultGoBGP, args...)
	if _, err := os.Stat(targets.DefaultGoBGP); err != nil {
		cmd = exec.CommandContext(ctx, "go", append([]string{"tool", "gobgp"}, args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gobgp %v: %v: %s", args, err, out)
	}
}

// instancesConfig is a daemon peered with gobgpd at gAddr, with fanout.instances text.
func instancesConfig(t *testing.T, fAddr, gAddr netip.Addr, fPort, gPort, apiPort uint16, extra string) *config.Config {
	t.Helper()
	c, err := config.LoadBytes([]byte(fmt.Sprintf(`
[global.config]
  as = 65001
  router-id = "10.0.0.1"
  port = %d
  local-address-list = ["%s"]
[fanout]
  grpc-address = "%s:%d"
  http-address = "127.0.0.1:0"
  route-reconcile-interval = "500ms"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "%s"
    peer-as = 65000
  [neighbors.timers.config]
    connect-retry = 1
  [neighbors.transport.config]
    remote-port = %d
%s`, fPort, fAddr, fAddr, apiPort, gAddr, gPort, extra)), "toml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ports(t *testing.T, fAddr, gAddr netip.Addr) (fPort, gPort, apiPort uint16) {
	t.Helper()
	var err error
	if gPort, err = targets.FreePort(gAddr); err != nil {
		t.Fatal(err)
	}
	if fPort, apiPort = freePorts(t, fAddr); fPort == 0 {
		t.Fatal("no free port")
	}
	return fPort, gPort, apiPort
}

func instanceStatus(d *daemon, name string) netinst.Status {
	for _, s := range d.inst.m.Status() {
		if s.Name == name {
			return s
		}
	}
	return netinst.Status{}
}

// TestInstancesOverBGPInNamespace is the real-kernel check: fanoutd learns routes
// from a real gobgpd over loopback, and its default instance, living in a network namespace
// the test made (bridge with a veth pair, rule, table 100), installs them there; `ip route
// del` is repaired within one reconcile interval; a withdrawal removes the route; stopping
// the daemon removes the routes, the rule and the links it made.
func TestInstancesOverBGPInNamespace(t *testing.T) {
	ns := nstest.New(t, "d")
	ip := func(args ...string) string {
		t.Helper()
		return nstest.IP(t, ns, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	gAddr, fAddr := netip.MustParseAddr("127.1.44.1"), netip.MustParseAddr("127.1.44.2")
	fPort, gPort, apiPort := ports(t, fAddr, gAddr)
	c := instancesConfig(t, fAddr, gAddr, fPort, gPort, apiPort, fmt.Sprintf(`
[[fanout.instances]]
  name = "default"
  table = 100
  install = true
  netns = %q
  bridge = "fbr0"
  bridge-addresses = ["192.0.2.254/24"]
  rule-priority = 1000
  [[fanout.instances.ports]]
    name = "fv0"
    peer = "fv1"
`, ns))
	// Registered before the daemon's own cleanup, so it runs after the daemon stopped:
	// stopping removed the routes, the rule and the links the instance made.
	t.Cleanup(func() {
		if left := ip("route", "show", "table", "all", "proto", "201"); left != "" {
			t.Errorf("routes left after stop:\n%s", left)
		}
		if links := ip("-o", "link", "show"); strings.Contains(links, "fbr0") || strings.Contains(links, "fv0") {
			t.Errorf("links left after stop:\n%s", links)
		}
		if rules := ip("rule", "show"); strings.Contains(rules, "fbr0") {
			t.Errorf("rules left after stop:\n%s", rules)
		}
	})
	d, g := startWithGoBGPD(t, ctx, c, gAddr, gPort, fAddr, fPort)
	waitFor(t, "session with gobgpd", func() bool { st, ok := d.srv.Peer(gAddr); return ok && st.State == bgp.Established })
	for i := 1; i <= 3; i++ {
		gobgpAt(t, ctx, g, "global", "rib", "add", fmt.Sprintf("10.99.%d.0/24", i), "nexthop", "192.0.2.1", "origin", "igp")
	}
	waitFor(t, "routes in table 100", func() bool {
		return strings.Count(ip("route", "show", "table", "100", "proto", "201"), "via 192.0.2.1 dev fbr0") == 3
	})
	k, err := netinst.OpenNetlinkKernel(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	rs, err := k.ListRoutes(100)
	if err != nil || len(rs) != 3 {
		t.Fatalf("netlink: %v %v", rs, err)
	}
	if rules := ip("rule", "show"); !strings.Contains(rules, "iif fbr0 lookup 100") {
		t.Fatalf("rules:\n%s", rules)
	}

	ip("route", "del", "10.99.2.0/24", "table", "100")
	deleted := time.Now()
	for !strings.Contains(ip("route", "show", "table", "100"), "10.99.2.0/24") {
		if time.Since(deleted) > 500*time.Millisecond+2*time.Second {
			t.Fatal("10.99.2.0/24 not reinstalled within the interval")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("reinstalled %v after ip route del (interval 500ms)", time.Since(deleted).Round(time.Millisecond))
	if s := instanceStatus(d, netinst.DefaultName); s.Reinstalls < 1 || s.RoutesInstalled != 3 || s.Pending {
		t.Fatalf("status %+v", s)
	}

	gobgpAt(t, ctx, g, "global", "rib", "del", "10.99.1.0/24")
	waitFor(t, "withdrawal", func() bool { return !strings.Contains(ip("route", "show", "table", "100"), "10.99.1.0/24") })

}

// TestSlowKernelDoesNotStallBGP: the default instance's kernel takes 2 s per call; meanwhile
// the session with gobgpd stays up (keepalives every 3 s on a 9 s hold time) and routes
// still reach fanout's RIB at normal speed, while the kernel catches up afterwards. A VRF
// instance on a normal kernel is configured beside it. Runs without root (fake kernels).
func TestSlowKernelDoesNotStallBGP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	gAddr, fAddr := netip.MustParseAddr("127.1.45.1"), netip.MustParseAddr("127.1.45.2")
	fPort, gPort, apiPort := ports(t, fAddr, gAddr)
	c := instancesConfig(t, fAddr, gAddr, fPort, gPort, apiPort, `
[[vrfs]]
  [vrfs.config]
    name = "blue"
    rd = "65001:1"
    both-rt-list = ["65001:1"]
[[fanout.instances]]
  name = "default"
  table = 100
  install = true
  netns = "slow"
[[fanout.instances]]
  name = "blue"
  table = 200
  install = true
`)
	slow, fast := netinst.NewFakeKernel(), netinst.NewFakeKernel()
	var mu sync.Mutex
	opened := map[string]int{}
	o := options{kernel: func(ns string) (netinst.Kernel, error) {
		mu.Lock()
		opened[ns]++
		mu.Unlock()
		if ns == "slow" {
			return slow, nil
		}
		return fast, nil
	}}
	d, err := startWith(c, zap.NewNop(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stop(context.Background()) })
	spec := targets.Spec{AS: 65000, RouterID: netip.MustParseAddr("10.0.0.100"), ListenAddr: gAddr, Port: gPort,
		Role: targets.RouteServer, HoldTime: 9 * time.Second, Neighbors: []targets.Neighbor{{Address: fAddr, AS: 65001, Port: fPort}}}
	g, err := targets.Start(ctx, targets.GoBGPD{}, spec, targets.Options{})
	if err != nil {
		t.Fatalf("gobgpd: %v", err)
	}
	t.Cleanup(func() { g.Stop(context.Background()) })
	waitFor(t, "session with gobgpd", func() bool { st, ok := d.srv.Peer(gAddr); return ok && st.State == bgp.Established })
	st0, _ := d.srv.Peer(gAddr)

	inRIB := func(p string) bool {
		found := false
		key := rib.MakeKey(netip.MustParsePrefix(p), proto.RD{})
		inTask(t, d.sched, func(c *sched.Ctx) {
			e := d.rib.Table(proto.IPv4Unicast).DB().Find(c, key)
			found = e != nil && e.Data.Best() != nil
		})
		return found
	}
	propagation := func(p string) time.Duration {
		start := time.Now()
		gobgpAt(t, ctx, g, "global", "rib", "add", p, "nexthop", "192.0.2.1")
		waitFor(t, p+" in the RIB", func() bool { return inRIB(p) })
		return time.Since(start)
	}
	base := propagation("10.50.0.0/24")
	waitFor(t, "first route installed", func() bool { return slow.Len(100) == 1 })

	slow.SetDelay(2 * time.Second)
	start := time.Now()
	var worst time.Duration
	for i := 1; i <= 5; i++ {
		worst = max(worst, propagation(fmt.Sprintf("10.50.%d.0/24", i)))
	}
	lagging, lagAfter := slow.Len(100), time.Since(start)
	// Stay slow for more than a keepalive interval.
	for time.Since(start) < 4*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	st1, _ := d.srv.Peer(gAddr)
	t.Logf("route propagation gobgpd -> fanout RIB: %v before, worst %v of 5 while the default instance's kernel took 2 s per call; "+
		"session up %v (established since unchanged: %v), keepalives in %d -> %d; kernel had %d of 6 routes after %v",
		base.Round(time.Millisecond), worst.Round(time.Millisecond), st1.Uptime.Round(time.Second),
		st1.EstablishedSince.Equal(st0.EstablishedSince), st0.Counters.MsgIn[proto.MsgKeepalive], st1.Counters.MsgIn[proto.MsgKeepalive],
		lagging, lagAfter.Round(time.Millisecond))
	if st1.State != bgp.Established || !st1.EstablishedSince.Equal(st0.EstablishedSince) {
		t.Fatalf("session went down: %+v", st1)
	}
	if st1.Counters.MsgIn[proto.MsgKeepalive] <= st0.Counters.MsgIn[proto.MsgKeepalive] {
		t.Fatal("no keepalive received while the kernel was slow")
	}
	if worst > base+time.Second {
		t.Fatalf("propagation took %v while the kernel was slow (%v before)", worst, base)
	}
	if lagging == 6 {
		t.Fatal("the slow kernel was not slow")
	}
	if s := instanceStatus(d, "blue"); s.Pending || !s.Activated {
		t.Fatalf("blue %+v", s)
	}
	slow.SetDelay(0)
	waitFor(t, "kernel caught up", func() bool { return slow.Len(100) == 6 })
	mu.Lock()
	defer mu.Unlock()
	if opened["slow"] != 1 || opened[""] != 1 {
		t.Fatalf("kernels opened %v", opened)
	}
}

func TestReconcileIntervalFlag(t *testing.T) {
	var out safeBuffer
	if code := run([]string{"-route-reconcile-interval", "-5s", "-check"}, &out, nil); code != 2 || !strings.Contains(out.String(), "-route-reconcile-interval: -5s is negative") {
		t.Fatalf("negative interval: exit %d: %s", code, out.String())
	}
	out = safeBuffer{}
	if code := run([]string{"-route-reconcile-interval", "0", "-check"}, &out, nil); code != 0 {
		t.Fatalf("0: exit %d: %s", code, out.String())
	}
}

func TestInstanceConfigs(t *testing.T) {
	c, err := config.LoadBytes([]byte(`
[global.config]
  as = 65000
  router-id = "192.0.2.1"
[[vrfs]]
  [vrfs.config]
    name = "blue"
    rd = "65000:1"
    import-rt-list = ["65000:1"]
    export-rt-list = ["65000:2"]
[[vrfs]]
  [vrfs.config]
    name = "red"
    rd = "65000:3"
[fanout]
  route-reconcile-interval = "10s"
  [[fanout.instances]]
    name = "blue"
    table = 200
    install = true
    bridge = "brb"
    [[fanout.instances.ports]]
      name = "p0"
      peer = "p1"
`), "toml")
	if err != nil {
		t.Fatal(err)
	}
	got := instanceConfigs(c)
	if len(got) != 2 {
		t.Fatalf("%d instances (the default instance has no fanout.instances entry: none)", len(got))
	}
	b, r := got[0], got[1]
	if b.Name != "blue" || !b.VRF || b.RD != proto.RD0(65000, 1) || len(b.ImportRTs) != 1 || len(b.ExportRTs) != 1 ||
		b.Table != 200 || !b.Install || b.Setup.Bridge != "brb" || len(b.Setup.Ports) != 1 || b.Setup.Ports[0].Peer != "p1" ||
		b.ReconcileInterval != 10*time.Second {
		t.Errorf("blue %+v", b)
	}
	if r.Name != "red" || r.Install || r.Table != 0 {
		t.Errorf("red %+v", r)
	}
	for i := range got {
		if err := got[i].Validate(); err != nil {
			t.Error(err)
		}
	}
}

// TestReloadInstances: a reloaded configuration adds, changes and removes instances; each
// change is a new TargetVersion that the actor acknowledges.
func TestReloadInstances(t *testing.T) {
	base := `
[global.config]
  as = 65000
  router-id = "192.0.2.1"
  port = -1
[fanout]
  grpc-address = "127.0.0.1:0"
  http-address = "127.0.0.1:0"
%s`
	load := func(extra string) *config.Config {
		t.Helper()
		c, err := config.LoadBytes([]byte(fmt.Sprintf(base, extra)), "toml")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	k := netinst.NewFakeKernel()
	d, err := startWith(load(""), zap.NewNop(), options{kernel: func(string) (netinst.Kernel, error) { return k, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stop(context.Background()) })
	if n := len(d.inst.m.Status()); n != 0 {
		t.Fatalf("%d instances without vrfs or fanout.instances", n)
	}
	blue := `
[[vrfs]]
  [vrfs.config]
    name = "blue"
    rd = "65000:1"
    both-rt-list = ["65000:1"]
[[fanout.instances]]
  name = "blue"
  table = %d
  install = true
  bridge = "brb"
`
	if err := d.reloadInstances(load(fmt.Sprintf(blue, 200))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "blue up", func() bool { s := instanceStatus(d, "blue"); return s.Activated && !s.Pending })
	if err := d.reloadInstances(load(fmt.Sprintf(blue, 201))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "blue changed", func() bool { s := instanceStatus(d, "blue"); return s.TargetVersion == 2 && !s.Pending })
	if err := d.reloadInstances(load("")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "blue gone", func() bool { return len(d.inst.m.Status()) == 0 && k.Dump() == "" })
}
