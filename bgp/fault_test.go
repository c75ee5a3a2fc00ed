package bgp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/fanoutd/fanout/proto"
)

// Fault injection over real TCP into a server with the real RIB and export: a connection
// reset in the middle of an UPDATE, a peer that stops reading and goes silent, a peer that
// keeps sending KEEPALIVEs but never reads. In each, nothing is lost: the surviving peers
// end with exactly the expected table, and the bystander's session never flaps.
// (127.1.207.0/24 - 127.1.209.0/24.)

// prefixRange returns n /24s of <first>.<second>.0.0/16 (n <= 256).
func prefixRange(first, second byte, n int) []proto.NLRI {
	out := make([]proto.NLRI, n)
	for i := range out {
		out[i] = proto.NLRI{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{first, second, byte(i), 0}), 24)}
	}
	return out
}

// holdsExactly reports whether tab is exactly the bystander's route and ps.
func holdsExactly(ps ...[]proto.NLRI) func(map[netip.Prefix]routeSeen) bool {
	return func(tab map[netip.Prefix]routeSeen) bool {
		want := map[netip.Prefix]bool{bystanderPrefix: true}
		for _, s := range ps {
			for _, n := range s {
				want[n.Prefix] = true
			}
		}
		if len(tab) != len(want) {
			return false
		}
		for p := range tab {
			if !want[p] {
				return false
			}
		}
		return true
	}
}

// TestFaultResetMidUpdate: a peer's connection is reset (RST) after part of an UPDATE, cut
// in the header and in the body. The partial message is never applied (RFC 4271 §4.1: a
// message is processed only once whole), the session's routes are withdrawn from the
// others, and the peer's next session is served normally.
func TestFaultResetMidUpdate(t *testing.T) {
	env := newSuiteEnv(t, "127.1.207")
	opts := proto.SessionOptions{AS4: true, EBGP: true}
	first, second := prefixRange(10, 207, 100), prefixRange(10, 208, 100)
	big := baselineUpdate(t, &opts, 65001, second, nil)
	for _, cut := range []int{10, proto.HeaderLen + 5, len(big) / 2, len(big) - 1} {
		t.Run(fmt.Sprintf("cut-%d", cut), func(t *testing.T) {
			snd := newSender(t, env.srv, "127.1.207.10", opts)
			snd.r.send(baselineUpdate(t, &opts, 65001, first, nil))
			env.rcv.wait(t, "the first routes", holdsExactly(first))
			snd.r.send(big[:cut])
			time.Sleep(5 * time.Millisecond) // the server has read the part
			tc := snd.r.nc.(*net.TCPConn)
			tc.SetLinger(0) // Close sends RST
			tc.Close()
			waitState(t, env.srv, snd.addr, Active)
			env.rcv.wait(t, "nothing of the reset session", holdsExactly())
			// The next session of the same peer is served.
			r := dialRaw(t, "127.1.207.10", env.srv.ListenAddrs()[0], 0)
			r.handshake(65001, "127.1.207.10", 0, func(c *proto.Capabilities) {
				c.Multiprotocol = []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast}
			})
			r.send(big)
			env.rcv.wait(t, "the next session's routes", holdsExactly(second))
			r.nc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			if err := env.srv.DeletePeer(ctx, snd.addr); err != nil {
				t.Fatal(err)
			}
			env.rcv.wait(t, "the peer's routes gone", holdsExactly())
			env.intact(t, "127.1.207.3")
		})
	}
}

// stuckPeer is a route-server client that reads nothing after the OPEN exchange, behind a
// 4 KiB receive buffer, so what fanout sends it backs up. With keepalive > 0 a goroutine
// sends it a KEEPALIVE that often (owned by the test; stopped at cleanup).
func stuckPeer(t *testing.T, srv *Server, a string, cfg PeerConfig, hold uint16, keepalive time.Duration) *rawPeer {
	t.Helper()
	cfg.Addr, cfg.PeerAS, cfg.RSClient, cfg.Passive, cfg.IdleHoldTime = addr(a), 65098, true, true, -1
	if err := srv.AddPeer(cfg); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, a, srv.ListenAddrs()[0], 4096)
	r.handshake(65098, a, hold, nil)
	waitState(t, srv, addr(a), Established)
	if keepalive > 0 {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(keepalive)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					r.nc.SetWriteDeadline(time.Now().Add(time.Second))
					if _, err := r.nc.Write(proto.AppendKeepalive(nil)); err != nil {
						return
					}
				}
			}
		}()
		t.Cleanup(func() { close(stop); wg.Wait() })
	}
	return r
}

