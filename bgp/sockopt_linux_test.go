//go:build linux

package bgp

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/fanoutd/fanout/proto"
)

// Session protection on loopback (127.1.201.0/24): the kernel enforces the TCP MD5 key
// (RFC 2385) and the minimum TTL (RFC 5082) that fanout installs. The same against BIRD in
// a network namespace is security_netns_test.go.

// dialWith dials to from local with o applied before connecting (as fanout's own dialer
// does), failing after d.
func dialWith(local string, to netip.AddrPort, o sockOpts, d time.Duration) (net.Conn, error) {
	dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: d, Control: o.control(to.Addr())}
	dl.SetMultipathTCP(false)
	return dl.Dial("tcp", to.String())
}

func rawFrom(t *testing.T, nc net.Conn) *rawPeer {
	t.Cleanup(func() { nc.Close() })
	return &rawPeer{t: t, nc: nc, buf: make([]byte, 1<<17)}
}

// TestMD5OnLoopback: a peer configured with a key establishes only with that key; a wrong
// key or none never completes the TCP handshake (the kernel drops unsigned or badly signed
// segments). Removing the peer removes the key.
func TestMD5OnLoopback(t *testing.T) {
	s := passiveForRaw(t, "127.1.201.1", "127.1.201.2", nil, newTestRouting(), PeerConfig{AuthPassword: "s3cret", IdleHoldTime: -1})
	to := s.ListenAddrs()[0]
	for _, key := range []string{"", "wrong"} {
		if nc, err := dialWith("127.1.201.2", to, sockOpts{md5: key}, 300*time.Millisecond); err == nil {
			nc.Close()
			t.Fatalf("connection with key %q established", key)
		}
	}
	if st, _ := s.Peer(addr("127.1.201.2")); st.State == Established || st.Counters.MsgIn[proto.MsgOpen] != 0 {
		t.Fatalf("a bad key got through: %+v", st)
	}
	nc, err := dialWith("127.1.201.2", to, sockOpts{md5: "s3cret"}, waitLimit)
	if err != nil {
		t.Fatalf("right key: %v", err)
	}
	rawFrom(t, nc).handshake(65010, "10.0.0.2", 90, nil)
	waitState(t, s, addr("127.1.201.2"), Established)

	// A peer without a key at another address is unaffected by the first one's key.
	addPeer(t, s, PeerConfig{Addr: addr("127.1.201.3"), PeerAS: 65010, Passive: true})
	nc3, err := dialWith("127.1.201.3", to, sockOpts{}, waitLimit)
	if err != nil {
		t.Fatalf("peer without a key: %v", err)
	}
	rawFrom(t, nc3).handshake(65010, "10.0.0.3", 90, nil)
	waitState(t, s, addr("127.1.201.3"), Established)
}

// TestMD5ActiveSide: fanout dialling a peer signs its SYN: a listener holding the same key
// accepts it.
func TestMD5ActiveSide(t *testing.T) {
	l, err := listenTCP("tcp", "127.1.201.21:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := setListenerMD5(l, addr("127.1.201.20"), "k3y"); err != nil {
		t.Fatal(err)
	}
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	s := testServer(t, "127.1.201.20", 65000, "10.0.0.1", nil, newTestRouting())
	addPeer(t, s, PeerConfig{Addr: addr("127.1.201.21"), PeerAS: 65010, RemotePort: port, AuthPassword: "k3y", ConnectRetry: time.Second})
	l.(*net.TCPListener).SetDeadline(time.Now().Add(waitLimit))
	nc, err := l.Accept()
	if err != nil {
		t.Fatalf("signed connection not accepted: %v", err)
	}
	r := rawFrom(t, nc)
	r.expect(proto.MsgOpen)
	r.sendOpen(65010, "10.0.0.21", 90, nil)
	r.expect(proto.MsgKeepalive)
	r.send(proto.AppendKeepalive(nil))
	waitState(t, s, addr("127.1.201.21"), Established)
}

