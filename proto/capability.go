package proto

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
)

// Capability codes (IANA "Capability Codes" registry).
const (
	CapMultiprotocol        uint8 = 1  // RFC 4760
	CapRouteRefresh         uint8 = 2  // RFC 2918
	CapExtendedNextHop      uint8 = 5  // RFC 8950
	CapExtendedMessage      uint8 = 6  // RFC 8654
	CapRole                 uint8 = 9  // RFC 9234
	CapGracefulRestart      uint8 = 64 // RFC 4724
	CapAS4                  uint8 = 65 // RFC 6793
	CapAddPath              uint8 = 69 // RFC 7911
	CapEnhancedRouteRefresh uint8 = 70 // RFC 7313
	CapLongLivedGR          uint8 = 71 // RFC 9494
	CapFQDN                 uint8 = 73 // draft-walton-bgp-hostname-capability
)

// maxCapValue is the largest capability value: its length field is one octet (RFC 5492 §4).
const maxCapValue = 255

// Role is a BGP Role (RFC 9234 §4.1).
type Role uint8

// BGP Roles.
const (
	RoleProvider Role = 0
	RoleRS       Role = 1 // route server
	RoleRSClient Role = 2 // route server client
	RoleCustomer Role = 3
	RolePeer     Role = 4 // lateral peer
)

