package proto

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// openBody builds an OPEN body with the RFC 4271 optional parameter encoding.
func openBody(ver uint8, as, hold uint16, id uint32, params ...[]byte) []byte {
	p := cat(params...)
	b := []byte{ver, byte(as >> 8), byte(as), byte(hold >> 8), byte(hold),
		byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id), byte(len(p))}
	return append(b, p...)
}

// extOpenBody builds an OPEN body with the RFC 9072 encoding around already encoded
// extended parameters (type, 2-byte length, value).
func extOpenBody(params ...[]byte) []byte {
	p := cat(params...)
	b := []byte{4, 0xfd, 0xe9, 0, 90, 10, 0, 0, 1, 255, 255, byte(len(p) >> 8), byte(len(p))}
	return append(b, p...)
}

// extParam builds an RFC 9072 optional parameter.
func extParam(typ uint8, v []byte) []byte {
	return append([]byte{typ, byte(len(v) >> 8), byte(len(v))}, v...)
}

// param builds an RFC 4271 optional parameter.
func param(typ uint8, v ...[]byte) []byte {
	p := cat(v...)
	return append([]byte{typ, byte(len(p))}, p...)
}

// capTLV builds one capability.
func capTLV(code uint8, v ...byte) []byte { return append([]byte{code, byte(len(v))}, v...) }

// openMsg is a valid OPEN header and fixed fields around the given parameters.
func openMsg(params ...[]byte) []byte {
	return msg(MsgOpen, openBody(4, 65001, 90, 0x0a000001, params...))
}

// capsMsg is an OPEN carrying the given capabilities in one parameter.
func capsMsg(tlvs ...[]byte) []byte { return openMsg(param(ParamCapabilities, tlvs...)) }

// openCases are OPEN malformations other than capability values (RFC 4271 §6.2, RFC 9072).
var openCases = []malformedCase{
	{"RFC4271 6.2 version 3", msg(MsgOpen, openBody(3, 1, 90, 1)), 0, 2, 1, []byte{0, 4}},
	{"RFC4271 6.2 version 5", msg(MsgOpen, openBody(5, 1, 90, 1)), 0, 2, 1, []byte{0, 4}},
	{"RFC7607 2 My Autonomous System 0", msg(MsgOpen, openBody(4, 0, 90, 1)), 0, 2, 2, nil},
	{"RFC7607 2 4-octet AS capability 0", capsMsg(capTLV(65, 0, 0, 0, 0)), 0, 2, 2, nil},
	{"RFC4271 6.2 hold time 1", msg(MsgOpen, openBody(4, 1, 1, 1)), 0, 2, 6, nil},
	{"RFC4271 6.2 hold time 2", msg(MsgOpen, openBody(4, 1, 2, 1)), 0, 2, 6, nil},
	{"RFC4271 6.2+RFC6286 2.1 BGP identifier 0", msg(MsgOpen, openBody(4, 1, 90, 0)), 0, 2, 3, nil},
	{"RFC4271 6.2 opt param length beyond the message", msg(MsgOpen, openBody(4, 1, 90, 1)[:9], []byte{10}, capTLV(65, 0, 0)), 0, 2, 0, nil},
	{"RFC4271 6.2 bytes after the optional parameters", msg(MsgOpen, openBody(4, 1, 90, 1, param(2, capTLV(2))), []byte{0}), 0, 2, 0, nil},
	{"RFC4271 6.2 parameter overruns the opt param length", msg(MsgOpen, openBody(4, 1, 90, 1, []byte{2, 5, 2, 0})), 0, 2, 0, nil},
	{"RFC4271 6.2 parameter header cut short", msg(MsgOpen, openBody(4, 1, 90, 1, []byte{2})), 0, 2, 0, nil},
	{"RFC4271 6.2 deprecated authentication parameter (type 1)", openMsg(param(1, []byte{0})), 0, 2, 4, nil},
	{"RFC4271 6.2 unknown optional parameter type 3", openMsg(param(2, capTLV(2)), param(3)), 0, 2, 4, nil},
	{"RFC9072 2 extended length beyond the message", msg(MsgOpen, extOpenBody(extParam(2, capTLV(2)))[:15]), 0, 2, 0, nil},
	{"RFC9072 2 extended parameter overruns the extended length", msg(MsgOpen, extOpenBody([]byte{2, 0, 9, 2, 0})), 0, 2, 0, nil},
	{"RFC9072 2 extended length field cut short", msg(MsgOpen, extOpenBody()[:11], []byte{0}), 0, 2, 0, nil},
	{"RFC9072 2 unknown extended parameter type", msg(MsgOpen, extOpenBody(extParam(7, nil))), 0, 2, 4, nil},
}