// TestGTSMOnLoopback: with ttl-security 255 a peer sending with the default TTL (64 on
// loopback) never reaches Established: what it sends once fanout has set the minimum TTL on
// the accepted socket is dropped (its OPEN may beat that, its KEEPALIVE cannot). One sending
// with TTL 255 establishes (RFC 5082 §3).
func TestGTSMOnLoopback(t *testing.T) {
	s := passiveForRaw(t, "127.1.201.40", "127.1.201.41", nil, newTestRouting(), PeerConfig{TTLSecurity: 255, IdleHoldTime: -1})
	to := s.ListenAddrs()[0]
	nc, err := dialWith("127.1.201.41", to, sockOpts{}, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	low := rawFrom(t, nc)
	low.sendOpen(65010, "10.0.0.41", 90, nil)
	low.expect(proto.MsgOpen) // fanout sends with TTL 255: it gets through
	time.Sleep(50 * time.Millisecond)
	low.send(proto.AppendKeepalive(nil))
	time.Sleep(300 * time.Millisecond) // what a delivered KEEPALIVE would have done by now
	if st, _ := s.Peer(addr("127.1.201.41")); st.State == Established || st.Counters.MsgIn[proto.MsgKeepalive] != 0 {
		t.Fatalf("a peer sending with TTL 64 got through: %v %+v", st.State, st.Counters)
	}
	low.nc.Close() // its FIN is dropped too: fanout's side waits out its OPEN hold time

	nc, err = dialWith("127.1.201.41", to, sockOpts{ttl: 255}, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	ok := rawFrom(t, nc)
	ok.handshake(65010, "10.0.0.41", 90, nil)
	waitState(t, s, addr("127.1.201.41"), Established)
}

// TestMD5AndGTSMIPv6AndDualStack: the IPv6 forms of the options (an IPv6 key, the hop
// limit and IPV6_MINHOPCOUNT) on ::1, and an IPv4 peer's key on a dual-stack [::] listener,
// where the kernel names the peer by its IPv4-mapped address (fanoutd listens on [::] when
// no local address is configured).
func TestMD5AndGTSMIPv6AndDualStack(t *testing.T) {
	s6 := startServer(t, ServerConfig{AS: 65000, RouterID: addr("10.0.0.1"), ListenAddrs: []netip.Addr{addr("::1")}},
		Deps{Routing: newTestRouting()})
	addPeer(t, s6, PeerConfig{Addr: addr("::1"), PeerAS: 65010, Passive: true, IdleHoldTime: -1, AuthPassword: "v6-key", TTLSecurity: 255})
	to := s6.ListenAddrs()[0]
	if nc, err := dialWith("::1", to, sockOpts{ttl: 255}, 300*time.Millisecond); err == nil {
		nc.Close()
		t.Fatal("IPv6 connection without the key established")
	}
	nc, err := dialWith("::1", to, sockOpts{md5: "v6-key", ttl: 255}, waitLimit)
	if err != nil {
		t.Fatalf("IPv6 with the key: %v", err)
	}
	rawFrom(t, nc).handshake(65010, "10.0.0.2", 90, nil)
	waitState(t, s6, addr("::1"), Established)

	dual := startServer(t, ServerConfig{AS: 65000, RouterID: addr("10.0.0.1"), ListenAddrs: []netip.Addr{netip.IPv6Unspecified()}},
		Deps{Routing: newTestRouting()})
	addPeer(t, dual, PeerConfig{Addr: addr("127.1.201.60"), PeerAS: 65010, Passive: true, IdleHoldTime: -1, AuthPassword: "mapped"})
	to4 := netip.AddrPortFrom(addr("127.1.201.61"), dual.ListenAddrs()[0].Port())
	if nc, err := dialWith("127.1.201.60", to4, sockOpts{md5: "other"}, 300*time.Millisecond); err == nil {
		nc.Close()
		t.Fatal("IPv4 connection to a dual-stack listener with a wrong key established")
	}
	nc, err = dialWith("127.1.201.60", to4, sockOpts{md5: "mapped"}, waitLimit)
	if err != nil {
		t.Fatalf("IPv4 to a dual-stack listener with the key: %v", err)
	}
	rawFrom(t, nc).handshake(65010, "10.0.0.3", 90, nil)
	waitState(t, dual, addr("127.1.201.60"), Established)
}
