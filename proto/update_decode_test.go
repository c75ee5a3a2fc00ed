package proto

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// mrtDiffFiles are the MRT captures compared with GoBGP: a 2-octet-AS one, an IPv6 one,
// recent 4-octet ones and the extended-timestamp one.
var mrtDiffFiles = []string{
	"updates.20070211.0141.routeviews-linx.gz",
	"updates.20151009.1230.routeviews-ipv6.bz2",
	"updates.20190101.0000.ris-rrc00.gz",
	"updates.20260222.1530.routeviews.bz2",
	"updates.et-header.2015.fulltable-1peer.gz",
}

// mrtOptions returns the session options a captured UPDATE was received with. MRT does
// not record whether the peer was internal; a message carrying LOCAL_PREF is taken to come
// from an internal peer (it must not come from an external one, RFC 4271 §5.1.5).
func mrtOptions(m mrtUpdate, g *bgp.BGPMessage) SessionOptions {
	opts := SessionOptions{AS4: m.AS4, EBGP: true}
	if upd, ok := g.Body.(*bgp.BGPUpdate); ok {
		for _, pa := range upd.PathAttributes {
			if _, ok := pa.(*bgp.PathAttributeLocalPref); ok {
				opts.EBGP = false
			}
		}
	}
	return opts
}

// unsupportedFamily reports whether GoBGP's decode carries a family fanout does not
// decode (fanout discards those attributes by design).
func unsupportedFamily(g *bgp.BGPMessage) bool {
	upd, ok := g.Body.(*bgp.BGPUpdate)
	if !ok {
		return false
	}
	for _, pa := range upd.PathAttributes {
		switch p := pa.(type) {
		case *bgp.PathAttributeMpReachNLRI:
			if !(Family{AFI(p.AFI), SAFI(p.SAFI)}).Supported() {
				return true
			}
		case *bgp.PathAttributeMpUnreachNLRI:
			if !(Family{AFI(p.AFI), SAFI(p.SAFI)}).Supported() {
				return true
			}
		}
	}
	return false
}

// TestDecodeMRTAgainstGoBGP decodes every UPDATE of several MRT captures with fanout and
// with GoBGP and compares the canonical forms.
func TestDecodeMRTAgainstGoBGP(t *testing.T) {
	for _, file := range mrtDiffFiles {
		t.Run(file, func(t *testing.T) {
			ups := loadMRTUpdates(t, file, 0)
			var u Update
			var compared, gobgpFailed, unsupported, fanoutErr, mismatches int
			for i, m := range ups {
				g, gerr := bgp.ParseBGPMessage(m.Msg)
				if gerr != nil {
					gobgpFailed++
					continue
				}
				if unsupportedFamily(g) {
					unsupported++
					continue
				}
				opts := mrtOptions(m, g)
				if err := DecodeUpdate(m.Body(), &opts, &u); err != nil {
					fanoutErr++
					if fanoutErr <= 5 {
						t.Errorf("message %d: fanout error %v\n%x", i, err, m.Msg)
					}
					continue
				}
				compared++
				want := canonFromGoBGPSession(g, m.AS4)
				got := canonFromFanout(&u, 0)
				if ok, diff := canonEqual(got, want); !ok {
					mismatches++
					if mismatches <= 5 {
						t.Errorf("message %d (as4=%v) differs:\n%s%x", i, m.AS4, diff, m.Msg)
					}
				}
			}
			t.Logf("%s: %d UPDATEs, %d compared equal-checked, %d mismatched, %d GoBGP could not parse (excluded), %d of families fanout does not decode (excluded), %d fanout errors",
				file, len(ups), compared, mismatches, gobgpFailed, unsupported, fanoutErr)
			if mismatches > 0 || fanoutErr > 0 {
				t.Fatalf("%d mismatches, %d fanout errors", mismatches, fanoutErr)
			}
		})
	}
}

// genFamilies are the families the generated differential test covers.
var genFamilies = []Family{IPv4Unicast, IPv6Unicast, VPNv4, VPNv6}

func genRF(f Family) bgp.RouteFamily {
	return bgp.AfiSafiToRouteFamily(uint16(f.AFI), uint8(f.SAFI))
}

