package proto

import "net/netip"

// Message types (RFC 4271 §4.1, RFC 2918).
const (
	MsgOpen         uint8 = 1
	MsgUpdate       uint8 = 2
	MsgNotification uint8 = 3
	MsgKeepalive    uint8 = 4
	MsgRouteRefresh uint8 = 5
)

// Message size limits (RFC 4271 §4.1, RFC 8654).
const (
	HeaderLen          = 19
	MaxMessageLen      = 4096
	MaxExtendedMessage = 65535
)

// Path attribute type codes.
const (
	AttrOrigin           uint8 = 1
	AttrASPath           uint8 = 2
	AttrNextHop          uint8 = 3
	AttrMED              uint8 = 4
	AttrLocalPref        uint8 = 5
	AttrAtomicAggregate  uint8 = 6
	AttrAggregator       uint8 = 7
	AttrCommunities      uint8 = 8
	AttrOriginatorID     uint8 = 9
	AttrClusterList      uint8 = 10
	AttrMPReach          uint8 = 14
	AttrMPUnreach        uint8 = 15
	AttrExtCommunities   uint8 = 16
	AttrAS4Path          uint8 = 17
	AttrAS4Aggregator    uint8 = 18
	AttrLargeCommunities uint8 = 32
	AttrOTC              uint8 = 35
)

// Path attribute flags (RFC 4271 §4.3).
const (
	FlagOptional   uint8 = 0x80
	FlagTransitive uint8 = 0x40
	FlagPartial    uint8 = 0x20
	FlagExtLen     uint8 = 0x10
)

// ORIGIN values.
const (
	OriginIGP        uint8 = 0
	OriginEGP        uint8 = 1
	OriginIncomplete uint8 = 2
)

// AS_PATH segment types (RFC 4271, RFC 5065).
const (
	SegSet       uint8  = 1
	SegSequence  uint8  = 2
	SegConfedSeq uint8  = 3
	SegConfedSet uint8  = 4
	ASTrans      uint32 = 23456 // RFC 6793
)

// AttrMask has bit t set for path attribute type t (all known types are below 64).
type AttrMask uint64

// Has reports whether type t is in the mask.
func (m AttrMask) Has(t uint8) bool { return t < 64 && m&(1<<t) != 0 }

// Set adds type t to the mask (types of 64 and above are not representable and ignored).
func (m *AttrMask) Set(t uint8) {
	if t < 64 {
		*m |= 1 << t
	}
}

// Clear removes type t from the mask.
func (m *AttrMask) Clear(t uint8) {
	if t < 64 {
		*m &^= 1 << t
	}
}

// ASPath is an AS_PATH in wire form with 4-octet AS numbers: a run of segments, each a
// type byte, a count byte and count 4-byte ASNs. It aliases either the message or the
// owning Attrs' scratch buffer (after RFC 6793 conversion from a 2-octet peer).
type ASPath []byte

// Aggregator is the AGGREGATOR attribute with a 4-octet AS.
type Aggregator struct {
	AS   uint32
	Addr netip.Addr
}

// RawAttr is a path attribute fanout passes through without interpreting it: an unknown
// optional transitive attribute (RFC 4271 §5). Value aliases the message.
type RawAttr struct {
	Flags uint8
	Type  uint8
	Value []byte
}

// MPReach is MP_REACH_NLRI (RFC 4760 §3). NextHop is the global next hop; LinkLocal is the
// IPv6 link-local next hop when 32 bytes were sent (RFC 2545). For VPN families the next
// hop's zero RD is stripped. NLRI aliases the message.
type MPReach struct {
	Family    Family
	NextHop   netip.Addr
	LinkLocal netip.Addr
	NLRI      []byte
}

// MPUnreach is MP_UNREACH_NLRI (RFC 4760 §4). NLRI aliases the message.
type MPUnreach struct {
	Family Family
	NLRI   []byte
}

// Attrs is the decoded path attributes of one UPDATE. It is owned by the caller and reused
// from message to message: decoding resets it and fills it without allocating beyond the
// growth of its own buffers. Variable-length fields alias the message (or scratch) and are
// valid until the message buffer or the Attrs is reused.
//
// Present says which attributes were received and kept; an attribute dropped by RFC 7606
// attribute discard is cleared from Present and set in Discarded.
type Attrs struct {
	Present   AttrMask
	Discarded AttrMask

	Origin           uint8
	ASPath           ASPath
	NextHop          netip.Addr // NEXT_HOP (type 3), IPv4
	MED              uint32
	LocalPref        uint32
	Aggregator       Aggregator
	Communities      []byte // 4-byte values
	OriginatorID     netip.Addr
	ClusterList      []byte // 4-byte cluster ids
	ExtCommunities   []byte // 8-byte values
	LargeCommunities []byte // 12-byte values
	OTC              uint32 // Only To Customer (RFC 9234)
	MPReach          MPReach
	MPUnreach        MPUnreach
	Unknown          []RawAttr // optional transitive attributes fanout does not know

	scratch []byte // RFC 6793 path conversion buffer, reused
}

// AddPathMask says for which families ADD-PATH path identifiers are carried in one
// direction (bit i for the i-th entry of the supported families list).
type AddPathMask uint8

// Bit positions of AddPathMask.
func addPathBit(f Family) AddPathMask {
	switch f {
	case IPv4Unicast:
		return 1
	case IPv6Unicast:
		return 2
	case VPNv4:
		return 4
	case VPNv6:
		return 8
	}
	return 0
}

// Has reports whether path identifiers are carried for f.
func (m AddPathMask) Has(f Family) bool { return m&addPathBit(f) != 0 }

// Set marks f as carrying path identifiers.
func (m *AddPathMask) Set(f Family) { *m |= addPathBit(f) }

// SessionOptions are what capability negotiation decided for one session direction; the
// decoder and the encoder need them to read and write UPDATE messages.
type SessionOptions struct {
	AS4             bool        // both sides announced 4-octet AS (RFC 6793)
	AddPath         AddPathMask // families with ADD-PATH path identifiers in this direction
	ExtendedMessage bool        // RFC 8654: messages up to 65535 bytes
	EBGP            bool        // the peer is external (affects LOCAL_PREF handling, RFC 7606 §7.5)
}

// MaxLen returns the largest message size allowed on the session.
func (o *SessionOptions) MaxLen() int {
	if o.ExtendedMessage {
		return MaxExtendedMessage
	}
	return MaxMessageLen
}

// Update is one decoded UPDATE message (RFC 4271 §4.3). Withdrawn and NLRI are the IPv4
// unicast fields, aliasing the message; other families travel in Attrs.MPReach and
// Attrs.MPUnreach. It is owned by the caller and reused.
type Update struct {
	Withdrawn []byte
	NLRI      []byte
	Attrs     Attrs
}
