//go:build linux

package netinst

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// benchRoutes returns n distinct /28 routes in 10.0.0.0/8 of table via gw.
func benchRoutes(n, table int, gw string) []Route {
	rs := make([]Route, n)
	g := netip.MustParseAddr(gw)
	for i := range rs {
		v := uint32(10)<<24 | uint32(i)<<4
		a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		rs[i] = Route{Table: table, Dst: netip.PrefixFrom(a, 28), Gw: g}
	}
	return rs
}

// benchNetns makes a namespace with a veth link on 192.0.2.254/24, so 192.0.2.1 is a
// reachable gateway.
func benchNetns(b *testing.B) (string, *NetlinkKernel) {
	ns := testNetns(b, "bench")
	ipns(b, ns, "link", "add", "name", "fd0", "type", "veth", "peer", "name", "fd1")
	ipns(b, ns, "addr", "add", "192.0.2.254/24", "dev", "fd0")
	ipns(b, ns, "link", "set", "fd1", "up")
	ipns(b, ns, "link", "set", "fd0", "up")
	return ns, openKernel(b, ns)
}

const benchN = 100_000

// BenchmarkKernelInstall measures installing 100k routes into one table of a namespace in
// batches of maxBatch, as an actor does: routes/s is the figure to read.
func BenchmarkKernelInstall(b *testing.B) {
	_, k := benchNetns(b)
	rs := benchRoutes(benchN, 300, "192.0.2.1")
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		for j := 0; j < len(rs); j += maxBatch {
			if f := k.ReplaceRoutes(rs[j:min(j+maxBatch, len(rs))]); len(f) > 0 {
				b.Fatalf("%d failed: %v", len(f), f[0])
			}
		}
		total += time.Since(start)
		b.StopTimer()
		for j := 0; j < len(rs); j += maxBatch {
			if f := k.DeleteRoutes(rs[j:min(j+maxBatch, len(rs))]); len(f) > 0 {
				b.Fatalf("%d not deleted: %v", len(f), f[0])
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(benchN*b.N)/total.Seconds(), "routes/s")
}

// BenchmarkKernelInstallUnbatched is the same through netlink.Handle.RouteReplace, one
// request and one ack wait per route: the baseline the batching is measured against.
func BenchmarkKernelInstallUnbatched(b *testing.B) {
	_, k := benchNetns(b)
	rs := benchRoutes(benchN, 302, "192.0.2.1")
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		for _, r := range rs {
			nr := &netlink.Route{Table: r.Table, Dst: ipNet(r.Dst), Gw: r.Gw.AsSlice(), Protocol: RouteProtocol, Type: unix.RTN_UNICAST}
			if err := k.Handle().RouteReplace(nr); err != nil {
				b.Fatal(err)
			}
		}
		total += time.Since(start)
		b.StopTimer()
		if f := k.DeleteRoutes(rs); len(f) > 0 {
			b.Fatalf("%d not deleted: %v", len(f), f[0])
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(benchN*b.N)/total.Seconds(), "routes/s")
}

// BenchmarkReconcile100k measures one reconciliation of an instance with 100k installed
// routes in a namespace's table (dump, diff, nothing to repair).
func BenchmarkReconcile100k(b *testing.B) {
	_, k := benchNetns(b)
	m, err := newMetrics(nil, func() []Status { return nil })
	if err != nil {
		b.Fatal(err)
	}
	a := newActor(DefaultName, k, SystemClock{}, zap.NewNop(), m.instance(DefaultName))
	a.configure(versioned{cfg: Config{Name: DefaultName, Table: 301, Install: true}, version: 1})
	defer a.unwatch()
	evs := make([]Event, 0, benchN)
	for _, r := range benchRoutes(benchN, 301, "192.0.2.1") {
		evs = append(evs, Event{Key: EventKey{Prefix: r.Dst}, NextHop: r.Gw})
	}
	a.apply(evs)
	if len(a.installed) != benchN || len(a.failed) != 0 {
		b.Fatalf("installed %d, failed %d", len(a.installed), len(a.failed))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.reconcile()
	}
	b.StopTimer()
	if a.st.Reinstalls != 0 || a.st.StraysRemoved != 0 {
		b.Fatalf("reconcile repaired something: %s", a.st.LastReconcileResult)
	}
	b.ReportMetric(float64(a.st.LastReconcileDuration.Microseconds())/1000, "ms/last")
}
