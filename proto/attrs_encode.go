package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// ErrAttrTooLong reports a path attribute whose value exceeds the 65535 bytes an attribute
// length field can describe (RFC 4271 §4.3). It can only happen with hand-built Attrs or
// with an AS_PATH that grew when a 2-octet path was widened to 4-octet ASNs.
var ErrAttrTooLong = errors.New("path attribute value longer than 65535 bytes")

// Flags each known attribute is sent with (RFC 4271 §5, RFC 4456, RFC 4360, RFC 6793,
// RFC 8092, RFC 9234). The extended-length bit is added by the encoder when needed.
const (
	encWellKnown   = FlagTransitive                // ORIGIN, AS_PATH, NEXT_HOP, LOCAL_PREF, ATOMIC_AGGREGATE
	encOptTrans    = FlagOptional | FlagTransitive // AGGREGATOR, COMMUNITIES, EXT/LARGE COMMUNITIES, AS4_*, OTC
	encOptNonTrans = FlagOptional                  // MED, ORIGINATOR_ID, CLUSTER_LIST, MP_REACH, MP_UNREACH
)

// encodedTypes are the attribute types AppendAttrs writes from Attrs' own fields, in the
// order it writes them. Unknown attributes carrying one of these types (or MP_REACH /
// MP_UNREACH, which the builder owns) are never re-emitted from Attrs.Unknown.
var encodedTypes = [...]uint8{
	AttrOrigin, AttrASPath, AttrNextHop, AttrMED, AttrLocalPref, AttrAtomicAggregate,
	AttrAggregator, AttrCommunities, AttrOriginatorID, AttrClusterList, AttrExtCommunities,
	AttrAS4Path, AttrAS4Aggregator, AttrLargeCommunities, AttrOTC,
}

// ownedTypes has a bit for every type AppendAttrs or the builder writes itself.
var ownedTypes = func() AttrMask {
	var m AttrMask
	for _, t := range encodedTypes {
		m.Set(t)
	}
	m.Set(AttrMPReach)
	m.Set(AttrMPUnreach)
	return m
}()

// AppendAttrs appends the wire encoding of every path attribute present in a (a.Present),
// except MP_REACH_NLRI and MP_UNREACH_NLRI, which the UpdateBuilder adds per message.
// opts says how the receiving session encodes AS numbers; only opts.AS4 is read.
//
// The encoding is canonical: two Attrs with the same Present set and equal values in the
// present fields produce identical bytes whatever order they were decoded in, so the RIB
// interns attribute sets on this byte string. Canonical means:
//   - attributes in ascending type order (RFC 4271 §5 SHOULD), unknown ones merged in by
//     type (ties keep their order in a.Unknown);
//   - each known attribute with the flags its RFC prescribes, never Partial;
//   - the extended-length flag exactly when the value exceeds 255 bytes;
//   - unknown attributes (a.Unknown) re-emitted only when optional transitive, with flags
//     Optional|Transitive|Partial: a speaker passing on an unrecognized optional
//     transitive attribute sets Partial (RFC 4271 §5, §9). Unknown entries that are not
//     optional transitive, or whose type fanout encodes itself, are not emitted;
//   - a.Discarded and the values of absent fields are ignored.
//
// On a 2-octet session (opts.AS4 false, RFC 6793 §4.2.2) AS_PATH carries AS_TRANS for
// every ASN above 65535, and AS4_PATH (the path without confederation segments, RFC 6793
// §3) follows only when such an ASN occurs outside a confederation segment; AGGREGATOR
// carries AS_TRANS and AS4_AGGREGATOR the real ASN likewise. On a 4-octet session neither
// AS4 attribute is sent.
//
// It does not allocate beyond growing dst. An attribute value over 65535 bytes yields
// ErrAttrTooLong (wrapped with the type) and dst unchanged.
func AppendAttrs(dst []byte, a *Attrs, opts *SessionOptions) ([]byte, error) {
	start := len(dst)
	e := attrEncoder{a: a, as4: opts == nil || opts.AS4}
	if len(a.Unknown) == 0 {
		dst = e.appendKnown(dst, 0, 256)
	} else {
		// Merge a.Unknown in by type, in (type, index) order, without sorting it.
		u := unknownCursor{list: a.Unknown, last: -1}
		from := 0
		for i := u.next(); i >= 0; i = u.next() {
			ra := &a.Unknown[i]
			u.last, u.lastTyp = i, ra.Type
			if ownedTypes.Has(ra.Type) || ra.Flags&encOptTrans != encOptTrans {
				continue
			}
			dst = e.appendKnown(dst, from, int(ra.Type))
			from = int(ra.Type)
			dst = appendRawAttr(dst, true, encOptTrans|FlagPartial, ra.Type, ra.Value, &e.err)
		}
		dst = e.appendKnown(dst, from, 256)
	}
	if e.err != nil {
		return dst[:start], e.err
	}
	return dst, nil
}

