package gen

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"

	"github.com/fanoutd/fanout/proto"
)

// AttrSet is one set of path attributes a speaker announces. It is immutable once built
// and shared by every prefix announced with it.
type AttrSet struct {
	ASPath      proto.ASPath // 4-octet wire form
	HasMED      bool
	MED         uint32
	Communities []uint32
	LocalPref   uint32 // sent on iBGP sessions (route reflector)
	NextHop4    netip.Addr
	NextHop6    netip.Addr
}

// PathLen is the AS path length as best-path selection counts it.
func (a *AttrSet) PathLen() int { return a.ASPath.Len() }

// encode returns the attribute bytes for a session with opts, without NEXT_HOP and
// MP_REACH_NLRI (the UpdateBuilder adds those per family).
func (a *AttrSet) encode(opts *proto.SessionOptions) ([]byte, error) {
	var at proto.Attrs
	at.Present.Set(proto.AttrOrigin)
	at.Origin = proto.OriginIGP
	at.Present.Set(proto.AttrASPath)
	at.ASPath = a.ASPath
	if a.HasMED {
		at.Present.Set(proto.AttrMED)
		at.MED = a.MED
	}
	if !opts.EBGP {
		at.Present.Set(proto.AttrLocalPref)
		at.LocalPref = a.LocalPref
	}
	if len(a.Communities) > 0 {
		at.Present.Set(proto.AttrCommunities)
		for _, c := range a.Communities {
			at.Communities = binary.BigEndian.AppendUint32(at.Communities, c)
		}
	}
	return proto.AppendAttrs(nil, &at, opts)
}

// fingerprint is the fingerprint a receiver must see for a route with a, announced over
// IPv4 or IPv6 (v6), as the target passes it on: originator and clusterList are what a
// route reflector adds (invalid and nil for a route server).
func (a *AttrSet) fingerprint(v6 bool, c Check, originator netip.Addr, clusterList []byte, buf []byte) []byte {
	f := fpFields{asPath: a.ASPath, hasMED: a.HasMED, med: a.MED, originator: originator, clusterList: clusterList}
	f.nextHop = a.NextHop4
	if v6 {
		f.nextHop = a.NextHop6
	}
	var comm []byte
	for _, v := range a.Communities {
		comm = binary.BigEndian.AppendUint32(comm, v)
	}
	f.communities = comm
	buf, _ = appendFP(buf, &f, c, nil)
	return buf
}

// Prefix length distributions: lengths and weights in percent, roughly today's DFZ.
var (
	v4Lengths = [][2]int{{24, 60}, {23, 9}, {22, 9}, {21, 6}, {20, 6}, {19, 4}, {18, 3}, {17, 2}, {16, 1}}
	v6Lengths = [][2]int{{48, 70}, {44, 8}, {40, 8}, {36, 4}, {32, 10}}
)

// pickLen draws a prefix length from a distribution.
func pickLen(r *rand.Rand, dist [][2]int) int {
	x := r.IntN(100)
	for _, d := range dist {
		if x < d[1] {
			return d[0]
		}
		x -= d[1]
	}
	return dist[0][0]
}

// excluded4 are ranges no generated IPv4 prefix falls into: this network, private,
// loopback, CGN, benchmarking (our next hops), link-local, multicast and reserved.
var excluded4 = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("224.0.0.0/3"),
}

var doc6 = netip.MustParsePrefix("2001:db8::/32")

// PrefixGen draws unique prefixes with a realistic length distribution, deterministic from
// its seed. Owned by one goroutine.
type PrefixGen struct {
	r    *rand.Rand
	seen map[netip.Prefix]struct{}
}

// NewPrefixGen returns a generator seeded with seed.
func NewPrefixGen(seed uint64) *PrefixGen {
	return &PrefixGen{r: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)), seen: make(map[netip.Prefix]struct{})}
}

// Next returns a prefix never returned before: IPv6 with probability v6, else IPv4.
func (g *PrefixGen) Next(v6 float64) netip.Prefix {
	for {
		var p netip.Prefix
		if v6 > 0 && g.r.Float64() < v6 {
			var a [16]byte
			binary.BigEndian.PutUint64(a[:], 0x2000000000000000|g.r.Uint64()>>3)
			p = netip.PrefixFrom(netip.AddrFrom16(a), pickLen(g.r, v6Lengths)).Masked()
			if doc6.Overlaps(p) {
				continue
			}
		} else {
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], g.r.Uint32())
			p = netip.PrefixFrom(netip.AddrFrom4(a), pickLen(g.r, v4Lengths)).Masked()
			if slices.ContainsFunc(excluded4, p.Overlaps) {
				continue
			}
		}
		if _, dup := g.seen[p]; dup {
			continue
		}
		g.seen[p] = struct{}{}
		return p
	}
}

// transitAS draws an AS for the middle of a path: never one of the generator's own (4200000000
// and up) nor the target's (below 65536 only 64512+ is private; we use 1000-59999 and
// 131072-199999).
func transitAS(r *rand.Rand) uint32 {
	if r.IntN(4) == 0 {
		return 131072 + r.Uint32N(68928)
	}
	return 1000 + r.Uint32N(59000)
}

