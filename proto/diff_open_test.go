package proto

// Differential tests of the non-UPDATE messages against GoBGP's codec
// (github.com/osrg/gobgp/v3/pkg/packet/bgp): generated valid OPEN (random capability
// sets), NOTIFICATION, KEEPALIVE and ROUTE-REFRESH messages encoded by fanout must decode
// in GoBGP to the same content, and GoBGP's encodings must decode in fanout to the same
// content. Plus benchmarks of OPEN decoding and stream framing beside GoBGP.

import (
	"bytes"
	"fmt"
	"math/rand"
	"net/netip"
	"testing"

	gobgp "github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// diffCount is how many messages of each kind the differential tests generate.
const diffCount = 3000

// randOpen generates a valid OPEN whose capabilities fit one RFC 4271 parameter (GoBGP does
// not implement RFC 9072 and rejects parameters of 254 bytes or more).
func randOpen(rng *rand.Rand) *Open {
	for {
		o := randOpenAnySize(rng)
		b, err := o.Caps.Append(nil)
		if err == nil && len(b) <= 253 {
			return o
		}
	}
}

func randFamily(rng *rand.Rand) Family {
	pool := []Family{IPv4Unicast, IPv6Unicast, VPNv4, VPNv6, {AFIIPv4, 4}, {AFIIPv6, 133}, {25, 70}, {16388, 71}}
	if rng.Intn(8) == 0 {
		return Family{AFI(rng.Intn(65536)), SAFI(rng.Intn(256))}
	}
	return pool[rng.Intn(len(pool))]
}

func randName(rng *rand.Rand, n int) []byte {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789-."
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[rng.Intn(len(chars))]
	}
	return b
}

// unknownCodes are capability codes neither codec interprets differently from raw bytes
// (GoBGP's "software version", 75, is left out: its decoder drops a byte).
var unknownCodes = []uint8{0, 3, 4, 7, 8, 10, 66, 67, 72, 76, 128, 129, 200, 239, 255}

func randOpenAnySize(rng *rand.Rand) *Open {
	o := &Open{Version: 4, AS: uint16(1 + rng.Intn(65535)), ID: netip.AddrFrom4([4]byte{byte(rng.Intn(256)), byte(rng.Intn(256)), byte(rng.Intn(256)), byte(1 + rng.Intn(255))})}
	if rng.Intn(4) != 0 {
		o.HoldTime = uint16(3 + rng.Intn(65533))
	}
	c := &o.Caps
	p := func() bool { return rng.Intn(2) == 0 }
	for range rng.Intn(5) {
		c.Multiprotocol = append(c.Multiprotocol, randFamily(rng))
	}
	c.RouteRefresh = p()
	if p() {
		for range 1 + rng.Intn(3) {
			c.ExtendedNextHop = append(c.ExtendedNextHop, ExtNextHop{AFI(rng.Intn(3)), uint16(rng.Intn(200)), AFI(rng.Intn(3))})
		}
	}
	c.ExtendedMessage = p()
	if p() {
		c.HasRole, c.Role = true, Role(rng.Intn(6))
	}
	if p() {
		gr := &c.GracefulRestart
		gr.Present, gr.Flags, gr.Time = true, uint8(rng.Intn(16)), uint16(rng.Intn(4096))
		for range rng.Intn(4) {
			gr.Families = append(gr.Families, GRFamily{Family: randFamily(rng), Flags: uint8(rng.Intn(2)) << 7})
		}
	}
	if p() {
		c.HasAS4, c.AS4 = true, 1+rng.Uint32()%0xffffffff
	}
	if p() {
		for range 1 + rng.Intn(3) {
			c.AddPath = append(c.AddPath, AddPathFamily{randFamily(rng), AddPathMode(1 + rng.Intn(3))})
		}
	}
	c.EnhancedRouteRefresh = p()
	if p() {
		c.LongLivedGR.Present = true
		for range rng.Intn(3) {
			c.LongLivedGR.Families = append(c.LongLivedGR.Families, GRFamily{Family: randFamily(rng), Flags: uint8(rng.Intn(2)) << 7, StaleTime: uint32(rng.Intn(1 << 24))})
		}
	}
	if p() {
		c.FQDN = FQDN{Present: true, Hostname: randName(rng, rng.Intn(20)), Domain: randName(rng, rng.Intn(20))}
	}
	for range rng.Intn(3) {
		var v []byte
		if n := rng.Intn(12); n > 0 {
			v = make([]byte, n)
			rng.Read(v)
		}
		c.Unknown = append(c.Unknown, RawCapability{Code: unknownCodes[rng.Intn(len(unknownCodes))], Value: v})
	}
	return o
}

