package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/bench/gen"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/sched"
)

// BenchmarkLearnFromPeers: 10 peers (iBGP non-clients, so nothing is exported) each announce
// 100,000 distinct prefixes (1,000 attribute sets of 100 prefixes, packed into full UPDATEs)
// over real loopback TCP sessions at the same time; the time runs from the first byte sent until the RIB holds
// all 1,000,000 paths. Reported: routes learned per second into the RIB, and heap bytes
// per path. One iteration is one full load: run with -benchtime=1x.
func BenchmarkLearnFromPeers(b *testing.B) {
	const peers, perPeer, perSet = 10, 100_000, 100
	msgs := make([][]byte, peers)
	for i := range msgs {
		msgs[i] = learnLoad(b, i, perPeer, perSet, true)
	}
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for range b.N {
				learnOnce(b, workers, msgs, peers*perPeer)
			}
		})
	}
}

// learnLoad encodes peer i's announcements: /25s in 16+i.0.0.0/8, AS path i+65010 then a
// per-set origin AS, next hop in 198.18.0.0/15; with localPref (iBGP speakers) LOCAL_PREF
// 100 too.
func learnLoad(b *testing.B, i, n, perSet int, localPref bool) []byte {
	opts := &proto.SessionOptions{AS4: true}
	var bld proto.UpdateBuilder
	bld.Reset(opts)
	var out []byte
	ns := make([]proto.NLRI, 0, perSet)
	for set := 0; set < n/perSet; set++ {
		var a proto.Attrs
		a.Present.Set(proto.AttrOrigin)
		a.Present.Set(proto.AttrASPath)
		a.ASPath = proto.ASSeq(uint32(65010+i), uint32(100000+set))
		a.Present.Set(proto.AttrMED)
		a.MED = uint32(set % 7)
		if localPref {
			a.Present.Set(proto.AttrLocalPref)
			a.LocalPref = 100
		}
		attrs, err := proto.AppendAttrs(nil, &a, opts)
		if err != nil {
			b.Fatal(err)
		}
		ns = ns[:0]
		for k := 0; k < perSet; k++ {
			v := uint32(16+i)<<24 | uint32(set*perSet+k)<<7
			ns = append(ns, proto.NLRI{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 25)})
		}
		bld.Announce(proto.IPv4Unicast, attrs, proto.MPNextHop{Addr: netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)})}, ns...)
		if set%50 == 49 {
			if out, err = bld.AppendMessages(out); err != nil {
				b.Fatal(err)
			}
			bld.Reset(opts)
		}
	}
	out, err := bld.AppendMessages(out)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func learnOnce(b *testing.B, workers int, msgs [][]byte, want int) {
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := sched.New(sched.WithWorkers(workers))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	r, err := NewRIB(rctx, s, zap.NewNop(), RIBConfig{LocalAS: 65000, RouterID: netip.MustParseAddr("10.255.0.1"), Partitions: 2})
	if err != nil {
		b.Fatal(err)
	}
	local := netip.MustParseAddr("127.1.40.1")
	srv, err := New(ServerConfig{AS: 65000, RouterID: netip.MustParseAddr("10.255.0.1"), ListenAddrs: []netip.Addr{local}},
		Deps{Scheduler: s, Routing: r})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer srv.Close(context.Background())
	remote := srv.ListenAddrs()[0]
	sess := make([]*gen.Session, len(msgs))
	addrs := make([]netip.Addr, len(msgs))
	for i := range msgs {
		addrs[i] = netip.AddrFrom4([4]byte{127, 1, 40, byte(10 + i)})
		// iBGP non-clients: RFC 4456 does not reflect their routes to each other, so the
		// benchmark measures learning alone, with no export work.
		if err := srv.AddPeer(PeerConfig{Addr: addrs[i], PeerAS: 65000, Passive: true}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range msgs {
		sess[i], err = gen.Dial(ctx, gen.SessionConfig{Name: fmt.Sprint("speaker-", i), Local: addrs[i], Remote: remote,
			AS: 65000, PeerAS: 65000, Table: gen.NewTable(false, gen.CheckRouteServer)}, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		defer sess[i].Close(true)
	}
	for _, a := range addrs {
		for {
			if st, _ := srv.Peer(a); st.State == Established {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.StartTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range sess {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sess[i].Send(ctx, msgs[i]); err != nil {
				b.Error(err)
			}
		}()
	}
	held := func() int {
		n := 0
		for _, a := range addrs {
			st, _ := srv.Peer(a)
			n += int(st.Counters.PrefixesReceived)
		}
		return n
	}
	for held() < want {
		if ctx.Err() != nil {
			b.Fatalf("only %d of %d paths learned", held(), want)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	wg.Wait()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(want)/elapsed.Seconds(), "routes/s")
	b.ReportMetric(elapsed.Seconds(), "s/load")
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(want), "B/path")
}