// NextHop4 is speaker i's IPv4 next hop, in 198.18.0.0/15 (RFC 2544): never a destination.
func NextHop4(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18 + byte(i>>16&1), byte(i >> 8), byte(i)})
}

// NextHop6 is speaker i's IPv6 next hop, in 2001:db8::/32 (RFC 3849).
func NextHop6(i int) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(i >> 8), byte(i)})
}

// attrPool builds n attribute sets for a speaker, bucketed by AS path length 1-8: sets[l]
// holds the sets whose path length is l. With ebgp, every path starts with the speaker's
// AS (RFC 4271 §6.3 first-AS check); a reflector's clients send paths of transit ASes only.
func attrPool(r *rand.Rand, n int, idx int, as uint32, ebgp bool) [9][]*AttrSet {
	var sets [9][]*AttrSet
	for k := range max(n, 8) {
		l := 1 + k%8
		asns := make([]uint32, 0, l)
		if ebgp {
			asns = append(asns, as)
		}
		for len(asns) < l {
			asns = append(asns, transitAS(r))
		}
		a := &AttrSet{ASPath: proto.ASSeq(asns...), LocalPref: 100, NextHop4: NextHop4(idx), NextHop6: NextHop6(idx)}
		if r.IntN(2) == 0 {
			a.HasMED, a.MED = true, r.Uint32N(1000)
		}
		for range r.IntN(5) {
			a.Communities = append(a.Communities, (64512+r.Uint32N(1000))<<16|r.Uint32N(65536))
		}
		slices.Sort(a.Communities)
		a.Communities = slices.Compact(a.Communities)
		sets[l] = append(sets[l], a)
	}
	return sets
}

// Announcement is one prefix a speaker announces with an attribute set.
type Announcement struct {
	Prefix netip.Prefix
	Attrs  *AttrSet
}

// encodeUpdates packs announcements and withdrawals into UPDATE messages for a session with
// opts, with fanout's UpdateBuilder. Withdrawals come first.
func encodeUpdates(opts proto.SessionOptions, ann []Announcement, wd []netip.Prefix, dst []byte) ([]byte, error) {
	b := proto.NewUpdateBuilder(&opts)
	enc := make(map[*AttrSet][]byte)
	var ns [1]proto.NLRI
	for _, p := range wd {
		ns[0] = proto.NLRI{Prefix: p}
		b.Withdraw(familyOf(p), ns[0])
	}
	for _, a := range ann {
		attrs, ok := enc[a.Attrs]
		if !ok {
			var err error
			if attrs, err = a.Attrs.encode(&opts); err != nil {
				return dst, err
			}
			enc[a.Attrs] = attrs
		}
		ns[0] = proto.NLRI{Prefix: a.Prefix}
		nh := proto.MPNextHop{Addr: a.Attrs.NextHop4}
		if a.Prefix.Addr().Is6() {
			nh.Addr = a.Attrs.NextHop6
		}
		b.Announce(familyOf(a.Prefix), attrs, nh, ns[0])
	}
	out, err := b.AppendMessages(dst)
	if err != nil {
		return out, fmt.Errorf("encode updates: %w", err)
	}
	return out, nil
}

func familyOf(p netip.Prefix) proto.Family {
	if p.Addr().Is6() {
		return proto.IPv6Unicast
	}
	return proto.IPv4Unicast
}

// msgSpan is one message inside an encoded buffer and the prefixes it carries.
type msgSpan struct {
	off, end int
	prefixes []netip.Prefix // filled only when asked for
	count    int
}

// splitMessages finds the messages in buf (UPDATEs encoded for opts), counting their
// prefixes, and listing them when list is set.
func splitMessages(buf []byte, opts proto.SessionOptions, list bool) ([]msgSpan, error) {
	var spans []msgSpan
	var u proto.Update
	var n proto.NLRI
	for off := 0; off < len(buf); {
		h, body, k, err := proto.NextMessage(buf[off:], opts.MaxLen())
		if err != nil || k == 0 {
			return nil, fmt.Errorf("split messages at %d: %v", off, err)
		}
		sp := msgSpan{off: off, end: off + k}
		if h.Type == proto.MsgUpdate {
			if err := proto.DecodeUpdate(body, &opts, &u); err != nil {
				return nil, fmt.Errorf("split messages at %d: %w", off, err)
			}
			for _, it := range []proto.NLRIIter{u.IterWithdrawn(&opts), u.IterNLRI(&opts), u.IterMPReach(&opts), u.IterMPUnreach(&opts)} {
				for it.Next(&n) {
					sp.count++
					if list {
						sp.prefixes = append(sp.prefixes, n.Prefix)
					}
				}
			}
		}
		spans = append(spans, sp)
		off += k
	}
	return spans, nil
}

// chunks cuts buf at message boundaries into pieces of about size bytes.
func chunks(spans []msgSpan, buf []byte, size int) [][]byte {
	var out [][]byte
	start := 0
	for i, sp := range spans {
		if sp.end-start >= size || i == len(spans)-1 {
			out = append(out, buf[start:sp.end])
			start = sp.end
		}
	}
	return out
}
