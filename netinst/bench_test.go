package netinst

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"
)

// discardKernel takes every route and keeps nothing: what is left to measure is the actor.
type discardKernel struct{}

func (discardKernel) ReplaceRoutes([]Route) []RouteError { return nil }
func (discardKernel) DeleteRoutes([]Route) []RouteError  { return nil }
func (discardKernel) ListRoutes(int) ([]Route, error)    { return nil, nil }
func (discardKernel) Setup(Setup) (Created, error)       { return Created{}, nil }
func (discardKernel) Teardown(Setup, Created) error      { return nil }

// BenchmarkActorApply measures an actor applying 100k route events (as batches of maxBatch
// taken from its inbox) with a kernel that costs nothing: events/s, and the actor's memory
// per installed route (what it wants plus what it believes installed).
func BenchmarkActorApply(b *testing.B) {
	const n = 100_000
	evs := make([]Event, n)
	for i := range evs {
		v := uint32(10)<<24 | uint32(i)<<4
		evs[i] = Event{Key: EventKey{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 28)},
			NextHop: netip.MustParseAddr("192.0.2.1")}
	}
	m, err := newMetrics(nil, func() []Status { return nil })
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	var perRoute float64
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		a := newActor(DefaultName, discardKernel{}, SystemClock{}, zap.NewNop(), m.instance(DefaultName))
		a.configure(versioned{cfg: Config{Name: DefaultName, Table: 100, Install: true}, version: 1})
		start := time.Now()
		for j := 0; j < n; j += maxBatch {
			a.apply(evs[j:min(j+maxBatch, n)])
		}
		total += time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		if len(a.installed) != n {
			b.Fatalf("installed %d", len(a.installed))
		}
		perRoute = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(a)
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "events/s")
	b.ReportMetric(perRoute, "B/route")
}
