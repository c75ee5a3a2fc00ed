package proto

// Encoding benchmarks, each beside GoBGP doing the same work in the same run:
//
//	go test -run '^$' -bench 'EncodeUpdate|AppendAttrs' -benchmem ./proto/
//
// The attribute set is a real one from the MRT data (the richest IPv4 announcement of a
// 4-octet session); the prefixes are real prefixes from the same captures. Results and
// their table are in BENCHMARKS.md.

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// encodeFixture is one realistic attribute set with prefixes of its family to announce.
type encodeFixture struct {
	attrs  Attrs                        // fanout's decode
	nh     MPNextHop                    // MP_REACH next hop (IPv6)
	gAttrs []bgp.PathAttributeInterface // GoBGP's decode, MP attributes left out
	v4, v6 []NLRI
	gv4    []*bgp.IPAddrPrefix
	gv6    []bgp.AddrPrefixInterface
	gNH    string
}

// loadEncodeFixture picks, from real UPDATEs, the IPv4 announcement with the richest
// attribute set (most attributes, then longest encoding) and collects distinct real
// IPv4 and IPv6 prefixes.
func loadEncodeFixture(tb testing.TB) *encodeFixture {
	tb.Helper()
	f := &encodeFixture{}
	opts := &SessionOptions{AS4: true, EBGP: true}
	var u Update
	bestScore := -1
	var bestMsg []byte
	seen := map[netip.Prefix]bool{}
	for _, file := range mrtFiles {
		for _, mu := range loadMRTUpdates(tb, file, 20000) {
			if !mu.AS4 || DecodeUpdate(mu.Body(), opts, &u) != nil {
				continue
			}
			var n NLRI
			it := u.IterNLRI(opts)
			for it.Next(&n) {
				if !seen[n.Prefix] && len(f.v4) < 500 {
					seen[n.Prefix] = true
					f.v4 = append(f.v4, n)
				}
			}
			if u.Attrs.Present.Has(AttrMPReach) && u.Attrs.MPReach.Family == IPv6Unicast {
				it = u.IterMPReach(opts)
				for it.Next(&n) {
					if !seen[n.Prefix] && len(f.v6) < 500 {
						seen[n.Prefix] = true
						f.v6 = append(f.v6, n)
					}
				}
				if !f.nh.Addr.IsValid() {
					f.nh = MPNextHop{Addr: u.Attrs.MPReach.NextHop, LinkLocal: u.Attrs.MPReach.LinkLocal}
				}
			}
			if len(u.NLRI) == 0 || u.Attrs.Present.Has(AttrMPReach) || u.Attrs.Present.Has(AttrMPUnreach) {
				continue
			}
			score := 0
			for t := range uint8(64) {
				if u.Attrs.Present.Has(t) {
					score += 1000
				}
			}
			score += len(u.Attrs.Communities) + len(u.Attrs.ASPath)
			if score > bestScore && len(u.Attrs.Communities) < 200 {
				bestScore, bestMsg = score, mu.Msg
			}
		}
	}
	if bestMsg == nil || len(f.v4) < 500 || len(f.v6) < 100 {
		tb.Fatalf("MRT data too small: %d IPv4 and %d IPv6 prefixes", len(f.v4), len(f.v6))
	}
	if err := DecodeUpdate(bestMsg[HeaderLen:], opts, &u); err != nil {
		tb.Fatal(err)
	}
	f.attrs = cloneAttrs(&u.Attrs)
	gm, err := bgp.ParseBGPMessage(bestMsg)
	if err != nil {
		tb.Fatal(err)
	}
	for _, pa := range gm.Body.(*bgp.BGPUpdate).PathAttributes {
		if pa.GetType() != bgp.BGP_ATTR_TYPE_MP_REACH_NLRI && pa.GetType() != bgp.BGP_ATTR_TYPE_MP_UNREACH_NLRI {
			f.gAttrs = append(f.gAttrs, pa)
		}
	}
	for i := range f.v4 {
		p := f.v4[i].Prefix
		f.gv4 = append(f.gv4, bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String()))
	}
	for i := range f.v6 {
		p := f.v6[i].Prefix
		f.gv6 = append(f.gv6, bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String()))
	}
	f.gNH = f.nh.Addr.String()
	return f
}

// DecodeUpdate fills an Update; cloneAttrs copies the attributes out of the message.
func cloneAttrs(a *Attrs) Attrs {
	c := *a
	c.ASPath = append(ASPath(nil), a.ASPath...)
	c.Communities = append([]byte(nil), a.Communities...)
	c.ClusterList = append([]byte(nil), a.ClusterList...)
	c.ExtCommunities = append([]byte(nil), a.ExtCommunities...)
	c.LargeCommunities = append([]byte(nil), a.LargeCommunities...)
	c.Unknown = nil
	for _, r := range a.Unknown {
		r.Value = append([]byte(nil), r.Value...)
		c.Unknown = append(c.Unknown, r)
	}
	c.MPReach, c.MPUnreach = MPReach{}, MPUnreach{}
	c.Present.Clear(AttrMPReach)
	c.Present.Clear(AttrMPUnreach)
	return c
}

