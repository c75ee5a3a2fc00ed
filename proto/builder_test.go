package proto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

// builtMsg is one UPDATE produced by the builder, taken apart by the test's own walker.
type builtMsg struct {
	raw       []byte
	withdrawn []byte // IPv4 Withdrawn Routes
	attrs     []rawAttr
	nlri      []byte // IPv4 NLRI
}

// splitMessages cuts consecutive BGP messages apart and takes each UPDATE apart, checking
// the framing of RFC 4271 §4.1 and §4.3 and that no message exceeds max.
func splitMessages(t *testing.T, b []byte, max int) []builtMsg {
	t.Helper()
	var out []builtMsg
	for len(b) > 0 {
		if len(b) < HeaderLen || !bytes.Equal(b[:16], bytes.Repeat([]byte{0xff}, 16)) || b[18] != MsgUpdate {
			t.Fatalf("bad header at % x", b[:min(len(b), HeaderLen)])
		}
		l := int(binary.BigEndian.Uint16(b[16:]))
		if l < HeaderLen+4 || l > len(b) || l > max {
			t.Fatalf("message length %d (limit %d, %d bytes left)", l, max, len(b))
		}
		m := builtMsg{raw: b[:l]}
		r := NewReader(b[HeaderLen:l])
		m.withdrawn = r.Bytes(int(r.U16()))
		attrs := r.Bytes(int(r.U16()))
		m.nlri = r.Rest()
		if !r.Ok() {
			t.Fatalf("malformed UPDATE % x", b[:l])
		}
		m.attrs = splitAttrs(t, attrs)
		out = append(out, m)
		b = b[l:]
	}
	return out
}

// mp returns the family and NLRI of the message's MP attribute of type typ (checking RFC
// 7606 §5.1: it is the first attribute) and the next hop field of MP_REACH_NLRI.
func (m *builtMsg) mp(t *testing.T, typ uint8) (fam Family, nh, nlri []byte, ok bool) {
	t.Helper()
	for i, a := range m.attrs {
		if a.typ != typ {
			continue
		}
		if i != 0 {
			t.Errorf("MP attribute %d at position %d, not first", typ, i)
		}
		if a.flags&^FlagExtLen != FlagOptional || (a.flags&FlagExtLen != 0) != (len(a.value) > 255) {
			t.Errorf("MP attribute %d flags %#x for %d bytes", typ, a.flags, len(a.value))
		}
		r := NewReader(a.value)
		fam = Family{AFI(r.U16()), SAFI(r.U8())}
		if typ == AttrMPReach {
			nh = r.Bytes(int(r.U8()))
			r.U8()
		}
		nlri = r.Rest()
		if !r.Ok() {
			t.Fatalf("malformed MP attribute % x", a.value)
		}
		return fam, nh, nlri, true
	}
	return Family{}, nil, nil, false
}

// collect iterates an NLRI field into strings, failing on malformed NLRI.
func collect(t *testing.T, dst map[string]int, b []byte, fam Family, addPath bool) int {
	t.Helper()
	it := IterNLRI(b, fam, addPath)
	var n NLRI
	c := 0
	for it.Next(&n) {
		dst[nlriKey(fam, &n)]++
		c++
	}
	if it.Err() != nil {
		t.Fatalf("NLRI of %v: %v", fam, it.Err())
	}
	return c
}

func nlriKey(fam Family, n *NLRI) string {
	return fmt.Sprintf("%v %v id=%d rd=%v labels=%v", fam, n.Prefix, n.PathID, n.RD, n.Labels.Labels[:n.Labels.N])
}