// openFromGoBGP reads GoBGP's decoded OPEN into fanout's representation.
func openFromGoBGP(m *gobgp.BGPOpen) (*Open, error) {
	o := &Open{Version: m.Version, AS: m.MyAS, HoldTime: m.HoldTime}
	id, ok := netip.AddrFromSlice(m.ID)
	if !ok {
		return nil, fmt.Errorf("gobgp identifier %v", m.ID)
	}
	o.ID = id
	c := &o.Caps
	for _, p := range m.OptParams {
		pc, ok := p.(*gobgp.OptionParameterCapability)
		if !ok {
			return nil, fmt.Errorf("gobgp optional parameter %T", p)
		}
		for _, x := range pc.Capability {
			switch x := x.(type) {
			case *gobgp.CapMultiProtocol:
				afi, safi := gobgp.RouteFamilyToAfiSafi(x.CapValue)
				c.Multiprotocol = append(c.Multiprotocol, Family{AFI(afi), SAFI(safi)})
			case *gobgp.CapRouteRefresh:
				c.RouteRefresh = true
			case *gobgp.CapExtendedNexthop:
				for _, t := range x.Tuples {
					c.ExtendedNextHop = append(c.ExtendedNextHop, ExtNextHop{AFI(t.NLRIAFI), t.NLRISAFI, AFI(t.NexthopAFI)})
				}
			case *gobgp.CapGracefulRestart:
				c.GracefulRestart = GracefulRestart{Present: true, Flags: x.Flags, Time: x.Time}
				for _, t := range x.Tuples {
					c.GracefulRestart.Families = append(c.GracefulRestart.Families, GRFamily{Family: Family{AFI(t.AFI), SAFI(t.SAFI)}, Flags: t.Flags})
				}
			case *gobgp.CapFourOctetASNumber:
				c.HasAS4, c.AS4 = true, x.CapValue
			case *gobgp.CapAddPath:
				for _, t := range x.Tuples {
					afi, safi := gobgp.RouteFamilyToAfiSafi(t.RouteFamily)
					c.AddPath = append(c.AddPath, AddPathFamily{Family{AFI(afi), SAFI(safi)}, AddPathMode(t.Mode)})
				}
			case *gobgp.CapEnhancedRouteRefresh:
				c.EnhancedRouteRefresh = true
			case *gobgp.CapLongLivedGracefulRestart:
				c.LongLivedGR.Present = true
				for _, t := range x.Tuples {
					c.LongLivedGR.Families = append(c.LongLivedGR.Families, GRFamily{Family: Family{AFI(t.AFI), SAFI(t.SAFI)}, Flags: t.Flags, StaleTime: t.RestartTime})
				}
			case *gobgp.CapFQDN:
				// GoBGP's DomainName runs to the end of the parameter; DomainNameLen is exact.
				dom := []byte(x.DomainName)
				if int(x.DomainNameLen) <= len(dom) {
					dom = dom[:x.DomainNameLen]
				}
				c.FQDN = FQDN{Present: true, Hostname: nilIfEmpty([]byte(x.HostName)), Domain: nilIfEmpty(dom)}
			case *gobgp.CapCarryingLabelInfo:
				c.Unknown = append(c.Unknown, RawCapability{Code: uint8(x.Code()), Value: x.CapValue})
			case *gobgp.CapRouteRefreshCisco:
				c.Unknown = append(c.Unknown, RawCapability{Code: uint8(x.Code()), Value: x.CapValue})
			case *gobgp.CapUnknown:
				switch uint8(x.Code()) {
				case CapExtendedMessage:
					c.ExtendedMessage = true
				case CapRole:
					if len(x.CapValue) != 1 {
						return nil, fmt.Errorf("role of %d bytes", len(x.CapValue))
					}
					c.HasRole, c.Role = true, Role(x.CapValue[0])
				default:
					c.Unknown = append(c.Unknown, RawCapability{Code: uint8(x.Code()), Value: x.CapValue})
				}
			default:
				return nil, fmt.Errorf("gobgp capability %T", x)
			}
		}
	}
	return o, nil
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// openToGoBGP builds GoBGP's message for o. The capabilities go in the order fanout's
// decoder keeps them, so the decoded value compares equal.
func openToGoBGP(o *Open) *gobgp.BGPMessage {
	c := &o.Caps
	var caps []gobgp.ParameterCapabilityInterface
	fam := func(f Family) gobgp.RouteFamily { return gobgp.AfiSafiToRouteFamily(uint16(f.AFI), uint8(f.SAFI)) }
	for _, f := range c.Multiprotocol {
		caps = append(caps, gobgp.NewCapMultiProtocol(fam(f)))
	}
	if c.RouteRefresh {
		caps = append(caps, gobgp.NewCapRouteRefresh())
	}
	if len(c.ExtendedNextHop) > 0 {
		var ts []*gobgp.CapExtendedNexthopTuple
		for _, t := range c.ExtendedNextHop {
			ts = append(ts, &gobgp.CapExtendedNexthopTuple{NLRIAFI: uint16(t.AFI), NLRISAFI: t.SAFI, NexthopAFI: uint16(t.NextHopAFI)})
		}
		caps = append(caps, gobgp.NewCapExtendedNexthop(ts))
	}
	if c.ExtendedMessage {
		caps = append(caps, gobgp.NewCapUnknown(gobgp.BGPCapabilityCode(CapExtendedMessage), nil))
	}
	if c.HasRole {
		caps = append(caps, gobgp.NewCapUnknown(gobgp.BGPCapabilityCode(CapRole), []byte{uint8(c.Role)}))
	}
	if gr := &c.GracefulRestart; gr.Present {
		var ts []*gobgp.CapGracefulRestartTuple
		for _, f := range gr.Families {
			ts = append(ts, &gobgp.CapGracefulRestartTuple{AFI: uint16(f.Family.AFI), SAFI: uint8(f.Family.SAFI), Flags: f.Flags})
		}
		g := gobgp.NewCapGracefulRestart(false, false, gr.Time, ts)
		g.Flags = gr.Flags
		caps = append(caps, g)
	}
	if c.HasAS4 {
		caps = append(caps, gobgp.NewCapFourOctetASNumber(c.AS4))
	}
	if len(c.AddPath) > 0 {
		var ts []*gobgp.CapAddPathTuple
		for _, t := range c.AddPath {
			ts = append(ts, gobgp.NewCapAddPathTuple(fam(t.Family), gobgp.BGPAddPathMode(t.Mode)))
		}
		caps = append(caps, gobgp.NewCapAddPath(ts))
	}
	if c.EnhancedRouteRefresh {
		caps = append(caps, gobgp.NewCapEnhancedRouteRefresh())
	}
	if c.LongLivedGR.Present {
		var ts []*gobgp.CapLongLivedGracefulRestartTuple
		for _, f := range c.LongLivedGR.Families {
			ts = append(ts, &gobgp.CapLongLivedGracefulRestartTuple{AFI: uint16(f.Family.AFI), SAFI: uint8(f.Family.SAFI), Flags: f.Flags, RestartTime: f.StaleTime})
		}
		caps = append(caps, gobgp.NewCapLongLivedGracefulRestart(ts))
	}
	if c.FQDN.Present {
		caps = append(caps, gobgp.NewCapFQDN(string(c.FQDN.Hostname), string(c.FQDN.Domain)))
	}
	for _, u := range c.Unknown {
		caps = append(caps, gobgp.NewCapUnknown(gobgp.BGPCapabilityCode(u.Code), u.Value))
	}
	var params []gobgp.OptionParameterInterface
	if len(caps) > 0 {
		params = append(params, gobgp.NewOptionParameterCapability(caps))
	}
	return gobgp.NewBGPOpenMessage(o.AS, o.HoldTime, o.ID.String(), params)
}

func TestDiffOpen(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := range diffCount {
		o := randOpen(rng)

		// fanout encodes, GoBGP decodes.
		b := mustAppendOpen(t, o)
		m, err := gobgp.ParseBGPMessage(b)
		if err != nil {
			t.Fatalf("#%d: gobgp rejects %x: %v", i, b, err)
		}
		got, err := openFromGoBGP(m.Body.(*gobgp.BGPOpen))
		if err != nil {
			t.Fatalf("#%d: %v", i, err)
		}
		if !got.Equal(o) {
			t.Fatalf("#%d: gobgp decoded %x as\n%+v\nwant\n%+v", i, b, got.Caps, o.Caps)
		}

		// GoBGP encodes, fanout decodes.
		gb, err := openToGoBGP(o).Serialize()
		if err != nil {
			t.Fatalf("#%d: gobgp serialize: %v", i, err)
		}
		if back := mustDecodeOpen(t, gb); !back.Equal(o) {
			t.Fatalf("#%d: fanout decoded gobgp's %x as\n%+v\nwant\n%+v", i, gb, back.Caps, o.Caps)
		}
		// Both put the capabilities in one parameter in the same order: same bytes.
		if !bytes.Equal(gb, b) {
			t.Fatalf("#%d: encodings differ:\ngobgp  %x\nfanout %x", i, gb, b)
		}
	}
}

func TestDiffNotification(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for i := range diffCount {
		var n Notification
		switch rng.Intn(3) {
		case 0:
			n = ShutdownNotification([]uint8{SubAdminShutdown, SubAdminReset}[rng.Intn(2)], string(randName(rng, rng.Intn(300))))
		default:
			n = Notification{Code: uint8(rng.Intn(10)), Subcode: uint8(rng.Intn(12))}
			if k := rng.Intn(64); k > 0 {
				n.Data = make([]byte, k)
				rng.Read(n.Data)
			}
		}
		b := AppendNotification(nil, &n, 0)
		m, err := gobgp.ParseBGPMessage(b)
		if err != nil {
			t.Fatalf("#%d: gobgp rejects %x: %v", i, b, err)
		}
		g := m.Body.(*gobgp.BGPNotification)
		if g.ErrorCode != n.Code || g.ErrorSubcode != n.Subcode || !bytes.Equal(g.Data, n.Data) {
			t.Fatalf("#%d: gobgp decoded %+v, want %v", i, g, n.String())
		}
		gb, err := gobgp.NewBGPNotificationMessage(n.Code, n.Subcode, n.Data).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		var d decoded
		if err := decodeMessage(gb, 0, &d); err != nil {
			t.Fatalf("#%d: fanout rejects gobgp's %x: %v", i, gb, err)
		}
		if d.note.Code != n.Code || d.note.Subcode != n.Subcode || !bytes.Equal(d.note.Data, n.Data) || !bytes.Equal(gb, b) {
			t.Fatalf("#%d: fanout decoded %v from %x, want %v", i, d.note.String(), gb, n.String())
		}
	}
}

func TestDiffRouteRefreshKeepalive(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for i := range diffCount {
		rr := RouteRefresh{Family: randFamily(rng), Subtype: uint8(rng.Intn(4))}
		if rng.Intn(10) == 0 {
			rr.Subtype = uint8(rng.Intn(256))
		}
		b := AppendRouteRefresh(nil, rr)
		m, err := gobgp.ParseBGPMessage(b)
		if err != nil {
			t.Fatalf("#%d: gobgp rejects %x: %v", i, b, err)
		}
		g := m.Body.(*gobgp.BGPRouteRefresh)
		if AFI(g.AFI) != rr.Family.AFI || SAFI(g.SAFI) != rr.Family.SAFI || g.Demarcation != rr.Subtype {
			t.Fatalf("#%d: gobgp decoded %+v, want %v", i, g, rr)
		}
		gb, err := gobgp.NewBGPRouteRefreshMessage(uint16(rr.Family.AFI), rr.Subtype, uint8(rr.Family.SAFI)).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		var d decoded
		if err := decodeMessage(gb, 0, &d); err != nil || d.rr != rr || !bytes.Equal(gb, b) {
			t.Fatalf("#%d: fanout decoded %v from %x (%v), want %v", i, d.rr, gb, err, rr)
		}
	}
	b := AppendKeepalive(nil)
	m, err := gobgp.ParseBGPMessage(b)
	if err != nil || m.Header.Type != gobgp.BGP_MSG_KEEPALIVE || m.Header.Len != 19 {
		t.Fatalf("gobgp keepalive: %+v %v", m, err)
	}
	gb, err := gobgp.NewBGPKeepAliveMessage().Serialize()
	if err != nil || !bytes.Equal(gb, b) {
		t.Fatalf("gobgp keepalive %x, fanout %x", gb, b)
	}
	var d decoded
	if err := decodeMessage(gb, 0, &d); err != nil || d.h != (Header{19, MsgKeepalive}) {
		t.Fatalf("fanout keepalive: %+v %v", d.h, err)
	}
}

// benchStream is a stream of mixed non-UPDATE messages for the framing benchmarks.
func benchStream(tb testing.TB) ([]byte, int) {
	rng := rand.New(rand.NewSource(4))
	var b []byte
	n := 0
	for range 64 {
		switch rng.Intn(4) {
		case 0:
			b = append(b, mustAppendOpen(tb, randOpen(rng))...)
		case 1:
			b = AppendKeepalive(b)
		case 2:
			b = AppendRouteRefresh(b, RouteRefresh{Family: IPv6Unicast})
		case 3:
			b = AppendNotification(b, &Notification{Code: 6, Subcode: 2, Data: []byte{3, 'b', 'y', 'e'}}, 0)
		}
		n++
	}
	return b, n
}

func BenchmarkOpenDecode(b *testing.B) {
	m := mustAppendOpen(b, sampleOpen())
	b.Run("fanout", func(b *testing.B) {
		var o Open
		b.SetBytes(int64(len(m)))
		b.ReportAllocs()
		for b.Loop() {
			_, body, _, err := NextMessage(m, MaxMessageLen)
			if err != nil {
				b.Fatal(err)
			}
			if err := DecodeOpen(body, &o); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gobgp", func(b *testing.B) {
		b.SetBytes(int64(len(m)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := gobgp.ParseBGPMessage(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkOpenEncode(b *testing.B) {
	o := sampleOpen()
	b.Run("fanout", func(b *testing.B) {
		buf := make([]byte, 0, 512)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := AppendOpen(buf[:0], o); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gobgp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := openToGoBGP(o).Serialize(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFraming splits a 64-message stream into messages: fanout's NextMessage (all
// RFC 4271 §6.1 checks) against GoBGP's header decoder with the same slicing.
func BenchmarkFraming(b *testing.B) {
	stream, count := benchStream(b)
	b.Run("fanout", func(b *testing.B) {
		b.SetBytes(int64(len(stream)))
		b.ReportAllocs()
		for b.Loop() {
			buf, k := stream, 0
			for len(buf) > 0 {
				_, _, n, err := NextMessage(buf, MaxMessageLen)
				if err != nil || n == 0 {
					b.Fatal(err)
				}
				buf = buf[n:]
				k++
			}
			if k != count {
				b.Fatal(k)
			}
		}
	})
	b.Run("gobgp", func(b *testing.B) {
		b.SetBytes(int64(len(stream)))
		b.ReportAllocs()
		for b.Loop() {
			buf, k := stream, 0
			for len(buf) > 0 {
				var h gobgp.BGPHeader
				if err := h.DecodeFromBytes(buf); err != nil {
					b.Fatal(err)
				}
				_ = buf[gobgp.BGP_HEADER_LENGTH:h.Len]
				buf = buf[h.Len:]
				k++
			}
			if k != count {
				b.Fatal(k)
			}
		}
	})
}