// capabilityCases are malformed capabilities (RFC 4271 §6.2 "recognized but malformed" =>
// 2/0 unless said otherwise).
var capabilityCases = []malformedCase{
	{"RFC5492 4 capability overruns its parameter", capsMsg([]byte{65, 4, 0, 0}), 0, 2, 0, nil},
	{"RFC5492 4 capability header cut short", capsMsg([]byte{65}), 0, 2, 0, nil},
	{"RFC4760 8 multiprotocol length 3", capsMsg(capTLV(1, 0, 1, 0)), 0, 2, 0, nil},
	{"RFC4760 8 multiprotocol length 5", capsMsg(capTLV(1, 0, 1, 0, 1, 0)), 0, 2, 0, nil},
	{"RFC2918 3 route refresh length 1", capsMsg(capTLV(2, 0)), 0, 2, 0, nil},
	{"RFC8950 3 extended next hop length 5", capsMsg(capTLV(5, 0, 1, 0, 1, 0)), 0, 2, 0, nil},
	{"RFC8950 3 extended next hop length 0", capsMsg(capTLV(5)), 0, 2, 0, nil},
	{"RFC8654 3 extended message length 2", capsMsg(capTLV(6, 0, 0)), 0, 2, 0, nil},
	{"RFC9234 4.1 role length 2", capsMsg(capTLV(9, 3, 3)), 0, 2, 0, nil},
	{"RFC9234 4.1 role length 0", capsMsg(capTLV(9)), 0, 2, 0, nil},
	{"RFC9234 4.2 two roles that disagree", capsMsg(capTLV(9, 3), capTLV(9, 0)), 0, 2, 11, nil},
	{"RFC4724 3 graceful restart length 1", capsMsg(capTLV(64, 0)), 0, 2, 0, nil},
	{"RFC4724 3 graceful restart family entry cut short", capsMsg(capTLV(64, 0, 90, 0, 1)), 0, 2, 0, nil},
	{"RFC6793 3 4-octet AS length 2", capsMsg(capTLV(65, 0, 1)), 0, 2, 0, nil},
	{"RFC6793 3 4-octet AS length 5", capsMsg(capTLV(65, 0, 0, 0, 1, 0)), 0, 2, 0, nil},
	{"RFC7911 4 ADD-PATH length 3", capsMsg(capTLV(69, 0, 1, 1)), 0, 2, 0, nil},
	{"RFC7911 4 ADD-PATH length 0", capsMsg(capTLV(69)), 0, 2, 0, nil},
	{"RFC7313 3 enhanced route refresh length 1", capsMsg(capTLV(70, 0)), 0, 2, 0, nil},
	{"RFC9494 3 LLGR length 6", capsMsg(capTLV(71, 0, 1, 1, 0, 0, 0)), 0, 2, 0, nil},
	{"hostname-capability FQDN hostname overruns", capsMsg(capTLV(73, 5, 'a', 'b')), 0, 2, 0, nil},
	{"hostname-capability FQDN domain length missing", capsMsg(capTLV(73, 1, 'a')), 0, 2, 0, nil},
	{"hostname-capability FQDN trailing bytes", capsMsg(capTLV(73, 1, 'a', 1, 'b', 'c')), 0, 2, 0, nil},
	{"RFC4271 6.2 malformed capability in a second parameter", openMsg(param(2, capTLV(65, 0, 0, 0, 1)), param(2, capTLV(1, 0, 2))), 0, 2, 0, nil},
}

func sampleOpen() *Open {
	o := &Open{Version: 4, AS: 23456, HoldTime: 90, ID: netip.MustParseAddr("192.0.2.1")}
	c := &o.Caps
	c.Multiprotocol = []Family{IPv4Unicast, IPv6Unicast, VPNv4, VPNv6}
	c.RouteRefresh = true
	c.ExtendedNextHop = []ExtNextHop{{AFIIPv4, 1, AFIIPv6}, {AFIIPv4, 128, AFIIPv6}}
	c.ExtendedMessage = true
	c.HasRole, c.Role = true, RoleRSClient
	c.GracefulRestart = GracefulRestart{Present: true, Flags: GRRestartState | GRNotification, Time: 120,
		Families: []GRFamily{{Family: IPv4Unicast, Flags: GRForwarding}, {Family: IPv6Unicast}}}
	c.HasAS4, c.AS4 = true, 4200000001
	c.AddPath = []AddPathFamily{{IPv4Unicast, AddPathBoth}, {IPv6Unicast, AddPathReceive}}
	c.EnhancedRouteRefresh = true
	c.LongLivedGR = LongLivedGR{Present: true, Families: []GRFamily{{Family: IPv4Unicast, Flags: GRForwarding, StaleTime: 86400}}}
	c.FQDN = FQDN{Present: true, Hostname: []byte("rs1"), Domain: []byte("example.net")}
	c.Unknown = []RawCapability{{Code: 128}, {Code: 200, Value: []byte{1, 2, 3}}}
	return o
}