func (r Role) String() string {
	switch r {
	case RoleProvider:
		return "provider"
	case RoleRS:
		return "rs"
	case RoleRSClient:
		return "rs-client"
	case RoleCustomer:
		return "customer"
	case RolePeer:
		return "peer"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// RolesMatch reports whether a local and a remote role form one of the allowed pairs of
// RFC 9234 §4.2 (provider–customer, rs–rs-client, peer–peer). A false result is answered
// with NOTIFICATION 2/11 (Role Mismatch).
func RolesMatch(local, remote Role) bool {
	switch local {
	case RoleProvider:
		return remote == RoleCustomer
	case RoleCustomer:
		return remote == RoleProvider
	case RoleRS:
		return remote == RoleRSClient
	case RoleRSClient:
		return remote == RoleRS
	case RolePeer:
		return remote == RolePeer
	}
	return false
}

// AddPathMode is the Send/Receive field of an ADD-PATH tuple (RFC 7911 §4).
type AddPathMode uint8

// ADD-PATH modes.
const (
	AddPathReceive AddPathMode = 1
	AddPathSend    AddPathMode = 2
	AddPathBoth    AddPathMode = 3
)

// AddPathFamily is one ADD-PATH tuple: a family and whether the sender wants to receive,
// send, or both.
type AddPathFamily struct {
	Family Family
	Mode   AddPathMode
}

// ExtNextHop is one Extended Next Hop Encoding tuple (RFC 8950 §3): NLRI of AFI/SAFI may
// carry a next hop of NextHopAFI. The SAFI field is two octets on the wire.
type ExtNextHop struct {
	AFI        AFI
	SAFI       uint16
	NextHopAFI AFI
}

// Graceful restart flags (RFC 4724 §3, RFC 8538 §2).
const (
	GRRestartState uint8 = 0x8  // R: the sender has restarted (Restart Flags, 4 bits)
	GRNotification uint8 = 0x4  // N: graceful restart also covers NOTIFICATION (RFC 8538)
	GRForwarding   uint8 = 0x80 // F: forwarding state preserved (per-family flags)
)

// GRFamily is one graceful restart (or long-lived graceful restart) family entry.
// StaleTime is used only by LLGR (24 bits, seconds); Flags holds GRForwarding.
type GRFamily struct {
	Family    Family
	Flags     uint8
	StaleTime uint32
}

// GracefulRestart is the Graceful Restart capability (RFC 4724 §3). Flags is the 4-bit
// Restart Flags field, Time the 12-bit Restart Time in seconds.
type GracefulRestart struct {
	Present  bool
	Flags    uint8
	Time     uint16
	Families []GRFamily
}

// LongLivedGR is the Long-Lived Graceful Restart capability (RFC 9494 §3).
type LongLivedGR struct {
	Present  bool
	Families []GRFamily
}

// FQDN is the hostname capability (draft-walton-bgp-hostname-capability). The names are
// copied into the owning Capabilities' memory.
type FQDN struct {
	Present  bool
	Hostname []byte
	Domain   []byte
}

// RawCapability is a capability fanout does not interpret, kept as received: Value is
// copied into the owning Capabilities' memory.
type RawCapability struct {
	Code  uint8
	Value []byte
}

// Capabilities is the set of capabilities one OPEN carried (RFC 5492). Flags and scalar
// fields answer the session's questions without allocating; repeated capabilities
// accumulate in the slices in the order received (multiprotocol, ADD-PATH, extended next
// hop, LLGR families), or the last instance wins (4-octet AS, graceful restart, FQDN).
// Unknown capabilities are kept in Unknown.
//
// A Capabilities is owned by its caller (one per OPEN sent or received, living as long as
// the session) and may be reused: Decode appends into its slices and copies variable
// bytes into its own buffer, so it never aliases the message, and decoding into a reused
// value does not allocate once its buffers have grown.
type Capabilities struct {
	Multiprotocol        []Family
	RouteRefresh         bool
	ExtendedNextHop      []ExtNextHop
	ExtendedMessage      bool
	HasRole              bool
	Role                 Role
	GracefulRestart      GracefulRestart
	HasAS4               bool
	AS4                  uint32
	AddPath              []AddPathFamily
	EnhancedRouteRefresh bool
	LongLivedGR          LongLivedGR
	FQDN                 FQDN
	Unknown              []RawCapability

	buf []byte // backing store of FQDN names and Unknown values
}

// Reset empties c, keeping its buffers for reuse.
func (c *Capabilities) Reset() {
	*c = Capabilities{
		Multiprotocol:   c.Multiprotocol[:0],
		ExtendedNextHop: c.ExtendedNextHop[:0],
		GracefulRestart: GracefulRestart{Families: c.GracefulRestart.Families[:0]},
		AddPath:         c.AddPath[:0],
		LongLivedGR:     LongLivedGR{Families: c.LongLivedGR.Families[:0]},
		Unknown:         c.Unknown[:0],
		buf:             c.buf[:0],
	}
}

// HasFamily reports whether the multiprotocol capability lists f.
func (c *Capabilities) HasFamily(f Family) bool { return slices.Contains(c.Multiprotocol, f) }

// AddPathFor returns the ADD-PATH mode announced for f (0 when none).
func (c *Capabilities) AddPathFor(f Family) AddPathMode {
	var m AddPathMode
	for _, t := range c.AddPath {
		if t.Family == f {
			m = t.Mode
		}
	}
	return m
}

// save copies b into c's buffer and returns the copy.
func (c *Capabilities) save(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	start := len(c.buf)
	c.buf = append(c.buf, b...)
	return c.buf[start:len(c.buf):len(c.buf)]
}

// Decode reads a run of capability TLVs (code, length, value; RFC 5492 §4) — the value
// of one Capabilities optional parameter — and adds them to c. It does not reset c, so the
// parameters of one OPEN accumulate. Errors are session-reset *Errors:
//   - a capability overruns the parameter, or a known capability's value is malformed:
//     2/0 (RFC 4271 §6.2, a recognized optional parameter that is malformed);
//   - BGP Role capabilities with different values: 2/11 (RFC 9234 §4.2).
//
// An ADD-PATH tuple with a Send/Receive value other than 1-3 makes that capability "not
// understood" (RFC 7911 §4): it is kept in Unknown and otherwise ignored.
func (c *Capabilities) Decode(b []byte) error {
	r := NewReader(b)
	for !r.Empty() {
		code := r.U8()
		n := int(r.U8())
		value := r.Bytes(n)
		if !r.Ok() {
			return resetErr(CodeOpen, 0, nil, "capability overruns its optional parameter")
		}
		if err := c.decodeOne(code, value); err != nil {
			return err
		}
	}
	return nil
}

func malformedCap(code uint8, format string, args ...any) *Error {
	return resetErr(CodeOpen, 0, nil, fmt.Sprintf("capability %d: ", code)+fmt.Sprintf(format, args...))
}

// decodeOne decodes one capability value (value aliases the message).
func (c *Capabilities) decodeOne(code uint8, value []byte) *Error {
	v := NewReader(value)
	n := len(value)
	switch code {
	case CapMultiprotocol: // RFC 4760 §8: AFI, reserved, SAFI
		if n != 4 {
			return malformedCap(code, "length %d, want 4", n)
		}
		afi := AFI(v.U16())
		v.Skip(1) // reserved: ignored by the receiver
		c.Multiprotocol = append(c.Multiprotocol, Family{AFI: afi, SAFI: SAFI(v.U8())})
	case CapRouteRefresh, CapExtendedMessage, CapEnhancedRouteRefresh:
		// RFC 2918 §3, RFC 8654 §3, RFC 7313 §3: the capability length is 0.
		if n != 0 {
			return malformedCap(code, "length %d, want 0", n)
		}
		switch code {
		case CapRouteRefresh:
			c.RouteRefresh = true
		case CapExtendedMessage:
			c.ExtendedMessage = true
		default:
			c.EnhancedRouteRefresh = true
		}
	case CapExtendedNextHop: // RFC 8950 §3: one or more 6-byte tuples
		if n == 0 || n%6 != 0 {
			return malformedCap(code, "length %d is not a positive multiple of 6", n)
		}
		for !v.Empty() {
			c.ExtendedNextHop = append(c.ExtendedNextHop, ExtNextHop{AFI: AFI(v.U16()), SAFI: v.U16(), NextHopAFI: AFI(v.U16())})
		}
	case CapRole: // RFC 9234 §4.1: one octet
		if n != 1 {
			return malformedCap(code, "length %d, want 1", n)
		}
		role := Role(v.U8())
		if c.HasRole && role != c.Role {
			// RFC 9234 §4.2: multiple Role capabilities that disagree.
			return resetErr(CodeOpen, SubRoleMismatch, nil, fmt.Sprintf("BGP Role capabilities disagree: %v and %v", c.Role, role))
		}
		c.HasRole, c.Role = true, role
	case CapGracefulRestart: // RFC 4724 §3: flags+time, then 4-byte family entries
		if n < 2 || (n-2)%4 != 0 {
			return malformedCap(code, "length %d is not 2 + a multiple of 4", n)
		}
		ft := v.U16()
		c.GracefulRestart.Present = true
		c.GracefulRestart.Flags = uint8(ft >> 12)
		c.GracefulRestart.Time = ft & 0x0fff
		c.GracefulRestart.Families = c.GracefulRestart.Families[:0]
		for !v.Empty() {
			afi := AFI(v.U16())
			safi := SAFI(v.U8())
			c.GracefulRestart.Families = append(c.GracefulRestart.Families, GRFamily{Family: Family{afi, safi}, Flags: v.U8()})
		}
	case CapAS4: // RFC 6793 §3: the 4-octet AS
		if n != 4 {
			return malformedCap(code, "length %d, want 4", n)
		}
		c.HasAS4, c.AS4 = true, v.U32()
	case CapAddPath: // RFC 7911 §4: one or more 4-byte tuples
		if n == 0 || n%4 != 0 {
			return malformedCap(code, "length %d is not a positive multiple of 4", n)
		}
		keep := len(c.AddPath)
		for !v.Empty() {
			afi := AFI(v.U16())
			safi := SAFI(v.U8())
			mode := AddPathMode(v.U8())
			if mode < AddPathReceive || mode > AddPathBoth {
				c.AddPath = c.AddPath[:keep]
				c.Unknown = append(c.Unknown, RawCapability{Code: code, Value: c.save(value)})
				return nil
			}
			c.AddPath = append(c.AddPath, AddPathFamily{Family: Family{afi, safi}, Mode: mode})
		}
	case CapLongLivedGR: // RFC 9494 §3: zero or more 7-byte tuples
		if n%7 != 0 {
			return malformedCap(code, "length %d is not a multiple of 7", n)
		}
		c.LongLivedGR.Present = true
		for !v.Empty() {
			afi := AFI(v.U16())
			safi := SAFI(v.U8())
			flags := v.U8()
			c.LongLivedGR.Families = append(c.LongLivedGR.Families, GRFamily{Family: Family{afi, safi}, Flags: flags, StaleTime: v.U24()})
		}
	case CapFQDN: // hostname length, hostname, domain length, domain
		host := v.Bytes(int(v.U8()))
		dom := v.Bytes(int(v.U8()))
		if !v.Ok() || !v.Empty() {
			return malformedCap(code, "hostname and domain name do not fill length %d", n)
		}
		c.FQDN = FQDN{Present: true, Hostname: c.save(host), Domain: c.save(dom)}
	default:
		c.Unknown = append(c.Unknown, RawCapability{Code: code, Value: c.save(value)})
	}
	return nil
}

// Append appends c as capability TLVs in ascending code order, then the unknown ones in
// their order. Lists too long for one capability (ADD-PATH, extended next hop, LLGR) are
// split over several instances, which RFC 5492 §4 allows. It fails when a value that cannot
// be split exceeds 255 bytes.
func (c *Capabilities) Append(dst []byte) ([]byte, error) {
	for _, f := range c.Multiprotocol {
		dst = append(dst, CapMultiprotocol, 4)
		dst = binary.BigEndian.AppendUint16(dst, uint16(f.AFI))
		dst = append(dst, 0, uint8(f.SAFI))
	}
	if c.RouteRefresh {
		dst = append(dst, CapRouteRefresh, 0)
	}
	dst = appendSplit(dst, CapExtendedNextHop, 6, c.ExtendedNextHop, func(b []byte, t ExtNextHop) []byte {
		b = binary.BigEndian.AppendUint16(b, uint16(t.AFI))
		b = binary.BigEndian.AppendUint16(b, t.SAFI)
		return binary.BigEndian.AppendUint16(b, uint16(t.NextHopAFI))
	})
	if c.ExtendedMessage {
		dst = append(dst, CapExtendedMessage, 0)
	}
	if c.HasRole {
		dst = append(dst, CapRole, 1, uint8(c.Role))
	}
	if gr := &c.GracefulRestart; gr.Present {
		n := 2 + 4*len(gr.Families)
		if n > maxCapValue {
			return dst, fmt.Errorf("%w: graceful restart capability with %d families", ErrMessageTooLong, len(gr.Families))
		}
		dst = append(dst, CapGracefulRestart, uint8(n))
		dst = binary.BigEndian.AppendUint16(dst, uint16(gr.Flags&0xf)<<12|gr.Time&0x0fff)
		for _, f := range gr.Families {
			dst = binary.BigEndian.AppendUint16(dst, uint16(f.Family.AFI))
			dst = append(dst, uint8(f.Family.SAFI), f.Flags)
		}
	}
	if c.HasAS4 {
		dst = append(dst, CapAS4, 4)
		dst = binary.BigEndian.AppendUint32(dst, c.AS4)
	}
	dst = appendSplit(dst, CapAddPath, 4, c.AddPath, func(b []byte, t AddPathFamily) []byte {
		b = binary.BigEndian.AppendUint16(b, uint16(t.Family.AFI))
		return append(b, uint8(t.Family.SAFI), uint8(t.Mode))
	})
	if c.EnhancedRouteRefresh {
		dst = append(dst, CapEnhancedRouteRefresh, 0)
	}
	if c.LongLivedGR.Present {
		if len(c.LongLivedGR.Families) == 0 {
			dst = append(dst, CapLongLivedGR, 0)
		}
		dst = appendSplit(dst, CapLongLivedGR, 7, c.LongLivedGR.Families, func(b []byte, t GRFamily) []byte {
			b = binary.BigEndian.AppendUint16(b, uint16(t.Family.AFI))
			b = append(b, uint8(t.Family.SAFI), t.Flags)
			return append(b, uint8(t.StaleTime>>16), uint8(t.StaleTime>>8), uint8(t.StaleTime))
		})
	}
	if q := &c.FQDN; q.Present {
		if len(q.Hostname) > 255 || len(q.Domain) > 255 || 2+len(q.Hostname)+len(q.Domain) > maxCapValue {
			return dst, fmt.Errorf("%w: FQDN capability of %d+%d bytes", ErrMessageTooLong, len(q.Hostname), len(q.Domain))
		}
		dst = append(dst, CapFQDN, uint8(2+len(q.Hostname)+len(q.Domain)), uint8(len(q.Hostname)))
		dst = append(dst, q.Hostname...)
		dst = append(dst, uint8(len(q.Domain)))
		dst = append(dst, q.Domain...)
	}
	for _, u := range c.Unknown {
		if len(u.Value) > maxCapValue {
			return dst, fmt.Errorf("%w: capability %d of %d bytes", ErrMessageTooLong, u.Code, len(u.Value))
		}
		dst = append(dst, u.Code, uint8(len(u.Value)))
		dst = append(dst, u.Value...)
	}
	return dst, nil
}

// appendSplit appends items as instances of capability code, each holding as many
// size-byte items as fit in 255 bytes.
func appendSplit[T any](dst []byte, code uint8, size int, items []T, enc func([]byte, T) []byte) []byte {
	per := maxCapValue / size
	for len(items) > 0 {
		k := min(per, len(items))
		dst = append(dst, code, uint8(k*size))
		for _, t := range items[:k] {
			dst = enc(dst, t)
		}
		items = items[k:]
	}
	return dst
}

// Equal reports whether c and d announce the same capabilities, list order included.
func (c *Capabilities) Equal(d *Capabilities) bool {
	return slices.Equal(c.Multiprotocol, d.Multiprotocol) &&
		c.RouteRefresh == d.RouteRefresh &&
		slices.Equal(c.ExtendedNextHop, d.ExtendedNextHop) &&
		c.ExtendedMessage == d.ExtendedMessage &&
		c.HasRole == d.HasRole && c.Role == d.Role &&
		c.GracefulRestart.Present == d.GracefulRestart.Present &&
		c.GracefulRestart.Flags == d.GracefulRestart.Flags &&
		c.GracefulRestart.Time == d.GracefulRestart.Time &&
		slices.Equal(c.GracefulRestart.Families, d.GracefulRestart.Families) &&
		c.HasAS4 == d.HasAS4 && c.AS4 == d.AS4 &&
		slices.Equal(c.AddPath, d.AddPath) &&
		c.EnhancedRouteRefresh == d.EnhancedRouteRefresh &&
		c.LongLivedGR.Present == d.LongLivedGR.Present &&
		slices.Equal(c.LongLivedGR.Families, d.LongLivedGR.Families) &&
		c.FQDN.Present == d.FQDN.Present &&
		bytes.Equal(c.FQDN.Hostname, d.FQDN.Hostname) &&
		bytes.Equal(c.FQDN.Domain, d.FQDN.Domain) &&
		slices.EqualFunc(c.Unknown, d.Unknown, func(a, b RawCapability) bool {
			return a.Code == b.Code && bytes.Equal(a.Value, b.Value)
		})
}

// Require checks that c (what the peer announced) includes everything in want (what local
// policy insists on) and returns nil or a session-reset *Error with the NOTIFICATION to
// refuse the session with:
//   - a required BGP Role is absent (RFC 9234 §4.2, strict mode): 2/11 Role Mismatch;
//   - anything else required is absent: 2/7 Unsupported Capability, whose data lists the
//     missing capabilities as TLVs (RFC 5492 §3).
//
// Considered are the multiprotocol families, route refresh, enhanced route refresh,
// extended message, 4-octet AS, graceful restart and LLGR presence, ADD-PATH families (any
// mode), extended next hop tuples, FQDN presence and unknown capabilities by code.
func (c *Capabilities) Require(want *Capabilities) error {
	if want.HasRole && !c.HasRole {
		return resetErr(CodeOpen, SubRoleMismatch, nil, "the peer sent no BGP Role capability")
	}
	var miss Capabilities
	for _, f := range want.Multiprotocol {
		if !c.HasFamily(f) {
			miss.Multiprotocol = append(miss.Multiprotocol, f)
		}
	}
	miss.RouteRefresh = want.RouteRefresh && !c.RouteRefresh
	miss.EnhancedRouteRefresh = want.EnhancedRouteRefresh && !c.EnhancedRouteRefresh
	miss.ExtendedMessage = want.ExtendedMessage && !c.ExtendedMessage
	if want.HasAS4 && !c.HasAS4 {
		miss.HasAS4, miss.AS4 = true, want.AS4
	}
	if want.GracefulRestart.Present && !c.GracefulRestart.Present {
		miss.GracefulRestart = want.GracefulRestart
	}
	if want.LongLivedGR.Present && !c.LongLivedGR.Present {
		miss.LongLivedGR = want.LongLivedGR
	}
	for _, t := range want.AddPath {
		if c.AddPathFor(t.Family) == 0 {
			miss.AddPath = append(miss.AddPath, t)
		}
	}
	for _, t := range want.ExtendedNextHop {
		if !slices.Contains(c.ExtendedNextHop, t) {
			miss.ExtendedNextHop = append(miss.ExtendedNextHop, t)
		}
	}
	if want.FQDN.Present && !c.FQDN.Present {
		miss.FQDN = want.FQDN
	}
	for _, u := range want.Unknown {
		if !slices.ContainsFunc(c.Unknown, func(v RawCapability) bool { return v.Code == u.Code }) {
			miss.Unknown = append(miss.Unknown, u)
		}
	}
	if miss.Equal(&Capabilities{}) {
		return nil
	}
	data, _ := miss.Append(nil) // a value too long to encode is cut short
	e := resetErr(CodeOpen, SubUnsupportedCapability, nil, "the peer lacks required capabilities")
	e.Data = data
	return e
}

// CapabilityName returns a short name for a capability code, for logs.
func CapabilityName(code uint8) string {
	switch code {
	case CapMultiprotocol:
		return "multiprotocol"
	case CapRouteRefresh:
		return "route-refresh"
	case CapExtendedNextHop:
		return "extended-nexthop"
	case CapExtendedMessage:
		return "extended-message"
	case CapRole:
		return "role"
	case CapGracefulRestart:
		return "graceful-restart"
	case CapAS4:
		return "4-octet-as"
	case CapAddPath:
		return "add-path"
	case CapEnhancedRouteRefresh:
		return "enhanced-route-refresh"
	case CapLongLivedGR:
		return "long-lived-graceful-restart"
	case CapFQDN:
		return "fqdn"
	}
	return fmt.Sprintf("capability-%d", code)
}
