package bgp

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
)

// TestMemoryCeiling: over the ceiling, the peer holding more than its share has its
// announcements refused (applied as withdrawn) while a peer under its share is still
// served; over the hard level everyone's are refused; withdrawals always go through; back
// under the ceiling everything is accepted again. Usage is an input and so is the clock
// (127.1.212.0/24).
func TestMemoryCeiling(t *testing.T) {
	clock := NewFakeClock(epoch)
	var usage atomic.Uint64
	r, sch := newTestRIB(t, 0)
	srv := startServer(t, ServerConfig{AS: 65000, RouterID: addr("10.255.0.1"), ListenAddrs: []netip.Addr{addr("127.1.212.1")},
		Memory: MemoryConfig{Ceiling: 1000, Hard: 2000}},
		Deps{Logger: zap.NewNop(), Scheduler: sch, Routing: r, Clock: clock, MemoryUsage: usage.Load})
	rcv := newReceiver(t, srv, "127.1.212.2", 65099)
	opts := proto.SessionOptions{AS4: true, EBGP: true}
	big, small := newSender(t, srv, "127.1.212.10", opts), newSender(t, srv, "127.1.212.11", opts)
	held := func(ps ...[]proto.NLRI) func(map[netip.Prefix]routeSeen) bool {
		return func(tab map[netip.Prefix]routeSeen) bool {
			for _, s := range ps {
				for _, n := range s {
					if _, ok := tab[n.Prefix]; !ok {
						return false
					}
				}
			}
			return true
		}
	}
	absent := func(what string, ps []proto.NLRI) {
		t.Helper()
		rcv.check(func(tab map[netip.Prefix]routeSeen) bool {
			for _, n := range ps {
				if _, ok := tab[n.Prefix]; ok {
					t.Fatalf("%s: %v was accepted", what, n.Prefix)
				}
			}
			return true
		})
	}
	setUsage := func(u uint64, level int) {
		t.Helper()
		usage.Store(u)
		clock.Advance(time.Second) // the next UPDATE samples again
		// Any UPDATE samples; a withdrawal of nothing changes nothing.
		w := proto.NewUpdateBuilder(&opts)
		w.Withdraw(proto.IPv4Unicast, proto.NLRI{Prefix: netip.MustParsePrefix("192.0.2.0/24")})
		msg, _ := w.AppendMessages(nil)
		small.r.send(msg)
		eventually(t, "the level", func() bool { return srv.MemoryStats().Level == level })
	}
	bigRoutes, smallRoutes := prefixRange(10, 212, 100), prefixRange(10, 213, 10)
	big.r.send(baselineUpdate(t, &opts, 65001, bigRoutes, nil))
	small.r.send(baselineUpdate(t, &opts, 65001, smallRoutes, nil))
	rcv.wait(t, "every route under the ceiling", held(bigRoutes, smallRoutes))

	// Over the ceiling: the share is (100 + 10 + 0) / 3 peers.
	setUsage(1500, 1)
	refused := srv.MemoryStats().RefusedUpdates
	bigNew, smallNew := prefixRange(10, 214, 5), prefixRange(10, 215, 5)
	big.r.send(baselineUpdate(t, &opts, 65001, bigNew, nil))
	eventually(t, "the big peer refused", func() bool { return srv.MemoryStats().RefusedUpdates == refused+1 })
	small.r.send(baselineUpdate(t, &opts, 65001, smallNew, nil))
	rcv.wait(t, "the small peer still served", held(smallNew))
	absent("over the ceiling, the peer over its share", bigNew)
	// The big peer's withdrawals go through.
	w := proto.NewUpdateBuilder(&opts)
	w.Withdraw(proto.IPv4Unicast, bigRoutes[:10]...)
	wd, _ := w.AppendMessages(nil)
	big.r.send(wd)
	rcv.wait(t, "withdrawals over the ceiling", func(tab map[netip.Prefix]routeSeen) bool {
		_, ok := tab[bigRoutes[0].Prefix]
		return !ok
	})

	// Over the hard level: everyone is refused.
	setUsage(2500, 2)
	refused = srv.MemoryStats().RefusedUpdates
	smallHard := prefixRange(10, 216, 5)
	small.r.send(baselineUpdate(t, &opts, 65001, smallHard, nil))
	eventually(t, "the small peer refused", func() bool { return srv.MemoryStats().RefusedUpdates == refused+1 })

	// Back under: accepted again, and both sessions stayed up throughout.
	setUsage(10, 0)
	big.r.send(baselineUpdate(t, &opts, 65001, bigNew, nil))
	small.r.send(baselineUpdate(t, &opts, 65001, smallHard, nil))
	rcv.wait(t, "everything accepted under the ceiling", held(bigNew, smallHard))
	absent("withdrawn before", bigRoutes[:10])
	for _, s := range []*sender{big, small} {
		if st, _ := srv.Peer(s.addr); st.State != Established || st.Flaps != 0 {
			t.Fatalf("%v: %v, %d flaps", s.addr, st.State, st.Flaps)
		}
	}
	if st := srv.MemoryStats(); st.LevelChanges != 3 {
		t.Fatalf("stats %+v", st)
	}
	if goMemoryInUse() == 0 {
		t.Fatal("the default usage reads nothing")
	}
}
