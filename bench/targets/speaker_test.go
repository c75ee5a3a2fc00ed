package targets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// speaker is a minimal BGP speaker for tests: one session from a loopback address to a
// target, driven step by step by the test goroutine that owns it.
type speaker struct {
	t     *testing.T
	name  string
	addr  netip.Addr
	as    uint32
	conn  net.Conn
	open  *bgp.BGPOpen // the target's OPEN
	limit time.Time    // no read or write past this
}

// dialSpeaker connects from local to target, exchanges OPENs and KEEPALIVEs, and returns the
// established session. Until deadline it retries when the target refuses or closes the
// connection (a daemon may listen a moment before its neighbors are configured).
func dialSpeaker(t *testing.T, name string, local netip.Addr, as uint32, target netip.AddrPort, deadline time.Time) *speaker {
	t.Helper()
	var lastErr error
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		if attempt > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		s := &speaker{t: t, name: name, addr: local, as: as, limit: deadline}
		if lastErr = s.establish(target); lastErr == nil {
			t.Cleanup(func() { s.conn.Close() })
			return s
		}
		if s.conn != nil {
			s.conn.Close()
		}
	}
	t.Fatalf("%s: no session with %v: %v", name, target, lastErr)
	return nil
}

func (s *speaker) establish(target netip.AddrPort) error {
	d := net.Dialer{
		LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(s.addr, 0)),
		Deadline:  s.limit,
	}
	c, err := d.Dial("tcp", target.String())
	if err != nil {
		return err
	}
	s.conn = c
	return s.handshake()
}

// acceptSpeaker waits on l for the target to connect, then exchanges OPENs and KEEPALIVEs.
func acceptSpeaker(t *testing.T, name string, l *net.TCPListener, as uint32, deadline time.Time) *speaker {
	t.Helper()
	l.SetDeadline(deadline)
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("%s: no connection from the target: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	local := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr()
	s := &speaker{t: t, name: name, addr: local, as: as, conn: c, limit: deadline}
	if err := s.handshake(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

// handshake sends an OPEN on s.conn and waits for the peer's OPEN and KEEPALIVE.
func (s *speaker) handshake() error {
	as2 := uint16(s.as)
	if s.as > 0xffff {
		as2 = 23456
	}
	caps := []bgp.ParameterCapabilityInterface{
		bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC),
		bgp.NewCapRouteRefresh(),
		bgp.NewCapFourOctetASNumber(s.as),
	}
	open := bgp.NewBGPOpenMessage(as2, 90, s.addr.String(),
		[]bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
	if err := s.send(open); err != nil {
		return err
	}
	m, err := s.read()
	if err != nil {
		return fmt.Errorf("waiting for OPEN: %w", err)
	}
	o, ok := m.Body.(*bgp.BGPOpen)
	if !ok {
		return fmt.Errorf("waiting for OPEN: got %s", describe(m))
	}
	s.open = o
	if m, err = s.read(); err != nil {
		return fmt.Errorf("waiting for KEEPALIVE: %w", err)
	}
	if _, ok := m.Body.(*bgp.BGPKeepAlive); !ok {
		return fmt.Errorf("waiting for KEEPALIVE: got %s", describe(m))
	}
	return s.send(bgp.NewBGPKeepAliveMessage())
}

func (s *speaker) send(m *bgp.BGPMessage) error {
	b, err := m.Serialize()
	if err != nil {
		return fmt.Errorf("%s: serialize: %w", s.name, err)
	}
	s.conn.SetWriteDeadline(s.limit)
	if _, err := s.conn.Write(b); err != nil {
		return fmt.Errorf("%s: write: %w", s.name, err)
	}
	return nil
}

func (s *speaker) read() (*bgp.BGPMessage, error) {
	s.conn.SetReadDeadline(s.limit)
	hdr := make([]byte, bgp.BGP_HEADER_LENGTH)
	if _, err := io.ReadFull(s.conn, hdr); err != nil {
		return nil, fmt.Errorf("%s: read: %w", s.name, err)
	}
	n := int(binary.BigEndian.Uint16(hdr[16:18]))
	if n < bgp.BGP_HEADER_LENGTH || n > 65535 {
		return nil, fmt.Errorf("%s: bad length %d", s.name, n)
	}
	buf := make([]byte, n)
	copy(buf, hdr)
	if _, err := io.ReadFull(s.conn, buf[bgp.BGP_HEADER_LENGTH:]); err != nil {
		return nil, fmt.Errorf("%s: read: %w", s.name, err)
	}
	m, err := bgp.ParseBGPMessage(buf)
	if err != nil {
		return nil, fmt.Errorf("%s: parse: %w", s.name, err)
	}
	if n, ok := m.Body.(*bgp.BGPNotification); ok {
		return nil, fmt.Errorf("%s: NOTIFICATION %d/%d %q", s.name, n.ErrorCode, n.ErrorSubcode, n.Data)
	}
	return m, nil
}

// announce sends prefixes with attrs, packed into UPDATEs of at most 500 prefixes.
func (s *speaker) announce(attrs []bgp.PathAttributeInterface, prefixes []netip.Prefix) {
	s.t.Helper()
	for len(prefixes) > 0 {
		n := min(len(prefixes), 500)
		nlri := make([]*bgp.IPAddrPrefix, n)
		for i, p := range prefixes[:n] {
			nlri[i] = bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String())
		}
		if err := s.send(bgp.NewBGPUpdateMessage(nil, attrs, nlri)); err != nil {
			s.t.Fatal(err)
		}
		prefixes = prefixes[n:]
	}
}

// received is what a speaker collected: the attributes of each prefix, the last seen.
type received map[netip.Prefix][]bgp.PathAttributeInterface

// collect reads UPDATEs, answering nothing, until every prefix in want has been received.
func (s *speaker) collect(want []netip.Prefix) (received, error) {
	got := make(received)
	missing := make(map[netip.Prefix]bool, len(want))
	for _, p := range want {
		missing[p] = true
	}
	for len(missing) > 0 {
		m, err := s.read()
		if err != nil {
			return got, fmt.Errorf("%d of %d prefixes still missing: %w", len(missing), len(want), err)
		}
		u, ok := m.Body.(*bgp.BGPUpdate)
		if !ok {
			continue
		}
		for _, n := range u.NLRI {
			a, ok := netip.AddrFromSlice(n.Prefix.To4())
			if !ok {
				return got, errors.New("odd NLRI")
			}
			p := netip.PrefixFrom(a, int(n.Length))
			got[p] = u.PathAttributes
			delete(missing, p)
		}
	}
	return got, nil
}

func describe(m *bgp.BGPMessage) string {
	switch b := m.Body.(type) {
	case *bgp.BGPOpen:
		return "OPEN"
	case *bgp.BGPKeepAlive:
		return "KEEPALIVE"
	case *bgp.BGPUpdate:
		return fmt.Sprintf("UPDATE (%d NLRI)", len(b.NLRI))
	}
	return fmt.Sprintf("message type %d", m.Header.Type)
}