// genPrefix returns a random GoBGP prefix of family f.
func genPrefix(rng *rand.Rand, f Family, addPath bool) bgp.AddrPrefixInterface {
	var a netip.Addr
	var bits int
	if f.AFI == AFIIPv4 {
		a = netip.AddrFrom4([4]byte{byte(rng.IntN(224)), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
		bits = rng.IntN(33)
	} else {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		a = netip.AddrFrom16(b)
		bits = rng.IntN(129)
	}
	s := netip.PrefixFrom(a, bits).Masked().Addr().String()
	var p bgp.AddrPrefixInterface
	if f.IsVPN() {
		labels := []uint32{16 + rng.Uint32N(1<<20-16)}
		if rng.IntN(4) == 0 {
			labels = append(labels, 16+rng.Uint32N(1<<20-16))
		}
		var rd bgp.RouteDistinguisherInterface
		switch rng.IntN(3) {
		case 0:
			rd = bgp.NewRouteDistinguisherTwoOctetAS(uint16(rng.Uint32()), rng.Uint32())
		case 1:
			rd = bgp.NewRouteDistinguisherIPAddressAS("192.0.2."+strconv.Itoa(rng.IntN(255)), uint16(rng.Uint32()))
		default:
			rd = bgp.NewRouteDistinguisherFourOctetAS(rng.Uint32(), uint16(rng.Uint32()))
		}
		if f.AFI == AFIIPv4 {
			p = bgp.NewLabeledVPNIPAddrPrefix(uint8(bits), s, *bgp.NewMPLSLabelStack(labels...), rd)
		} else {
			p = bgp.NewLabeledVPNIPv6AddrPrefix(uint8(bits), s, *bgp.NewMPLSLabelStack(labels...), rd)
		}
	} else if f.AFI == AFIIPv4 {
		p = bgp.NewIPAddrPrefix(uint8(bits), s)
	} else {
		p = bgp.NewIPv6AddrPrefix(uint8(bits), s)
	}
	if addPath {
		p.SetPathIdentifier(rng.Uint32())
	}
	return p
}

// genASN returns a random ASN, sometimes above 65535.
func genASN(rng *rand.Rand) uint32 {
	if rng.IntN(3) == 0 {
		return 65536 + rng.Uint32N(1<<31)
	}
	return 1 + rng.Uint32N(65000)
}

// genPath returns a random AS path as segments; confederation segments only on iBGP.
func genPath(rng *rand.Rand, ibgp bool) []canonSeg {
	var segs []canonSeg
	if ibgp && rng.IntN(4) == 0 {
		segs = append(segs, canonSeg{[]uint8{SegConfedSeq, SegConfedSet}[rng.IntN(2)], []uint32{genASN(rng)}})
	}
	if ibgp && rng.IntN(5) == 0 {
		return segs // possibly empty: an iBGP-originated route
	}
	for n := 1 + rng.IntN(3); n > 0; n-- {
		typ := SegSequence
		if rng.IntN(5) == 0 {
			typ = SegSet
		}
		var asns []uint32
		for k := 1 + rng.IntN(6); k > 0; k-- {
			asns = append(asns, genASN(rng))
		}
		segs = append(segs, canonSeg{typ, asns})
	}
	return segs
}

// genAttrs returns a random attribute mix as GoBGP attributes encoded for the session.
func genAttrs(rng *rand.Rand, as4, ibgp, ipv4NLRI bool) []bgp.PathAttributeInterface {
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(uint8(rng.IntN(3)))}
	path := genPath(rng, ibgp)
	if as4 {
		var ps []bgp.AsPathParamInterface
		for _, s := range path {
			ps = append(ps, bgp.NewAs4PathParam(s.typ, s.asns))
		}
		attrs = append(attrs, bgp.NewPathAttributeAsPath(ps))
	} else {
		// RFC 6793 §4.2.2: AS_TRANS in AS_PATH and the real path in AS4_PATH.
		var ps []bgp.AsPathParamInterface
		var as4 []*bgp.As4PathParam
		need4 := false
		for _, s := range path {
			var two []uint16
			for _, a := range s.asns {
				if a > 65535 {
					need4 = true
					a = ASTrans
				}
				two = append(two, uint16(a))
			}
			ps = append(ps, bgp.NewAsPathParam(s.typ, two))
			if s.typ == SegSequence || s.typ == SegSet {
				as4 = append(as4, bgp.NewAs4PathParam(s.typ, s.asns))
			}
		}
		attrs = append(attrs, bgp.NewPathAttributeAsPath(ps))
		if need4 && len(as4) > 0 {
			attrs = append(attrs, bgp.NewPathAttributeAs4Path(as4))
		}
	}
	if ipv4NLRI {
		attrs = append(attrs, bgp.NewPathAttributeNextHop(netip.AddrFrom4([4]byte{10, byte(rng.Uint32()), byte(rng.Uint32()), 1}).String()))
	}
	if rng.IntN(2) == 0 {
		attrs = append(attrs, bgp.NewPathAttributeMultiExitDisc(rng.Uint32()))
	}
	if ibgp {
		attrs = append(attrs, bgp.NewPathAttributeLocalPref(rng.Uint32()))
		if rng.IntN(2) == 0 {
			attrs = append(attrs, bgp.NewPathAttributeOriginatorId("192.0.2."+strconv.Itoa(1+rng.IntN(250))),
				bgp.NewPathAttributeClusterList([]string{"198.51.100.1", "198.51.100." + strconv.Itoa(2+rng.IntN(250))}))
		}
	}
	if rng.IntN(4) == 0 {
		attrs = append(attrs, bgp.NewPathAttributeAtomicAggregate())
	}
	if rng.IntN(3) == 0 {
		as := genASN(rng)
		switch {
		case as4:
			attrs = append(attrs, bgp.NewPathAttributeAggregator(as, "203.0.113.7"))
		case as > 65535:
			attrs = append(attrs, bgp.NewPathAttributeAggregator(uint16(ASTrans), "203.0.113.7"),
				bgp.NewPathAttributeAs4Aggregator(as, "203.0.113.7"))
		default:
			attrs = append(attrs, bgp.NewPathAttributeAggregator(uint16(as), "203.0.113.7"))
		}
	}
	if rng.IntN(2) == 0 {
		var cs []uint32
		for k := 1 + rng.IntN(8); k > 0; k-- {
			cs = append(cs, rng.Uint32())
		}
		attrs = append(attrs, bgp.NewPathAttributeCommunities(cs))
	}
	if rng.IntN(3) == 0 {
		attrs = append(attrs, bgp.NewPathAttributeExtendedCommunities([]bgp.ExtendedCommunityInterface{
			bgp.NewTwoOctetAsSpecificExtended(bgp.EC_SUBTYPE_ROUTE_TARGET, uint16(rng.Uint32()), rng.Uint32(), true),
			bgp.NewFourOctetAsSpecificExtended(bgp.EC_SUBTYPE_ROUTE_ORIGIN, rng.Uint32(), uint16(rng.Uint32()), true),
		}))
	}
	if rng.IntN(3) == 0 {
		attrs = append(attrs, bgp.NewPathAttributeLargeCommunities([]*bgp.LargeCommunity{
			bgp.NewLargeCommunity(rng.Uint32(), rng.Uint32(), rng.Uint32())}))
	}
	if rng.IntN(5) == 0 {
		v := rng.Uint32()
		attrs = append(attrs, bgp.NewPathAttributeUnknown(bgp.BGPAttrFlag(FlagOptional|FlagTransitive), bgp.BGPAttrType(AttrOTC), []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}))
	}
	if rng.IntN(5) == 0 {
		attrs = append(attrs, bgp.NewPathAttributeUnknown(bgp.BGPAttrFlag(FlagOptional|FlagTransitive|FlagPartial), 200, []byte{1, 2, 3}))
	}
	if rng.IntN(5) == 0 {
		attrs = append(attrs, bgp.NewPathAttributeUnknown(bgp.BGPAttrFlag(FlagOptional), 201, []byte{4, 5}))
	}
	return attrs
}

