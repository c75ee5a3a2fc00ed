package proto

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

func TestNLRIRoundTrip(t *testing.T) {
	cases := []struct {
		fam     Family
		addPath bool
		n       NLRI
	}{
		{IPv4Unicast, false, NLRI{Prefix: netip.MustParsePrefix("10.0.0.0/8")}},
		{IPv4Unicast, false, NLRI{Prefix: netip.MustParsePrefix("0.0.0.0/0")}},
		{IPv4Unicast, false, NLRI{Prefix: netip.MustParsePrefix("192.0.2.1/32")}},
		{IPv4Unicast, true, NLRI{PathID: 7, Prefix: netip.MustParsePrefix("198.51.100.0/23")}},
		{IPv6Unicast, false, NLRI{Prefix: netip.MustParsePrefix("2001:db8::/32")}},
		{IPv6Unicast, true, NLRI{PathID: 1 << 31, Prefix: netip.MustParsePrefix("2001:db8:1:2::1/128")}},
		{VPNv4, false, NLRI{Prefix: netip.MustParsePrefix("10.1.0.0/16"), RD: RD0(65000, 1), Labels: Label1(100)}},
		{VPNv4, true, NLRI{PathID: 3, Prefix: netip.MustParsePrefix("10.1.2.3/32"), RD: RD1(netip.MustParseAddr("192.0.2.1"), 9), Labels: LabelStack{N: 2, Labels: [MaxLabels]uint32{16, 17}}}},
		{VPNv6, false, NLRI{Prefix: netip.MustParsePrefix("2001:db8::/48"), RD: RD2(4200000000, 5), Labels: Label1(1048575)}},
	}
	for _, c := range cases {
		b := AppendNLRI(nil, c.fam, c.addPath, &c.n)
		if len(b) != NLRILen(c.fam, c.addPath, &c.n) {
			t.Errorf("%v %v: NLRILen %d, encoded %d bytes", c.fam, c.n.Prefix, NLRILen(c.fam, c.addPath, &c.n), len(b))
		}
		it := IterNLRI(b, c.fam, c.addPath)
		var got NLRI
		if !it.Next(&got) {
			t.Fatalf("%v %v: no NLRI decoded: %v", c.fam, c.n.Prefix, it.Err())
		}
		if got != c.n {
			t.Errorf("%v: got %+v, want %+v", c.fam, got, c.n)
		}
		if it.Next(&got) || it.Err() != nil {
			t.Errorf("%v: trailing entry or error %v", c.fam, it.Err())
		}
	}
}

// RFC 4271 §4.3: trailing bits past the prefix length are irrelevant; fanout masks them.
func TestNLRIHostBitsMasked(t *testing.T) {
	it := IterNLRI([]byte{20, 10, 1, 0xff}, IPv4Unicast, false)
	var n NLRI
	if !it.Next(&n) || n.Prefix != netip.MustParsePrefix("10.1.240.0/20") {
		t.Fatalf("got %v, %v", n.Prefix, it.Err())
	}
}

