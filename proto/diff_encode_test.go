package proto

// Differential tests of the encoder against GoBGP's decoder: what fanout encodes, GoBGP
// must decode to the same content (compared through the oracle's canonical form).

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// gobgpOptions returns GoBGP's marshalling options for decoding what a session with opts
// receives.
func gobgpOptions(opts *SessionOptions) *bgp.MarshallingOption {
	m := map[bgp.RouteFamily]bgp.BGPAddPathMode{}
	for _, f := range allFamilies {
		if opts.AddPath.Has(f) {
			m[bgp.AfiSafiToRouteFamily(uint16(f.AFI), uint8(f.SAFI))] = bgp.BGP_ADD_PATH_BOTH
		}
	}
	return &bgp.MarshallingOption{AddPath: m}
}

// gobgpDecodeAll decodes consecutive messages in GoBGP and returns their canonical forms.
func gobgpDecodeAll(t *testing.T, b []byte, opts *SessionOptions) []canonUpdate {
	t.Helper()
	mo := gobgpOptions(opts)
	var out []canonUpdate
	for _, m := range splitMessages(t, b, opts.MaxLen()) {
		msg, err := bgp.ParseBGPMessage(m.raw, mo)
		if err != nil {
			t.Fatalf("GoBGP rejects fanout's message: %v\n% x", err, m.raw)
		}
		out = append(out, canonFromGoBGPSession(msg, opts.AS4))
	}
	return out
}

// mergedCanon is the content of a run of messages: every NLRI, and the attribute lines
// of the messages that announce (without MP_UNREACH lines).
type mergedCanon struct {
	withdrawn, announced map[string][]string
	attrSets             map[string]bool // distinct attribute lists of announcing messages
}

func mergeCanon(cs []canonUpdate) mergedCanon {
	m := mergedCanon{withdrawn: map[string][]string{}, announced: map[string][]string{}, attrSets: map[string]bool{}}
	for _, c := range cs {
		for k, v := range c.Withdrawn {
			m.withdrawn[k] = append(m.withdrawn[k], v...)
		}
		for k, v := range c.Announced {
			m.announced[k] = append(m.announced[k], v...)
		}
		if len(c.Announced) > 0 {
			m.attrSets[strings.Join(attrLines(c.Attrs, false), "\n")] = true
		}
	}
	for _, mm := range []map[string][]string{m.withdrawn, m.announced} {
		for _, v := range mm {
			slices.Sort(v)
		}
	}
	return m
}