var encodeSizes = []int{1, 10, 100, 500}

// BenchmarkEncodeUpdate encodes one packed UPDATE announcing n prefixes that share a
// real attribute set: fanout encodes the attributes (AppendAttrs) and builds the message
// with a reused UpdateBuilder into a reused buffer; GoBGP serializes a BGPUpdate built from
// its own decoded attributes and prefixes (the objects are built outside the timed loop,
// which favours GoBGP). Bytes/op is the UPDATE's size, so MB/s compare throughput.
func BenchmarkEncodeUpdate(b *testing.B) {
	f := loadEncodeFixture(b)
	opts := &SessionOptions{AS4: true}
	for _, fam := range []Family{IPv4Unicast, IPv6Unicast} {
		for _, n := range encodeSizes {
			prefixes := f.v4[:n]
			if fam == IPv6Unicast {
				if n > 100 {
					continue // 500 IPv6 prefixes need two messages; GoBGP encodes one
				}
				prefixes = f.v6[:n]
			}
			nh := f.nh
			if fam == IPv4Unicast {
				nh = MPNextHop{} // NEXT_HOP is in the attributes
			}
			bld := NewUpdateBuilder(opts)
			var attrBuf, out []byte
			fanout := func(perPrefix bool) {
				attrBuf, _ = AppendAttrs(attrBuf[:0], &f.attrs, opts)
				bld.Reset(opts)
				if perPrefix {
					for i := range prefixes {
						bld.Announce(fam, attrBuf, nh, prefixes[i])
					}
				} else {
					bld.Announce(fam, attrBuf, nh, prefixes...)
				}
				var err error
				if out, err = bld.AppendMessages(out[:0]); err != nil {
					b.Fatal(err)
				}
			}
			fanout(true)
			if len(splitMessagesB(out)) != 1 {
				b.Fatalf("%v/%d: %d messages", fam, n, len(splitMessagesB(out)))
			}
			size := int64(len(out))
			b.Run(fmt.Sprintf("%v/%d/fanout", fam, n), func(b *testing.B) {
				b.SetBytes(size)
				b.ReportAllocs()
				for b.Loop() {
					fanout(false)
				}
			})
			if n > 1 {
				// The same with one Announce call per prefix.
				b.Run(fmt.Sprintf("%v/%d/fanout-per-prefix", fam, n), func(b *testing.B) {
					b.SetBytes(size)
					b.ReportAllocs()
					for b.Loop() {
						fanout(true)
					}
				})
			}
			var msg *bgp.BGPMessage
			if fam == IPv4Unicast {
				msg = bgp.NewBGPUpdateMessage(nil, f.gAttrs, f.gv4[:n])
			} else {
				attrs := append([]bgp.PathAttributeInterface{bgp.NewPathAttributeMpReachNLRI(f.gNH, f.gv6[:n])}, f.gAttrs...)
				msg = bgp.NewBGPUpdateMessage(nil, attrs, nil)
			}
			b.Run(fmt.Sprintf("%v/%d/gobgp", fam, n), func(b *testing.B) {
				b.SetBytes(size)
				b.ReportAllocs()
				for b.Loop() {
					msg.Header.Len = 0
					if _, err := msg.Serialize(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// splitMessagesB counts messages without a *testing.T.
func splitMessagesB(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= HeaderLen {
		l := int(b[16])<<8 | int(b[17])
		if l < HeaderLen || l > len(b) {
			break
		}
		out = append(out, b[:l])
		b = b[l:]
	}
	return out
}

// BenchmarkAppendAttrs encodes a real attribute set: fanout's AppendAttrs into a reused
// buffer, and GoBGP serializing each of its decoded attributes, on 4-octet and 2-octet
// sessions (GoBGP has no 2-octet encoder at this layer, so it serializes the same objects).
func BenchmarkAppendAttrs(b *testing.B) {
	f := loadEncodeFixture(b)
	for _, opts := range []*SessionOptions{as4Opts, as2Opts} {
		name := "as4"
		if !opts.AS4 {
			name = "as2"
		}
		buf, _ := AppendAttrs(nil, &f.attrs, opts)
		size := int64(len(buf))
		b.Run(name+"/fanout", func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendAttrs(buf[:0], &f.attrs, opts)
			}
		})
		if !opts.AS4 {
			continue
		}
		b.Run(name+"/gobgp", func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				for _, pa := range f.gAttrs {
					if _, err := pa.Serialize(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
