package proto

// Decode benchmarks, each fanout operation beside the same one done with GoBGP's codec:
//
//	go test -run '^$' -bench 'DecodeUpdate|DecodeIterate' -benchmem ./proto/
//
// The messages are realistic: the attribute set of a real UPDATE from an MRT capture with
// N real prefixes from the same capture packed under it (N = 1, 10, 100, 500).

import (
	"fmt"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// benchSizes are the prefix counts of the benchmark messages.
var benchSizes = []int{1, 10, 100, 500}

// benchCase is one benchmark message.
type benchCase struct {
	name string
	msg  []byte // whole BGP message
	n    int    // prefixes in it
	opts SessionOptions
}

// splitBody returns the path attribute field of an UPDATE body.
func splitBody(body []byte) (attrs []byte) {
	r := NewReader(body)
	r.Skip(int(r.U16()))
	return r.Bytes(int(r.U16()))
}

// attrsWithout copies an attribute field leaving out attributes of type typ.
func attrsWithout(attrs []byte, typ uint8) []byte {
	var out []byte
	r := NewReader(attrs)
	for !r.Empty() {
		h := r
		flags := r.U8()
		t := r.U8()
		n := int(r.U8())
		if flags&FlagExtLen != 0 {
			n = n<<8 | int(r.U8())
		}
		r.Skip(n)
		raw := h.Bytes(r.Offset() - h.Offset())
		if t != typ {
			out = append(out, raw...)
		}
	}
	return out
}

// wrapHeader prefixes an UPDATE body with its BGP header.
func wrapHeader(body []byte) []byte {
	l := HeaderLen + len(body)
	m := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, byte(l >> 8), byte(l), MsgUpdate}
	return append(m, body...)
}

// benchCases builds the IPv4 (NLRI field) and IPv6 (MP_REACH_NLRI) benchmark messages.
func benchCases(tb testing.TB) []benchCase {
	var cases []benchCase
	var u Update
	// IPv4: attributes of the first UPDATE of the capture with a typical mix (a path of
	// 3+ ASNs and communities); prefixes from every UPDATE of the capture.
	{
		opts := SessionOptions{AS4: true, EBGP: true}
		var attrs, nlri []byte
		seen := map[NLRI]bool{}
		count := 0
		for _, m := range loadMRTUpdates(tb, "updates.20190101.0000.ris-rrc00.gz", 0) {
			if !m.AS4 || DecodeUpdate(m.Body(), &opts, &u) != nil {
				continue
			}
			if attrs == nil && len(u.NLRI) > 0 && u.Attrs.ASPath.Len() >= 3 && u.Attrs.Present.Has(AttrCommunities) {
				attrs = append([]byte(nil), splitBody(m.Body())...)
			}
			it := u.IterNLRI(&opts)
			var n NLRI
			for it.Next(&n) && count < 500 {
				if !seen[n] {
					seen[n] = true
					nlri = AppendNLRI(nlri, IPv4Unicast, false, &n)
					count++
				}
			}
		}
		if attrs == nil || count < 500 {
			tb.Fatalf("capture lacks a typical IPv4 UPDATE or 500 prefixes")
		}
		for _, size := range benchSizes {
			it := IterNLRI(nlri, IPv4Unicast, false)
			var n NLRI
			var field []byte
			for k := 0; k < size && it.Next(&n); k++ {
				field = AppendNLRI(field, IPv4Unicast, false, &n)
			}
			cases = append(cases, benchCase{name: fmt.Sprintf("ipv4/prefixes=%d", size), msg: wrapHeader(updBody(nil, attrs, field)), n: size, opts: opts})
		}
	}
	// IPv6: attributes of a real MP_REACH UPDATE, its MP_REACH rebuilt with N prefixes
	// collected from two captures.
	{
		opts := SessionOptions{AS4: true, EBGP: true}
		var attrs, nlri []byte
		var nh MPReach
		seen := map[NLRI]bool{}
		count := 0
		var ups []mrtUpdate
		for _, f := range []string{"updates.20151009.1230.routeviews-ipv6.bz2", "updates.20190101.0000.ris-rrc00.gz"} {
			ups = append(ups, loadMRTUpdates(tb, f, 0)...)
		}
		for _, m := range ups {
			if !m.AS4 || DecodeUpdate(m.Body(), &opts, &u) != nil || !u.Attrs.Present.Has(AttrMPReach) || u.Attrs.MPReach.Family != IPv6Unicast {
				continue
			}
			if attrs == nil && u.Attrs.ASPath.Len() >= 3 {
				attrs = attrsWithout(splitBody(m.Body()), AttrMPReach)
				nh = u.Attrs.MPReach
			}
			it := u.IterMPReach(&opts)
			var n NLRI
			for it.Next(&n) && count < 500 {
				if !seen[n] {
					seen[n] = true
					nlri = AppendNLRI(nlri, IPv6Unicast, false, &n)
					count++
				}
			}
		}
		if attrs == nil || count < 500 {
			tb.Fatalf("IPv6 captures lack a typical UPDATE or 500 prefixes")
		}
		for _, size := range benchSizes {
			it := IterNLRI(nlri, IPv6Unicast, false)
			var n NLRI
			var field []byte
			for k := 0; k < size && it.Next(&n); k++ {
				field = AppendNLRI(field, IPv6Unicast, false, &n)
			}
			g := nh.NextHop.As16()
			v := append([]byte{0, 2, 1, 16}, g[:]...)
			v = append(append(v, 0), field...)
			mp := append([]byte{FlagOptional | FlagExtLen, AttrMPReach, byte(len(v) >> 8), byte(len(v))}, v...)
			cases = append(cases, benchCase{name: fmt.Sprintf("ipv6/prefixes=%d", size), msg: wrapHeader(updBody(nil, joinB(mp, attrs), nil)), n: size, opts: opts})
		}
	}
	return cases
}