// attrLines drops MP_UNREACH lines (and MP_REACH lines unless keepReach) and writes every
// unknown attribute with Partial set, as a speaker passing it on must (RFC 4271 §9).
func attrLines(attrs []string, keepReach bool) []string {
	var out []string
	for _, l := range attrs {
		switch {
		case strings.HasPrefix(l, "MP_UNREACH="):
			continue
		case strings.HasPrefix(l, "MP_REACH=") && !keepReach:
			continue
		case strings.HasPrefix(l, "UNKNOWN "):
			l = strings.Replace(l, "flags=0xc0", "flags=0xe0", 1)
		}
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

func mapsEqual(a, b map[string][]string) bool {
	for k, v := range a {
		if len(v) > 0 && !slices.Equal(v, b[k]) {
			return false
		}
	}
	for k, v := range b {
		if len(v) > 0 && !slices.Equal(v, a[k]) {
			return false
		}
	}
	return true
}

// gen generates valid attribute sets and NLRI from a seeded source.
type gen struct{ r *rand.Rand }

func (g gen) asn() uint32 {
	switch g.r.IntN(4) {
	case 0:
		return 4200000000 + g.r.Uint32N(1000)
	case 1:
		return ASTrans
	}
	return 1 + g.r.Uint32N(65000)
}

func (g gen) words(size, maxN int) []byte {
	b := make([]byte, size*(1+g.r.IntN(maxN)))
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

func (g gen) v4() netip.Addr {
	return netip.AddrFrom4([4]byte{byte(1 + g.r.IntN(223)), byte(g.r.Uint32()), byte(g.r.Uint32()), byte(g.r.Uint32())})
}

func (g gen) v6() netip.Addr {
	var a [16]byte
	for i := range a {
		a[i] = byte(g.r.Uint32())
	}
	a[0] = 0x20
	return netip.AddrFrom16(a)
}

func (g gen) path() ASPath {
	var p ASPath
	if g.r.IntN(6) == 0 { // confederation segments only lead (RFC 5065 §5)
		typ := SegConfedSeq
		if g.r.IntN(3) == 0 {
			typ = SegConfedSet
		}
		p = AppendASSegment(p, typ, g.asn(), g.asn())
	}
	for s := g.r.IntN(4); s > 0; s-- {
		typ, n := SegSequence, 1+g.r.IntN(8)
		switch g.r.IntN(8) {
		case 0:
			typ = SegSet
		case 1:
			n = 1 + g.r.IntN(255) // long segments cross the extended-length boundary
		}
		asns := make([]uint32, n)
		for i := range asns {
			asns[i] = g.asn()
		}
		p = AppendASSegment(p, typ, asns...)
	}
	return p
}

// unknownTypes are attribute types GoBGP does not interpret, so it keeps them raw.
var unknownTypes = []uint8{19, 20, 21, 24, 27, 28, 30, 31, 33, 34, 36, 39, 41, 99, 128, 200, 254}

func (g gen) attrs(fam Family) *Attrs {
	a := &Attrs{Origin: uint8(g.r.IntN(3)), ASPath: g.path()}
	a.Present.Set(AttrOrigin)
	a.Present.Set(AttrASPath)
	maybe := func(t uint8) bool {
		if g.r.IntN(2) == 0 {
			return false
		}
		a.Present.Set(t)
		return true
	}
	if fam == IPv4Unicast || maybe(AttrNextHop) {
		a.Present.Set(AttrNextHop)
		a.NextHop = g.v4()
	}
	if maybe(AttrMED) {
		a.MED = g.r.Uint32()
	}
	if maybe(AttrLocalPref) {
		a.LocalPref = g.r.Uint32()
	}
	maybe(AttrAtomicAggregate)
	if maybe(AttrAggregator) {
		a.Aggregator = Aggregator{AS: g.asn(), Addr: g.v4()}
	}
	if maybe(AttrCommunities) {
		a.Communities = g.words(4, 80)
	}
	if maybe(AttrOriginatorID) {
		a.OriginatorID = g.v4()
	}
	if maybe(AttrClusterList) {
		a.ClusterList = g.words(4, 5)
	}
	if maybe(AttrExtCommunities) {
		a.ExtCommunities = g.words(8, 40)
		for i := 0; i < len(a.ExtCommunities); i += 8 {
			a.ExtCommunities[i] = byte(g.r.IntN(3)) // route targets: GoBGP re-serializes them exactly
			a.ExtCommunities[i+1] = 2
		}
	}
	if maybe(AttrLargeCommunities) {
		a.LargeCommunities = g.words(12, 25)
	}
	if maybe(AttrOTC) {
		a.OTC = g.asn()
	}
	for n := g.r.IntN(4) - 1; n > 0; n-- {
		flags := FlagOptional | FlagTransitive
		switch g.r.IntN(4) {
		case 0:
			flags |= FlagPartial
		case 1:
			flags = FlagOptional // non-transitive: not passed on
		}
		v := g.words(1, 20)
		if g.r.IntN(5) == 0 {
			v = g.words(1, 400)
		}
		a.Unknown = append(a.Unknown, RawAttr{Flags: flags, Type: unknownTypes[g.r.IntN(len(unknownTypes))], Value: v})
	}
	return a
}

func (g gen) label() uint32 {
	for {
		if l := 16 + g.r.Uint32N(0xfffff-16); l != WithdrawLabel>>4 {
			return l
		}
	}
}

func (g gen) nlri(fam Family) NLRI {
	var n NLRI
	a := g.v4()
	if fam.AFI == AFIIPv6 {
		a = g.v6()
	}
	n.Prefix, _ = a.Prefix(g.r.IntN(a.BitLen() + 1))
	n.PathID = g.r.Uint32N(4)
	if fam.IsVPN() {
		switch g.r.IntN(3) {
		case 0:
			n.RD = RD0(uint16(g.r.Uint32()), g.r.Uint32())
		case 1:
			n.RD = RD1(g.v4(), uint16(g.r.Uint32()))
		default:
			n.RD = RD2(g.r.Uint32(), uint16(g.r.Uint32()))
		}
		n.Labels.N = uint8(1 + g.r.IntN(MaxLabels))
		for n.Prefix.Bits()+64+24*int(n.Labels.N) > 255 { // the length byte must hold it all
			n.Labels.N--
		}
		for i := range n.Labels.N {
			n.Labels.Labels[i] = g.label()
		}
	}
	return n
}

func (g gen) nextHop(fam Family) MPNextHop {
	switch fam {
	case IPv4Unicast:
		return MPNextHop{}
	case VPNv4:
		return MPNextHop{Addr: g.v4()}
	}
	nh := MPNextHop{Addr: g.v6()}
	if g.r.IntN(2) == 0 {
		nh.LinkLocal = netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: byte(g.r.Uint32())})
	}
	return nh
}

// expectAttrs is the canonical attribute list a receiver of a's encoding on a session
// with opts must see: unknown attributes with Partial, non-transitive ones gone, and on a
// 2-octet session what RFC 6793 can carry (AS_TRANS in confederation segments, and the
// whole path 2-octet when an AGGREGATOR that is not AS_TRANS makes the receiver ignore
// AS4_PATH, RFC 6793 §4.2.3).
func expectAttrs(a *Attrs, opts *SessionOptions, fam Family, nh MPNextHop) []string {
	e := *a
	e.Unknown = nil
	for _, u := range a.Unknown {
		if u.Flags&encOptTrans == encOptTrans {
			u.Flags |= FlagPartial
			e.Unknown = append(e.Unknown, u)
		}
	}
	if !opts.AS4 {
		var p ASPath
		oldAgg := a.Present.Has(AttrAggregator) && a.Aggregator.AS <= 0xffff && a.Aggregator.AS != ASTrans
		it := a.ASPath.Segments()
		for s, ok := it.Next(); ok; s, ok = it.Next() {
			asns := s.AppendASNs(nil)
			if oldAgg || isConfed(s.Type) {
				for i := range asns {
					asns[i] = uint32(as2(asns[i]))
				}
			}
			p = AppendASSegment(p, s.Type, asns...)
		}
		e.ASPath = p
	}
	u := Update{Attrs: e}
	if fam != IPv4Unicast {
		u.Attrs.Present.Set(AttrMPReach)
		u.Attrs.MPReach = MPReach{Family: fam, NextHop: nh.Addr, LinkLocal: nh.LinkLocal}
	}
	return attrLines(canonFromFanout(&u, 0).Attrs, true)
}

// expectNLRI is the canonical content of withdrawals wd and announcements ann of fam.
func expectNLRI(fam Family, opts *SessionOptions, wd, ann []NLRI) (withdrawn, announced map[string][]string) {
	addPath := opts.AddPath.Has(fam)
	var w, a []byte
	for i := range wd {
		n := wd[i]
		n.Labels = LabelStack{} // withdrawals carry no label stack (RFC 8277 §2.4)
		w = AppendNLRI(w, fam, addPath, &n)
	}
	for i := range ann {
		a = AppendNLRI(a, fam, addPath, &ann[i])
	}
	u := Update{}
	if fam == IPv4Unicast {
		u.Withdrawn, u.NLRI = w, a
	} else {
		u.Attrs.Present.Set(AttrMPReach)
		u.Attrs.Present.Set(AttrMPUnreach)
		u.Attrs.MPReach = MPReach{Family: fam, NLRI: a}
		u.Attrs.MPUnreach = MPUnreach{Family: fam, NLRI: w}
	}
	var mask AddPathMask
	if addPath {
		mask.Set(fam)
	}
	c := canonFromFanout(&u, mask)
	return c.Withdrawn, c.Announced
}

// TestDiffEncodeGenerated: thousands of generated attribute sets and batches of every
// family, with and without ADD-PATH (RFC 7911), on 2- and 4-octet sessions (RFC 6793),
// with and without extended messages (RFC 8654), encoded by fanout, decode in GoBGP to
// exactly the content that was encoded.
func TestDiffEncodeGenerated(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(1, 2))}
	iters := 3000
	if testing.Short() {
		iters = 300
	}
	b := NewUpdateBuilder(nil)
	var buf, attrBuf []byte
	msgs, prefixes := 0, 0
	perFam := map[Family]int{}
	for it := 0; it < iters; it++ {
		fam := allFamilies[g.r.IntN(len(allFamilies))]
		opts := &SessionOptions{AS4: g.r.IntN(2) == 0, ExtendedMessage: g.r.IntN(5) == 0}
		if g.r.IntN(2) == 0 {
			opts.AddPath.Set(fam)
		}
		a := g.attrs(fam)
		nh := g.nextHop(fam)
		var err error
		attrBuf, err = AppendAttrs(attrBuf[:0], a, opts)
		if err != nil {
			t.Fatal(err)
		}
		nAnn, nWd := 1+g.r.IntN(12), g.r.IntN(4)
		if g.r.IntN(10) == 0 {
			nAnn, nWd = 1+g.r.IntN(1500), g.r.IntN(600)
		}
		ann, wd := make([]NLRI, nAnn), make([]NLRI, nWd)
		b.Reset(opts)
		for i := range ann {
			ann[i] = g.nlri(fam)
			b.Announce(fam, attrBuf, nh, ann[i])
		}
		for i := range wd {
			wd[i] = g.nlri(fam)
			b.Withdraw(fam, wd[i])
		}
		buf, err = b.AppendMessages(buf[:0])
		if err != nil {
			t.Fatalf("iteration %d: %v", it, err)
		}
		got := gobgpDecodeAll(t, buf, opts)
		msgs += len(got)
		prefixes += nAnn + nWd
		perFam[fam] += len(got)
		m := mergeCanon(got)
		ew, ea := expectNLRI(fam, opts, wd, ann)
		if !mapsEqual(m.withdrawn, ew) || !mapsEqual(m.announced, ea) {
			t.Fatalf("iteration %d %v %+v: NLRI differ\nwithdrawn got %v\nwant %v\nannounced got %v\nwant %v",
				it, fam, opts, m.withdrawn, ew, m.announced, ea)
		}
		want := strings.Join(expectAttrs(a, opts, fam, nh), "\n")
		for i, c := range got {
			if len(c.Announced) == 0 {
				continue
			}
			if gotA := strings.Join(attrLines(c.Attrs, true), "\n"); gotA != want {
				t.Fatalf("iteration %d %v %+v message %d: attributes differ\ngot:\n%s\nwant:\n%s\nattrs % x",
					it, fam, opts, i, gotA, want, attrBuf)
			}
		}
	}
	t.Logf("%d batches, %d UPDATE messages (%v), %d prefixes: all equal in GoBGP", iters, msgs, perFam, prefixes)
}