// genUpdate builds a random valid UPDATE of family f with GoBGP.
func genUpdate(rng *rand.Rand, f Family, as4, addPath, ibgp bool) *bgp.BGPMessage {
	nw, na := rng.IntN(6), rng.IntN(12)
	if rng.IntN(8) == 0 {
		na = 0 // withdrawals only
	}
	if f == IPv4Unicast {
		var w, n []*bgp.IPAddrPrefix
		for ; nw > 0; nw-- {
			w = append(w, genPrefix(rng, f, addPath).(*bgp.IPAddrPrefix))
		}
		for k := na; k > 0; k-- {
			n = append(n, genPrefix(rng, f, addPath).(*bgp.IPAddrPrefix))
		}
		var attrs []bgp.PathAttributeInterface
		if na > 0 {
			attrs = genAttrs(rng, as4, ibgp, true)
		}
		return bgp.NewBGPUpdateMessage(w, attrs, n)
	}
	var attrs []bgp.PathAttributeInterface
	if nw > 0 {
		var w []bgp.AddrPrefixInterface
		for ; nw > 0; nw-- {
			w = append(w, genPrefix(rng, f, addPath))
		}
		attrs = append(attrs, bgp.NewPathAttributeMpUnreachNLRI(w))
	}
	if na > 0 {
		var n []bgp.AddrPrefixInterface
		for k := na; k > 0; k-- {
			n = append(n, genPrefix(rng, f, addPath))
		}
		nh := "2001:db8::" + strconv.Itoa(1+rng.IntN(9000))
		if f.AFI == AFIIPv4 {
			nh = "192.0.2." + strconv.Itoa(1+rng.IntN(250))
		}
		mp := bgp.NewPathAttributeMpReachNLRI(nh, n)
		if f == IPv6Unicast && rng.IntN(2) == 0 {
			mp.LinkLocalNexthop = net.ParseIP("fe80::1")
		}
		attrs = append(append(attrs, mp), genAttrs(rng, as4, ibgp, false)...)
	}
	return bgp.NewBGPUpdateMessage(nil, attrs, nil)
}

