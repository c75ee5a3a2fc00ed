package proto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

// rawAttr is one attribute as it appears on the wire, for encoder tests.
type rawAttr struct {
	flags, typ uint8
	hdr        int // header length: 3, or 4 with extended length
	value      []byte
}

// splitAttrs walks encoded path attributes; it fails the test on malformed input.
func splitAttrs(t *testing.T, b []byte) []rawAttr {
	t.Helper()
	var out []rawAttr
	r := NewReader(b)
	for !r.Empty() {
		a := rawAttr{flags: r.U8(), typ: r.U8(), hdr: 3}
		l := int(r.U8())
		if a.flags&FlagExtLen != 0 {
			l = l<<8 | int(r.U8())
			a.hdr = 4
		}
		a.value = r.Bytes(l)
		if !r.Ok() {
			t.Fatalf("malformed attributes % x", b)
		}
		out = append(out, a)
	}
	return out
}

func mustAttrs(t *testing.T, a *Attrs, opts *SessionOptions) []byte {
	t.Helper()
	b, err := AppendAttrs(nil, a, opts)
	if err != nil {
		t.Fatalf("AppendAttrs: %v", err)
	}
	return b
}

var (
	as4Opts = &SessionOptions{AS4: true}
	as2Opts = &SessionOptions{}
)

// fullAttrs has every attribute AppendAttrs encodes plus unknown ones in scrambled order.
func fullAttrs() *Attrs {
	a := &Attrs{
		Origin:           OriginEGP,
		ASPath:           AppendASSegment(ASSeq(65001, 4200000000), SegSet, 7, 8),
		NextHop:          netip.MustParseAddr("192.0.2.1"),
		MED:              10,
		LocalPref:        200,
		Aggregator:       Aggregator{AS: 65010, Addr: netip.MustParseAddr("192.0.2.9")},
		Communities:      []byte{0, 1, 0, 2, 0xff, 0xff, 0xff, 0x01},
		OriginatorID:     netip.MustParseAddr("10.0.0.1"),
		ClusterList:      []byte{10, 0, 0, 2},
		ExtCommunities:   []byte{0, 2, 0xfd, 0xe8, 0, 0, 0, 1},
		LargeCommunities: bytes.Repeat([]byte{1}, 12),
		OTC:              65020,
		Unknown: []RawAttr{
			{Flags: FlagOptional | FlagTransitive, Type: 40, Value: []byte{4}},
			{Flags: FlagOptional | FlagTransitive | FlagPartial, Type: 12, Value: []byte{1, 2}},
			{Flags: FlagOptional, Type: 13, Value: []byte{9}},                         // non-transitive: not passed on
			{Flags: FlagOptional | FlagTransitive, Type: AttrASPath, Value: []byte{}}, // a type fanout owns
			{Flags: FlagOptional | FlagTransitive, Type: 33, Value: []byte{3}},
		},
	}
	for _, t := range encodedTypes {
		if t != AttrAS4Path && t != AttrAS4Aggregator {
			a.Present.Set(t)
		}
	}
	return a
}

// TestAppendAttrsOrderAndFlags checks ascending type order (RFC 4271 §5), the flags each
// attribute is sent with (RFC 4271 §5.1, RFC 4456 §8, RFC 4360 §2, RFC 8092 §3, RFC 9234
// §5), and that passed-on unknown optional transitive attributes carry Partial (RFC 4271
// §5, §9) while non-transitive ones are dropped.
func TestAppendAttrsOrderAndFlags(t *testing.T) {
	want := []struct{ typ, flags uint8 }{
		{AttrOrigin, 0x40}, {AttrASPath, 0x40}, {AttrNextHop, 0x40}, {AttrMED, 0x80},
		{AttrLocalPref, 0x40}, {AttrAtomicAggregate, 0x40}, {AttrAggregator, 0xc0},
		{AttrCommunities, 0xc0}, {AttrOriginatorID, 0x80}, {AttrClusterList, 0x80},
		{12, 0xe0}, {AttrExtCommunities, 0xc0}, {AttrLargeCommunities, 0xc0},
		{33, 0xe0}, {AttrOTC, 0xc0}, {40, 0xe0},
	}
	got := splitAttrs(t, mustAttrs(t, fullAttrs(), as4Opts))
	if len(got) != len(want) {
		t.Fatalf("got %d attributes, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].typ != w.typ || got[i].flags != w.flags {
			t.Errorf("attribute %d: type %d flags %#x, want type %d flags %#x", i, got[i].typ, got[i].flags, w.typ, w.flags)
		}
	}
	if v := got[6].value; !bytes.Equal(v, []byte{0, 0, 0xfd, 0xf2, 192, 0, 2, 9}) {
		t.Errorf("4-octet AGGREGATOR value % x", v)
	}
}