// mrtFiles are the MRT update files the MRT differential and benchmarks read.
var mrtFiles = []string{
	"updates.20070211.0141.routeviews-linx.gz",
	"updates.20151009.1230.routeviews-ipv6.bz2",
	"updates.20190101.0000.ris-rrc00.gz",
	"updates.20260222.1530.routeviews.bz2",
}

// reencode decodes the body of a real UPDATE with fanout and encodes it again with
// AppendAttrs and the builder, as the send path would for a peer with the same options.
// A decode error is returned as is, except that with allowDiscard an attribute-discard
// error (RFC 7606 §2: the rest of the message is used) does not stop the re-encoding.
func reencode(b *UpdateBuilder, dst []byte, body []byte, opts *SessionOptions, u *Update, attrBuf *[]byte, allowDiscard bool) ([]byte, error) {
	if err := DecodeUpdate(body, opts, u); err != nil {
		if e, ok := AsError(err); !ok || !allowDiscard || e.Action != ActionAttributeDiscard {
			return dst, err
		}
	}
	var err error
	*attrBuf, err = AppendAttrs((*attrBuf)[:0], &u.Attrs, opts)
	if err != nil {
		return dst, err
	}
	b.Reset(opts)
	var n NLRI
	it := u.IterWithdrawn(opts)
	for it.Next(&n) {
		b.Withdraw(IPv4Unicast, n)
	}
	if u.Attrs.Present.Has(AttrMPUnreach) {
		it = u.IterMPUnreach(opts)
		for it.Next(&n) {
			b.Withdraw(u.Attrs.MPUnreach.Family, n)
		}
	}
	it = u.IterNLRI(opts)
	for it.Next(&n) {
		b.Announce(IPv4Unicast, *attrBuf, MPNextHop{}, n)
	}
	if u.Attrs.Present.Has(AttrMPReach) {
		mp := &u.Attrs.MPReach
		nh := MPNextHop{Addr: mp.NextHop, LinkLocal: mp.LinkLocal}
		it = u.IterMPReach(opts)
		for it.Next(&n) {
			b.Announce(mp.Family, *attrBuf, nh, n)
		}
	}
	return b.AppendMessages(dst)
}