func mustAppendOpen(t testing.TB, o *Open) []byte {
	t.Helper()
	b, err := AppendOpen(nil, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustDecodeOpen(t testing.TB, b []byte) *Open {
	t.Helper()
	var d decoded
	if err := decodeMessage(b, MaxMessageLen, &d); err != nil {
		t.Fatalf("decode %x: %v", b, err)
	}
	return &d.open
}

func TestOpenRoundTrip(t *testing.T) {
	o := sampleOpen()
	b := mustAppendOpen(t, o)
	got := mustDecodeOpen(t, b)
	if !got.Equal(o) {
		t.Fatalf("decoded %+v\nwant %+v", got, o)
	}
	if b2 := mustAppendOpen(t, got); !bytes.Equal(b, b2) {
		t.Fatalf("re-encoding differs:\n%x\n%x", b, b2)
	}
	if got.PeerAS() != 4200000001 || got.CheckPeerAS(4200000001) != nil {
		t.Fatal("PeerAS")
	}
	// RFC 4271 6.2: Bad Peer AS.
	wantErr(t, got.CheckPeerAS(65000), 2, 2, nil)
	if got.Caps.AddPathFor(IPv6Unicast) != AddPathReceive || got.Caps.AddPathFor(VPNv4) != 0 || !got.Caps.HasFamily(VPNv6) {
		t.Fatal("capability lookups")
	}

	// No capabilities: Optional Parameters Length 0, a 29-byte OPEN.
	bare := &Open{Version: 4, AS: 65001, HoldTime: 0, ID: netip.MustParseAddr("255.255.255.255")}
	b = mustAppendOpen(t, bare)
	if len(b) != 29 || !mustDecodeOpen(t, b).Equal(bare) {
		t.Fatalf("bare OPEN %x", b)
	}
}

func TestOpenExtendedParameters(t *testing.T) {
	// RFC 9072: more than 253 bytes of capabilities use the extended encoding.
	o := sampleOpen()
	for i := range 40 {
		o.Caps.Unknown = append(o.Caps.Unknown, RawCapability{Code: 100 + uint8(i), Value: bytes.Repeat([]byte{byte(i)}, 10)})
	}
	b := mustAppendOpen(t, o)
	if b[HeaderLen+9] != 255 || b[HeaderLen+10] != 255 || b[HeaderLen+13] != ParamCapabilities {
		t.Fatalf("not the RFC 9072 encoding: %x", b[HeaderLen:HeaderLen+16])
	}
	if got := mustDecodeOpen(t, b); !got.Equal(o) {
		t.Fatalf("extended OPEN decoded %+v", got.Caps)
	}

	// A small RFC 9072 OPEN from a peer decodes; fanout answers in the RFC 4271 encoding.
	ext := msg(MsgOpen, extOpenBody(extParam(2, cat(capTLV(2), capTLV(65, 0, 0, 0xfd, 0xe9))), extParam(2, capTLV(70))))
	got := mustDecodeOpen(t, ext)
	if !got.Caps.RouteRefresh || !got.Caps.EnhancedRouteRefresh || got.PeerAS() != 65001 {
		t.Fatalf("RFC 9072 OPEN decoded %+v", got.Caps)
	}
	if re := mustAppendOpen(t, got); re[HeaderLen+9] != 2+2+6+2 {
		t.Fatalf("re-encoded %x", re)
	}

	// Too much for 4096 bytes, and values too long for one capability.
	big := sampleOpen()
	for range 20 {
		big.Caps.Unknown = append(big.Caps.Unknown, RawCapability{Code: 99, Value: make([]byte, 255)})
	}
	if _, err := AppendOpen(nil, big); !errors.Is(err, ErrMessageTooLong) {
		t.Fatalf("oversized OPEN: %v", err)
	}
	long := sampleOpen()
	long.Caps.FQDN.Hostname = []byte(strings.Repeat("h", 200))
	long.Caps.FQDN.Domain = []byte(strings.Repeat("d", 60))
	if _, err := AppendOpen(nil, long); !errors.Is(err, ErrMessageTooLong) {
		t.Fatalf("oversized FQDN: %v", err)
	}
	if _, err := AppendOpen(nil, &Open{Version: 4, ID: netip.MustParseAddr("::1")}); err == nil {
		t.Fatal("IPv6 identifier accepted")
	}
}

func TestOpenParameterForms(t *testing.T) {
	// One capability per parameter (as FRR sends) accumulates like one parameter.
	perParam := openMsg(param(2, capTLV(1, 0, 1, 0, 1)), param(2, capTLV(1, 0, 2, 0, 1)), param(2, capTLV(65, 0, 0, 0xfd, 0xe9)), param(2))
	one := capsMsg(capTLV(1, 0, 1, 0, 1), capTLV(1, 0, 2, 0, 1), capTLV(65, 0, 0, 0xfd, 0xe9))
	a, b := mustDecodeOpen(t, perParam), mustDecodeOpen(t, one)
	if !a.Equal(b) || len(a.Caps.Multiprotocol) != 2 {
		t.Fatalf("%+v vs %+v", a.Caps, b.Caps)
	}
	// The multiprotocol reserved octet is ignored (RFC 4760 8).
	if c := mustDecodeOpen(t, capsMsg(capTLV(1, 0, 2, 7, 128))); c.Caps.Multiprotocol[0] != VPNv6 {
		t.Fatalf("MP with reserved set: %+v", c.Caps.Multiprotocol)
	}
	// RFC 7911 4: an ADD-PATH tuple with Send/Receive 0 makes the capability not understood.
	c := mustDecodeOpen(t, capsMsg(capTLV(69, 0, 1, 1, 3), capTLV(69, 0, 2, 1, 1, 0, 1, 128, 0)))
	if len(c.Caps.AddPath) != 1 || len(c.Caps.Unknown) != 1 || c.Caps.Unknown[0].Code != 69 || len(c.Caps.Unknown[0].Value) != 8 {
		t.Fatalf("ADD-PATH with a bad mode: %+v", c.Caps)
	}
	// RFC 9234 4.2: repeated roles that agree are fine.
	if c := mustDecodeOpen(t, capsMsg(capTLV(9, 2), capTLV(9, 2))); !c.Caps.HasRole || c.Caps.Role != RoleRSClient {
		t.Fatalf("role %+v", c.Caps)
	}
	// An empty LLGR capability is present with no families (RFC 9494 3).
	if c := mustDecodeOpen(t, capsMsg(capTLV(71))); !c.Caps.LongLivedGR.Present {
		t.Fatal("empty LLGR")
	}
	// A 9-byte OPEN body handed to DecodeOpen directly: RFC 4271 6.1 Bad Message Length.
	var o Open
	wantErr(t, DecodeOpen(make([]byte, 9), &o), 1, 2, []byte{0, 28})
}

func TestOpenDecodeReusesMemory(t *testing.T) {
	b := mustAppendOpen(t, sampleOpen())
	body := b[HeaderLen:]
	var o Open
	if err := DecodeOpen(body, &o); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := DecodeOpen(body, &o); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("DecodeOpen into a reused Open allocates %.1f times", allocs)
	}
	// The decoded value does not alias the message.
	for i := range body {
		body[i] = 0
	}
	if !o.Equal(sampleOpen()) {
		t.Fatal("decoded OPEN changed with its message buffer")
	}
	dst := make([]byte, 0, 512)
	if allocs := testing.AllocsPerRun(100, func() { _, _ = AppendOpen(dst, &o) }); allocs != 0 {
		t.Fatalf("AppendOpen into a large enough buffer allocates %.1f times", allocs)
	}
}

func TestRequire(t *testing.T) {
	peer := sampleOpen().Caps
	want := Capabilities{Multiprotocol: []Family{IPv4Unicast, {AFIIPv4, 2}}, HasAS4: true, AS4: 65000, RouteRefresh: true}
	// RFC 5492 3: Unsupported Capability lists what is missing.
	wantErr(t, peer.Require(&want), 2, 7, capTLV(1, 0, 1, 0, 2))
	want.Multiprotocol = want.Multiprotocol[:1]
	if err := peer.Require(&want); err != nil {
		t.Fatal(err)
	}
	var none Capabilities
	wantErr(t, none.Require(&want), 2, 7, cat(capTLV(1, 0, 1, 0, 1), capTLV(2), capTLV(65, 0, 0, 0xfd, 0xe8)))
	// RFC 9234 4.2 strict mode: a missing role is a Role Mismatch.
	wantErr(t, none.Require(&Capabilities{HasRole: true, Role: RoleRS}), 2, 11, nil)
	if !RolesMatch(RoleRS, RoleRSClient) || !RolesMatch(RoleCustomer, RoleProvider) || !RolesMatch(RolePeer, RolePeer) ||
		RolesMatch(RoleRS, RoleRS) || RolesMatch(RoleProvider, RolePeer) || RolesMatch(Role(7), RolePeer) {
		t.Fatal("RolesMatch")
	}
}

var openSeeds = []seed{
	{"full", "every known capability plus two unknown ones (filled in by init)", nil},
	{"bare", "no optional parameters: the 29-byte minimum", msg(MsgOpen, openBody(4, 65001, 0, 1))[HeaderLen:]},
	{"per-param", "one capability per parameter, FRR style", openMsg(param(2, capTLV(1, 0, 1, 0, 1)), param(2, capTLV(65, 0, 0, 0xfd, 0xe9)))[HeaderLen:]},
	{"rfc9072", "RFC 9072 extended optional parameters", extOpenBody(extParam(2, cat(capTLV(2), capTLV(70))))},
	{"rfc9072-bad-length", "RFC 9072 extended length beyond the message", extOpenBody(extParam(2, capTLV(2)))[:15]},
	{"addpath-bad-mode", "RFC 7911 ADD-PATH tuple with mode 0: kept raw", openMsg(param(2, capTLV(69, 0, 1, 1, 0)))[HeaderLen:]},
	{"roles-disagree", "RFC 9234 Role Mismatch", openMsg(param(2, capTLV(9, 3), capTLV(9, 0)))[HeaderLen:]},
	{"gr", "graceful restart with two families", openMsg(param(2, capTLV(64, 0xc0, 0x78, 0, 1, 1, 0x80, 0, 2, 1, 0)))[HeaderLen:]},
	{"llgr", "long-lived graceful restart, one family", openMsg(param(2, capTLV(71, 0, 1, 1, 0x80, 1, 0x51, 0x80)))[HeaderLen:]},
	{"fqdn", "hostname capability", openMsg(param(2, capTLV(73, 2, 'r', 's', 3, 'n', 'e', 't')))[HeaderLen:]},
	{"fqdn-overrun", "hostname length beyond the capability", openMsg(param(2, capTLV(73, 9, 'r')))[HeaderLen:]},
	{"version-3", "unsupported version", openBody(3, 1, 90, 1)},
	{"hold-2", "unacceptable hold time", openBody(4, 1, 2, 1)},
	{"auth-param", "deprecated optional parameter type 1", openMsg(param(1, []byte{0}))[HeaderLen:]},
}

func init() {
	// The "full" seed is the sample OPEN's body; build it here, after sampleOpen exists.
	b, err := AppendOpen(nil, sampleOpen())
	if err != nil {
		panic(err)
	}
	openSeeds[0].b = b[HeaderLen:]
}

// FuzzOpen decodes arbitrary OPEN bodies: no panic; an error is a session-reset OPEN or
// header error; anything that decodes re-encodes to an OPEN that decodes to the same value
// and encodes to the same bytes.
func FuzzOpen(f *testing.F) {
	for _, s := range openSeeds {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if HeaderLen+len(body) > MaxMessageLen {
			return
		}
		var d decoded
		if err := decodeMessage(msg(MsgOpen, body), MaxMessageLen, &d); err != nil {
			if e, ok := AsError(err); !ok || e.Action != ActionSessionReset || (e.Code != CodeOpen && e.Code != CodeHeader) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		b, err := AppendOpen(nil, &d.open)
		if err != nil {
			t.Fatalf("re-encoding a decoded OPEN: %v", err)
		}
		var d2 decoded
		if err := decodeMessage(b, MaxMessageLen, &d2); err != nil {
			t.Fatalf("decoding the re-encoded OPEN %x: %v", b, err)
		}
		if !d2.open.Equal(&d.open) {
			t.Fatalf("round trip changed the OPEN:\n%+v\n%+v", d.open, d2.open)
		}
		if b2, _ := AppendOpen(nil, &d2.open); !bytes.Equal(b, b2) {
			t.Fatalf("encoding is not canonical:\n%x\n%x", b, b2)
		}
	})
}
