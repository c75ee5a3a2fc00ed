package bgp

import (
	"context"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/bench/mrtdata"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/sched"
)

// BenchmarkRIBFullTable feeds a real RIB dump (RouteViews jinx, 2014: 503,590 paths of 14
// peers, one full IPv4 feed) through DecodeUpdate and the Ingest into the partitioned RIB,
// one Ingest per MRT peer, and reports routes per second and heap bytes per stored path
// (the RIB's memory: entries, paths and interned attribute sets; the input messages are
// excluded). Run with -benchtime=1x: one pass is one full table.
func BenchmarkRIBFullTable(b *testing.B) {
	p, err := mrtdata.Path("rib", "routeviews.route-views.jinx.ribs.1401487200.bz2")
	if err != nil {
		b.Fatal(err)
	}
	routes, err := mrtdata.ReadRIB(p, 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, workers := range []int{1, 2} {
		b.Run("workers="+string(rune('0'+workers)), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchFullTable(b, routes, workers)
			}
		})
	}
}

func benchFullTable(b *testing.B, routes []mrtdata.Route, workers int) {
	b.StopTimer()
	s, err := sched.New(sched.WithWorkers(workers))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		c, done := context.WithTimeout(context.Background(), 30*time.Second)
		defer done()
		s.Close(c)
	}()
	r, err := NewRIB(ctx, s, zap.NewNop(), RIBConfig{LocalAS: 65000, RouterID: netip.MustParseAddr("10.255.0.1"), Partitions: 2})
	if err != nil {
		b.Fatal(err)
	}
	ins := map[netip.Addr]Ingest{}
	infos := map[netip.Addr]*SessionInfo{}
	for _, rt := range routes {
		if ins[rt.Peer] == nil {
			info := &SessionInfo{PeerAddr: rt.Peer, RouterID: rt.Peer, PeerAS: rt.PeerAS, EBGP: true, Recv: proto.SessionOptions{AS4: true, EBGP: true}}
			infos[rt.Peer] = info
			ins[rt.Peer] = r.SessionUp(info)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.StartTimer()
	start := time.Now()
	var u proto.Update
	for _, rt := range routes {
		info := infos[rt.Peer]
		err := proto.DecodeUpdate(rt.Body(), &info.Recv, &u)
		var perr *proto.Error
		if err != nil {
			var ok bool
			if perr, ok = proto.AsError(err); !ok || perr.Action == proto.ActionSessionReset {
				continue
			}
		}
		if _, err := ins[rt.Peer].Update(ctx, &u, perr); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.WaitIdle(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	paths := 0
	for _, in := range ins {
		paths += int(in.(*ribIn).Source().Counters.Received.Load())
	}
	b.ReportMetric(float64(len(routes))/elapsed.Seconds(), "routes/s")
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(paths), "B/path")
	b.ReportMetric(float64(paths), "paths")
	b.ReportMetric(float64(r.Attrs().Len()), "attrsets")
	runtime.KeepAlive(ins)
}