// canonPrefix is how the oracle's line for each attribute type starts.
var canonPrefix = map[uint8]string{
	AttrOrigin: "ORIGIN=", AttrASPath: "AS_PATH=", AttrNextHop: "NEXT_HOP=", AttrMED: "MED=",
	AttrLocalPref: "LOCAL_PREF=", AttrAtomicAggregate: "ATOMIC_AGGREGATE", AttrAggregator: "AGGREGATOR=",
	AttrCommunities: "COMMUNITIES=", AttrOriginatorID: "ORIGINATOR_ID=", AttrClusterList: "CLUSTER_LIST=",
	AttrExtCommunities: "EXT_COMMUNITIES=", AttrLargeCommunities: "LARGE_COMMUNITIES=", AttrOTC: "OTC=",
}

// withoutDiscarded drops the lines of attributes fanout's decoder set aside without an
// error (LOCAL_PREF from an external peer, RFC 4271 §5.1.5; NEXT_HOP without IPv4 NLRI,
// RFC 4760 §3): the RIB never holds them, so they are not re-sent.
func withoutDiscarded(lines []string, discarded AttrMask) []string {
	var out []string
	for _, l := range lines {
		drop := false
		for typ, p := range canonPrefix {
			if discarded.Has(typ) && strings.HasPrefix(l, p) {
				drop = true
			}
		}
		if !drop {
			out = append(out, l)
		}
	}
	return out
}

