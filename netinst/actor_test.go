package netinst

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

func inst(name string, table int) Config {
	return Config{Name: name, Table: table, Install: true, ReconcileInterval: time.Minute}
}

func route(table int, dst, gw string) Route {
	return Route{Table: table, Dst: netip.MustParsePrefix(dst), Gw: netip.MustParseAddr(gw)}
}

func TestInstallAndWithdraw(t *testing.T) {
	r := newRig(t, false)
	r.apply(inst(DefaultName, 100))
	r.push(DefaultName, "10.1.0.0/16", "192.0.2.1")
	r.push(DefaultName, "2001:db8::/32", "2001:db8:ffff::1")
	r.settled(DefaultName, 2)
	want := "route table 100 10.1.0.0/16 via 192.0.2.1\nroute table 100 2001:db8::/32 via 2001:db8:ffff::1"
	if got := r.kernel(DefaultName).Dump(); got != want {
		t.Fatalf("kernel:\n%s\nwant:\n%s", got, want)
	}
	// A new next hop replaces the route; a withdrawal removes it.
	r.push(DefaultName, "10.1.0.0/16", "192.0.2.2")
	r.push(DefaultName, "2001:db8::/32", "")
	r.settled(DefaultName, 1)
	if got, want := r.kernel(DefaultName).Dump(), "route table 100 10.1.0.0/16 via 192.0.2.2"; got != want {
		t.Fatalf("kernel:\n%s\nwant:\n%s", got, want)
	}
	if s := r.status(DefaultName); s.RoutesDesired != 1 || !s.Activated || s.TargetVersion != 1 {
		t.Fatalf("status %+v", s)
	}
}

func TestInstallOffTouchesNothing(t *testing.T) {
	r := newRig(t, false)
	c := inst(DefaultName, 100)
	c.Install = false
	r.apply(c)
	r.push(DefaultName, "10.1.0.0/16", "192.0.2.1")
	eventually(t, "desired", func() bool { return r.status(DefaultName).RoutesDesired == 1 })
	r.clock.Advance(time.Hour)
	if n := r.kernel(DefaultName).Calls(); n != 0 {
		t.Fatalf("%d kernel calls with install off", n)
	}
	// Turning install on installs what is wanted.
	c.Install = true
	r.apply(c)
	r.settled(DefaultName, 1)
}

func TestSourceAddressIsPartOfTheRoute(t *testing.T) {
	r := newRig(t, false)
	c := inst(DefaultName, 100)
	c.Src4 = netip.MustParseAddr("192.0.2.100")
	r.apply(c)
	r.push(DefaultName, "10.1.0.0/16", "192.0.2.1")
	r.settled(DefaultName, 1)
	k := r.kernel(DefaultName)
	// Another process puts the same route without the source: it is a stray (our route has
	// a source), while ours stays.
	want := route(100, "10.1.0.0/16", "192.0.2.1")
	want.Src = c.Src4
	if got := k.Dump(); got != "route "+want.String() {
		t.Fatalf("kernel %q", got)
	}
	k.RemoveUnseen(want)
	k.Insert(route(100, "10.1.0.0/16", "192.0.2.1"))
	r.clock.Advance(time.Minute)
	eventually(t, "reinstall with source", func() bool { return k.Dump() == "route "+want.String() })
}