func perPrefix(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/prefix")
}

// BenchmarkDecodeUpdate: fanout decodes attributes and validates every prefix into a
// reused Update; GoBGP parses the message into its objects.
func BenchmarkDecodeUpdate(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run("fanout/"+c.name, func(b *testing.B) {
			var u Update
			body := c.msg[HeaderLen:]
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := DecodeUpdate(body, &c.opts, &u); err != nil {
					b.Fatal(err)
				}
			}
			perPrefix(b, c.n)
		})
		b.Run("gobgp/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := bgp.ParseBGPMessage(c.msg); err != nil {
					b.Fatal(err)
				}
			}
			perPrefix(b, c.n)
		})
	}
}

// BenchmarkDecodeIterate: decode and visit every prefix (address and length) once.
func BenchmarkDecodeIterate(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run("fanout/"+c.name, func(b *testing.B) {
			var u Update
			body := c.msg[HeaderLen:]
			b.ReportAllocs()
			sum := 0
			for i := 0; i < b.N; i++ {
				if err := DecodeUpdate(body, &c.opts, &u); err != nil {
					b.Fatal(err)
				}
				it, mp := u.IterNLRI(&c.opts), u.IterMPReach(&c.opts)
				var n NLRI
				for it.Next(&n) {
					sum += n.Prefix.Bits()
				}
				for mp.Next(&n) {
					sum += n.Prefix.Bits()
				}
			}
			perPrefix(b, c.n)
			_ = sum
		})
		b.Run("fanout-raw/"+c.name, func(b *testing.B) {
			// What the RIB does: iterate into the pointer-free RawNLRI it keys on.
			var u Update
			body := c.msg[HeaderLen:]
			b.ReportAllocs()
			sum := 0
			for i := 0; i < b.N; i++ {
				if err := DecodeUpdate(body, &c.opts, &u); err != nil {
					b.Fatal(err)
				}
				it, mp := u.IterNLRI(&c.opts), u.IterMPReach(&c.opts)
				var n RawNLRI
				for it.NextRaw(&n) {
					sum += int(n.Bits)
				}
				for mp.NextRaw(&n) {
					sum += int(n.Bits)
				}
			}
			perPrefix(b, c.n)
			_ = sum
		})
		b.Run("gobgp/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			sum := 0
			for i := 0; i < b.N; i++ {
				m, err := bgp.ParseBGPMessage(c.msg)
				if err != nil {
					b.Fatal(err)
				}
				upd := m.Body.(*bgp.BGPUpdate)
				for _, p := range upd.NLRI {
					sum += int(p.Length) + len(p.Prefix)
				}
				for _, pa := range upd.PathAttributes {
					if mp, ok := pa.(*bgp.PathAttributeMpReachNLRI); ok {
						for _, p := range mp.Value {
							if v6, ok := p.(*bgp.IPv6AddrPrefix); ok {
								sum += int(v6.Length) + len(v6.Prefix)
							}
						}
					}
				}
			}
			perPrefix(b, c.n)
			_ = sum
		})
	}
}

// BenchmarkIteratePrefixes: iterate the prefixes of an already decoded UPDATE (GoBGP has
// them as objects after parsing; its side walks the slices).
func BenchmarkIteratePrefixes(b *testing.B) {
	for _, c := range benchCases(b) {
		if c.n != 500 {
			continue
		}
		b.Run("fanout/"+c.name, func(b *testing.B) {
			var u Update
			if err := DecodeUpdate(c.msg[HeaderLen:], &c.opts, &u); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			sum := 0
			for i := 0; i < b.N; i++ {
				it, mp := u.IterNLRI(&c.opts), u.IterMPReach(&c.opts)
				var n NLRI
				for it.Next(&n) {
					sum += n.Prefix.Bits()
				}
				for mp.Next(&n) {
					sum += n.Prefix.Bits()
				}
			}
			perPrefix(b, c.n)
			_ = sum
		})
	}
}