// TestDecodeGeneratedAgainstGoBGP encodes thousands of random valid UPDATEs of every
// family with GoBGP (with and without ADD-PATH, 2- and 4-octet sessions, internal and
// external) and checks fanout decodes each to GoBGP's canonical form.
func TestDecodeGeneratedAgainstGoBGP(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7606))
	var u Update
	counts := map[string]int{}
	for i := 0; i < 6000; i++ {
		f := genFamilies[i%len(genFamilies)]
		as4, addPath, ibgp := rng.IntN(2) == 0, rng.IntN(2) == 0, rng.IntN(2) == 0
		var gopts []*bgp.MarshallingOption
		opts := SessionOptions{AS4: as4, EBGP: !ibgp}
		if addPath {
			gopts = append(gopts, &bgp.MarshallingOption{AddPath: map[bgp.RouteFamily]bgp.BGPAddPathMode{genRF(f): bgp.BGP_ADD_PATH_BOTH}})
			opts.AddPath.Set(f)
		}
		b, err := genUpdate(rng, f, as4, addPath, ibgp).Serialize(gopts...)
		if err != nil {
			t.Fatalf("GoBGP serialize: %v", err)
		}
		g, err := bgp.ParseBGPMessage(b, gopts...)
		if err != nil {
			t.Fatalf("GoBGP cannot parse its own message: %v\n%x", err, b)
		}
		if err := DecodeUpdate(b[HeaderLen:], &opts, &u); err != nil {
			t.Fatalf("case %d (%v as4=%v addpath=%v ibgp=%v): %v\n%x", i, f, as4, addPath, ibgp, err, b)
		}
		if ok, diff := canonEqual(canonFromFanout(&u, opts.AddPath), canonFromGoBGPSession(g, as4)); !ok {
			t.Fatalf("case %d (%v as4=%v addpath=%v ibgp=%v) differs:\n%s%x", i, f, as4, addPath, ibgp, diff, b)
		}
		counts[fmt.Sprintf("%v addpath=%v", f, addPath)]++
	}
	t.Logf("generated UPDATEs compared equal: %v", counts)
}

// updFuzzOptions maps the fuzzer's mode byte to session options: bit 0 AS4, bit 1 external
// peer, bit 2 extended messages, the high nibble the ADD-PATH families.
func updFuzzOptions(mode uint8) SessionOptions {
	return SessionOptions{AS4: mode&1 != 0, EBGP: mode&2 != 0, ExtendedMessage: mode&4 != 0, AddPath: AddPathMask(mode >> 4)}
}

