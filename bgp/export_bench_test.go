package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/bench/gen"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// BenchmarkExportFanIn: 10 internal non-client speakers each announce 100,000 distinct
// prefixes (1,000 sets of 100) at once over real loopback sessions; one route-reflector
// client (the monitor) receives every route, reflected. The time runs from the first byte
// sent until the monitor holds all 1,000,000 prefixes. The speakers are sent nothing (RFC
// 4456 §6: non-client routes go to clients only). One iteration is one full load: run with
// -benchtime=1x.
func BenchmarkExportFanIn(b *testing.B) {
	const peers, perPeer, perSet = 10, 100_000, 100
	msgs := make([][]byte, peers)
	for i := range msgs {
		msgs[i] = learnLoad(b, i, perPeer, perSet, true) // iBGP speakers: with LOCAL_PREF
	}
	for _, workers := range []int{2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for range b.N {
				fanInOnce(b, workers, msgs, peers*perPeer)
			}
		})
	}
}

func fanInOnce(b *testing.B, workers int, msgs [][]byte, want int) {
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
	r, err := NewRIB(rctx, s, zap.NewNop(), RIBConfig{LocalAS: 65000, RouterID: netip.MustParseAddr("10.255.0.1"), Partitions: workers})
	if err != nil {
		b.Fatal(err)
	}
	local := netip.MustParseAddr("127.1.55.1")
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
	monAddr := netip.MustParseAddr("127.1.55.100")
	if err := srv.AddPeer(PeerConfig{Addr: monAddr, PeerAS: 65000, RRClient: true, Passive: true}); err != nil {
		b.Fatal(err)
	}
	mon, err := gen.Dial(ctx, gen.SessionConfig{Name: "monitor", Local: monAddr, Remote: remote, AS: 65000, PeerAS: 65000,
		Table: gen.NewTable(true, gen.CheckNextHop)}, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer mon.Close(true)
	sess := make([]*gen.Session, len(msgs))
	for i := range msgs {
		a := netip.AddrFrom4([4]byte{127, 1, 55, byte(10 + i)})
		if err := srv.AddPeer(PeerConfig{Addr: a, PeerAS: 65000, Passive: true}); err != nil {
			b.Fatal(err)
		}
		sess[i], err = gen.Dial(ctx, gen.SessionConfig{Name: fmt.Sprint("speaker-", i), Local: a, Remote: remote,
			AS: 65000, PeerAS: 65000, Table: gen.NewTable(false, gen.CheckNextHop)}, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		defer sess[i].Close(true)
	}
	for mon.Table().Stats().EndOfRIBs == 0 {
		if ctx.Err() != nil {
			b.Fatal("monitor never got its End-of-RIB")
		}
		time.Sleep(time.Millisecond)
	}
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
	for mon.Table().Stats().Held < want {
		if ctx.Err() != nil {
			b.Fatalf("monitor holds %d of %d prefixes", mon.Table().Stats().Held, want)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	wg.Wait()
	st := mon.Table().Stats()
	b.ReportMetric(elapsed.Seconds(), "s/load")
	b.ReportMetric(float64(want)/elapsed.Seconds(), "routes/s")
	b.ReportMetric(float64(st.Updates), "updates")
	b.ReportMetric(float64(peakRSS())/(1<<20), "MiB-peak-rss")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapSys)/(1<<20), "MiB-heap-sys")
}

// BenchmarkExportFanOut: one internal speaker announces a full IPv4 table (one peer of the
// Route Views jinx RIB dump in ../shared/data/mrt) to route-reflector clients that all
// share one RibOut. The time runs from the first byte sent until every client has been
// sent every UPDATE the RibOut encoded and the queue is empty. Reported: prefixes, UPDATEs
// encoded (once for all clients), CPU seconds of the process during the load. Run with
// -benchtime=1x.
func BenchmarkExportFanOut(b *testing.B) {
	path := "../../shared/data/mrt/rib/routeviews.route-views.jinx.ribs.1401487200.bz2"
	feed, err := gen.LoadMRT(path, gen.MRTOptions{NextHop4: netip.MustParseAddr("198.18.0.1"), AvoidAS: []uint32{65000}})
	if err != nil {
		b.Fatal(err)
	}
	var ann []gen.Announcement
	for _, ev := range feed.Events {
		ann = append(ann, ev.Announce...)
	}
	for _, n := range []int{100, 500} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			for range b.N {
				fanOutOnce(b, ann, n)
			}
		})
	}
}