// genNLRI returns count distinct NLRI of fam with prefixes of length bits (or varied
// lengths when bits < 0).
func genNLRI(fam Family, count, bits int) []NLRI {
	out := make([]NLRI, count)
	for i := range out {
		b := bits
		if b < 0 {
			b = 8 + i%17
		}
		var a netip.Addr
		if fam.AFI == AFIIPv4 {
			a = netip.AddrFrom4([4]byte{10 + byte(i>>24), byte(i >> 16), byte(i >> 8), byte(i)})
		} else {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
		}
		if fam.AFI == AFIIPv4 && b > 32 {
			b = 32
		}
		out[i].Prefix, _ = a.Prefix(b)
		out[i].PathID = uint32(i % 3)
		if fam.IsVPN() {
			out[i].RD = RD0(65000, uint32(i%5))
			out[i].Labels = Label1(uint32(100 + i))
		}
	}
	return out
}

// uniqueNLRI makes genNLRI's prefixes distinct by using /32 (or /64) host routes.
func uniqueNLRI(fam Family, count int) []NLRI {
	if fam.AFI == AFIIPv4 {
		return genNLRI(fam, count, 32)
	}
	return genNLRI(fam, count, 64)
}

var allFamilies = []Family{IPv4Unicast, IPv6Unicast, VPNv4, VPNv6}

func nextHopFor(fam Family) MPNextHop {
	switch fam.AFI {
	case AFIIPv4:
		if fam == IPv4Unicast {
			return MPNextHop{}
		}
		return MPNextHop{Addr: netip.MustParseAddr("192.0.2.1")}
	}
	return MPNextHop{Addr: netip.MustParseAddr("2001:db8::1"), LinkLocal: netip.MustParseAddr("fe80::1")}
}