// TestCoalescing: while the actor is stuck in a slow kernel call, events for one prefix
// coalesce (the newest wins) and are applied in batches.
func TestCoalescing(t *testing.T) {
	r := newRig(t, false)
	r.apply(inst(DefaultName, 100))
	r.settled(DefaultName, 0)
	k := r.kernel(DefaultName)
	k.SetDelay(200 * time.Millisecond)
	r.push(DefaultName, "10.0.0.0/24", "192.0.2.1") // the actor takes it and sleeps in the kernel
	eventually(t, "actor busy", func() bool { return r.status(DefaultName).InboxDepth == 0 })
	start := time.Now()
	const events = 10_000
	for i := 0; i < events; i++ {
		r.push(DefaultName, fmt.Sprintf("10.%d.0.0/16", 1+i%100), fmt.Sprintf("192.0.2.%d", 1+i%250))
	}
	pushTime := time.Since(start)
	if d := r.status(DefaultName).InboxDepth; d > 100 {
		t.Fatalf("inbox depth %d after %d events for 100 prefixes", d, events)
	}
	k.SetDelay(0)
	r.settled(DefaultName, 101)
	// Newest wins: event i for prefix 1+i%100 came last at i = events-100+j.
	for j := 0; j < 100; j++ {
		i := events - 100 + j
		want := route(100, fmt.Sprintf("10.%d.0.0/16", 1+i%100), fmt.Sprintf("192.0.2.%d", 1+i%250))
		if !strings.Contains(k.Dump(), want.String()) {
			t.Fatalf("missing %s", want)
		}
	}
	if c := k.Calls(); c > 10 {
		t.Fatalf("%d kernel calls for 2 batches", c)
	}
	t.Logf("%d pushes while the actor was stuck took %v (never blocked)", events, pushTime)
	if pushTime > time.Second {
		t.Fatalf("pushing took %v: the inbox blocked", pushTime)
	}
}

// TestTargetVersion: every change bumps the version; the instance is pending until the
// actor acknowledged it; rapid changes converge on the newest config.
func TestTargetVersion(t *testing.T) {
	r := newRig(t, false)
	r.apply(inst(DefaultName, 100))
	r.push(DefaultName, "10.1.0.0/16", "192.0.2.1")
	r.settled(DefaultName, 1)
	k := r.kernel(DefaultName)
	k.SetDelay(20 * time.Millisecond)
	sawPending := false
	for i := 1; i <= 30; i++ {
		r.apply(inst(DefaultName, 100+i))
		if r.status(DefaultName).Pending {
			sawPending = true
		}
	}
	if !sawPending {
		t.Fatal("never pending while the actor was slow")
	}
	k.SetDelay(0)
	eventually(t, "converged", func() bool {
		s := r.status(DefaultName)
		return !s.Pending && s.TargetVersion == 31 && s.Sent == 31
	})
	if got, want := k.Dump(), "route table 130 10.1.0.0/16 via 192.0.2.1"; got != want {
		t.Fatalf("kernel:\n%s\nwant %s", got, want)
	}
	// An unchanged config is not a new version.
	r.apply(inst(DefaultName, 130))
	if s := r.status(DefaultName); s.Sent != 31 {
		t.Fatalf("sent %d after an unchanged config", s.Sent)
	}
}

// TestDeleteCleansUp: removing an instance removes its routes, rules and the links it made,
// and leaves a link it found.
func TestDeleteCleansUp(t *testing.T) {
	r := newRig(t, true)
	k := r.kernel("")
	k.AddLink("eth9")
	c := inst("blue", 200)
	c.VRF = true
	c.Setup = Setup{Bridge: "br-blue", Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.254/24")}, RulePriority: 1000,
		Ports: []Port{{Name: "vb0", Peer: "vb1"}, {Name: "eth9", Addrs: []netip.Prefix{netip.MustParsePrefix("198.51.100.1/24")}}}}
	r.apply(c, inst(DefaultName, 100))
	r.push("blue", "10.9.0.0/16", "192.0.2.1")
	r.push(DefaultName, "10.1.0.0/16", "192.0.2.1")
	eventually(t, "installed", func() bool {
		return r.status("blue").RoutesInstalled == 1 && r.status(DefaultName).RoutesInstalled == 1
	})
	for _, want := range []string{"link br-blue bridge 192.0.2.254/24", "link vb0 port master br-blue", "link vb1 veth peer vb0",
		"link eth9 port master br-blue 198.51.100.1/24", "rule 4 pref 1000 iif br-blue lookup 200", "rule 6 pref 1000 iif br-blue lookup 200",
		"route table 200 10.9.0.0/16 via 192.0.2.1"} {
		if !strings.Contains(k.Dump(), want) {
			t.Fatalf("kernel lacks %q:\n%s", want, k.Dump())
		}
	}
	r.apply(inst(DefaultName, 100))
	eventually(t, "blue gone", func() bool {
		return k.Dump() == "link eth9 port\nroute table 100 10.1.0.0/16 via 192.0.2.1"
	})
}