// loadRoutes has a sender announce 128 × 250 /24s (11.0.0.0 - 11.127.249.0): some 130 KB
// of UPDATEs to every receiver, more than a stuck one's buffers hold. It returns them.
func loadRoutes(t *testing.T, snd *sender) [][]proto.NLRI {
	var all [][]proto.NLRI
	for i := range 128 {
		ps := prefixRange(11, byte(i), 250)
		all = append(all, ps)
		snd.r.send(baselineUpdate(t, &snd.opts, 65001, ps, nil))
	}
	return all
}

// smallSendBuffers makes the server's accepted sockets keep a 16 KiB kernel send buffer,
// so a peer that does not read backs up into fanout's own send buffer quickly.
func smallSendBuffers(d *Deps) {
	d.Listen = func(network, address string) (net.Listener, error) {
		lc := net.ListenConfig{Control: smallSndBuf(16 << 10)}
		lc.SetMultipathTCP(false)
		return lc.Listen(context.Background(), network, address)
	}
}

// TestFaultPeerStopsReading: a peer stops reading and sending. Its hold timer expires
// (RFC 4271 §6.5: 3 s here) and it is dropped; meanwhile the healthy receiver gets every
// route and the speaker's session never waits on the stuck one.
func TestFaultPeerStopsReading(t *testing.T) {
	env := newSuiteEnv(t, "127.1.208", smallSendBuffers)
	stuckPeer(t, env.srv, "127.1.208.20", PeerConfig{SendBufferLimit: 8 << 10}, 3, 0)
	snd := newSender(t, env.srv, "127.1.208.10", proto.SessionOptions{AS4: true, EBGP: true})
	start := time.Now()
	routes := loadRoutes(t, snd)
	env.rcv.wait(t, "every route at the healthy receiver", holdsExactly(routes...))
	waitState(t, env.srv, addr("127.1.208.20"), Active)
	st, _ := env.srv.Peer(addr("127.1.208.20"))
	if st.LastError == nil || st.LastError.Code != proto.CodeHoldTimer {
		t.Fatalf("stuck peer dropped with %+v, want the hold timer (4/0)", st.LastError)
	}
	if d := time.Since(start); d > 3*time.Second+waitLimit {
		t.Fatalf("dropped after %v", d)
	}
	if st, _ := env.srv.Peer(snd.addr); st.State != Established || st.Flaps != 0 {
		t.Fatalf("speaker %v, %d flaps", st.State, st.Flaps)
	}
	env.rcv.wait(t, "the table unchanged after the drop", holdsExactly(routes...))
	env.intact(t, "127.1.208.3")
}

// TestFaultKeepalivesNeverReads: a peer keeps its hold timer alive with KEEPALIVEs but
// never reads. Only the send hold timer (RFC 9687, 2 s here) can drop it, and does, with
// the NOTIFICATION of code 8; the healthy receiver gets every route meanwhile.
func TestFaultKeepalivesNeverReads(t *testing.T) {
	env := newSuiteEnv(t, "127.1.209", smallSendBuffers)
	stuckPeer(t, env.srv, "127.1.209.20", PeerConfig{SendBufferLimit: 8 << 10, HoldTime: 3 * time.Second, SendHoldTime: 2 * time.Second},
		3, 500*time.Millisecond)
	snd := newSender(t, env.srv, "127.1.209.10", proto.SessionOptions{AS4: true, EBGP: true})
	routes := loadRoutes(t, snd)
	env.rcv.wait(t, "every route at the healthy receiver", holdsExactly(routes...))
	waitState(t, env.srv, addr("127.1.209.20"), Active)
	st, _ := env.srv.Peer(addr("127.1.209.20"))
	if st.LastError == nil || !st.LastError.Sent || st.LastError.Code != proto.CodeSendHoldTimer {
		t.Fatalf("stuck peer dropped with %+v, want the send hold timer (8/0)", st.LastError)
	}
	if st, _ := env.srv.Peer(snd.addr); st.State != Established || st.Flaps != 0 {
		t.Fatalf("speaker %v, %d flaps", st.State, st.Flaps)
	}
	env.rcv.wait(t, "the table unchanged after the drop", holdsExactly(routes...))
	env.intact(t, "127.1.209.3")
}