// TestDiffEncodeMRT: real UPDATEs from MRT captures, decoded by fanout and re-encoded by
// fanout, decode in GoBGP to the same content as the original bytes.
func TestDiffEncodeMRT(t *testing.T) {
	limit := 4000
	if testing.Short() {
		limit = 400
	}
	b := NewUpdateBuilder(nil)
	var (
		u               Update
		buf, attrBuf    []byte
		total, compared int
		skipped         = map[string]int{}
	)
	for _, file := range mrtFiles {
		for i, mu := range loadMRTUpdates(t, file, limit) {
			total++
			opts := &SessionOptions{AS4: mu.AS4, EBGP: true} // collectors peer externally
			orig, err := bgp.ParseBGPMessage(mu.Msg)
			if err != nil {
				skipped["GoBGP rejects the original"]++
				continue
			}
			var rerr error
			buf, rerr = reencode(b, buf[:0], mu.Body(), opts, &u, &attrBuf, false)
			if rerr != nil {
				if e, ok := AsError(rerr); ok {
					skipped["fanout's decoder: "+e.Reason]++
					continue
				}
				t.Fatalf("%s #%d: re-encode: %v", file, i, rerr)
			}
			want := canonFromGoBGPSession(orig, mu.AS4)
			got := mergeCanon(gobgpDecodeAll(t, buf, opts))
			ww := mergeCanon([]canonUpdate{want})
			if !mapsEqual(got.withdrawn, ww.withdrawn) || !mapsEqual(got.announced, ww.announced) {
				t.Fatalf("%s #%d: NLRI differ\ngot  %v %v\nwant %v %v\norig % x\nnew  % x",
					file, i, got.withdrawn, got.announced, ww.withdrawn, ww.announced, mu.Msg, buf)
			}
			if len(want.Announced) > 0 {
				wantAttrs := withoutDiscarded(attrLines(want.Attrs, false), u.Attrs.Discarded)
				for set := range got.attrSets {
					for _, l := range strings.Split(set, "\n") {
						if !slices.Contains(wantAttrs, l) {
							t.Fatalf("%s #%d: attribute %q not in the original %q\norig % x\nnew  % x", file, i, l, wantAttrs, mu.Msg, buf)
						}
					}
				}
				union := map[string]bool{}
				for set := range got.attrSets {
					for _, l := range strings.Split(set, "\n") {
						union[l] = true
					}
				}
				for _, l := range wantAttrs {
					if !union[l] {
						t.Fatalf("%s #%d: attribute %q lost\norig % x\nnew  % x", file, i, l, mu.Msg, buf)
					}
				}
			}
			compared++
		}
	}
	if compared < total/2 {
		t.Fatalf("only %d of %d MRT UPDATEs compared (%v)", compared, total, skipped)
	}
	t.Logf("%d MRT UPDATEs, %d re-encoded and equal in GoBGP, skipped %v", total, compared, skipped)
}