// twoRoutes is a default instance on table 100 with 10.1.0.0/16 and 10.2.0.0/16 via
// 192.0.2.1 installed.
func twoRoutes(t *testing.T) (*rig, *FakeKernel) {
	t.Helper()
	r := newRig(t, false)
	r.apply(inst(DefaultName, 100))
	r.push(DefaultName, "10.1.0.0/16", "192.0.2.1")
	r.push(DefaultName, "10.2.0.0/16", "192.0.2.1")
	r.settled(DefaultName, 2)
	return r, r.kernel(DefaultName)
}

func TestReconcileReinstalls(t *testing.T) {
	r, k := twoRoutes(t)
	if !k.RemoveUnseen(route(100, "10.1.0.0/16", "192.0.2.1")) {
		t.Fatal("route was not installed")
	}
	r.clock.Advance(time.Minute)
	r.settled(DefaultName, 2)
	eventually(t, "reinstalled", func() bool { return r.status(DefaultName).Reinstalls == 1 })
	if got := counter(t, r.reg, "fanout_kernel_route_reinstalls_total", DefaultName); got != 1 {
		t.Fatalf("reinstalls metric %v", got)
	}
	if got := counter(t, r.reg, "fanout_kernel_route_reconcile_duration_seconds", DefaultName); got != 1 {
		t.Fatalf("reconcile histogram count %v", got)
	}
	if s := r.status(DefaultName); !strings.HasPrefix(s.LastReconcileResult, "ok: 1 in kernel, 1 reinstalled") {
		t.Fatalf("result %q", s.LastReconcileResult)
	}
}

// TestReconcileDoesNotResurrect: a route withdrawn while the dump is in flight is missing
// from the kernel afterwards but is not reinstalled.
func TestReconcileDoesNotResurrect(t *testing.T) {
	r, k := twoRoutes(t)
	k.RemoveUnseen(route(100, "10.1.0.0/16", "192.0.2.1"))
	k.OnList(func() { r.push(DefaultName, "10.1.0.0/16", "") })
	r.clock.Advance(time.Minute)
	eventually(t, "reconciled", func() bool { return !r.status(DefaultName).LastReconcile.IsZero() })
	k.OnList(nil)
	r.settled(DefaultName, 1)
	if s := r.status(DefaultName); s.Reinstalls != 0 || s.RoutesDesired != 1 {
		t.Fatalf("status %+v", s)
	}
	if got := k.Dump(); got != "route table 100 10.2.0.0/16 via 192.0.2.1" {
		t.Fatalf("kernel %q", got)
	}
}

// TestReconcileRemovesStrays: routes of fanout's protocol that the instance does not want
// (left by an earlier run) are removed; other tables are left alone.
func TestReconcileRemovesStrays(t *testing.T) {
	r := newRig(t, true)
	k := r.kernel("")
	k.Insert(route(100, "10.7.0.0/16", "192.0.2.7"))
	k.Insert(route(100, "10.1.0.0/16", "192.0.2.9")) // wanted via another gateway
	k.Insert(route(101, "10.8.0.0/16", "192.0.2.7"))
	r.apply(inst(DefaultName, 100))
	r.push(DefaultName, "10.1.0.0/16", "192.0.2.1")
	eventually(t, "installed", func() bool { return r.status(DefaultName).RoutesInstalled == 1 })
	r.clock.Advance(time.Minute)
	eventually(t, "strays removed", func() bool { return r.status(DefaultName).StraysRemoved == 1 })
	want := "route table 100 10.1.0.0/16 via 192.0.2.1\nroute table 101 10.8.0.0/16 via 192.0.2.7"
	if got := k.Dump(); got != want {
		t.Fatalf("kernel:\n%s\nwant:\n%s", got, want)
	}
}

