package proto

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// BGPVersion is the only protocol version fanout speaks (RFC 4271 §4.2).
const BGPVersion = 4

// Optional parameter types (RFC 5492 §4, RFC 9072 §2).
const (
	ParamCapabilities uint8 = 2
	paramExtended     uint8 = 255 // RFC 9072: Non-Ext OP Type marking the extended encoding
)

// maxShortParams is the largest capability run that fits the RFC 4271 encoding: one
// parameter (type, 1-byte length) inside a 1-byte Optional Parameters Length.
const maxShortParams = 255 - 2

// Open is a decoded OPEN message (RFC 4271 §4.2). AS is the 2-octet My Autonomous System
// field (AS_TRANS for a 4-octet AS, RFC 6793); PeerAS gives the real one. ID is the BGP
// Identifier, an IPv4-shaped value (RFC 6286).
//
// An Open is owned by its caller — typically one per session for the OPEN received and one
// for the OPEN sent — and reused; DecodeOpen resets it and never leaves it aliasing the
// message.
type Open struct {
	Version  uint8
	AS       uint16
	HoldTime uint16
	ID       netip.Addr
	Caps     Capabilities
}

// PeerAS returns the sender's autonomous system: the 4-octet AS capability when present,
// the My Autonomous System field otherwise (RFC 6793 §3).
func (o *Open) PeerAS() uint32 {
	if o.Caps.HasAS4 {
		return o.Caps.AS4
	}
	return uint32(o.AS)
}

// CheckPeerAS returns the RFC 4271 §6.2 Bad Peer AS *Error (2/2) when the OPEN's AS is not
// the configured one, nil otherwise.
func (o *Open) CheckPeerAS(want uint32) error {
	if got := o.PeerAS(); got != want {
		return resetErr(CodeOpen, SubBadPeerAS, nil, fmt.Sprintf("peer AS %d, configured %d", got, want))
	}
	return nil
}

// DecodeOpen decodes the body of an OPEN message (the bytes after the header) into o and
// validates it. Errors are session-reset *Errors carrying the NOTIFICATION to send, in the
// order of RFC 4271 §6.2:
//   - a body shorter than 10 bytes: 1/2 (Bad Message Length, §6.1), data the length field;
//   - Version not 4: 2/1 (Unsupported Version Number), data the 2-byte version 4;
//   - AS 0 in My Autonomous System or in the 4-octet AS capability: 2/2 (Bad Peer AS,
//     RFC 7607 §2);
//   - Hold Time 1 or 2: 2/6 (Unacceptable Hold Time);
//   - BGP Identifier 0: 2/3 (Bad BGP Identifier; RFC 6286 §2.1 allows any other value);
//   - optional parameters whose lengths disagree with each other or with the message, or a
//     malformed capability: 2/0 (Unspecific; §6.2 "recognized, but malformed");
//   - an optional parameter other than Capabilities: 2/4 (Unsupported Optional Parameter);
//   - BGP Role capabilities that disagree: 2/11 (Role Mismatch, RFC 9234 §4.2).
//
// Both optional parameter encodings are accepted: RFC 4271's, and RFC 9072's, recognised
// by a non-zero Optional Parameters Length followed by the type 255. Checks that need
// configuration (Bad Peer AS, an identifier equal to the local one, roles, required
// capabilities) are left to the session: see CheckPeerAS, RolesMatch, Capabilities.Require.
func DecodeOpen(body []byte, o *Open) error {
	o.Caps.Reset()
	r := NewReader(body)
	o.Version = r.U8()
	o.AS = r.U16()
	o.HoldTime = r.U16()
	id := r.U32()
	optLen := int(r.U8())
	if !r.Ok() {
		return badLength(uint16(min(HeaderLen+len(body), 0xffff)), "OPEN body shorter than 10 bytes")
	}
	o.ID = netip.AddrFrom4([4]byte{byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)})
	if o.Version != BGPVersion {
		return resetErr(CodeOpen, SubUnsupportedVersion, []byte{0, BGPVersion}, fmt.Sprintf("version %d", o.Version))
	}
	if o.AS == 0 {
		return resetErr(CodeOpen, SubBadPeerAS, nil, "My Autonomous System 0")
	}
	if o.HoldTime == 1 || o.HoldTime == 2 {
		return resetErr(CodeOpen, SubUnacceptableHoldTime, nil, fmt.Sprintf("hold time %d", o.HoldTime))
	}
	if id == 0 {
		return resetErr(CodeOpen, SubBadBGPIdentifier, nil, "BGP identifier 0")
	}

	extended := false
	if t, ok := r.Peek(); ok && optLen != 0 && t == paramExtended {
		// RFC 9072 §2: Non-Ext OP Type 255, then a 2-byte Extended Opt. Parm. Length.
		extended = true
		r.Skip(1)
		optLen = int(r.U16())
	}
	params := r.Sub(optLen)
	if !r.Ok() || !r.Empty() {
		return resetErr(CodeOpen, 0, nil, fmt.Sprintf("optional parameters length %d disagrees with the message length", optLen))
	}
	for !params.Empty() {
		typ := params.U8()
		var n int
		if extended {
			n = int(params.U16())
		} else {
			n = int(params.U8())
		}
		value := params.Bytes(n)
		if !params.Ok() {
			return resetErr(CodeOpen, 0, nil, "optional parameter overruns the optional parameters length")
		}
		if typ != ParamCapabilities {
			return resetErr(CodeOpen, SubUnsupportedOptParam, nil, fmt.Sprintf("optional parameter type %d", typ))
		}
		if err := o.Caps.Decode(value); err != nil {
			return err
		}
	}
	if o.Caps.HasAS4 && o.Caps.AS4 == 0 {
		return resetErr(CodeOpen, SubBadPeerAS, nil, "4-octet AS capability with AS 0")
	}
	return nil
}

