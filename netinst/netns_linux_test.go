//go:build linux

package netinst

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/fanoutd/fanout/netinst/nstest"
)

func testNetns(tb testing.TB, name string) string { return nstest.New(tb, name) }

func ipns(tb testing.TB, ns string, args ...string) string {
	tb.Helper()
	return nstest.IP(tb, ns, args...)
}

func openKernel(tb testing.TB, ns string) *NetlinkKernel {
	tb.Helper()
	k, err := OpenNetlinkKernel(ns)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(k.Close)
	return k
}

func pfx(s string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(s)} }

// TestNetlinkInstances runs two instances inside a namespace the test made: each creates its
// bridge with a veth pair attached and a rule, installs its routes into its own table,
// reinstalls a route removed with `ip route del` within one interval, removes a stray of
// fanout's protocol, and removes everything when stopped.
func TestNetlinkInstances(t *testing.T) {
	ns := testNetns(t, "ni")
	k := openKernel(t, ns)
	const interval = 300 * time.Millisecond
	// Blue's kernel hides the watch: it repairs on the reconcile interval only.
	m, err := NewManager(Deps{Logger: zaptest.NewLogger(t), Kernel: func(c *Config) (Kernel, error) {
		if c.Name == "blue" {
			return reconcileOnly{k}, nil
		}
		return k, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	def := Config{Name: DefaultName, Table: 100, Install: true, ReconcileInterval: interval,
		Setup: Setup{Bridge: "fbr0", Addrs: append(pfx("192.0.2.254/24"), pfx("2001:db8:ff::fe/64")...), RulePriority: 1000,
			Ports: []Port{{Name: "fv0", Peer: "fv1"}}}}
	blue := Config{Name: "blue", VRF: true, Table: 200, Install: true, ReconcileInterval: interval,
		Setup: Setup{Bridge: "fbr1", Addrs: pfx("198.51.100.254/24"), RulePriority: 1001, Ports: []Port{{Name: "fv2", Peer: "fv3"}}}}
	if err := m.Apply([]Config{def, blue}); err != nil {
		t.Fatal(err)
	}
	push := func(name, p, nh string) {
		m.mu.Lock()
		in := m.insts[name]
		m.mu.Unlock()
		var a netip.Addr
		if nh != "" {
			a = netip.MustParseAddr(nh)
		}
		in.actor.in.push(EventKey{Prefix: netip.MustParsePrefix(p)}, a)
	}
	status := func(name string) Status {
		for _, s := range m.Status() {
			if s.Name == name {
				return s
			}
		}
		return Status{}
	}
	for i := 1; i <= 50; i++ {
		push(DefaultName, fmt.Sprintf("10.1.%d.0/24", i), "192.0.2.1")
		push("blue", fmt.Sprintf("10.2.%d.0/24", i), "198.51.100.1")
	}
	push(DefaultName, "2001:db8:1::/48", "2001:db8:ff::1")
	eventually(t, "routes installed", func() bool {
		return status(DefaultName).RoutesInstalled == 51 && status("blue").RoutesInstalled == 50
	})
	if s := status(DefaultName); s.InstallFailures != 0 || !s.Activated || s.Pending {
		t.Fatalf("status %+v", s)
	}
	// Netlink and ip agree with what the actors believe.
	got, err := k.ListRoutes(100)
	if err != nil || len(got) != 51 {
		t.Fatalf("netlink dump of table 100: %d routes, %v", len(got), err)
	}
	show := ipns(t, ns, "route", "show", "table", "100", "proto", "201")
	if !strings.Contains(show, "10.1.7.0/24 via 192.0.2.1 dev fbr0") || strings.Count(show, "\n") != 50 {
		t.Fatalf("ip route show table 100:\n%s", show)
	}
	if show6 := ipns(t, ns, "-6", "route", "show", "table", "100"); !strings.Contains(show6, "2001:db8:1::/48 via 2001:db8:ff::1 dev fbr0 proto 201") {
		t.Fatalf("ip -6 route show table 100:\n%s", show6)
	}
	if show := ipns(t, ns, "route", "show", "table", "200"); strings.Count(show, "via 198.51.100.1 dev fbr1 proto 201") != 50 {
		t.Fatalf("ip route show table 200:\n%s", show)
	}
	if rules := ipns(t, ns, "rule", "show"); !strings.Contains(rules, "1000:\tfrom all iif fbr0 lookup 100") || !strings.Contains(rules, "1001:\tfrom all iif fbr1 lookup 200") {
		t.Fatalf("ip rule show:\n%s", rules)
	}
	if links := ipns(t, ns, "link", "show", "master", "fbr0"); !strings.Contains(links, "fv0@fv1") {
		t.Fatalf("ip link show master fbr0:\n%s", links)
	}

	// Another process removes a route: it is back within one interval (plus slack), through
	// the watch (default) or the periodic reconcile (blue).
	for _, c := range []struct{ name, table, dst, via string }{
		{DefaultName, "100", "10.1.7.0/24", "192.0.2.1"}, {"blue", "200", "10.2.7.0/24", "198.51.100.1"},
	} {
		ipns(t, ns, "route", "del", c.dst, "table", c.table)
		removed := time.Now()
		deadline := removed.Add(interval + 2*time.Second)
		for !strings.Contains(ipns(t, ns, "route", "show", "table", c.table, c.dst), "via "+c.via) {
			if time.Now().After(deadline) {
				t.Fatalf("%s not reinstalled", c.dst)
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Logf("%s: reinstalled %v after ip route del (interval %v)", c.name, time.Since(removed).Round(time.Millisecond), interval)
		if s := status(c.name); s.Reinstalls != 1 {
			t.Fatalf("status %+v", s)
		}
	}
	// A stray of fanout's protocol (an earlier run's) goes; a route of another protocol stays.
	ipns(t, ns, "route", "add", "10.77.0.0/16", "via", "192.0.2.7", "table", "100", "proto", "201")
	ipns(t, ns, "route", "add", "10.78.0.0/16", "via", "192.0.2.7", "table", "100", "proto", "static")
	eventually(t, "stray removed", func() bool {
		return !strings.Contains(ipns(t, ns, "route", "show", "table", "100"), "10.77.0.0/16")
	})
	if !strings.Contains(ipns(t, ns, "route", "show", "table", "100"), "10.78.0.0/16") {
		t.Fatal("a route of another protocol was removed")
	}
	// A withdrawal removes the route at once.
	push("blue", "10.2.9.0/24", "")
	eventually(t, "withdrawn", func() bool { return status("blue").RoutesInstalled == 49 })
	if strings.Contains(ipns(t, ns, "route", "show", "table", "200"), "10.2.9.0/24") {
		t.Fatal("withdrawn route still in table 200")
	}

	// Stopping removes the instances' routes, rules, veths and bridges.
	ctx, cancel := contextWithTimeout(10 * time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if show := ipns(t, ns, "route", "show", "table", "all", "proto", "201"); show != "" {
		t.Fatalf("routes left:\n%s", show)
	}
	if rules := ipns(t, ns, "rule", "show"); strings.Contains(rules, "fbr") {
		t.Fatalf("rules left:\n%s", rules)
	}
	if links := ipns(t, ns, "-o", "link", "show"); strings.Contains(links, "fbr") || strings.Contains(links, "fv") {
		t.Fatalf("links left:\n%s", links)
	}
}

// reconcileOnly is a Kernel without RouteWatcher.
type reconcileOnly struct{ Kernel }

// TestNetlinkUnreachableNextHop: when the bridge loses the address that made a next hop
// reachable, the kernel drops the routes via it; the actor cannot put them back (ENETUNREACH),
// reports the next hop through Deps.Unreachable and Deps.NextHop and counts the failures, and
// installs them again once the address is back (the probe or the install reports it up).
func TestNetlinkUnreachableNextHop(t *testing.T) {
	ns := testNetns(t, "nh")
	k := openKernel(t, ns)
	var mu sync.Mutex
	reported := map[string]bool{}
	var nextHops []string
	m, err := NewManager(Deps{Logger: zaptest.NewLogger(t), Kernel: func(*Config) (Kernel, error) { return k, nil },
		Unreachable: func(_ string, p netip.Prefix, nh netip.Addr) {
			mu.Lock()
			reported[p.String()+" via "+nh.String()] = true
			mu.Unlock()
		},
		NextHop: func(_ string, nh netip.Addr, up bool) {
			mu.Lock()
			nextHops = append(nextHops, fmt.Sprint(nh, " ", up))
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(10 * time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	c := Config{Name: DefaultName, Table: 100, Install: true, ReconcileInterval: 200 * time.Millisecond,
		Setup: Setup{Bridge: "fbr0", Addrs: pfx("192.0.2.254/24"), Ports: []Port{{Name: "fv0", Peer: "fv1"}}}}
	if err := m.Apply([]Config{c}); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	in := m.insts[DefaultName].actor.in
	m.mu.Unlock()
	in.push(EventKey{Prefix: netip.MustParsePrefix("10.3.0.0/16")}, netip.MustParseAddr("192.0.2.1"))
	status := func() Status { return m.Status()[0] }
	eventually(t, "installed", func() bool { return status().RoutesInstalled == 1 })

	ipns(t, ns, "addr", "del", "192.0.2.254/24", "dev", "fbr0")
	eventually(t, "reported unreachable", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return reported["10.3.0.0/16 via 192.0.2.1"]
	})
	if s := status(); s.UnreachableNextHops == 0 || s.InstallFailures == 0 || s.RoutesInstalled != 0 || s.RoutesDesired != 1 || s.NextHopsDown != 1 {
		t.Fatalf("status %+v", s)
	}
	if up, err := k.NextHopReachable(100, netip.MustParseAddr("192.0.2.1")); err != nil || up {
		t.Fatalf("probe while the address is gone: %v %v", up, err)
	}
	ipns(t, ns, "addr", "add", "192.0.2.254/24", "dev", "fbr0")
	eventually(t, "installed again", func() bool {
		return strings.Contains(ipns(t, ns, "route", "show", "table", "100"), "10.3.0.0/16 via 192.0.2.1")
	})
	if up, err := k.NextHopReachable(100, netip.MustParseAddr("192.0.2.1")); err != nil || !up {
		t.Fatalf("probe with the address back: %v %v", up, err)
	}
	eventually(t, "reported down then up", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(nextHops, ", ") == "192.0.2.1 false, 192.0.2.1 true"
	})
}
