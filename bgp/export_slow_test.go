package bgp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/fanoutd/fanout/bench/gen"
	"github.com/fanoutd/fanout/bench/targets"
	"github.com/fanoutd/fanout/proto"
)

// A slow receiver holds back no one but itself: among 20 receivers of one RibOut one stops
// reading (a raw peer with a tiny socket buffer and send buffer limit). While the speaker
// churns the same prefixes round after round, the 19 others converge on every round; the
// slow one is parked at its marker. When it reads again it ends with exactly the final
// table, having been sent far fewer announcements than the churn made: the changes
// superseded while it was parked were dropped from its queue.
func TestExportSlowReceiver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Accepted sockets inherit a small kernel send buffer (no autotuning), so what the slow
	// peer does not read backs up into fanout's send buffer instead of the kernel's.
	srv, r, s := exportServer(t, "127.1.53.1", func(d *Deps) {
		d.Listen = func(network, address string) (net.Listener, error) {
			lc := net.ListenConfig{Control: smallSndBuf(16 << 10)}
			return lc.Listen(context.Background(), network, address)
		}
	})
	spk := genPeer(t, ctx, srv, PeerConfig{Addr: addr("127.1.53.2"), PeerAS: 65001, RSClient: true}, gen.CheckRouteServer)
	var rcv []*gen.Session
	var addrs []netip.Addr
	for i := range 19 {
		a := netip.AddrFrom4([4]byte{127, 1, 53, byte(10 + i)})
		addrs = append(addrs, a)
		rcv = append(rcv, genPeer(t, ctx, srv, PeerConfig{Addr: a, PeerAS: uint32(65100 + i), RSClient: true}, gen.CheckRouteServer))
	}
	slowAddr := addr("127.1.53.99")
	if err := srv.AddPeer(PeerConfig{Addr: slowAddr, PeerAS: 65099, RSClient: true, Passive: true, SendBufferLimit: 8 << 10}); err != nil {
		t.Fatal(err)
	}
	var slow *rawPeer

	const n, rounds = 8000, 8
	ps := prefixes("10.0.0.0", n)
	model := &gen.Model{Role: targets.RouteServer, Check: gen.CheckRouteServer,
		Speakers: []*gen.SpeakerRIB{{Peer: gen.Peer{Addr: addr("127.1.53.2")}, RIB: map[netip.Prefix]*gen.AttrSet{}}}}
	var final map[netip.Prefix]*gen.AttrSet
	parked := false
	var baseline, worst time.Duration
	for k := range rounds {
		if k == 1 {
			// Round 0 was the baseline; now the slow peer joins (its initial walk sends it
			// the whole table, which it does not read).
			slow = dialRaw(t, slowAddr.String(), srv.ListenAddrs()[0], 4096)
			slow.handshake(65099, slowAddr.String(), 0, nil)
			waitState(t, srv, slowAddr, Established)
		}
		// Each round re-announces every prefix with other attributes (spread over 16 sets).
		ann := make(map[netip.Prefix]*gen.AttrSet, n)
		sets := make([]*gen.AttrSet, 16)
		for j := range sets {
			sets[j] = &gen.AttrSet{ASPath: proto.ASSeq(65001, uint32(64512+j)), HasMED: true, MED: uint32(k*100 + j), NextHop4: addr("198.18.3.1")}
		}
		for i, p := range ps {
			ann[p] = sets[i%len(sets)]
		}
		start := time.Now()
		sendRoutes(t, ctx, spk, model.Speakers[0], ann, nil)
		expectTables(t, fmt.Sprintf("round %d", k), model, rcv, addrs)
		took := time.Since(start)
		if k == 0 {
			baseline = took
		} else {
			worst = max(worst, took)
		}
		final = ann
		for _, ro := range ribOutsNow(t, s, r) {
			parked = parked || ro.Parked > 0
		}
	}
	t.Logf("19 receivers converge in %v without the slow peer, at worst %v with it parked", baseline.Round(time.Millisecond), worst.Round(time.Millisecond))
	if !parked {
		t.Fatal("the receiver that does not read was never parked")
	}

	// The slow peer reads again: it ends with exactly the final table.
	held := map[netip.Prefix]string{}
	want := map[netip.Prefix]string{}
	fp := func(a *proto.Attrs, nh netip.Addr) string {
		return fmt.Sprintf("%v %v %d", nh, a.ASPath, a.MED)
	}
	for p, a := range final {
		want[p] = fmt.Sprintf("%v %v %d", a.NextHop4, a.ASPath, a.MED)
	}
	opts := proto.SessionOptions{AS4: true, EBGP: true}
	var u proto.Update
	updates, announced := 0, 0
	equal := func() bool {
		if len(held) != len(want) {
			return false
		}
		for p, w := range want {
			if held[p] != w {
				return false
			}
		}
		return true
	}
	for end := time.Now().Add(waitLimit); !equal(); {
		if time.Now().After(end) {
			t.Fatalf("slow receiver holds %d prefixes after reading %d UPDATEs, want the final %d", len(held), updates, len(want))
		}
		typ, body, err := slow.read(time.Until(end))
		if err != nil {
			t.Fatalf("slow receiver: %v", err)
		}
		if typ != proto.MsgUpdate {
			continue
		}
		updates++
		if err := proto.DecodeUpdate(body, &opts, &u); err != nil {
			t.Fatal(err)
		}
		var nl proto.NLRI
		for it := u.IterWithdrawn(&opts); it.Next(&nl); {
			delete(held, nl.Prefix)
		}
		for it := u.IterNLRI(&opts); it.Next(&nl); {
			held[nl.Prefix] = fp(&u.Attrs, u.Attrs.NextHop)
			announced++
		}
	}
	fast := rcv[0].Table().Stats()
	t.Logf("slow receiver: %d UPDATEs, %d announcements; a fast one: %d UPDATEs, %d announcements; churn: %d", updates, announced, fast.Updates, fast.Announced, n*rounds)
	if announced >= n*rounds/2 {
		t.Fatalf("slow receiver was sent %d announcements for %d prefixes churned %d times: superseded changes must be dropped", announced, n, rounds)
	}
	eventually(t, "slow receiver unparked", func() bool {
		for _, ro := range ribOutsNow(t, s, r) {
			if ro.Parked > 0 {
				return false
			}
		}
		return true
	})
}

func smallSndBuf(n int) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, n) })
		if err != nil {
			return err
		}
		return serr
	}
}
