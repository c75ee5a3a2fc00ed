package api

import (
	"context"
	"net/netip"
	"testing"
	"time"

	apipb "github.com/osrg/gobgp/v3/api"

	"github.com/fanoutd/fanout/bench/gen"
	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/proto"
)

// announce makes speaker sp announce n IPv4 /32s from base (one attribute set, next hop
// nh), in UPDATEs the builder packs.
func announce(tb testing.TB, ctx context.Context, sp *gen.Session, base netip.Addr, n int, as uint32, nh netip.Addr) {
	tb.Helper()
	opts := sp.Options()
	var a proto.Attrs
	a.Present.Set(proto.AttrOrigin)
	a.Present.Set(proto.AttrASPath)
	a.ASPath = proto.ASSeq(as)
	attrs, err := proto.AppendAttrs(nil, &a, &opts)
	if err != nil {
		tb.Fatal(err)
	}
	var b proto.UpdateBuilder
	b.Reset(&opts)
	v := base.As4()
	start := uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
	for i := range uint32(n) {
		x := start + i
		b.Announce(proto.IPv4Unicast, attrs, proto.MPNextHop{Addr: nh},
			proto.NLRI{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}), 32)})
	}
	wire, err := b.AppendMessages(nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := sp.Send(ctx, wire); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkListPathWhileRouting: a 1M-path IPv4 table (two speakers with the same 500k
// prefixes), then a feeder announcing 200k new prefixes three times: alone, while a ListPath
// of the whole table walks it (copies the entries), and while that listing streams to a
// client (converts and sends). It reports the feeder's routing rate (routes/s into the RIB,
// to its counters) in each run, the listing's length and time, and whether the stream was
// still running when the third feed was in.
// Run it with -benchtime=1x (one setup is the whole measurement).
func BenchmarkListPathWhileRouting(b *testing.B) {
	const (
		table = 500_000 // prefixes per table speaker: 2 × table paths
		feed  = 200_000 // prefixes the feeder announces per run
	)
	for range b.N {
		f := newFixture(b, 89, Deps{})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		b.Cleanup(cancel)
		f.ctx = ctx
		dial := func(a netip.Addr, as uint32) *gen.Session {
			if err := f.srv.AddPeer(bgp.PeerConfig{Addr: a, PeerAS: as, Passive: true, MaxPrefixes: bgp.MaxPrefixes{}}); err != nil {
				b.Fatal(err)
			}
			sp, err := gen.Dial(f.ctx, gen.SessionConfig{Name: a.String(), Local: a, Remote: f.srv.ListenAddrs()[0],
				AS: as, PeerAS: 65000, Table: gen.NewTable(false, gen.CheckRouteServer)}, time.Second)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { sp.Close(true) })
			return sp
		}
		received := func(a netip.Addr) int64 { st, _ := f.srv.Peer(a); return st.Counters.PrefixesReceived }
		waitFor := func(a netip.Addr, n int64) {
			deadline := time.Now().Add(5 * time.Minute)
			for received(a) < n {
				if time.Now().After(deadline) {
					b.Fatalf("%v: %d of %d routes after 5 minutes", a, received(a), n)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
		s1, s2, fd := netip.MustParseAddr("127.1.89.11"), netip.MustParseAddr("127.1.89.12"), netip.MustParseAddr("127.1.89.13")
		for i, a := range []netip.Addr{s1, s2} {
			sp := dial(a, uint32(65011+i))
			announce(b, f.ctx, sp, netip.MustParseAddr("20.0.0.0"), table, uint32(65011+i), netip.MustParseAddr("198.18.0.11"))
			waitFor(a, table)
		}
		feeder := dial(fd, 65013)
		b.ResetTimer()

		// Alone.
		t0 := time.Now()
		announce(b, f.ctx, feeder, netip.MustParseAddr("30.0.0.0"), feed, 65013, netip.MustParseAddr("198.18.0.13"))
		waitFor(fd, feed)
		alone := time.Since(t0)

		// While a listing of the whole table runs: first its walk (the copy of the entries
		// in low-priority db.walk tasks), then its stream (conversion and gRPC sends).
		listed := make(chan int, 1)
		streaming := make(chan struct{})
		var listTime time.Duration
		t1 := time.Now()
		go func() {
			n := 0
			st, err := f.c.ListPath(f.ctx, &apipb.ListPathRequest{TableType: apipb.TableType_GLOBAL, Family: ipv4UC})
			if err == nil {
				for {
					r, err := st.Recv()
					if err != nil {
						break
					}
					if n == 0 {
						close(streaming)
					}
					n += len(r.Destination.Paths)
				}
			}
			listTime = time.Since(t1)
			listed <- n
		}()
		announce(b, f.ctx, feeder, netip.MustParseAddr("31.0.0.0"), feed, 65013, netip.MustParseAddr("198.18.0.13"))
		waitFor(fd, 2*feed)
		during := time.Since(t1)
		<-streaming
		t2 := time.Now()
		announce(b, f.ctx, feeder, netip.MustParseAddr("32.0.0.0"), feed, 65013, netip.MustParseAddr("198.18.0.13"))
		waitFor(fd, 3*feed)
		stream := time.Since(t2)
		var paths int
		stillListing := 0.0
		select {
		case paths = <-listed:
		default:
			stillListing = 1
			paths = <-listed
		}
		b.StopTimer()
		if paths < 2*table {
			b.Fatalf("listed %d paths, want at least %d", paths, 2*table)
		}
		b.ReportMetric(float64(feed)/alone.Seconds(), "routes/s-alone")
		b.ReportMetric(float64(feed)/during.Seconds(), "routes/s-walk")
		b.ReportMetric(float64(feed)/stream.Seconds(), "routes/s-stream")
		b.ReportMetric(stillListing, "stream-outlasted-feed")
		b.ReportMetric(float64(paths), "paths-listed")
		b.ReportMetric(listTime.Seconds(), "s-list")
	}
}