// AppendOpen appends o as a complete OPEN message. The capabilities go in one Capabilities
// parameter, in the RFC 4271 encoding when they fit in 253 bytes and in the RFC 9072
// extended encoding otherwise (RFC 9072 §2: the extended encoding only when needed).
// On failure it returns dst with its original length (bytes past it may be scribbled on):
// when ID is not
// IPv4, a capability cannot be encoded, or the message exceeds 4096 bytes (RFC 8654 §4:
// OPEN is never extended).
func AppendOpen(dst []byte, o *Open) ([]byte, error) {
	if !o.ID.Is4() {
		return dst, fmt.Errorf("proto: OPEN identifier %v is not IPv4", o.ID)
	}
	b, start := BeginMessage(dst, MsgOpen)
	b = append(b, o.Version)
	b = binary.BigEndian.AppendUint16(b, o.AS)
	b = binary.BigEndian.AppendUint16(b, o.HoldTime)
	id := o.ID.As4()
	b = append(b, id[:]...)
	optAt := len(b)
	b = append(b, 0, ParamCapabilities, 0) // opt param length, parameter type and length
	capsAt := len(b)
	b, err := o.Caps.Append(b)
	if err != nil {
		return dst, err
	}
	n := len(b) - capsAt
	switch {
	case n == 0:
		b = b[:optAt+1]
	case n <= maxShortParams:
		b[optAt] = uint8(n + 2)
		b[optAt+2] = uint8(n)
	default:
		// Extended: 255, 255, 2-byte length, then type 2 with a 2-byte length.
		if n > MaxMessageLen {
			return dst, fmt.Errorf("%w: %d bytes of capabilities", ErrMessageTooLong, n)
		}
		b = append(b, 0, 0, 0, 0)
		copy(b[capsAt+4:], b[capsAt:capsAt+n])
		b[optAt], b[optAt+1] = 255, paramExtended
		binary.BigEndian.PutUint16(b[optAt+2:], uint16(n+3))
		b[optAt+4] = ParamCapabilities
		binary.BigEndian.PutUint16(b[optAt+5:], uint16(n))
	}
	if err := EndMessage(b, start, MaxMessageLen); err != nil {
		return dst, err
	}
	return b, nil
}

// Equal reports whether o and p carry the same fields and capabilities.
func (o *Open) Equal(p *Open) bool {
	return o.Version == p.Version && o.AS == p.AS && o.HoldTime == p.HoldTime && o.ID == p.ID &&
		o.Caps.Equal(&p.Caps)
}
