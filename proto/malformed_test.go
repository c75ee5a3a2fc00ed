package proto

import (
	"bytes"
	"testing"
)

// Builders for hand-made UPDATE bodies.

func joinB(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// attr builds a path attribute with a one-byte length.
func mkAttr(flags, typ uint8, val ...byte) []byte {
	return append([]byte{flags, typ, byte(len(val))}, val...)
}

// updBody builds an UPDATE body (after the header) from its three fields.
func updBody(withdrawn, attrs, nlri []byte) []byte {
	b := []byte{byte(len(withdrawn) >> 8), byte(len(withdrawn))}
	b = append(b, withdrawn...)
	b = append(b, byte(len(attrs)>>8), byte(len(attrs)))
	b = append(b, attrs...)
	return append(b, nlri...)
}

var (
	tOrigin = mkAttr(0x40, AttrOrigin, OriginIGP)
	tPath   = mkAttr(0x40, AttrASPath, SegSequence, 1, 0, 0, 0xfd, 0xe9) // 65001, 4-octet
	tPath2  = mkAttr(0x40, AttrASPath, SegSequence, 1, 0xfd, 0xe9)       // 65001, 2-octet
	tNH     = mkAttr(0x40, AttrNextHop, 192, 0, 2, 1)
	tLP     = mkAttr(0x40, AttrLocalPref, 0, 0, 0, 100)
	tBase   = joinB(tOrigin, tPath, tNH)
	tNLRI   = []byte{24, 10, 0, 0}
	tV6NH   = []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
)

// mpReachV6 builds an IPv6 unicast MP_REACH_NLRI with the given next hop and NLRI.
func mpReachV6(flags uint8, nh []byte, nlri ...byte) []byte {
	v := append([]byte{0, 2, 1, byte(len(nh))}, nh...)
	v = append(v, 0)
	return mkAttr(flags, AttrMPReach, append(v, nlri...)...)
}

var (
	eBGP4  = SessionOptions{AS4: true, EBGP: true}
	iBGP4  = SessionOptions{AS4: true}
	eBGP2  = SessionOptions{EBGP: true}
	apV4   = SessionOptions{AS4: true, EBGP: true, AddPath: addPathBit(IPv4Unicast)}
	apV6   = SessionOptions{AS4: true, EBGP: true, AddPath: addPathBit(IPv6Unicast)}
	as2Seq = func(asns ...uint16) []byte {
		v := []byte{SegSequence, byte(len(asns))}
		for _, a := range asns {
			v = append(v, byte(a>>8), byte(a))
		}
		return v
	}
)

type updMalformedCase struct {
	name   string
	rfc    string // the clause the case checks
	opts   SessionOptions
	msg    []byte
	action Action
	sub    uint8                // expected subcode (code is always 3, UPDATE Message Error)
	attr   uint8                // expected Error.AttrType, 0 when none
	gone   uint8                // attribute that must be in Discarded and not in Present
	check  func(*Update) string // extra check, "" when fine
}

func updMalformedCases() []updMalformedCase {
	withdrawnV4 := []byte{16, 10, 1}
	return []updMalformedCase{
		// Framing inside the UPDATE.
		{name: "body shorter than the two length fields", rfc: "RFC 4271 §6.3", opts: eBGP4, msg: []byte{0, 0, 0},
			action: ActionSessionReset, sub: SubMalformedAttrList},
		{name: "withdrawn routes length overruns the message", rfc: "RFC 7606 §4, RFC 4271 §6.3", opts: eBGP4,
			msg: []byte{0, 9, 24, 10, 0, 0, 0, 0}, action: ActionSessionReset, sub: SubMalformedAttrList},
		{name: "total path attribute length overruns the message", rfc: "RFC 7606 §4", opts: eBGP4,
			msg: append([]byte{0, 0, 0, 200}, tBase...), action: ActionSessionReset, sub: SubMalformedAttrList},
		{name: "attribute length overruns the attribute field, NLRI present", rfc: "RFC 7606 §4", opts: eBGP4,
			msg: updBody(nil, joinB(tBase, []byte{0x40, AttrLocalPref, 9, 0, 0}), tNLRI), action: ActionTreatAsWithdraw, sub: SubAttrLength, attr: AttrLocalPref},
		{name: "fewer than 3 octets left for an attribute header", rfc: "RFC 7606 §4", opts: eBGP4,
			msg: updBody(nil, joinB(tBase, []byte{0x80}), tNLRI), action: ActionTreatAsWithdraw, sub: SubAttrLength},
		{name: "attribute overrun before any NLRI is located", rfc: "RFC 7606 §4, §5", opts: eBGP4,
			msg: updBody(nil, []byte{0x80, AttrMPReach, 30, 0, 2}, nil), action: ActionSessionReset, sub: SubAttrLength},

		// NLRI syntax.
		{name: "withdrawn prefix length 33", rfc: "RFC 7606 §5.3, RFC 4271 §6.3", opts: eBGP4,
			msg: updBody([]byte{33, 1, 2, 3, 4, 5}, nil, nil), action: ActionSessionReset, sub: SubInvalidNetworkField},
		{name: "NLRI prefix length 33", rfc: "RFC 7606 §5.3", opts: eBGP4,
			msg: updBody(nil, tBase, []byte{33, 1, 2, 3, 4, 5}), action: ActionSessionReset, sub: SubInvalidNetworkField},
		{name: "truncated NLRI", rfc: "RFC 7606 §5.3", opts: eBGP4,
			msg: updBody(nil, tBase, []byte{24, 10, 0}), action: ActionSessionReset, sub: SubInvalidNetworkField},
		{name: "missing ADD-PATH path identifier in NLRI", rfc: "RFC 7911 §3, RFC 7606 §5.3", opts: apV4,
			msg: updBody(nil, tBase, []byte{0, 0, 24}), action: ActionSessionReset, sub: SubInvalidNetworkField},
		{name: "MP_REACH IPv6 prefix length 129", rfc: "RFC 7606 §5.3, RFC 4760 §7", opts: eBGP4,
			msg:    updBody(nil, joinB(tOrigin, tPath, mpReachV6(0x80, tV6NH, append([]byte{129}, make([]byte, 17)...)...)), nil),
			action: ActionSessionReset, sub: SubOptionalAttr, attr: AttrMPReach},
		{name: "MP_REACH missing ADD-PATH path identifier", rfc: "RFC 7911 §3, RFC 7606 §5.3", opts: apV6,
			msg: updBody(nil, joinB(tOrigin, tPath, mpReachV6(0x80, tV6NH, 0, 0, 0)), nil), action: ActionSessionReset, sub: SubOptionalAttr, attr: AttrMPReach},
		{name: "MP_UNREACH truncated NLRI", rfc: "RFC 7606 §5.3", opts: eBGP4,
			msg: updBody(nil, mkAttr(0x80, AttrMPUnreach, 0, 2, 1, 64, 0x20, 0x01), nil), action: ActionSessionReset, sub: SubOptionalAttr, attr: AttrMPUnreach},
		{name: "MP_REACH VPNv4 NLRI too short for label and RD", rfc: "RFC 4364 §4.3.4, RFC 7606 §5.3", opts: eBGP4,
			msg:    updBody(nil, joinB(tOrigin, tPath, mkAttr(0x80, AttrMPReach, 0, 1, 128, 12, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 1, 0, 56, 0, 0, 0x11, 10, 0, 0, 0)), nil),
			action: ActionSessionReset, sub: SubOptionalAttr, attr: AttrMPReach},

		// MP_REACH_NLRI / MP_UNREACH_NLRI.
		{name: "MP_REACH shorter than AFI and SAFI", rfc: "RFC 7606 §7.11", opts: eBGP4,
			msg: updBody(nil, joinB(tOrigin, tPath, mkAttr(0x80, AttrMPReach, 0, 2)), nil), action: ActionSessionReset, sub: SubOptionalAttr, attr: AttrMPReach},
		{name: "MP_REACH IPv6 next hop of 4 bytes", rfc: "RFC 7606 §7.11, RFC 2545 §3", opts: eBGP4,
			msg:    updBody(nil, joinB(tOrigin, tPath, mpReachV6(0x80, []byte{192, 0, 2, 1}, 32, 0x20, 0x01, 0x0d, 0xb8)), nil),
			action: ActionSessionReset, sub: SubOptionalAttr, attr: AttrMPReach},
		{name: "MP_REACH VPNv4 next hop of 8 bytes", rfc: "RFC 7606 §7.11, RFC 4364 §4.3.2", opts: eBGP4,
			msg:    updBody(nil, joinB(tOrigin, tPath, mkAttr(0x80, AttrMPReach, 0, 1, 128, 8, 0, 0, 0, 0, 192, 0, 2, 1, 0)), nil),
			action: ActionSessionReset, sub: SubOptionalAttr, attr: AttrMPReach},
		{name: "MP_REACH next hop length past the attribute", rfc: "RFC 7606 §7.11", opts: eBGP4,
			msg: updBody(nil, joinB(tOrigin, tPath, mkAttr(0x80, AttrMPReach, 0, 2, 1, 16, 0x20, 0x01)), nil), action: ActionSessionReset, sub: SubOptionalAttr, attr: AttrMPReach},
		{name: "MP_REACH appears twice", rfc: "RFC 7606 §3 (g)", opts: eBGP4,
			msg:    updBody(nil, joinB(tOrigin, tPath, mpReachV6(0x80, tV6NH, 32, 0x20, 0x01, 0x0d, 0xb8), mpReachV6(0x80, tV6NH)), nil),
			action: ActionSessionReset, sub: SubMalformedAttrList, attr: AttrMPReach},
		{name: "MP_UNREACH appears twice", rfc: "RFC 7606 §3 (g)", opts: eBGP4,
			msg:    updBody(nil, joinB(mkAttr(0x80, AttrMPUnreach, 0, 2, 1), mkAttr(0x80, AttrMPUnreach, 0, 2, 1)), nil),
			action: ActionSessionReset, sub: SubMalformedAttrList, attr: AttrMPUnreach},
		{name: "MP_REACH with the transitive flag", rfc: "RFC 7606 §3 (c)", opts: eBGP4,
			msg:    updBody(nil, joinB(tOrigin, tPath, mpReachV6(0xc0, tV6NH, 32, 0x20, 0x01, 0x0d, 0xb8)), nil),
			action: ActionTreatAsWithdraw, sub: SubAttrFlags, attr: AttrMPReach,
			check: func(u *Update) string {
				if !u.Attrs.Present.Has(AttrMPReach) {
					return "MP_REACH NLRI must stay locatable for the withdrawal"
				}
				return ""
			}},
		{name: "MP_REACH of an unsupported family (IPv4 flowspec)", rfc: "RFC 4760 §7, fanout policy", opts: eBGP4,
			msg:    updBody(nil, joinB(tOrigin, tPath, mkAttr(0x80, AttrMPReach, 0, 1, 133, 0, 0, 3, 1, 2, 3)), nil),
			action: ActionAttributeDiscard, sub: SubOptionalAttr, attr: AttrMPReach, gone: AttrMPReach},

		// Attribute flags and unknown attributes.
		{name: "ORIGIN with the optional flag", rfc: "RFC 7606 §3 (c)", opts: eBGP4,
			msg: updBody(nil, joinB(mkAttr(0xc0, AttrOrigin, 0), tPath, tNH), tNLRI), action: ActionTreatAsWithdraw, sub: SubAttrFlags, attr: AttrOrigin},
		{name: "COMMUNITIES without the transitive flag", rfc: "RFC 7606 §3 (c)", opts: eBGP4,
			msg: updBody(nil, joinB(tBase, mkAttr(0x80, AttrCommunities, 0, 1, 0, 1)), tNLRI), action: ActionTreatAsWithdraw, sub: SubAttrFlags, attr: AttrCommunities},
		{name: "AGGREGATOR as well-known", rfc: "RFC 7606 §3 (c), §7.7", opts: eBGP4,
			msg: updBody(nil, joinB(tBase, mkAttr(0x40, AttrAggregator, 0, 0, 0xfd, 0xe9, 192, 0, 2, 9)), tNLRI), action: ActionAttributeDiscard, sub: SubAttrFlags, attr: AttrAggregator, gone: AttrAggregator},
		{name: "unrecognized well-known attribute", rfc: "RFC 4271 §6.3", opts: eBGP4,
			msg: updBody(nil, joinB(tBase, mkAttr(0x40, 99, 1, 2)), tNLRI), action: ActionSessionReset, sub: SubUnrecognizedWellKnown, attr: 99},
		{name: "unknown optional non-transitive attribute is ignored", rfc: "RFC 4271 §9", opts: eBGP4,
			msg: updBody(nil, joinB(tBase, mkAttr(0x80, 99, 1, 2)), tNLRI), action: ActionNone,
			check: func(u *Update) string {
				if len(u.Attrs.Unknown) != 0 {
					return "optional non-transitive unknown attribute kept"
				}
				return ""
			}},
		{name: "unknown optional transitive attribute is kept with its flags", rfc: "RFC 4271 §5", opts: eBGP4,
			msg: updBody(nil, joinB(tBase, mkAttr(0xe0, 99, 1, 2)), tNLRI), action: ActionNone,
			check: func(u *Update) string {
				if len(u.Attrs.Unknown) != 1 || u.Attrs.Unknown[0].Flags != 0xe0 || !bytes.Equal(u.Attrs.Unknown[0].Value, []byte{1, 2}) {
					return "unknown transitive attribute not kept as received"
				}
				return ""
			}},
		{name: "repeated ORIGIN: later occurrence discarded", rfc: "RFC 7606 §3 (g)", opts: eBGP4,
			msg: updBody(nil, joinB(tBase, mkAttr(0x40, AttrOrigin, OriginIncomplete)), tNLRI), action: ActionAttributeDiscard, sub: SubMalformedAttrList, attr: AttrOrigin,
			check: func(u *Update) string {
				if !u.Attrs.Present.Has(AttrOrigin) || u.Attrs.Origin != OriginIGP {
					return "first ORIGIN not kept"
				}
				return ""
			}},

		// Per-attribute lengths and values.
		{name: "ORIGIN length 2", rfc: "RFC 7606 §7.1", opts: eBGP4,
			msg: updBody(nil, joinB(mkAttr(0x40, AttrOrigin, 0, 0), tPath, tNH), tNLRI), action: ActionTreatAsWithdraw, sub: SubAttrLength, attr: AttrOrigin},
		{name: "ORIGIN value 3", rfc: "RFC 7606 §7.1", opts: eBGP4,
			msg: updBody(nil, joinB(mkAttr(0x40, AttrOrigin, 3), tPath, tNH), tNLRI), action: ActionTreatAsWithdraw, sub: SubInvalidOrigin, attr: AttrOrigin},
		{name: "AS_PATH segment of zero ASNs", rfc: "RFC 7606 §7.2", opts: eBGP4,
			msg: updBody(nil, joinB(tOrigin, mkAttr(0x40, AttrASPath, SegSequence, 0), tNH), tNLRI), action: ActionTreatAsWithdraw, sub: SubMalformedASPath, attr: AttrASPath},
		{name: "AS_PATH unknown segment type", rfc: "RFC 7606 §7.2", opts: eBGP4,
			msg: updBody(nil, joinB(tOrigin, mkAttr(0x40, AttrASPath, 5, 1, 0, 0, 0, 1), tNH), tNLRI), action: ActionTreatAsWithdraw, sub: SubMalformedASPath, attr: AttrASPath},
		{name: "AS_PATH segment overruns the attribute", rfc: "RFC 7606 §7.2", opts: eBGP4,
			msg: updBody(nil, joinB(tOrigin, mkAttr(0x40, AttrASPath, SegSequence, 2, 0, 0, 0, 1), tNH), tNLRI), action: ActionTreatAsWithdraw, sub: SubMalformedASPath, attr: AttrASPath},
		{name: "AS_PATH single trailing octet", rfc: "RFC 7606 §7.2", opts: eBGP4,
			msg: updBody(nil, joinB(tOrigin, mkAttr(0x40, AttrASPath, SegSequence, 1, 0, 0, 0, 1, 2), tNH), tNLRI), action: ActionTreatAsWithdraw, sub: SubMalformedASPath, attr: AttrASPath},
		{name: "2-octet AS_PATH with an odd length", rfc: "RFC 7606 §7.2", opts: eBGP2,
			msg: updBody(nil, joinB(tOrigin, mkAttr(0x40, AttrASPath, SegSequence, 2, 0, 1, 0), tNH), tNLRI), action: ActionTreatAsWithdraw, sub: SubMalformedASPath, attr: AttrASPath},
		{name: "AS_PATH confederation segment from an external peer", rfc: "RFC 7606 §7.2, RFC 5065 §5", opts: eBGP4,
			msg: updBody(nil, joinB(tOrigin, mkAttr(0x40, AttrASPath, SegConfedSeq, 1, 0, 0, 0, 1, SegSequence, 1, 0, 0, 0, 2), tNH), tNLRI), action: ActionTreatAsWithdraw, sub: SubMalformedASPath, attr: AttrASPath},
		{name: "NEXT_HOP length 5", rfc: "RFC 7606 §7.3", opts: eBGP4,
			msg: updBody(nil, joinB(tOrigin, tPath, mkAttr(0x40, AttrNextHop, 192, 0, 2, 1, 0)), tNLRI), action: ActionTreatAsWithdraw, sub: SubAttrLength, attr: AttrNextHop},
		{name: "NEXT_HOP 0.0.0.0", rfc: "RFC 4271 §6.3, RFC 7606 §7.3", opts: eBGP4,
			msg: updBody(nil, joinB(tOrigin, tPath, mkAttr(0x40, AttrNextHop, 0, 0, 0, 0)), tNLRI), action: ActionTreatAsWithdraw, sub: SubInvalidNextHop, attr: AttrNextHop},
		{name: "malformed NEXT_HOP without IPv4 NLRI is ignored", rfc: "RFC 4760 §3", opts: eBGP4,
			msg:    updBody(nil, joinB(tOrigin, tPath, mkAttr(0x40, AttrNextHop, 1, 2), mpReachV6(0x80, tV6NH, 32, 0x20, 0x01, 0x0d, 0xb8)), nil),
			action: ActionNone, gone: AttrNextHop},
		{name: "MED length 3", rfc: "RFC 7606 §7.4", opts: eBGP4,
			msg: updBody(nil, joinB(tBase, mkAttr(0x80, AttrMED, 0, 0, 1)), tNLRI), action: ActionTreatAsWithdraw, sub: SubAttrLength, attr: AttrMED},
		{name: "LOCAL_PREF from an external peer is ignored", rfc: "RFC 7606 §7.5, RFC 4271 §5.1.5", opts: eBGP4,
			msg: updBody(nil, joinB(tBase, tLP), tNLRI), action: ActionNone, gone: AttrLocalPref},
		{name: "LOCAL_PREF length 2 from an internal peer", rfc: "RFC 7606 §7.5", opts: iBGP4,
			msg: updBody(nil, joinB(tBase, mkAttr(0x40, AttrLocalPref, 0, 1)), tNLRI), action: ActionTreatAsWithdraw, sub: SubAttrLength, attr: AttrLocalPref},
		{name: "ATOMIC_AGGREGATE length 1", rfc: "RFC 7606 §7.6", opts: eBGP4,
			msg: updBody(nil, joinB(tBase, mkAttr(0x40, AttrAtomicAggregate, 0)), tNLRI), action: ActionAttributeDiscard, sub: SubAttrLength, attr: AttrAtomicAggregate, gone: AttrAtomicAggregate},
		{name: "AGGREGATOR length 7 on a 4-octet session", rfc: "RFC 7606 §7.7", opts: eBGP4,
			msg: updBody(nil, joinB(tBase, mkAttr(0xc0, AttrAggregator, 0, 0, 0xfd, 192, 0, 2, 9)), tNLRI), action: ActionAttributeDiscard, sub: SubAttrLength, attr: AttrAggregator, gone: AttrAggregator},
		{name: "AGGREGATOR length 8 on a 2-octet session", rfc: "RFC 7606 §7.7, RFC 6793 §4.2", opts: eBGP2,
			msg: updBody(nil, joinB(tOrigin, tPath2, tNH, mkAttr(0xc0, AttrAggregator, 0, 0, 0xfd, 0xe9, 192, 0, 2, 9)), tNLRI), action: ActionAttributeDiscard, sub: SubAttrLength, attr: AttrAggregator, gone: AttrAggregator},
		{name: "COMMUNITIES length 5", rfc: "RFC 7606 §7.8", opts: eBGP4,
			msg: updBody(nil, joinB(tBase, mkAttr(0xc0, AttrCommunities, 0, 1, 0, 1, 9)), tNLRI), action: ActionTreatAsWithdraw, sub: SubAttrLength, attr: AttrCommunities},
		{name: "ORIGINATOR_ID length 3", rfc: "RFC 7606 §7.9", opts: iBGP4,
			msg: updBody(nil, joinB(tBase, tLP, mkAttr(0x80, AttrOriginatorID, 1, 2, 3)), tNLRI), action: ActionTreatAsWithdraw, sub: SubAttrLength, attr: AttrOriginatorID},
		{name: "CLUSTER_LIST length 6", rfc: "RFC 7606 §7.10", opts: iBGP4,
			msg: updBody(nil, joinB(tBase, tLP, mkAttr(0x80, AttrClusterList, 1, 2, 3, 4, 5, 6)), tNLRI), action: ActionTreatAsWithdraw, sub: SubAttrLength, attr: AttrClusterList},
		{name: "EXTENDED COMMUNITIES length 12", rfc: "RFC 7606 §7.14", opts: eBGP4,
			msg: updBody(nil, joinB(tBase, mkAttr(0xc0, AttrExtCommunities, make([]byte, 12)...)), tNLRI), action: ActionTreatAsWithdraw, sub: SubAttrLength, attr: AttrExtCommunities},
		{name: "LARGE_COMMUNITY length 8", rfc: "RFC 8092 §5", opts: eBGP4,
			msg: updBody(nil, joinB(tBase, mkAttr(0xc0, AttrLargeCommunities, make([]byte, 8)...)), tNLRI), action: ActionTreatAsWithdraw, sub: SubAttrLength, attr: AttrLargeCommunities},
		{name: "OTC length 2", rfc: "RFC 9234 §5", opts: eBGP4,
			msg: updBody(nil, joinB(tBase, mkAttr(0xc0, AttrOTC, 0, 1)), tNLRI), action: ActionTreatAsWithdraw, sub: SubAttrLength, attr: AttrOTC},

		// Missing well-known attributes.
		{name: "ORIGIN missing", rfc: "RFC 7606 §3 (d)", opts: eBGP4,
			msg: updBody(nil, joinB(tPath, tNH), tNLRI), action: ActionTreatAsWithdraw, sub: SubMissingWellKnown, attr: AttrOrigin},
		{name: "AS_PATH missing with MP_REACH only", rfc: "RFC 7606 §3 (d), RFC 4760 §3", opts: eBGP4,
			msg: updBody(nil, joinB(tOrigin, mpReachV6(0x80, tV6NH, 32, 0x20, 0x01, 0x0d, 0xb8)), nil), action: ActionTreatAsWithdraw, sub: SubMissingWellKnown, attr: AttrASPath},
		{name: "NEXT_HOP missing with IPv4 NLRI", rfc: "RFC 7606 §3 (d)", opts: eBGP4,
			msg: updBody(nil, joinB(tOrigin, tPath), tNLRI), action: ActionTreatAsWithdraw, sub: SubMissingWellKnown, attr: AttrNextHop},
		{name: "LOCAL_PREF missing from an internal peer", rfc: "RFC 7606 §3 (d), RFC 4271 §5.1.5", opts: iBGP4,
			msg: updBody(nil, tBase, tNLRI), action: ActionTreatAsWithdraw, sub: SubMissingWellKnown, attr: AttrLocalPref},
		{name: "withdrawals only need no attributes", rfc: "RFC 4271 §4.3", opts: iBGP4,
			msg: updBody(withdrawnV4, nil, nil), action: ActionNone},

		// 4-octet AS (RFC 6793).
		{name: "AS4_PATH malformed from a 2-octet peer", rfc: "RFC 6793 §6, RFC 7606 §7.11", opts: eBGP2,
			msg: updBody(nil, joinB(tOrigin, tPath2, tNH, mkAttr(0xc0, AttrAS4Path, SegSequence, 0)), tNLRI), action: ActionAttributeDiscard, sub: SubMalformedASPath, attr: AttrAS4Path, gone: AttrAS4Path},
		{name: "AS4_AGGREGATOR length 6 from a 2-octet peer", rfc: "RFC 6793 §6", opts: eBGP2,
			msg: updBody(nil, joinB(tOrigin, tPath2, tNH, mkAttr(0xc0, AttrAS4Aggregator, 0, 1, 192, 0, 2, 9)), tNLRI), action: ActionAttributeDiscard, sub: SubAttrLength, attr: AttrAS4Aggregator, gone: AttrAS4Aggregator},
		{name: "AS4_PATH from a 4-octet peer is ignored", rfc: "RFC 6793 §3", opts: eBGP4,
			msg: updBody(nil, joinB(tBase, mkAttr(0xc0, AttrAS4Path, SegSequence, 1, 0, 0, 0, 7)), tNLRI), action: ActionNone, gone: AttrAS4Path,
			check: wantPath("65001")},
		{name: "AS4_PATH merged into a 2-octet AS_PATH", rfc: "RFC 6793 §4.2.3", opts: eBGP2,
			msg: updBody(nil, joinB(tOrigin, mkAttr(0x40, AttrASPath, as2Seq(65001, 23456, 23456)...), tNH,
				mkAttr(0xc0, AttrAS4Path, SegSequence, 2, 0xfa, 0x56, 0xea, 0x01, 0xfa, 0x56, 0xea, 0x02)), tNLRI),
			action: ActionNone, check: wantPath("65001 4200000001 4200000002")},
		{name: "AS4_PATH longer than AS_PATH is ignored", rfc: "RFC 6793 §4.2.3", opts: eBGP2,
			msg: updBody(nil, joinB(tOrigin, tPath2, tNH,
				mkAttr(0xc0, AttrAS4Path, SegSequence, 2, 0xfa, 0x56, 0xea, 0x01, 0xfa, 0x56, 0xea, 0x02)), tNLRI),
			action: ActionNone, gone: AttrAS4Path, check: wantPath("65001")},
		{name: "AGGREGATOR not AS_TRANS: AS4 attributes ignored", rfc: "RFC 6793 §4.2.3", opts: eBGP2,
			msg: updBody(nil, joinB(tOrigin, mkAttr(0x40, AttrASPath, as2Seq(65001, 23456)...), tNH,
				mkAttr(0xc0, AttrAggregator, 0xfd, 0xe9, 192, 0, 2, 9),
				mkAttr(0xc0, AttrAS4Aggregator, 0xfa, 0x56, 0xea, 0x01, 192, 0, 2, 9),
				mkAttr(0xc0, AttrAS4Path, SegSequence, 1, 0xfa, 0x56, 0xea, 0x01)), tNLRI),
			action: ActionNone, gone: AttrAS4Path, check: wantPath("65001 23456")},

		// Several errors: the most severe wins.
		{name: "attribute discard and treat-as-withdraw together", rfc: "RFC 7606 §3 (j)", opts: eBGP4,
			msg: updBody(nil, joinB(tBase, mkAttr(0x40, AttrAtomicAggregate, 0), mkAttr(0x80, AttrMED, 1)), tNLRI), action: ActionTreatAsWithdraw, sub: SubAttrLength, attr: AttrMED, gone: AttrAtomicAggregate},
	}
}

func wantPath(s string) func(*Update) string {
	return func(u *Update) string {
		if got := u.Attrs.ASPath.String(); got != s {
			return "AS path " + got + ", want " + s
		}
		return ""
	}
}

// TestDecodeUpdateMalformed checks the RFC 7606 classification of malformed UPDATEs.
func TestDecodeUpdateMalformed(t *testing.T) {
	cases := updMalformedCases()
	if len(cases) < 30 {
		t.Fatalf("only %d malformed cases", len(cases))
	}
	var u Update
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := DecodeUpdate(c.msg, &c.opts, &u)
			if c.action == ActionNone {
				if err != nil {
					t.Fatalf("%s: unexpected error %v", c.rfc, err)
				}
			} else {
				e, ok := AsError(err)
				if !ok {
					t.Fatalf("%s: got %v, want a *Error with action %v", c.rfc, err, c.action)
				}
				if e.Action != c.action || e.Code != CodeUpdate || e.Subcode != c.sub || (c.attr != 0 && e.AttrType != c.attr) {
					t.Fatalf("%s: got %v (action %v, %d/%d, attr %d), want action %v, 3/%d, attr %d",
						c.rfc, e, e.Action, e.Code, e.Subcode, e.AttrType, c.action, c.sub, c.attr)
				}
			}
			if c.gone != 0 && (!u.Attrs.Discarded.Has(c.gone) || u.Attrs.Present.Has(c.gone)) {
				t.Errorf("%s: attribute %d should be discarded (present %b, discarded %b)", c.rfc, c.gone, u.Attrs.Present, u.Attrs.Discarded)
			}
			if c.check != nil {
				if msg := c.check(&u); msg != "" {
					t.Errorf("%s: %s", c.rfc, msg)
				}
			}
			if c.action != ActionSessionReset {
				if msg := iterateAll(&u, &c.opts); msg != "" {
					t.Errorf("%s: %s", c.rfc, msg)
				}
			}
		})
	}
}

// iterateAll walks every NLRI field of a decoded UPDATE and reports an iteration error.
func iterateAll(u *Update, opts *SessionOptions) string {
	its := [...]NLRIIter{u.IterWithdrawn(opts), u.IterNLRI(opts), u.IterMPUnreach(opts), u.IterMPReach(opts)}
	var n NLRI
	for i := range its {
		for its[i].Next(&n) {
		}
		if err := its[i].Err(); err != nil {
			return "iteration failed after a successful decode: " + err.Error()
		}
	}
	return ""
}