func TestInstallFailureCounted(t *testing.T) {
	r := newRig(t, false)
	var mu sync.Mutex
	var unreachable []string
	r.m.unreach = func(name string, p netip.Prefix, nh netip.Addr) {
		mu.Lock()
		unreachable = append(unreachable, fmt.Sprint(name, " ", p, " ", nh))
		mu.Unlock()
	}
	r.apply(inst(DefaultName, 100))
	r.settled(DefaultName, 0)
	k := r.kernel(DefaultName)
	k.FailRoute("192.0.2.66", syscall.ENETUNREACH)
	r.push(DefaultName, "10.1.0.0/16", "192.0.2.66")
	r.push(DefaultName, "10.2.0.0/16", "192.0.2.1")
	eventually(t, "failure", func() bool { return r.status(DefaultName).InstallFailures == 1 })
	r.settled(DefaultName, 1)
	if got := counter(t, r.reg, "fanout_kernel_route_install_failures_total", DefaultName); got != 1 {
		t.Fatalf("failures metric %v", got)
	}
	s := r.status(DefaultName)
	if s.UnreachableNextHops != 1 || !strings.Contains(s.LastError, "network is unreachable") || s.RoutesDesired != 2 {
		t.Fatalf("status %+v", s)
	}
	eventually(t, "reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(unreachable) == 1 && unreachable[0] == "default 10.1.0.0/16 192.0.2.66"
	})
	// Reconciliation retries the failed route once the kernel takes it.
	k.FailRoute("192.0.2.66", nil)
	r.clock.Advance(time.Minute)
	r.settled(DefaultName, 2)
}

// TestDumpFailureBacksOff: a failing dump (ENOBUFS) is retried after a back-off, not fatal.
func TestDumpFailureBacksOff(t *testing.T) {
	r := newRig(t, false)
	r.apply(inst(DefaultName, 100))
	r.push(DefaultName, "10.1.0.0/16", "192.0.2.1")
	r.settled(DefaultName, 1)
	k := r.kernel(DefaultName)
	k.FailList(syscall.ENOBUFS, syscall.ENOBUFS)
	k.RemoveUnseen(route(100, "10.1.0.0/16", "192.0.2.1"))
	r.clock.Advance(time.Minute)
	eventually(t, "first failure", func() bool { return r.status(DefaultName).DumpFailures == 1 })
	eventually(t, "retry armed", func() bool { return r.clock.armed() == 1 })
	r.clock.Advance(minRetry)
	eventually(t, "second failure", func() bool { return r.status(DefaultName).DumpFailures == 2 })
	eventually(t, "retry armed", func() bool { return r.clock.armed() == 1 })
	r.clock.Advance(2 * minRetry)
	eventually(t, "reinstalled", func() bool { return r.status(DefaultName).Reinstalls == 1 })
	r.settled(DefaultName, 1)
}

