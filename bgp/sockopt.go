package bgp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// maxMD5KeyLen is the longest TCP MD5 key the kernel takes (TCP_MD5SIG_MAXKEYLEN).
const maxMD5KeyLen = 80

// errSockOptUnsupported is returned where the platform has no socket option for a
// configured protection; the connection is refused rather than run unprotected.
var errSockOptUnsupported = errors.New("bgp: session protection socket options are not supported on this platform")

// sockOpts are the socket options of one peer's connections (RFC 2385 TCP MD5, RFC 5082
// GTSM, the multihop TTL). A plain value derived from PeerConfig.
type sockOpts struct {
	md5    string // TCP MD5 key; "" none
	minTTL uint8  // lowest TTL / hop limit accepted; 0 none
	ttl    uint8  // TTL / hop limit sent; 0 the system default
}

func (c *PeerConfig) sockOpts() sockOpts {
	o := sockOpts{md5: c.AuthPassword, ttl: c.MultihopTTL}
	if c.TTLSecurity != 0 {
		o.minTTL, o.ttl = c.TTLSecurity, 255 // RFC 5082 §3: send with 255
	}
	return o
}

// listenTCP opens a plain TCP listener. Go listens with Multipath TCP by default where the
// kernel has it, and an MPTCP socket refuses TCP_MD5SIG (ENOPROTOOPT).
func listenTCP(network, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	return lc.Listen(context.Background(), network, addr)
}

// withFD runs f on the socket behind rc.
func withFD(rc syscall.RawConn, f func(fd int) error) error {
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// setTTLs sets the sent and the minimum accepted TTL of the socket fd towards peer.
func (o sockOpts) setTTLs(fd int, peer netip.Addr) error {
	if o.ttl != 0 {
		if err := setTTL(fd, peer, o.ttl); err != nil {
			return fmt.Errorf("set TTL %d: %w", o.ttl, err)
		}
	}
	if o.minTTL != 0 {
		if err := setMinTTL(fd, peer, o.minTTL); err != nil {
			return fmt.Errorf("set minimum TTL %d (GTSM): %w", o.minTTL, err)
		}
	}
	return nil
}

// control is a net.Dialer Control function applying o to a socket before it connects, so
// the SYN is signed and sent with the TTL, and a SYN-ACK under the minimum TTL is dropped.
func (o sockOpts) control(peer netip.Addr) func(network, address string, rc syscall.RawConn) error {
	return func(network, _ string, rc syscall.RawConn) error {
		return withFD(rc, func(fd int) error {
			if o.md5 != "" {
				if err := setMD5(fd, network == "tcp6", peer, o.md5); err != nil {
					return fmt.Errorf("set TCP MD5 key: %w", err)
				}
			}
			return o.setTTLs(fd, peer)
		})
	}
}

// applyAccepted sets the TTL options on an accepted connection (or one a custom Deps.Dial
// made); an accepted one inherited its MD5 key from the listener. Segments under the minimum
// TTL are dropped from now on (RFC 5082 §3). What arrived before (at most the peer's OPEN:
// the listener is shared by every peer, so it cannot carry one peer's minimum) was not
// checked; the KEEPALIVE that would confirm it is, so such a peer never reaches Established.
func (o sockOpts) applyAccepted(nc net.Conn, peer netip.Addr) error {
	if o.ttl == 0 && o.minTTL == 0 {
		return nil
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return fmt.Errorf("connection %T has no socket for the TTL options", nc)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	return withFD(rc, func(fd int) error { return o.setTTLs(fd, peer) })
}

// setListenerMD5 installs (key != "") or removes the TCP MD5 key for peer on a listener, so
// the kernel signs and checks that peer's connections from the SYN on (RFC 2385).
func setListenerMD5(l net.Listener, peer netip.Addr, key string) error {
	sc, ok := l.(syscall.Conn)
	if !ok {
		if key == "" {
			return nil
		}
		return fmt.Errorf("listener %T has no socket for the TCP MD5 key", l)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	return withFD(rc, func(fd int) error {
		v6, err := isIPv6Socket(fd)
		if err != nil {
			return err
		}
		if !v6 && !peer.Unmap().Is4() {
			return nil // an IPv4 listener never hears from an IPv6 peer
		}
		return setMD5(fd, v6, peer, key)
	})
}

// setListenerKeysLocked installs or removes peer's TCP MD5 key on every listener. s.mu is
// held. With several listeners a failure on one leaves the others as set: the caller
// refuses the peer and removes the key again.
func (s *Server) setListenerKeysLocked(peer netip.Addr, key string) error {
	for _, ln := range s.listeners {
		if err := setListenerMD5(ln.l, peer, key); err != nil {
			return fmt.Errorf("bgp: peer %v: TCP MD5 key on listener %v: %w", peer, ln.addr, err)
		}
	}
	return nil
}

// dial opens an outgoing connection for a peer with its socket options. A custom
// Deps.Dial gets the TTL options applied after connecting; it cannot sign the SYN, so a
// peer with an MD5 key refuses it.
func (s *Server) dial(ctx context.Context, laddr string, raddr netip.AddrPort, o sockOpts) (net.Conn, error) {
	if s.deps.Dial != nil {
		if o.md5 != "" {
			return nil, errors.New("bgp: TCP MD5 needs the built-in dialer")
		}
		nc, err := s.deps.Dial(ctx, "tcp", laddr, raddr.String())
		if err != nil {
			return nil, err
		}
		if err := o.applyAccepted(nc, raddr.Addr()); err != nil {
			nc.Close()
			return nil, err
		}
		return nc, nil
	}
	d := net.Dialer{Control: o.control(raddr.Addr())}
	d.SetMultipathTCP(false) // as listenTCP
	if laddr != "" {
		a, err := net.ResolveTCPAddr("tcp", laddr)
		if err != nil {
			return nil, err
		}
		d.LocalAddr = a
	}
	return d.DialContext(ctx, "tcp", raddr.String())
}