// FuzzDecodeUpdate checks that DecodeUpdate never panics, is deterministic (also into an
// Update that held another message), and that whatever it accepts iterates cleanly.
func FuzzDecodeUpdate(f *testing.F) {
	for _, c := range updMalformedCases() {
		f.Add(c.msg, uint8(0))
	}
	for _, m := range loadMRTUpdates(f, "updates.20070211.0141.routeviews-linx.gz", 50) {
		f.Add(m.Body(), uint8(2))
	}
	prev := updBody(nil, joinB(tBase, mkAttr(0xc0, AttrCommunities, 0, 1, 0, 2), mkAttr(0xe0, 99, 1)), tNLRI)
	f.Fuzz(func(t *testing.T, body []byte, mode uint8) {
		opts := updFuzzOptions(mode)
		var fresh, reused Update
		if err := DecodeUpdate(prev, &eBGP4, &reused); err != nil {
			t.Fatalf("seed message: %v", err)
		}
		err1 := DecodeUpdate(body, &opts, &fresh)
		err2 := DecodeUpdate(body, &opts, &reused)
		e1, _ := AsError(err1)
		e2, _ := AsError(err2)
		if (err1 == nil) != (err2 == nil) || (e1 != nil && (e1.Action != e2.Action || e1.Subcode != e2.Subcode || e1.AttrType != e2.AttrType || !bytes.Equal(e1.Data, e2.Data))) {
			t.Fatalf("not deterministic: %v vs %v", err1, err2)
		}
		if err1 != nil && e1 == nil {
			t.Fatalf("error is not a *Error: %v", err1)
		}
		if e1 != nil && e1.Action == ActionSessionReset {
			return
		}
		if msg := iterateAll(&fresh, &opts); msg != "" {
			t.Fatal(msg)
		}
		if ok, diff := canonEqual(canonFromFanout(&fresh, opts.AddPath), canonFromFanout(&reused, opts.AddPath)); !ok {
			t.Fatalf("decode into a reused Update differs:\n%s", diff)
		}
		p := fresh.Attrs.ASPath
		if !p.Valid() {
			t.Fatalf("decoded AS_PATH is not well formed: %x", []byte(p))
		}
		_, _ = p.First()
		_, _ = p.NeighborAS()
		_ = p.Contains(ASTrans)
		if p.Len() < 0 || (len(p) > 0 && p.String() == "") {
			t.Fatalf("AS path helpers inconsistent on %x", []byte(p))
		}
	})
}

// sampleMRT returns up to n UPDATEs of a capture that decode without error on an external
// session, for the allocation gates.
func sampleMRT(t *testing.T, file string, n int) ([]mrtUpdate, []SessionOptions) {
	var u Update
	var ups []mrtUpdate
	var opts []SessionOptions
	for _, m := range loadMRTUpdates(t, file, 0) {
		o := SessionOptions{AS4: m.AS4, EBGP: true}
		if DecodeUpdate(m.Body(), &o, &u) == nil {
			ups, opts = append(ups, m), append(opts, o)
		}
		if len(ups) == n {
			break
		}
	}
	return ups, opts
}

// TestNoAllocsIterate: iterating every prefix of a decoded UPDATE allocates nothing.
func TestNoAllocsIterate(t *testing.T) {
	var u Update
	for _, file := range []string{"updates.20190101.0000.ris-rrc00.gz", "updates.20151009.1230.routeviews-ipv6.bz2"} {
		ups, opts := sampleMRT(t, file, 300)
		for i, m := range ups {
			if err := DecodeUpdate(m.Body(), &opts[i], &u); err != nil {
				t.Fatal(err)
			}
			n := 0
			allocs := testing.AllocsPerRun(5, func() {
				its := [...]NLRIIter{u.IterWithdrawn(&opts[i]), u.IterNLRI(&opts[i]), u.IterMPUnreach(&opts[i]), u.IterMPReach(&opts[i])}
				var nl NLRI
				for k := range its {
					for its[k].Next(&nl) {
						n++
					}
				}
			})
			if allocs != 0 {
				t.Fatalf("%s message %d: iterating prefixes allocated %v times", file, i, allocs)
			}
		}
	}
}

// TestNoAllocsDecode: decoding real UPDATEs (their attribute mixes from MRT) into a reused
// Update allocates at most once per message, and nothing in the steady state.
func TestNoAllocsDecode(t *testing.T) {
	for _, file := range []string{"updates.20190101.0000.ris-rrc00.gz", "updates.20070211.0141.routeviews-linx.gz", "updates.20151009.1230.routeviews-ipv6.bz2"} {
		ups, opts := sampleMRT(t, file, 500)
		var u Update
		total := 0.0
		for i, m := range ups {
			body := m.Body()
			allocs := testing.AllocsPerRun(5, func() {
				_ = DecodeUpdate(body, &opts[i], &u)
			})
			if allocs > 1 {
				t.Fatalf("%s message %d: decoding allocated %v times", file, i, allocs)
			}
			total += allocs
		}
		if total != 0 {
			t.Errorf("%s: decoding into a warmed reused Update allocated (%v in total over %d messages)", file, total, len(ups))
		}
	}
}