// attrEncoder is the state of one AppendAttrs call.
type attrEncoder struct {
	a   *Attrs
	as4 bool
	err error
}

// typeSpan returns the mask of the attribute types t with from <= t < to (every type
// fanout encodes is below 64).
func typeSpan(from, to int) AttrMask {
	var m AttrMask
	if from < 64 {
		m = ^AttrMask(0) << max(from, 0)
	}
	if to < 64 {
		m &^= ^AttrMask(0) << max(to, 0)
	}
	return m
}

// appendKnown appends the attributes AppendAttrs writes from Attrs' own fields whose type
// t satisfies from <= t < to, in ascending type order. Straight-line code: this is the hot
// path of encoding.
func (e *attrEncoder) appendKnown(dst []byte, from, to int) []byte {
	a := e.a
	p := a.Present
	span := typeSpan(from, to)
	in := func(t uint8) bool { return (p & span).Has(t) }
	if in(AttrOrigin) {
		dst = append(dst, encWellKnown, AttrOrigin, 1, a.Origin)
	}
	if in(AttrASPath) {
		at := len(dst)
		dst = append(dst, encWellKnown, AttrASPath, 0)
		if e.as4 {
			dst = append(dst, a.ASPath...)
		} else {
			dst = appendPath2(dst, a.ASPath)
		}
		dst = finishAttr(dst, at, &e.err)
	}
	if in(AttrNextHop) {
		dst = appendAddr4(append(dst, encWellKnown, AttrNextHop, 4), a.NextHop)
	}
	if in(AttrMED) {
		dst = appendU32Attr(dst, encOptNonTrans, AttrMED, a.MED)
	}
	if in(AttrLocalPref) {
		dst = appendU32Attr(dst, encWellKnown, AttrLocalPref, a.LocalPref)
	}
	if in(AttrAtomicAggregate) {
		dst = append(dst, encWellKnown, AttrAtomicAggregate, 0)
	}
	if in(AttrAggregator) {
		if as := a.Aggregator.AS; e.as4 {
			dst = append(dst, encOptTrans, AttrAggregator, 8, byte(as>>24), byte(as>>16), byte(as>>8), byte(as))
		} else {
			as2 := as2(as)
			dst = append(dst, encOptTrans, AttrAggregator, 6, byte(as2>>8), byte(as2))
		}
		dst = appendAddr4(dst, a.Aggregator.Addr)
	}
	if in(AttrCommunities) {
		dst = appendRawAttr(dst, true, encOptTrans, AttrCommunities, a.Communities, &e.err)
	}
	if in(AttrOriginatorID) {
		dst = appendAddr4(append(dst, encOptNonTrans, AttrOriginatorID, 4), a.OriginatorID)
	}
	if in(AttrClusterList) {
		dst = appendRawAttr(dst, true, encOptNonTrans, AttrClusterList, a.ClusterList, &e.err)
	}
	if in(AttrExtCommunities) {
		dst = appendRawAttr(dst, true, encOptTrans, AttrExtCommunities, a.ExtCommunities, &e.err)
	}
	if !e.as4 {
		if span.Has(AttrAS4Path) && p.Has(AttrASPath) && needAS4Path(a.ASPath) {
			at := len(dst)
			dst = appendAS4Path(append(dst, encOptTrans, AttrAS4Path, 0), a.ASPath)
			dst = finishAttr(dst, at, &e.err)
		}
		if span.Has(AttrAS4Aggregator) && p.Has(AttrAggregator) && a.Aggregator.AS > 0xffff {
			as := a.Aggregator.AS
			dst = append(dst, encOptTrans, AttrAS4Aggregator, 8, byte(as>>24), byte(as>>16), byte(as>>8), byte(as))
			dst = appendAddr4(dst, a.Aggregator.Addr)
		}
	}
	if in(AttrLargeCommunities) {
		dst = appendRawAttr(dst, true, encOptTrans, AttrLargeCommunities, a.LargeCommunities, &e.err)
	}
	if in(AttrOTC) {
		dst = appendU32Attr(dst, encOptTrans, AttrOTC, a.OTC)
	}
	return dst
}

