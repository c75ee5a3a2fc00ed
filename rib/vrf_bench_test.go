package rib

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/sched"
)

// benchTables returns a VPNv4 table (4 partitions) with n VRFs registered; the first imports
// route target 65000:1, the others import targets no route carries.
func benchTables(b *testing.B, n int) (*Table, *AttrTable, *sched.Scheduler) {
	s, err := sched.New(sched.WithWorkers(2))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	at := NewAttrTable()
	var ts [2]*Table
	for i, fam := range []proto.Family{proto.VPNv4, proto.VPNv6} {
		if ts[i], err = NewTable(s, at, TableConfig{Family: fam, Partitions: 4}); err != nil {
			b.Fatal(err)
		}
	}
	var cfgs []VRFConfig
	for i := range n {
		cfgs = append(cfgs, VRFConfig{Name: fmt.Sprint("v", i), RD: proto.RD0(65535, uint32(i)), ImportRTs: [][8]byte{rt(65000, uint32(i+1))}})
	}
	vs, err := NewVRFs(s, at, ts[0], ts[1], 0, cfgs)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	if err := s.Run(sched.BGPConfig, 0, func(c *sched.Ctx) sched.Result { done <- vs.Register(c); return sched.Done }); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return ts[0], at, s
}

// fill adds n /32 paths of src via attrs to t, in batches per partition, and waits.
func fill(b *testing.B, s *sched.Scheduler, t *Table, at *AttrTable, src *Source, a *Attrs, rd proto.RD, base, n int) {
	ctx := context.Background()
	batch := make([][]Request, t.Partitions())
	flush := func(p int) {
		if _, err := t.Enqueue(ctx, p, batch[p]); err != nil {
			b.Fatal(err)
		}
		batch[p] = batch[p][:0]
	}
	for i := range n {
		v := uint32(base + i)
		k := MakeKey(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(v >> 16), byte(v >> 8), byte(v)}), 32), rd)
		at.Ref(a)
		p := t.PartitionOf(k)
		batch[p] = append(batch[p], Request{Key: k, Op: Op{Kind: OpAdd, Path: Path{Src: src, Attrs: a}}})
		if len(batch[p]) == 256 {
			flush(p)
		}
	}
	for p := range batch {
		if len(batch[p]) > 0 {
			flush(p)
		}
	}
	if err := s.WaitIdle(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkVRFImport: VPN routes added per second when no VRF, one VRF importing every
// route, or that one among eight VRFs (seven importing nothing) listen on the VPN table.
func BenchmarkVRFImport(b *testing.B) {
	for _, n := range []int{0, 1, 8} {
		b.Run(fmt.Sprint("vrfs=", n), func(b *testing.B) {
			vpn, at, s := benchTables(b, n)
			wire := string(append([]byte{0x40, proto.AttrOrigin, 1, 0, 0xc0, proto.AttrExtCommunities, 8}, func() []byte { r := rt(65000, 1); return r[:] }()...))
			nh := netip.MustParseAddr("192.0.2.1")
			a := at.Intern(InternKey(nil, []byte(wire), nh), &Summary{NextHop: nh})
			src := &Source{Addr: nh, Counters: &SourceCounters{}}
			b.ResetTimer()
			fill(b, s, vpn, at, src, a, proto.RD0(65001, 1), 0, b.N)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "routes/s")
		})
	}
}

// BenchmarkNextHopSweep: marking a next hop unreachable and reachable again in a table of
// 100,000 paths via it (two sweeps of every partition, best path selected again each time).
func BenchmarkNextHopSweep(b *testing.B) {
	vpn, at, s := benchTables(b, 0)
	nh := netip.MustParseAddr("192.0.2.1")
	a := at.Intern(InternKey(nil, []byte{0x40, proto.AttrOrigin, 1, 0}, nh), &Summary{NextHop: nh})
	src := &Source{Addr: nh, Counters: &SourceCounters{}}
	fill(b, s, vpn, at, src, a, proto.RD0(65001, 1), 0, 100_000)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		for _, up := range []bool{false, true} {
			if err := vpn.SetNextHopReachable(ctx, nh, up); err != nil {
				b.Fatal(err)
			}
			if err := s.WaitIdle(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if got := src.Counters.Accepted.Load(); got != 100_000 {
		b.Fatalf("accepted %d after the sweeps", got)
	}
}