func typicalAttrs(t testing.TB) []byte {
	a := &Attrs{
		Origin:      OriginIGP,
		ASPath:      ASSeq(65001, 65002, 4200000000),
		NextHop:     netip.MustParseAddr("192.0.2.1"),
		MED:         5,
		Communities: []byte{0xfd, 0xe9, 0, 1, 0xfd, 0xe9, 0, 2},
	}
	for _, typ := range []uint8{AttrOrigin, AttrASPath, AttrNextHop, AttrMED, AttrCommunities} {
		a.Present.Set(typ)
	}
	b, err := AppendAttrs(nil, a, as4Opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBuilderPacking: N prefixes sharing one attribute set fill ceil(N/perMsg) messages,
// each within the limit (RFC 4271 §4.1, RFC 8654), and every prefix appears exactly once.
func TestBuilderPacking(t *testing.T) {
	attrs := typicalAttrs(t)
	for _, fam := range allFamilies {
		for _, addPath := range []bool{false, true} {
			for _, ext := range []bool{false, true} {
				for _, count := range []int{1, 2, 100, 1000, 5000} {
					name := fmt.Sprintf("%v/addpath=%v/ext=%v/%d", fam, addPath, ext, count)
					opts := &SessionOptions{AS4: true, ExtendedMessage: ext}
					if addPath {
						opts.AddPath.Set(fam)
					}
					in := uniqueNLRI(fam, count)
					b := NewUpdateBuilder(opts)
					for i := range in {
						b.Announce(fam, attrs, nextHopFor(fam), in[i])
					}
					out, err := b.AppendMessages(nil)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					msgs := splitMessages(t, out, opts.MaxLen())
					// Every message but the last is full: the next prefix would not fit.
					per := NLRILen(fam, addPath, &in[0])
					overhead := HeaderLen + 4 + len(attrs)
					if fam != IPv4Unicast {
						nh, _ := mpNextHopLen(fam, nextHopFor(fam))
						overhead += 4 + 5 + nh
					}
					perMsg := (opts.MaxLen() - overhead) / per
					if want := (count + perMsg - 1) / perMsg; len(msgs) != want {
						t.Errorf("%s: %d messages, want %d (%d per message)", name, len(msgs), want, perMsg)
					}
					seen := map[string]int{}
					for i := range msgs {
						m := &msgs[i]
						if fam == IPv4Unicast {
							collect(t, seen, m.nlri, fam, addPath)
							if !bytes.Equal(m.raw[HeaderLen+4:len(m.raw)-len(m.nlri)], attrs) {
								t.Fatalf("%s: attributes changed", name)
							}
							continue
						}
						f, _, nlri, ok := m.mp(t, AttrMPReach)
						if !ok || f != fam || len(m.nlri) != 0 {
							t.Fatalf("%s: message %d without MP_REACH of the family", name, i)
						}
						collect(t, seen, nlri, fam, addPath)
					}
					if len(seen) != count {
						t.Errorf("%s: %d distinct prefixes, want %d", name, len(seen), count)
					}
					for i := range in {
						n := in[i]
						if !addPath {
							n.PathID = 0
						}
						if seen[nlriKey(fam, &n)] != 1 {
							t.Fatalf("%s: %v seen %d times", name, n.Prefix, seen[nlriKey(fam, &n)])
						}
					}
				}
			}
		}
	}
}

// TestBuilderFillsMessages: with prefixes of varied lengths every message but the last is
// so full that the next prefix would not have fitted.
func TestBuilderFillsMessages(t *testing.T) {
	attrs := typicalAttrs(t)
	for _, fam := range allFamilies {
		opts := &SessionOptions{AS4: true}
		in := genNLRI(fam, 3000, -1)
		b := NewUpdateBuilder(opts)
		for i := range in {
			b.Announce(fam, attrs, nextHopFor(fam), in[i])
			b.Withdraw(fam, in[i])
		}
		out, err := b.AppendMessages(nil)
		if err != nil {
			t.Fatal(err)
		}
		msgs := splitMessages(t, out, MaxMessageLen)
		nextLen := func(i int) int { // length of the first NLRI of message i
			m := &msgs[i]
			field := m.withdrawn
			if len(field) == 0 {
				field = m.nlri
			}
			if len(field) == 0 {
				for _, typ := range []uint8{AttrMPReach, AttrMPUnreach} {
					if _, _, nl, ok := m.mp(t, typ); ok {
						field = nl
					}
				}
			}
			return nlriEntryLen(field, false)
		}
		for i := 0; i+1 < len(msgs); i++ {
			// Only within a run of the same kind (withdrawals, then announcements).
			if (len(msgs[i].attrs) <= 1) != (len(msgs[i+1].attrs) <= 1) {
				continue
			}
			if free := MaxMessageLen - len(msgs[i].raw); free >= nextLen(i+1)+1 {
				t.Errorf("%v: message %d has %d bytes free, next prefix needs %d", fam, i, free, nextLen(i+1))
			}
		}
	}
}

// TestBuilderWithdrawalsFirst: withdrawals go out before announcements whatever the order
// they were queued in, IPv4 in the Withdrawn Routes field (RFC 4271 §4.3) and the other
// families in MP_UNREACH_NLRI (RFC 4760 §4).
func TestBuilderWithdrawalsFirst(t *testing.T) {
	attrs := typicalAttrs(t)
	b := NewUpdateBuilder(as4Opts)
	for _, fam := range []Family{VPNv6, IPv4Unicast, IPv6Unicast, VPNv4} {
		in := uniqueNLRI(fam, 3)
		b.Announce(fam, attrs, nextHopFor(fam), in[0])
		b.Withdraw(fam, in[1])
		b.Announce(fam, attrs, nextHopFor(fam), in[2])
	}
	out, err := b.AppendMessages(nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := splitMessages(t, out, MaxMessageLen)
	if len(msgs) != 8 {
		t.Fatalf("%d messages, want 4 withdrawals and 4 announcements", len(msgs))
	}
	for i := 0; i < 4; i++ {
		m := &msgs[i]
		if i == 0 {
			if len(m.withdrawn) == 0 || len(m.attrs) != 0 || len(m.nlri) != 0 {
				t.Errorf("message 0 is not an IPv4 withdrawal: % x", m.raw)
			}
			continue
		}
		if _, _, nl, ok := m.mp(t, AttrMPUnreach); !ok || len(nl) == 0 || len(m.attrs) != 1 {
			t.Errorf("message %d is not an MP withdrawal: % x", i, m.raw)
		}
	}
	for i := 4; i < 8; i++ {
		if len(msgs[i].withdrawn) != 0 {
			t.Errorf("message %d withdraws after an announcement", i)
		}
	}
	// A VPN withdrawal carries the RFC 8277 §2.4 withdrawal label, not the route's labels.
	_, _, nl, _ := msgs[2].mp(t, AttrMPUnreach)
	if f, _, _, _ := msgs[2].mp(t, AttrMPUnreach); f != VPNv4 || !bytes.Equal(nl[1:4], []byte{0x80, 0, 0}) {
		t.Errorf("VPNv4 withdrawal % x", nl)
	}
}

// TestBuilderGroups: prefixes of one attribute set are packed together even when
// interleaved with another set's; different next hops are different sets.
func TestBuilderGroups(t *testing.T) {
	a1 := typicalAttrs(t)
	a2 := append([]byte(nil), a1...)
	a2[3] = OriginEGP // same length, other content
	a1copy := append([]byte(nil), a1...)
	in := uniqueNLRI(IPv6Unicast, 6)
	nh := nextHopFor(IPv6Unicast)
	nh2 := MPNextHop{Addr: netip.MustParseAddr("2001:db8::2")}
	b := NewUpdateBuilder(as4Opts)
	b.Announce(IPv6Unicast, a1, nh, in[0])
	b.Announce(IPv6Unicast, a2, nh, in[1])
	b.Announce(IPv6Unicast, a1copy, nh, in[2]) // equal content, other slice
	b.Announce(IPv6Unicast, a2, nh, in[3])
	b.Announce(IPv6Unicast, a1, nh2, in[4])
	b.AnnounceString(IPv6Unicast, string(a1), nh, in[5])
	out, err := b.AppendMessages(nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := splitMessages(t, out, MaxMessageLen)
	counts := []int{}
	for i := range msgs {
		_, _, nl, _ := msgs[i].mp(t, AttrMPReach)
		counts = append(counts, collect(t, map[string]int{}, nl, IPv6Unicast, false))
	}
	if fmt.Sprint(counts) != "[3 2 1]" {
		t.Fatalf("prefixes per message %v, want [3 2 1]", counts)
	}
}

// TestBuilderNextHops checks MP_REACH next hop encodings: IPv6 16 or 32 bytes with the
// link-local address (RFC 2545 §3), VPNv4 12 bytes and VPNv6 24 or 48 with zero route
// distinguishers (RFC 4364 §4.3.2, RFC 4659 §3.2), an IPv4 next hop on IPv6 families
// IPv4-mapped (RFC 4659 §3.2.1.2), and IPv4 unicast NEXT_HOP from the MPNextHop.
func TestBuilderNextHops(t *testing.T) {
	v4, v6, ll := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("fe80::7")
	rd0 := make([]byte, 8)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	s := func(a netip.Addr) []byte { return a.AsSlice() }
	cases := []struct {
		fam  Family
		nh   MPNextHop
		want []byte
	}{
		{IPv6Unicast, MPNextHop{Addr: v6}, s(v6)},
		{IPv6Unicast, MPNextHop{Addr: v6, LinkLocal: ll}, cat(s(v6), s(ll))},
		{IPv6Unicast, MPNextHop{Addr: v4}, s(netip.AddrFrom16(v4.As16()))},
		{VPNv4, MPNextHop{Addr: v4}, cat(rd0, s(v4))},
		{VPNv6, MPNextHop{Addr: v6}, cat(rd0, s(v6))},
		{VPNv6, MPNextHop{Addr: v6, LinkLocal: ll}, cat(rd0, s(v6), rd0, s(ll))},
	}
	attrs := typicalAttrs(t)
	for _, c := range cases {
		b := NewUpdateBuilder(as4Opts)
		n := uniqueNLRI(c.fam, 1)[0]
		b.Announce(c.fam, attrs, c.nh, n)
		out, err := b.AppendMessages(nil)
		if err != nil {
			t.Fatal(err)
		}
		m := splitMessages(t, out, MaxMessageLen)[0]
		if _, nh, _, _ := m.mp(t, AttrMPReach); !bytes.Equal(nh, c.want) {
			t.Errorf("%v %v: next hop % x, want % x", c.fam, c.nh, nh, c.want)
		}
	}

	// IPv4 unicast: a valid MPNextHop replaces NEXT_HOP, or adds it in type order.
	n := uniqueNLRI(IPv4Unicast, 1)[0]
	noNH := &Attrs{Origin: OriginIGP, ASPath: ASSeq(1), MED: 3}
	noNH.Present.Set(AttrOrigin)
	noNH.Present.Set(AttrASPath)
	noNH.Present.Set(AttrMED)
	for _, in := range [][]byte{attrs, mustAttrs(t, noNH, as4Opts)} {
		b := NewUpdateBuilder(as4Opts)
		b.Announce(IPv4Unicast, in, MPNextHop{Addr: v4}, n)
		out, err := b.AppendMessages(nil)
		if err != nil {
			t.Fatal(err)
		}
		m := splitMessages(t, out, MaxMessageLen)[0]
		var types []uint8
		for _, a := range m.attrs {
			types = append(types, a.typ)
			if a.typ == AttrNextHop && (a.flags != 0x40 || !bytes.Equal(a.value, s(v4))) {
				t.Errorf("NEXT_HOP %#x % x", a.flags, a.value)
			}
		}
		if types[0] != AttrOrigin || types[1] != AttrASPath || types[2] != AttrNextHop || types[3] != AttrMED {
			t.Errorf("attribute order %v", types)
		}
	}

	// Unusable next hops: the route is withdrawn instead and the error says why.
	for _, c := range []struct {
		fam Family
		nh  MPNextHop
	}{{IPv6Unicast, MPNextHop{}}, {VPNv4, MPNextHop{Addr: v6}}, {VPNv4, MPNextHop{Addr: v4, LinkLocal: ll}}, {IPv4Unicast, MPNextHop{Addr: v6}}} {
		b := NewUpdateBuilder(as4Opts)
		n := uniqueNLRI(c.fam, 1)[0]
		b.Announce(c.fam, attrs, c.nh, n)
		out, err := b.AppendMessages(nil)
		if !errors.Is(err, ErrBadNextHop) {
			t.Errorf("%v %v: error %v", c.fam, c.nh, err)
		}
		if msgs := splitMessages(t, out, MaxMessageLen); len(msgs) != 1 || len(msgs[0].withdrawn)+len(msgs[0].attrs) == 0 {
			t.Errorf("%v %v: not withdrawn: %d messages", c.fam, c.nh, len(msgs))
		}
	}
}

// TestBuilderTooLarge: an attribute set that leaves no room for even one prefix is an
// error, the prefix is withdrawn instead, and no message exceeds the limit; the same set
// fits with extended messages (RFC 8654).
func TestBuilderTooLarge(t *testing.T) {
	for _, fam := range allFamilies {
		n := uniqueNLRI(fam, 2)
		// Find the largest attribute set that still fits one prefix, then one byte more.
		fits := func(size int, opts *SessionOptions) (int, error) {
			a := &Attrs{Unknown: []RawAttr{{Flags: 0xc0, Type: 99, Value: make([]byte, size)}}}
			attrs := mustAttrs(t, a, opts)
			b := NewUpdateBuilder(opts)
			b.Announce(fam, attrs, nextHopFor(fam), n[0])
			out, err := b.AppendMessages(nil)
			msgs := splitMessages(t, out, opts.MaxLen())
			if err == nil && (len(msgs) != 1 || len(msgs[0].attrs) < 1) {
				t.Fatalf("%v size %d: %d messages", fam, size, len(msgs))
			}
			return len(msgs), err
		}
		lo := 0
		for size := 3800; size < 4096; size++ {
			if _, err := fits(size, as4Opts); err != nil {
				if !errors.Is(err, ErrAttrsTooLarge) {
					t.Fatalf("%v: %v", fam, err)
				}
				lo = size
				break
			}
		}
		if lo == 0 {
			t.Fatalf("%v: no size was too large", fam)
		}
		if _, err := fits(lo-1, as4Opts); err != nil {
			t.Errorf("%v: size %d: %v", fam, lo-1, err)
		}
		if c, err := fits(lo, as4Opts); c != 1 || err == nil {
			t.Errorf("%v: size %d: %d messages (the withdrawal), %v", fam, lo, c, err)
		}
		if _, err := fits(lo, &SessionOptions{AS4: true, ExtendedMessage: true}); err != nil {
			t.Errorf("%v: extended messages: %v", fam, err)
		}
	}
}

// TestBuilderBadInput: malformed attribute bytes and unusable prefixes are errors, never
// malformed messages.
func TestBuilderBadInput(t *testing.T) {
	attrs := typicalAttrs(t)
	mp := []byte{0x80, AttrMPReach, 0}
	cases := []struct {
		name  string
		fam   Family
		attrs []byte
		n     NLRI
		want  error
	}{
		{"truncated attrs", IPv4Unicast, attrs[:len(attrs)-1], uniqueNLRI(IPv4Unicast, 1)[0], ErrBadAttrs},
		{"short header", IPv6Unicast, []byte{0x40, 1}, uniqueNLRI(IPv6Unicast, 1)[0], ErrBadAttrs},
		{"MP_REACH in attrs", IPv6Unicast, mp, uniqueNLRI(IPv6Unicast, 1)[0], ErrBadAttrs},
		{"v6 prefix in v4", IPv4Unicast, attrs, uniqueNLRI(IPv6Unicast, 1)[0], ErrBadPrefix},
		{"zero prefix", VPNv6, attrs, NLRI{}, ErrBadPrefix},
		{"unsupported family", Family{AFIIPv4, 2}, attrs, uniqueNLRI(IPv4Unicast, 1)[0], ErrBadPrefix},
		{"VPNv6 /128 with 3 labels", VPNv6, attrs, NLRI{Prefix: netip.MustParsePrefix("2001:db8::1/128"), Labels: LabelStack{N: 3}}, ErrBadPrefix},
		{"4 labels", VPNv4, attrs, NLRI{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Labels: LabelStack{N: 4}}, ErrBadPrefix},
	}
	for _, c := range cases {
		b := NewUpdateBuilder(as4Opts)
		b.Announce(c.fam, c.attrs, nextHopFor(c.fam), c.n)
		b.Withdraw(c.fam, c.n)
		ok := uniqueNLRI(IPv4Unicast, 1)[0]
		b.Announce(IPv4Unicast, attrs, MPNextHop{}, ok)
		out, err := b.AppendMessages(nil)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
		splitMessages(t, out, MaxMessageLen)
		if !bytes.Contains(out, attrs) {
			t.Errorf("%s: the good announcement is missing", c.name)
		}
	}
}

// TestBuilderReset: a reused builder forgets the previous batch and its error.
func TestBuilderReset(t *testing.T) {
	attrs := typicalAttrs(t)
	b := NewUpdateBuilder(as4Opts)
	in := uniqueNLRI(IPv4Unicast, 2)
	b.Announce(IPv4Unicast, attrs[:3], MPNextHop{}, in[0])
	if _, err := b.AppendMessages(nil); err == nil {
		t.Fatal("no error")
	}
	b.Reset(&SessionOptions{AS4: true})
	if out, err := b.AppendMessages(nil); err != nil || len(out) != 0 {
		t.Fatalf("after Reset: %d bytes, %v", len(out), err)
	}
	b.Announce(IPv4Unicast, attrs, MPNextHop{}, in[1])
	out, err := b.AppendMessages([]byte{1})
	if err != nil || out[0] != 1 || len(splitMessages(t, out[1:], MaxMessageLen)) != 1 {
		t.Fatalf("reuse: %v", err)
	}
	var zero UpdateBuilder // the zero value works, with default options
	zero.Withdraw(IPv4Unicast, in[0])
	zero.Announce(IPv4Unicast, attrs, MPNextHop{}, in[1])
	out, err = zero.AppendMessages(nil)
	if msgs := splitMessages(t, out, MaxMessageLen); err != nil || len(msgs) != 2 || len(msgs[0].raw) != HeaderLen+4+5 {
		t.Fatalf("zero builder: % x %v", out, err)
	}
}

// TestBuilderNoAllocs is the allocation gate: building the messages for a batch in steady
// state (a reused builder and output buffer) allocates nothing.
func TestBuilderNoAllocs(t *testing.T) {
	attrs := typicalAttrs(t)
	attrs2 := append([]byte(nil), attrs...)
	attrs2[3] = OriginIncomplete
	for _, fam := range allFamilies {
		opts := &SessionOptions{AS4: true}
		opts.AddPath.Set(VPNv4)
		in := uniqueNLRI(fam, 700)
		b := NewUpdateBuilder(opts)
		buf := make([]byte, 0, 1<<16)
		nh := nextHopFor(fam)
		run := func() {
			b.Reset(opts)
			for i := range in {
				switch {
				case i%7 == 0:
					b.Withdraw(fam, in[i])
				case i < 350:
					b.Announce(fam, attrs, nh, in[i])
				default:
					b.Announce(fam, attrs2, nh, in[i])
				}
			}
			var err error
			buf, err = b.AppendMessages(buf[:0])
			if err != nil {
				t.Fatal(err)
			}
		}
		run()
		if n := testing.AllocsPerRun(50, run); n != 0 {
			t.Errorf("%v: %v allocations per batch, want 0", fam, n)
		}
	}
	a := fullAttrs()
	buf := make([]byte, 0, 1024)
	for _, opts := range []*SessionOptions{as4Opts, as2Opts} {
		if n := testing.AllocsPerRun(100, func() { buf, _ = AppendAttrs(buf[:0], a, opts) }); n != 0 {
			t.Errorf("AppendAttrs: %v allocations, want 0", n)
		}
	}
}

// TestAppendV6 checks the in-place encoding of IPv6 prefixes against netip's own bytes
// for every length, with and without zones and host bits, and that this build takes the
// in-place path at all (a Go release that changes netip.Addr's layout turns it off: the
// encoder stays correct but slower, and this test says so).
func TestAppendV6(t *testing.T) {
	if !addrWordsOK {
		t.Fatal("netip.Addr's layout is not {hi, lo uint64; zone}: appendV6 uses the portable path")
	}
	addrs := []string{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "fe80::1:2:3:4%eth0", "::", "::ffff:192.0.2.1",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2a00:1450:4001:80b::200e"}
	for _, s := range addrs {
		a := netip.MustParseAddr(s)
		b16 := a.As16()
		for bits := 0; bits <= 128; bits++ {
			want := []byte{byte(bits)}
			for i := 0; i < (bits+7)/8; i++ {
				m := byte(0xff)
				if rem := bits - 8*i; rem < 8 {
					m = 0xff << (8 - rem)
				}
				want = append(want, b16[i]&m)
			}
			prefix := []byte{0xaa, 0xbb}
			for _, f := range []struct {
				name string
				fn   func([]byte, int, netip.Addr) []byte
			}{{"appendV6", appendV6}, {"appendV6Portable", appendV6Portable}} {
				got := f.fn(append([]byte(nil), prefix...), bits, a)
				if !bytes.Equal(got[:2], prefix) || !bytes.Equal(got[2:], want) {
					t.Fatalf("%s(%s/%d) = %x, want %x%x", f.name, s, bits, got, prefix, want)
				}
			}
		}
	}
}