// TestAppendAttrsCanonical: equal attribute sets give identical bytes whatever the order
// of Unknown, and absent fields and Discarded do not matter.
func TestAppendAttrsCanonical(t *testing.T) {
	a, b := fullAttrs(), fullAttrs()
	b.Unknown = []RawAttr{b.Unknown[4], b.Unknown[2], b.Unknown[0], b.Unknown[3], b.Unknown[1]}
	b.Unknown[0].Flags |= FlagExtLen // an encoding detail of the received copy
	b.Discarded.Set(AttrMED)
	a.Present.Clear(AttrOTC)
	b.Present.Clear(AttrOTC)
	b.OTC = 99
	x, y := mustAttrs(t, a, as4Opts), mustAttrs(t, b, as4Opts)
	if !bytes.Equal(x, y) {
		t.Fatalf("equal sets encode differently:\n% x\n% x", x, y)
	}
	// Appending keeps what dst held.
	z, err := AppendAttrs([]byte{1, 2, 3}, a, as4Opts)
	if err != nil || !bytes.Equal(z[3:], x) || z[0] != 1 {
		t.Fatalf("append to a non-empty buffer: % x, %v", z, err)
	}
}

// TestAppendAttrsExtendedLength: the Extended Length bit is set exactly when a value
// exceeds 255 bytes (RFC 4271 §4.3), for raw, unknown and AS_PATH attributes.
func TestAppendAttrsExtendedLength(t *testing.T) {
	for _, n := range []int{0, 1, 254, 255, 256, 257, 1000, 65535} {
		a := &Attrs{Communities: make([]byte, n), Unknown: []RawAttr{{Flags: 0xc0, Type: 99, Value: make([]byte, n)}}}
		a.Present.Set(AttrCommunities)
		got := splitAttrs(t, mustAttrs(t, a, as4Opts))
		for _, g := range got {
			ext := g.flags&FlagExtLen != 0
			if ext != (n > 255) || len(g.value) != n || (g.hdr == 4) != ext {
				t.Errorf("type %d value %d bytes: flags %#x header %d", g.typ, n, g.flags, g.hdr)
			}
		}
	}
	for _, n := range []int{63, 64} { // 4-octet AS_PATH of 254 and 258 bytes
		asns := make([]uint32, n)
		for i := range asns {
			asns[i] = uint32(64512 + i)
		}
		a := &Attrs{ASPath: ASSeq(asns...)}
		a.Present.Set(AttrASPath)
		g := splitAttrs(t, mustAttrs(t, a, as4Opts))[0]
		if ext := g.flags&FlagExtLen != 0; ext != (n == 64) || !bytes.Equal(g.value, a.ASPath) {
			t.Errorf("AS_PATH of %d ASNs: flags %#x, value % x", n, g.flags, g.value)
		}
	}
	a := &Attrs{Communities: make([]byte, 65536)}
	a.Present.Set(AttrCommunities)
	if b, err := AppendAttrs([]byte{7}, a, as4Opts); !errors.Is(err, ErrAttrTooLong) || !bytes.Equal(b, []byte{7}) {
		t.Fatalf("65536-byte value: % x, %v", b, err)
	}
	// An AS_PATH that grows past 65535 bytes when widened (2-octet input).
	big := ASPath{}
	for len(big) < 70000 {
		big = AppendASSegment(big, SegSequence, make([]uint32, 255)...)
	}
	a = &Attrs{ASPath: big}
	a.Present.Set(AttrASPath)
	if _, err := AppendAttrs(nil, a, as4Opts); !errors.Is(err, ErrAttrTooLong) {
		t.Fatalf("70000-byte AS_PATH: %v", err)
	}
}