func TestConfigRefused(t *testing.T) {
	r := newRig(t, false)
	for _, c := range []Config{
		{Name: "a", Install: true},
		{Name: "a", Table: 1, ReconcileInterval: -time.Second},
		{Name: "a", Table: 1, Src4: netip.MustParseAddr("::1")},
		{Name: "a", Table: 1, Setup: Setup{RulePriority: 10}},
		{},
	} {
		if err := r.m.Apply([]Config{c}); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := r.m.Apply([]Config{inst("a", 1), inst("a", 2)}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate: %v", err)
	}
	if len(r.m.Status()) != 0 {
		t.Fatal("a refused config started an instance")
	}
}

// TestNetnsChangeRestarts: moving an instance to another namespace tears it down in the old
// one and sets it up in the new one, and its version keeps counting up.
func TestNetnsChangeRestarts(t *testing.T) {
	r := newRig(t, false)
	kernels := map[string]*FakeKernel{"a": NewFakeKernel(), "b": NewFakeKernel()}
	r.m.newKernel = func(c *Config) (Kernel, error) { return kernels[c.Netns], nil }
	c := inst(DefaultName, 100)
	c.Netns = "a"
	r.apply(c)
	r.push(DefaultName, "10.1.0.0/16", "192.0.2.1")
	eventually(t, "installed in a", func() bool { return kernels["a"].Len(100) == 1 })
	c.Netns = "b"
	r.apply(c)
	eventually(t, "moved to b", func() bool {
		s := r.status(DefaultName)
		return kernels["a"].Len(100) == 0 && s.TargetVersion == 2 && !s.Pending
	})
	// The new actor starts empty: the feed's walk (not here) brings the routes back.
	r.push(DefaultName, "10.1.0.0/16", "192.0.2.1")
	eventually(t, "installed in b", func() bool { return kernels["b"].Len(100) == 1 })
}

// TestWatchRepairs: a route another process deletes is put back at once (no reconcile tick),
// a route the actor withdrew itself is not, and lost notifications cost a full reconcile.
func TestWatchRepairs(t *testing.T) {
	r, k := twoRoutes(t)
	k.Remove(route(100, "10.1.0.0/16", "192.0.2.1"))
	eventually(t, "put back", func() bool { return k.Len(100) == 2 && r.status(DefaultName).Reinstalls == 1 })
	if !r.status(DefaultName).LastReconcile.IsZero() {
		t.Fatal("a reconcile ran")
	}
	// Withdrawn by the RIB, then reported gone: stays gone.
	r.push(DefaultName, "10.2.0.0/16", "")
	r.settled(DefaultName, 1)
	k.Insert(route(100, "10.2.0.0/16", "192.0.2.1"))
	k.Remove(route(100, "10.2.0.0/16", "192.0.2.1"))
	k.LoseNotifications(100)
	eventually(t, "full reconcile", func() bool { return !r.status(DefaultName).LastReconcile.IsZero() })
	if s := r.status(DefaultName); s.Reinstalls != 1 || k.Len(100) != 1 {
		t.Fatalf("status %+v, kernel %q", s, k.Dump())
	}
}

// TestCloseLeavesNoGoroutines: Close waits for every actor and its kernel watch.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	k := NewFakeKernel()
	m, err := NewManager(Deps{Logger: zaptest.NewLogger(t), Kernel: func(*Config) (Kernel, error) { return k, nil }})
	if err != nil {
		t.Fatal(err)
	}
	var cfgs []Config
	for i := 0; i < 5; i++ {
		cfgs = append(cfgs, inst(fmt.Sprint("vrf", i), 10+i))
	}
	if err := m.Apply(cfgs); err != nil {
		t.Fatal(err)
	}
	eventually(t, "instances up", func() bool {
		for _, s := range m.Status() {
			if s.Pending || !s.Activated {
				return false
			}
		}
		return true
	})
	ctx, cancel := contextWithTimeout(5 * time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "goroutines gone", func() bool { return runtime.NumGoroutine() <= before })
}

// TestPartialSetupRetried: a set-up that fails half-way (the bridge made, a port missing)
// leaves the instance not activated with the error in its status, is retried after a
// back-off, and what the first attempt made is removed with the instance.
func TestPartialSetupRetried(t *testing.T) {
	r := newRig(t, true)
	k := r.kernel("")
	c := inst("blue", 200)
	c.Setup = Setup{Bridge: "brx", Ports: []Port{{Name: "eth7"}}}
	r.apply(c)
	eventually(t, "set-up error", func() bool {
		s := r.status("blue")
		return !s.Pending && !s.Activated && strings.Contains(s.Error, "eth7: no such link")
	})
	k.AddLink("eth7")
	eventually(t, "retry armed", func() bool { return r.clock.armed() > 0 })
	r.clock.Advance(minRetry)
	eventually(t, "activated", func() bool { return r.status("blue").Activated })
	if got := k.Dump(); got != "link brx bridge\nlink eth7 port master brx" {
		t.Fatalf("kernel %q", got)
	}
	r.apply()
	eventually(t, "cleaned up", func() bool { return k.Dump() == "link eth7 port" })
}

// TestFrequentChangesStillReconcile: a config change that keeps the interval keeps the
// running reconcile timer.
func TestFrequentChangesStillReconcile(t *testing.T) {
	r := newRig(t, false)
	c := inst(DefaultName, 100)
	r.apply(c)
	r.settled(DefaultName, 0)
	for i := 1; i <= 2; i++ {
		r.clock.Advance(40 * time.Second)
		c.Src4 = netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		r.apply(c)
		eventually(t, "acknowledged", func() bool { return r.status(DefaultName).TargetVersion == uint64(1+i) })
	}
	eventually(t, "reconciled", func() bool { return !r.status(DefaultName).LastReconcile.IsZero() })
}