func TestNLRIMalformed(t *testing.T) {
	cases := []struct {
		name string
		fam  Family
		ap   bool
		b    []byte
		want error
	}{
		{"v4 length 33", IPv4Unicast, false, []byte{33, 1, 2, 3, 4, 5}, ErrNLRIPrefixTooLong},
		{"v6 length 129", IPv6Unicast, false, append([]byte{129}, make([]byte, 17)...), ErrNLRIPrefixTooLong},
		{"truncated prefix", IPv4Unicast, false, []byte{24, 10, 1}, ErrNLRITruncated},
		{"missing path id", IPv4Unicast, true, []byte{0, 0, 1}, ErrNLRITruncated},
		{"vpn too short for RD", VPNv4, false, []byte{24 + 32, 0, 0, 0x11, 10, 0, 0, 0}, ErrNLRIBadLabels},
		{"vpn label stack too deep", VPNv4, false, []byte{4*24 + 64, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0}, ErrNLRIBadLabels},
		{"unsupported family", Family{25, 70}, false, []byte{0}, ErrNLRIFamily},
	}
	for _, c := range cases {
		_, err := ValidateNLRI(c.b, c.fam, c.ap)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestNLRIIterDoesNotAllocate(t *testing.T) {
	var b []byte
	for i := 0; i < 100; i++ {
		n := NLRI{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16+i%9)}
		b = AppendNLRI(b, IPv4Unicast, false, &n)
	}
	var sink int
	allocs := testing.AllocsPerRun(100, func() {
		it := IterNLRI(b, IPv4Unicast, false)
		var n NLRI
		for it.Next(&n) {
			sink += n.Prefix.Bits()
		}
	})
	if allocs != 0 {
		t.Fatalf("iterating 100 prefixes allocated %v times", allocs)
	}
	if !bytes.Equal(b[:3], []byte{16, 10, 0}) {
		t.Fatalf("unexpected encoding % x", b[:3])
	}
}

// A label stack count past MaxLabels (a caller's bug) must not make the encoder panic.
func TestAppendNLRIDeepStackDoesNotPanic(t *testing.T) {
	n := NLRI{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Labels: LabelStack{N: 200}}
	b := AppendNLRI(nil, VPNv4, false, &n)
	if len(b) != NLRILen(VPNv4, false, &n) {
		t.Fatalf("encoded %d bytes, NLRILen says %d", len(b), NLRILen(VPNv4, false, &n))
	}
}

// NextRaw yields exactly what Next yields, for every family, with and without path ids.
func TestNextRawMatchesNext(t *testing.T) {
	cases := []struct {
		fam Family
		ap  bool
		ns  []NLRI
	}{
		{IPv4Unicast, false, []NLRI{{Prefix: netip.MustParsePrefix("10.0.0.0/8")}, {Prefix: netip.MustParsePrefix("0.0.0.0/0")}, {Prefix: netip.MustParsePrefix("192.0.2.1/32")}, {Prefix: netip.MustParsePrefix("198.51.100.0/23")}}},
		{IPv4Unicast, true, []NLRI{{PathID: 9, Prefix: netip.MustParsePrefix("10.1.0.0/16")}}},
		{IPv6Unicast, false, []NLRI{{Prefix: netip.MustParsePrefix("2001:db8::/33")}, {Prefix: netip.MustParsePrefix("::/0")}, {Prefix: netip.MustParsePrefix("2001:db8::1/128")}}},
		{VPNv4, false, []NLRI{{Prefix: netip.MustParsePrefix("10.2.0.0/15"), RD: RD0(1, 2), Labels: Label1(77)}}},
		{VPNv6, true, []NLRI{{PathID: 4, Prefix: netip.MustParsePrefix("2001:db8:5::/48"), RD: RD2(70000, 3), Labels: Label1(5)}}},
	}
	for _, c := range cases {
		var b []byte
		for i := range c.ns {
			b = AppendNLRI(b, c.fam, c.ap, &c.ns[i])
		}
		it, raw := IterNLRI(b, c.fam, c.ap), IterNLRI(b, c.fam, c.ap)
		var n NLRI
		r := RawNLRI{PathID: 99, Labels: Label1(3)} // stale contents must not leak through
		for it.Next(&n) {
			if !raw.NextRaw(&r) {
				t.Fatalf("%v: NextRaw stopped early: %v", c.fam, raw.Err())
			}
			if r.Prefix() != n.Prefix || r.PathID != n.PathID || r.RD != n.RD || r.Labels != n.Labels {
				t.Fatalf("%v: raw %+v vs %+v", c.fam, r, n)
			}
		}
		if raw.NextRaw(&r) || raw.Err() != nil || it.Err() != nil {
			t.Fatalf("%v: trailing entries or errors", c.fam)
		}
	}
	// Malformed input stops NextRaw with the same errors.
	for _, b := range [][]byte{{33, 1, 2, 3, 4, 5}, {24, 10, 1}} {
		a, r := IterNLRI(b, IPv4Unicast, false), IterNLRI(b, IPv4Unicast, false)
		var n NLRI
		var rn RawNLRI
		for a.Next(&n) {
		}
		for r.NextRaw(&rn) {
		}
		if a.Err() == nil || a.Err() != r.Err() {
			t.Fatalf("% x: Next error %v, NextRaw error %v", b, a.Err(), r.Err())
		}
	}
}

func TestNextRawDoesNotAllocate(t *testing.T) {
	var b []byte
	for i := 0; i < 100; i++ {
		n := NLRI{Prefix: netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i)}), 32+i%17)}
		b = AppendNLRI(b, IPv6Unicast, false, &n)
	}
	var sink int
	if allocs := testing.AllocsPerRun(100, func() {
		it := IterNLRI(b, IPv6Unicast, false)
		var n RawNLRI
		for it.NextRaw(&n) {
			sink += int(n.Bits)
		}
	}); allocs != 0 {
		t.Fatalf("NextRaw over 100 prefixes allocated %v times", allocs)
	}
}