// TestAppendAttrsTwoOctet checks RFC 6793 §4.2.2: a NEW speaker sending to an OLD one
// substitutes AS_TRANS for non-mappable ASNs, adds AS4_PATH (without confederation
// segments, §3) only when needed, and AS4_AGGREGATOR when the aggregator is non-mappable.
func TestAppendAttrsTwoOctet(t *testing.T) {
	a := &Attrs{
		ASPath: AppendASSegment(AppendASSegment(nil, SegConfedSeq, 65000),
			SegSequence, 65001, 4200000000, 3),
		Aggregator: Aggregator{AS: 4200000001, Addr: netip.MustParseAddr("192.0.2.1")},
	}
	a.Present.Set(AttrASPath)
	a.Present.Set(AttrAggregator)
	got := splitAttrs(t, mustAttrs(t, a, as2Opts))
	if len(got) != 4 {
		t.Fatalf("want AS_PATH, AGGREGATOR, AS4_PATH, AS4_AGGREGATOR; got %+v", got)
	}
	wantPath := []byte{SegConfedSeq, 1, 0xfd, 0xe8, SegSequence, 3, 0xfd, 0xe9, 0x5b, 0xa0, 0, 3}
	if got[0].typ != AttrASPath || !bytes.Equal(got[0].value, wantPath) {
		t.Errorf("AS_PATH % x, want % x", got[0].value, wantPath)
	}
	if got[1].typ != AttrAggregator || !bytes.Equal(got[1].value, []byte{0x5b, 0xa0, 192, 0, 2, 1}) {
		t.Errorf("AGGREGATOR % x", got[1].value)
	}
	if want := ASSeq(65001, 4200000000, 3); got[2].typ != AttrAS4Path || got[2].flags != 0xc0 || !bytes.Equal(got[2].value, want) {
		t.Errorf("AS4_PATH flags %#x % x, want % x", got[2].flags, got[2].value, want)
	}
	if got[3].typ != AttrAS4Aggregator || got[3].flags != 0xc0 || binary.BigEndian.Uint32(got[3].value) != 4200000001 {
		t.Errorf("AS4_AGGREGATOR flags %#x % x", got[3].flags, got[3].value)
	}

	// Mappable path and aggregator: no AS4 attributes. A non-mappable ASN only inside a
	// confederation segment does not need AS4_PATH either.
	a.ASPath = AppendASSegment(AppendASSegment(nil, SegConfedSet, 4200000000), SegSequence, 1, 2)
	a.Aggregator.AS = 65000
	got = splitAttrs(t, mustAttrs(t, a, as2Opts))
	if len(got) != 2 || got[0].typ != AttrASPath || got[1].typ != AttrAggregator {
		t.Fatalf("mappable: %+v", got)
	}
	if !bytes.Equal(got[0].value, []byte{SegConfedSet, 1, 0x5b, 0xa0, SegSequence, 2, 0, 1, 0, 2}) {
		t.Errorf("AS_PATH % x", got[0].value)
	}

	// 4-octet session: never AS4_PATH or AS4_AGGREGATOR.
	a.ASPath = ASSeq(4200000000)
	a.Aggregator.AS = 4200000001
	for _, g := range splitAttrs(t, mustAttrs(t, a, as4Opts)) {
		if g.typ == AttrAS4Path || g.typ == AttrAS4Aggregator {
			t.Errorf("4-octet session got attribute %d", g.typ)
		}
	}

	// A truncated trailing segment (never produced by the decoder) must not break output.
	a.ASPath = append(ASSeq(70000), SegSequence, 2, 0, 0)
	got = splitAttrs(t, mustAttrs(t, a, as2Opts))
	if !bytes.Equal(got[0].value, []byte{SegSequence, 1, 0x5b, 0xa0}) {
		t.Errorf("truncated path: % x", got[0].value)
	}
}

// TestAppendAttrsOddAddresses: addresses of the wrong family are written as zeros, never
// a panic.
func TestAppendAttrsOddAddresses(t *testing.T) {
	a := &Attrs{NextHop: netip.MustParseAddr("2001:db8::1"), OriginatorID: netip.MustParseAddr("::ffff:10.0.0.1")}
	a.Present.Set(AttrNextHop)
	a.Present.Set(AttrOriginatorID)
	a.Present.Set(AttrAggregator)
	got := splitAttrs(t, mustAttrs(t, a, as4Opts))
	if !bytes.Equal(got[0].value, []byte{0, 0, 0, 0}) || !bytes.Equal(got[1].value, []byte{0, 0, 0, 0, 0, 0, 0, 0}) ||
		!bytes.Equal(got[2].value, []byte{10, 0, 0, 1}) {
		t.Fatalf("got %+v", got)
	}
}
