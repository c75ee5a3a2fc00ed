package proto

// Test oracle: GoBGP's decode of an UPDATE and fanout's decode are both reduced to one
// canonical, comparable form (canonUpdate), so differential tests compare with
// reflect.DeepEqual and print a readable diff.
//
// Normalisations, applied to both sides alike:
//   - prefixes are masked to their length (fanout masks host bits, RFC 4271 §4.3);
//   - a VPN label stack that is one label of value 0 or the RFC 8277 withdrawal label is
//     written as an empty stack (GoBGP keeps the raw withdrawal value);
//   - adjacent AS_SEQUENCE segments are joined (segment boundaries carry no meaning);
//   - the Extended Length flag is masked off unknown attributes (an encoding detail);
//   - for a 2-octet session the RFC 6793 §4.2.3 AS4_PATH / AS4_AGGREGATOR merge is applied
//     (GoBGP does it above its packet layer, so the oracle does it over GoBGP's values);
//     from a 4-octet session AS4_PATH and AS4_AGGREGATOR are dropped (RFC 6793 §3);
//   - unknown optional non-transitive attributes are dropped (RFC 4271 §9).

import (
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"sort"
	"strings"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// canonUpdate is the canonical form of one UPDATE.
type canonUpdate struct {
	Withdrawn map[string][]string // family name -> sorted NLRI strings
	Announced map[string][]string // family name -> sorted NLRI strings
	Attrs     []string            // sorted "NAME=value" lines, one per attribute kept
}

func (c *canonUpdate) add(m *map[string][]string, fam string, s string) {
	if *m == nil {
		*m = map[string][]string{}
	}
	(*m)[fam] = append((*m)[fam], s)
}

func (c *canonUpdate) attr(format string, a ...any) {
	c.Attrs = append(c.Attrs, fmt.Sprintf(format, a...))
}

func (c *canonUpdate) finish() canonUpdate {
	for _, m := range []map[string][]string{c.Withdrawn, c.Announced} {
		for _, v := range m {
			sort.Strings(v)
		}
	}
	sort.Strings(c.Attrs)
	return *c
}

// canonEqual reports whether a and b are equal and, if not, a readable difference.
func canonEqual(a, b canonUpdate) (bool, string) {
	if reflect.DeepEqual(a, b) {
		return true, ""
	}
	var sb strings.Builder
	diffMap := func(name string, x, y map[string][]string) {
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		for k := range keys {
			if !reflect.DeepEqual(x[k], y[k]) {
				fmt.Fprintf(&sb, "%s %s:\n  fanout %v\n  gobgp  %v\n", name, k, x[k], y[k])
			}
		}
	}
	diffMap("withdrawn", a.Withdrawn, b.Withdrawn)
	diffMap("announced", a.Announced, b.Announced)
	if !reflect.DeepEqual(a.Attrs, b.Attrs) {
		fmt.Fprintf(&sb, "attrs:\n  fanout %q\n  gobgp  %q\n", a.Attrs, b.Attrs)
	}
	return false, sb.String()
}

func canonNLRI(fam Family, prefix netip.Prefix, pathID uint32, rd []byte, labels []uint32) string {
	s := fmt.Sprintf("%s id=%d", prefix.Masked(), pathID)
	if fam.IsVPN() {
		if len(labels) == 1 && (labels[0] == 0 || labels[0] == WithdrawLabel) {
			labels = nil
		}
		s += fmt.Sprintf(" rd=%x labels=%v", rd, labels)
	}
	return s
}

// canonSeg is one AS path segment with 4-octet ASNs.
type canonSeg struct {
	typ  uint8
	asns []uint32
}

// canonPathString joins adjacent AS_SEQUENCE segments and formats the path like GoBGP.
func canonPathString(segs []canonSeg) string {
	var joined []canonSeg
	for _, s := range segs {
		if n := len(joined); n > 0 && s.typ == SegSequence && joined[n-1].typ == SegSequence {
			joined[n-1].asns = append(joined[n-1].asns, s.asns...)
			continue
		}
		joined = append(joined, canonSeg{s.typ, append([]uint32(nil), s.asns...)})
	}
	var p ASPath
	for _, s := range joined {
		p = AppendASSegment(p, s.typ, s.asns...)
	}
	return p.String()
}

// canonFromFanout reduces fanout's decode of an UPDATE. addPath says for which families
// path identifiers were decoded.
func canonFromFanout(u *Update, addPath AddPathMask) canonUpdate {
	var c canonUpdate
	iter := func(dst *map[string][]string, b []byte, fam Family) {
		it := IterNLRI(b, fam, addPath.Has(fam))
		var n NLRI
		for it.Next(&n) {
			c.add(dst, fam.String(), canonNLRI(fam, n.Prefix, n.PathID, n.RD[:], n.Labels.Labels[:n.Labels.N]))
		}
		if it.Err() != nil {
			c.add(dst, fam.String(), "ERROR "+it.Err().Error())
		}
	}
	iter(&c.Withdrawn, u.Withdrawn, IPv4Unicast)
	iter(&c.Announced, u.NLRI, IPv4Unicast)
	a := &u.Attrs
	if a.Present.Has(AttrMPUnreach) {
		iter(&c.Withdrawn, a.MPUnreach.NLRI, a.MPUnreach.Family)
		c.attr("MP_UNREACH=%s", a.MPUnreach.Family)
	}
	if a.Present.Has(AttrMPReach) {
		iter(&c.Announced, a.MPReach.NLRI, a.MPReach.Family)
		c.attr("MP_REACH=%s nh=%s ll=%s", a.MPReach.Family, canonAddr(a.MPReach.NextHop), canonAddr(a.MPReach.LinkLocal))
	}
	if a.Present.Has(AttrOrigin) {
		c.attr("ORIGIN=%d", a.Origin)
	}
	if a.Present.Has(AttrASPath) {
		var segs []canonSeg
		it := a.ASPath.Segments()
		for s, ok := it.Next(); ok; s, ok = it.Next() {
			segs = append(segs, canonSeg{s.Type, s.AppendASNs(nil)})
		}
		if it.Err() {
			segs = append(segs, canonSeg{0, nil})
		}
		c.attr("AS_PATH=%s", canonPathString(segs))
	}
	if a.Present.Has(AttrNextHop) {
		c.attr("NEXT_HOP=%s", canonAddr(a.NextHop))
	}
	if a.Present.Has(AttrMED) {
		c.attr("MED=%d", a.MED)
	}
	if a.Present.Has(AttrLocalPref) {
		c.attr("LOCAL_PREF=%d", a.LocalPref)
	}
	if a.Present.Has(AttrAtomicAggregate) {
		c.attr("ATOMIC_AGGREGATE")
	}
	if a.Present.Has(AttrAggregator) {
		c.attr("AGGREGATOR=%d %s", a.Aggregator.AS, canonAddr(a.Aggregator.Addr))
	}
	if a.Present.Has(AttrCommunities) {
		c.attr("COMMUNITIES=%s", canonWords(a.Communities, 4))
	}
	if a.Present.Has(AttrOriginatorID) {
		c.attr("ORIGINATOR_ID=%s", canonAddr(a.OriginatorID))
	}
	if a.Present.Has(AttrClusterList) {
		c.attr("CLUSTER_LIST=%s", canonWords(a.ClusterList, 4))
	}
	if a.Present.Has(AttrExtCommunities) {
		c.attr("EXT_COMMUNITIES=%s", canonExtComms(a.ExtCommunities))
	}
	if a.Present.Has(AttrLargeCommunities) {
		c.attr("LARGE_COMMUNITIES=%s", canonWords(a.LargeCommunities, 12))
	}
	if a.Present.Has(AttrOTC) {
		c.attr("OTC=%d", a.OTC)
	}
	for _, r := range a.Unknown {
		c.attr("UNKNOWN type=%d flags=%#x value=%x", r.Type, r.Flags&^FlagExtLen, r.Value)
	}
	return c.finish()
}

func canonAddr(a netip.Addr) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

func canonIP(ip net.IP) string {
	if len(ip) == 0 {
		return "-"
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return "bad-ip"
	}
	if len(ip) == 4 {
		a = a.Unmap()
	}
	return a.String()
}

// canonExtComms formats extended communities. GoBGP decodes a transitive link-bandwidth
// community (type 0x00, subtype 0x04) into a type that always re-serializes as the
// non-transitive 0x40; both sides are written as 0x40 so that quirk does not count.
func canonExtComms(b []byte) string {
	c := append([]byte(nil), b...)
	for i := 0; i+8 <= len(c); i += 8 {
		if c[i] == 0x00 && c[i+1] == 0x04 {
			c[i] = 0x40
		}
	}
	return canonWords(c, 8)
}

// canonWords formats b as hex words of size n separated by spaces.
func canonWords(b []byte, n int) string {
	var parts []string
	r := NewReader(b)
	for !r.Empty() {
		parts = append(parts, fmt.Sprintf("%x", r.Bytes(n)))
	}
	if !r.Ok() {
		parts = append(parts, "TRAILING")
	}
	return strings.Join(parts, " ")
}

// canonFromGoBGP reduces GoBGP's decode of an UPDATE, guessing the session's AS number
// size from GoBGP's AS_PATH decode (it tries 4-octet first). Use canonFromGoBGPSession
// when the session kind is known.
func canonFromGoBGP(msg *bgp.BGPMessage) canonUpdate {
	as4 := true
	if upd, ok := msg.Body.(*bgp.BGPUpdate); ok {
		for _, pa := range upd.PathAttributes {
			if p, ok := pa.(*bgp.PathAttributeAsPath); ok {
				for _, seg := range p.Value {
					if _, two := seg.(*bgp.AsPathParam); two {
						as4 = false
					}
				}
			}
		}
	}
	return canonFromGoBGPSession(msg, as4)
}

// canonFromGoBGPSession reduces GoBGP's decode of an UPDATE received on a session with
// (as4) or without 4-octet AS numbers.
func canonFromGoBGPSession(msg *bgp.BGPMessage, as4 bool) canonUpdate {
	var c canonUpdate
	upd, ok := msg.Body.(*bgp.BGPUpdate)
	if !ok {
		c.attr("NOT AN UPDATE")
		return c.finish()
	}
	for _, p := range upd.WithdrawnRoutes {
		c.add(&c.Withdrawn, IPv4Unicast.String(), canonGoBGPPrefix(IPv4Unicast, p))
	}
	for _, p := range upd.NLRI {
		c.add(&c.Announced, IPv4Unicast.String(), canonGoBGPPrefix(IPv4Unicast, p))
	}
	var (
		asPath       []canonSeg
		hasASPath    bool
		as4Path      []canonSeg
		hasAS4Path   bool
		agg, as4Agg  *bgp.PathAttributeAggregatorParam
		otherUnknown []string
	)
	for _, pa := range upd.PathAttributes {
		switch p := pa.(type) {
		case *bgp.PathAttributeOrigin:
			c.attr("ORIGIN=%d", p.Value)
		case *bgp.PathAttributeAsPath:
			hasASPath = true
			asPath = goBGPPath(p, as4)
		case *bgp.PathAttributeAs4Path:
			hasAS4Path = true
			for _, s := range p.Value {
				as4Path = append(as4Path, canonSeg{s.Type, s.AS})
			}
		case *bgp.PathAttributeNextHop:
			c.attr("NEXT_HOP=%s", canonIP(p.Value))
		case *bgp.PathAttributeMultiExitDisc:
			c.attr("MED=%d", p.Value)
		case *bgp.PathAttributeLocalPref:
			c.attr("LOCAL_PREF=%d", p.Value)
		case *bgp.PathAttributeAtomicAggregate:
			c.attr("ATOMIC_AGGREGATE")
		case *bgp.PathAttributeAggregator:
			v := p.Value
			agg = &v
		case *bgp.PathAttributeAs4Aggregator:
			v := p.Value
			as4Agg = &v
		case *bgp.PathAttributeCommunities:
			var b []byte
			for _, v := range p.Value {
				b = append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
			}
			c.attr("COMMUNITIES=%s", canonWords(b, 4))
		case *bgp.PathAttributeOriginatorId:
			c.attr("ORIGINATOR_ID=%s", canonIP(p.Value))
		case *bgp.PathAttributeClusterList:
			var b []byte
			for _, ip := range p.Value {
				b = append(b, ip.To4()...)
			}
			c.attr("CLUSTER_LIST=%s", canonWords(b, 4))
		case *bgp.PathAttributeExtendedCommunities:
			var b []byte
			for _, e := range p.Value {
				eb, err := e.Serialize()
				if err != nil || len(eb) != 8 {
					eb = []byte("ERROR!!!")
				}
				b = append(b, eb...)
			}
			c.attr("EXT_COMMUNITIES=%s", canonExtComms(b))
		case *bgp.PathAttributeLargeCommunities:
			var b []byte
			for _, l := range p.Values {
				lb, _ := l.Serialize()
				b = append(b, lb...)
			}
			c.attr("LARGE_COMMUNITIES=%s", canonWords(b, 12))
		case *bgp.PathAttributeMpReachNLRI:
			fam := Family{AFI(p.AFI), SAFI(p.SAFI)}
			for _, n := range p.Value {
				c.add(&c.Announced, fam.String(), canonGoBGPPrefix(fam, n))
			}
			c.attr("MP_REACH=%s nh=%s ll=%s", fam, canonIP(p.Nexthop), canonIP(p.LinkLocalNexthop))
		case *bgp.PathAttributeMpUnreachNLRI:
			fam := Family{AFI(p.AFI), SAFI(p.SAFI)}
			for _, n := range p.Value {
				c.add(&c.Withdrawn, fam.String(), canonGoBGPPrefix(fam, n))
			}
			c.attr("MP_UNREACH=%s", fam)
		default:
			flags, typ, value := goBGPRawAttr(pa)
			switch {
			case typ == AttrOTC && len(value) == 4:
				c.attr("OTC=%d", uint32(value[0])<<24|uint32(value[1])<<16|uint32(value[2])<<8|uint32(value[3]))
			case flags&FlagOptional != 0 && flags&FlagTransitive == 0:
				// Unknown optional non-transitive: fanout drops it (RFC 4271 §9).
			default:
				otherUnknown = append(otherUnknown, fmt.Sprintf("UNKNOWN type=%d flags=%#x value=%x", typ, flags&^FlagExtLen, value))
			}
		}
	}
	c.Attrs = append(c.Attrs, otherUnknown...)

	if !as4 {
		// RFC 6793 §4.2.3: an AGGREGATOR with an AS other than AS_TRANS means an OLD speaker
		// re-aggregated, and both AS4 attributes are ignored.
		useAS4 := agg == nil || agg.AS == ASTrans
		if useAS4 && agg != nil && as4Agg != nil {
			agg = as4Agg
		}
		if useAS4 && hasASPath && hasAS4Path {
			asPath = oracleMergeAS4(asPath, as4Path)
		}
	}
	if hasASPath {
		c.attr("AS_PATH=%s", canonPathString(asPath))
	}
	if agg != nil {
		c.attr("AGGREGATOR=%d %s", agg.AS, canonIP(agg.Address))
	}
	return c.finish()
}

// goBGPPath returns GoBGP's AS_PATH as 4-octet segments. GoBGP guesses the ASN size from
// the bytes; on a 2-octet session a path that also parses as 4-octet is re-read with
// GoBGP's 2-octet segment decoder.
func goBGPPath(p *bgp.PathAttributeAsPath, as4 bool) []canonSeg {
	var segs []canonSeg
	reread := false
	for _, s := range p.Value {
		if _, four := s.(*bgp.As4PathParam); four && !as4 {
			reread = true
		}
		segs = append(segs, canonSeg{s.GetType(), s.GetAS()})
	}
	if !reread {
		return segs
	}
	_, _, value := goBGPRawAttr(p)
	segs = nil
	for len(value) > 0 {
		var seg bgp.AsPathParam
		if err := seg.DecodeFromBytes(value); err != nil {
			return append(segs, canonSeg{0, nil})
		}
		segs = append(segs, canonSeg{seg.GetType(), seg.GetAS()})
		value = value[seg.Len():]
	}
	return segs
}

// goBGPRawAttr re-serializes a GoBGP attribute and splits its header off.
func goBGPRawAttr(pa bgp.PathAttributeInterface) (flags, typ uint8, value []byte) {
	b, err := pa.Serialize()
	if err != nil || len(b) < 3 {
		return uint8(pa.GetFlags()), uint8(pa.GetType()), []byte("SERIALIZE-ERROR")
	}
	r := NewReader(b)
	flags, typ = r.U8(), r.U8()
	if flags&FlagExtLen != 0 {
		r.U16()
	} else {
		r.U8()
	}
	return flags, typ, r.Rest()
}

// oracleMergeAS4 is the RFC 6793 §4.2.3 reconstruction written over segment lists,
// independently of fanout's byte-level merge: confederation segments of AS4_PATH are
// dropped (RFC 6793 §6); if AS_PATH has fewer ASNs than AS4_PATH, AS4_PATH is ignored;
// otherwise the leading part of AS_PATH that makes up the difference (counting per RFC
// 4271 §9.1.2.2: a set counts one, confederation segments none, and those are kept when
// leading or adjacent to a kept segment) is prepended to AS4_PATH.
func oracleMergeAS4(asPath, as4Path []canonSeg) []canonSeg {
	count := func(segs []canonSeg) int {
		n := 0
		for _, s := range segs {
			switch s.typ {
			case SegSequence:
				n += len(s.asns)
			case SegSet:
				n++
			}
		}
		return n
	}
	var tail []canonSeg
	for _, s := range as4Path {
		if s.typ == SegSequence || s.typ == SegSet {
			tail = append(tail, s)
		}
	}
	keep := count(asPath) - count(tail)
	if keep < 0 {
		return asPath
	}
	var out []canonSeg
	for _, s := range asPath {
		switch {
		case s.typ == SegConfedSeq || s.typ == SegConfedSet:
			out = append(out, s)
			continue
		case keep == 0:
		case s.typ == SegSet:
			out = append(out, s)
			keep--
			continue
		default:
			n := min(keep, len(s.asns))
			out = append(out, canonSeg{s.typ, s.asns[:n]})
			keep -= n
			if n == len(s.asns) {
				continue
			}
		}
		break
	}
	return append(out, tail...)
}

func canonGoBGPPrefix(fam Family, p bgp.AddrPrefixInterface) string {
	var (
		ip     net.IP
		bits   uint8
		rd     []byte
		labels []uint32
	)
	switch v := p.(type) {
	case *bgp.IPAddrPrefix:
		ip, bits = v.Prefix, v.Length
	case *bgp.IPv6AddrPrefix:
		ip, bits = v.Prefix, v.Length
	case *bgp.LabeledVPNIPAddrPrefix:
		ip, bits, labels = v.Prefix, v.Length-uint8(8*(v.Labels.Len()+v.RD.Len())), v.Labels.Labels
		rd, _ = v.RD.Serialize()
	case *bgp.LabeledVPNIPv6AddrPrefix:
		ip, bits, labels = v.Prefix, v.Length-uint8(8*(v.Labels.Len()+v.RD.Len())), v.Labels.Labels
		rd, _ = v.RD.Serialize()
	default:
		return fmt.Sprintf("UNSUPPORTED %T %s", p, p)
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return "BAD-PREFIX " + p.String()
	}
	if fam.AFI == AFIIPv4 {
		a = a.Unmap()
	}
	return canonNLRI(fam, netip.PrefixFrom(a, int(bits)), p.PathIdentifier(), rd, labels)
}