// appendU32Attr appends an attribute with a 4-byte value in one append.
func appendU32Attr(dst []byte, flags, typ uint8, v uint32) []byte {
	return append(dst, flags, typ, 4, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// finishAttr completes an attribute whose header was appended at dst[at:at+3] with a
// one-byte length placeholder and whose value follows: it fills in the length and, when
// the value exceeds 255 bytes, moves the value up one byte to make room for a two-byte
// length and sets the extended-length flag.
func finishAttr(dst []byte, at int, err *error) []byte {
	vlen := len(dst) - at - 3
	if vlen <= 0xff {
		dst[at+2] = byte(vlen)
		return dst
	}
	if vlen > 0xffff {
		if *err == nil {
			*err = fmt.Errorf("attribute type %d: %w", dst[at+1], ErrAttrTooLong)
		}
		return dst[:at]
	}
	dst = append(dst, 0)
	copy(dst[at+4:], dst[at+3:len(dst)-1])
	dst[at] |= FlagExtLen
	binary.BigEndian.PutUint16(dst[at+2:], uint16(vlen))
	return dst
}

// appendAttrHeader appends an attribute header for a value of vlen bytes (at most 65535),
// using the extended-length form exactly when vlen exceeds 255.
func appendAttrHeader(dst []byte, flags, typ uint8, vlen int) []byte {
	if vlen > 0xff {
		return append(dst, flags|FlagExtLen, typ, byte(vlen>>8), byte(vlen))
	}
	return append(dst, flags&^FlagExtLen, typ, byte(vlen))
}

// attrHeaderLen is the header size appendAttrHeader writes for a value of vlen bytes.
func attrHeaderLen(vlen int) int {
	if vlen > 0xff {
		return 4
	}
	return 3
}

func appendRawAttr(dst []byte, present bool, flags, typ uint8, v []byte, err *error) []byte {
	if !present {
		return dst
	}
	if len(v) > 0xffff {
		if *err == nil {
			*err = fmt.Errorf("attribute type %d: %w", typ, ErrAttrTooLong)
		}
		return dst
	}
	return append(appendAttrHeader(dst, flags, typ, len(v)), v...)
}

// appendAddr4 appends a's four bytes; an address that is not IPv4 (or IPv4-mapped IPv6)
// is written as 0.0.0.0 rather than panicking.
func appendAddr4(dst []byte, a netip.Addr) []byte {
	if !a.Is4() {
		if a = a.Unmap(); !a.Is4() {
			return append(dst, 0, 0, 0, 0)
		}
	}
	b := a.As4()
	return append(dst, b[0], b[1], b[2], b[3])
}

// as2 maps a 4-octet ASN to what a 2-octet speaker is sent (RFC 6793 §4.2.2).
func as2(as uint32) uint16 {
	if as > 0xffff {
		return uint16(ASTrans)
	}
	return uint16(as)
}

// appendPath2 appends the 2-octet form of a 4-octet wire AS_PATH. Segments are kept as
// they are; an ASN above 65535 becomes AS_TRANS. A truncated trailing segment (which a
// validated path never has) is dropped so the output stays well formed.
func appendPath2(dst []byte, p ASPath) []byte {
	r := NewReader(p)
	for !r.Empty() {
		typ, n := r.U8(), int(r.U8())
		seg := r.Bytes(4 * n)
		if !r.Ok() {
			break
		}
		dst = append(dst, typ, byte(n))
		for i := 0; i+4 <= len(seg); i += 4 {
			dst = binary.BigEndian.AppendUint16(dst, as2(binary.BigEndian.Uint32(seg[i:])))
		}
	}
	return dst
}

// isConfed reports whether a segment type is a confederation segment (RFC 5065).
func isConfed(typ uint8) bool { return typ == SegConfedSeq || typ == SegConfedSet }

// needAS4Path reports whether a 2-octet peer must be sent AS4_PATH: some ASN above 65535
// occurs outside a confederation segment (RFC 6793 §4.2.2, §3).
func needAS4Path(p ASPath) bool {
	r := NewReader(p)
	for !r.Empty() {
		typ, n := r.U8(), int(r.U8())
		seg := r.Bytes(4 * n)
		if !r.Ok() {
			return false
		}
		if isConfed(typ) {
			continue
		}
		for i := 0; i+4 <= len(seg); i += 4 {
			if binary.BigEndian.Uint32(seg[i:]) > 0xffff {
				return true
			}
		}
	}
	return false
}

// appendAS4Path appends the AS4_PATH value for p: its segments other than confederation
// segments, with 4-octet ASNs (RFC 6793 §3).
func appendAS4Path(dst []byte, p ASPath) []byte {
	r := NewReader(p)
	for !r.Empty() {
		typ, n := r.U8(), int(r.U8())
		seg := r.Bytes(4 * n)
		if !r.Ok() {
			break
		}
		if !isConfed(typ) {
			dst = append(append(dst, typ, byte(n)), seg...)
		}
	}
	return dst
}

// unknownCursor walks Attrs.Unknown in ascending type order (ties in list order) without
// sorting or copying it: the list is short, so each step scans it for the next entry.
type unknownCursor struct {
	list    []RawAttr
	last    int   // index of the last entry visited, -1 before the first
	lastTyp uint8 // its type
}

// next returns the index of the entry following the last emitted one in (type, index)
// order, or -1.
func (u *unknownCursor) next() int {
	best := -1
	for i := range u.list {
		t := u.list[i].Type
		if u.last >= 0 && (t < u.lastTyp || t == u.lastTyp && i <= u.last) {
			continue
		}
		if best < 0 || t < u.list[best].Type {
			best = i
		}
	}
	return best
}