func fanOutOnce(b *testing.B, ann []gen.Announcement, clients int) {
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s, err := sched.New(sched.WithWorkers(runtime.GOMAXPROCS(0)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	r, err := NewRIB(rctx, s, zap.NewNop(), RIBConfig{LocalAS: 65000, RouterID: netip.MustParseAddr("10.255.0.1")})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(ServerConfig{AS: 65000, RouterID: netip.MustParseAddr("10.255.0.1"), ListenAddrs: []netip.Addr{netip.MustParseAddr("127.1.57.1")}},
		Deps{Scheduler: s, Routing: r})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer srv.Close(context.Background())
	remote := srv.ListenAddrs()[0]
	rcv := make([]*gen.Session, clients)
	for i := range rcv {
		a := netip.AddrFrom4([4]byte{127, 2, byte(i / 250), byte(1 + i%250)})
		if err := srv.AddPeer(PeerConfig{Addr: a, PeerAS: 65000, RRClient: true, Passive: true}); err != nil {
			b.Fatal(err)
		}
		rcv[i], err = gen.Dial(ctx, gen.SessionConfig{Name: a.String(), Local: a, Remote: remote, AS: 65000, PeerAS: 65000,
			Table: gen.NewTable(false, gen.CheckNextHop)}, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		defer rcv[i].Close(true)
	}
	spkAddr := netip.MustParseAddr("127.1.57.2")
	if err := srv.AddPeer(PeerConfig{Addr: spkAddr, PeerAS: 65000, Passive: true}); err != nil {
		b.Fatal(err)
	}
	spk, err := gen.Dial(ctx, gen.SessionConfig{Name: "speaker", Local: spkAddr, Remote: remote, AS: 65000, PeerAS: 65000,
		Table: gen.NewTable(false, gen.CheckNextHop)}, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer spk.Close(true)
	opts := spk.Options()
	var bld proto.UpdateBuilder
	bld.Reset(&opts)
	enc := map[*gen.AttrSet][]byte{}
	for _, a := range ann {
		if enc[a.Attrs] == nil {
			enc[a.Attrs] = attrsOf(b, a.Attrs, &opts)
		}
		bld.Announce(proto.IPv4Unicast, enc[a.Attrs], proto.MPNextHop{Addr: a.Attrs.NextHop4}, proto.NLRI{Prefix: a.Prefix})
	}
	msgs, err := bld.AppendMessages(nil)
	if err != nil {
		b.Fatal(err)
	}
	// Wait for every client's initial End-of-RIB (a table that keeps no routes counts it
	// as an UPDATE), then find the clients' RibOut.
	deadline := time.Now().Add(time.Minute)
	for _, x := range rcv {
		for x.Table().Stats().Updates == 0 {
			if time.Now().After(deadline) {
				b.Fatal("a client never got its End-of-RIB")
			}
			time.Sleep(time.Millisecond)
		}
	}
	var clientsOut *ribOut
	if err := s.Run(sched.BGPConfig, 0, func(*sched.Ctx) sched.Result {
		for _, x := range r.exp.ribouts {
			if x.key.pol.Role == rib.RoleIBGPClient && x.ro.Members().Len() == clients {
				clientsOut = x
			}
		}
		return sched.Done
	}); err != nil {
		b.Fatal(err)
	}
	if err := s.WaitIdle(ctx); err != nil || clientsOut == nil {
		b.Fatalf("no RibOut with the %d clients (%v)", clients, err)
	}
	enc0 := clientsOut.counters.Encoded.Load()
	upd0 := make([]int64, clients)
	for i, x := range rcv {
		upd0[i] = x.Table().Stats().Updates
	}
	cpu0 := processCPU()
	b.StartTimer()
	start := time.Now()
	if err := spk.Send(ctx, msgs); err != nil {
		b.Fatal(err)
	}
	done := func() bool {
		if clientsOut.counters.Prefixes.Load() < uint64(len(ann))*9/10 || clientsOut.ro.Queue.Pending() > 0 {
			return false
		}
		enc := int64(clientsOut.counters.Encoded.Load() - enc0)
		for i, x := range rcv {
			if x.Table().Stats().Updates-upd0[i] != enc {
				return false
			}
		}
		return true
	}
	deadline = time.Now().Add(3 * time.Minute)
	for !done() {
		if time.Now().After(deadline) {
			b.Fatalf("clients did not converge: RibOut dequeued %d prefixes, %d pending", clientsOut.counters.Prefixes.Load(), clientsOut.ro.Queue.Pending())
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(elapsed.Seconds(), "s/load")
	b.ReportMetric(float64(len(ann)), "prefixes")
	b.ReportMetric(float64(clientsOut.counters.Encoded.Load()-enc0), "updates-encoded")
	b.ReportMetric((processCPU() - cpu0).Seconds(), "cpu-s")
	b.ReportMetric(float64(peakRSS())/(1<<20), "MiB-peak-rss")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapSys)/(1<<20), "MiB-heap-sys")
}

// processCPU returns the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS returns the process's peak resident set size in bytes (generators included: the
// sessions run in the test process).
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss << 10
}
