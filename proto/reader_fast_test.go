package proto

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// The Reader's fast paths (whole-word prefix loads, the one-loop validation walk, the
// one-check attribute header, the AS_PATH segment walk) against plain byte-by-byte
// reference decoders written here, on every prefix length at every position of a field
// and on random and truncated input. The reference indexes bytes by hand on purpose: it is
// the obvious reading of RFC 4271 §4.3.

// refPrefix decodes one prefix of at most maxBits bits at b[0:] the obvious way: ok is
// false for a length over maxBits or bytes missing; n is the bytes used.
func refPrefix(b []byte, maxBits int) (addr [16]byte, bits, n int, ok bool) {
	if len(b) == 0 || int(b[0]) > maxBits {
		return addr, 0, 0, false
	}
	bits = int(b[0])
	nb := (bits + 7) / 8
	if len(b) < 1+nb {
		return addr, 0, 0, false
	}
	copy(addr[:], b[1:1+nb])
	for i := 0; i < 16; i++ {
		keep := min(max(bits-8*i, 0), 8)
		addr[i] &= byte(uint16(0xff00) >> keep)
	}
	return addr, bits, 1 + nb, true
}

func refNetipPrefix(addr [16]byte, bits int, v6 bool) netip.Prefix {
	if v6 {
		return netip.PrefixFrom(netip.AddrFrom16(addr), bits)
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte(addr[:4])), bits)
}

// fieldWith returns an NLRI field of count random prefixes of alen-byte addresses with
// length bits at index at, the others random, host bits filled with garbage, followed
// by tail bytes (which the field slice excludes but its capacity may include).
func fieldWith(rng *rand.Rand, alen, count, at, bits int) []byte {
	var f []byte
	for i := 0; i < count; i++ {
		l := bits
		if i != at {
			l = rng.IntN(alen*8 + 1)
		}
		f = append(f, byte(l))
		for j := 0; j < (l+7)/8; j++ {
			f = append(f, byte(rng.Uint32()))
		}
	}
	return f
}

func TestPrefixFastPathsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, fam := range []Family{IPv4Unicast, IPv6Unicast} {
		alen := fam.AddrLen()
		for bits := 0; bits <= alen*8; bits++ {
			for _, shape := range []struct{ count, at int }{{1, 0}, {3, 0}, {3, 1}, {3, 2}, {6, 5}} {
				field := fieldWith(rng, alen, shape.count, shape.at, bits)
				// The field at the end of its buffer, and followed by garbage within capacity
				// (a decoder must not read it as part of the field).
				padded := append(append([]byte(nil), field...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
				for _, b := range [][]byte{field, padded[:len(field)]} {
					checkField(t, fam, b, shape.count)
				}
			}
		}
	}
}

// checkField iterates b with Next, NextRaw and the Reader's Prefix4/Prefix16 and checks
// each entry and the count against refPrefix.
func checkField(t *testing.T, fam Family, b []byte, count int) {
	t.Helper()
	v6 := fam == IPv6Unicast
	maxBits := fam.AddrLen() * 8
	it, raw := IterNLRI(b, fam, false), IterNLRI(b, fam, false)
	r := NewReader(b)
	var n NLRI
	var rn RawNLRI
	off := 0
	for i := 0; i < count; i++ {
		addr, bits, used, ok := refPrefix(b[off:], maxBits)
		if !ok {
			t.Fatalf("%v %x: reference failed at %d", fam, b, off)
		}
		off += used
		want := refNetipPrefix(addr, bits, v6)
		if !it.Next(&n) || n.Prefix != want || n.PathID != 0 || n.RD != (RD{}) || n.Labels.N != 0 {
			t.Fatalf("%v %x entry %d: Next %v (%v), want %v", fam, b, i, n.Prefix, it.Err(), want)
		}
		if !raw.NextRaw(&rn) || rn.Prefix() != want || rn.V6 != v6 || (!v6 && [12]byte(rn.Addr[4:]) != [12]byte{}) {
			t.Fatalf("%v %x entry %d: NextRaw %v %x (%v), want %v", fam, b, i, rn.Prefix(), rn.Addr, raw.Err(), want)
		}
		var p netip.Prefix
		var st PrefixStatus
		if v6 {
			p, st = r.Prefix16()
		} else {
			p, st = r.Prefix4()
		}
		if st != PrefixOK || p != want || r.Offset() != off {
			t.Fatalf("%v %x entry %d: Reader %v %v at %d, want %v at %d", fam, b, i, p, st, r.Offset(), want, off)
		}
	}
	if it.Next(&n) || it.Err() != nil || raw.NextRaw(&rn) || raw.Err() != nil || !r.Empty() {
		t.Fatalf("%v %x: entries past %d or error %v %v", fam, b, count, it.Err(), raw.Err())
	}
	s := NewReader(b)
	if got, st := s.SkipPrefixes(maxBits, false); got != count || st != PrefixOK {
		t.Fatalf("%v %x: SkipPrefixes %d %v, want %d", fam, b, got, st, count)
	}
}

// RFC 4271 §4.3, RFC 7606 §5.3: every truncation and every over-long length, at every
// position, is reported the same way by the validation walk, the iterators and the
// reference, after the same good entries.
func TestPrefixFastPathsMalformed(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, fam := range []Family{IPv4Unicast, IPv6Unicast} {
		alen := fam.AddrLen()
		maxBits := alen * 8
		for trial := 0; trial < 400; trial++ {
			b := fieldWith(rng, alen, 1+rng.IntN(5), -1, 0)
			switch rng.IntN(3) {
			case 0: // cut anywhere
				b = b[:rng.IntN(len(b))]
			case 1: // a length over the maximum somewhere
				b = append(b, byte(maxBits+1+rng.IntN(255-maxBits)))
				b = append(b, fieldWith(rng, alen, 1, -1, 0)...)
			case 2: // garbage after the good entries
				b = append(b, byte(rng.Uint32()), byte(rng.Uint32()))
			}
			checkMalformed(t, fam, b)
		}
	}
}

// FuzzNLRIFastPaths: on any bytes, the validation walk and both iterators agree with the
// reference on how many entries are good and how the field ends, and every good entry
// decodes to the reference's prefix.
func FuzzNLRIFastPaths(f *testing.F) {
	f.Add([]byte{24, 10, 1, 2, 32, 192, 0, 2, 1, 0}, false)
	f.Add([]byte{33, 10, 1, 2, 3}, false)
	f.Add([]byte{20, 10, 1, 0xff}, false)
	f.Add([]byte{48, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 129, 0}, true)
	f.Add([]byte{128, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 64}, true)
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		fam := IPv4Unicast
		if v6 {
			fam = IPv6Unicast
		}
		checkMalformed(t, fam, b)
	})
}

// checkMalformed compares the validation walk, validateNLRIField, ValidateNLRI, Next and
// NextRaw on b with the reference decoder.
func checkMalformed(t *testing.T, fam Family, b []byte) {
	t.Helper()
	maxBits := fam.AddrLen() * 8
	var want []netip.Prefix
	off, wantErr := 0, error(nil)
	for off < len(b) {
		addr, bits, used, ok := refPrefix(b[off:], maxBits)
		if !ok {
			wantErr = ErrNLRITruncated
			if int(b[off]) > maxBits {
				wantErr = ErrNLRIPrefixTooLong
			}
			break
		}
		want = append(want, refNetipPrefix(addr, bits, fam == IPv6Unicast))
		off += used
	}
	good := len(want)
	if n, err := ValidateNLRI(b, fam, false); n != good || err != wantErr {
		t.Fatalf("%v %x: ValidateNLRI %d %v, want %d %v", fam, b, n, err, good, wantErr)
	}
	if err := validateNLRIField(b, fam, false); err != wantErr {
		t.Fatalf("%v %x: validateNLRIField %v, want %v", fam, b, err, wantErr)
	}
	r := NewReader(b)
	if n, st := r.SkipPrefixes(maxBits, false); n != good || prefixErr(st) != wantErr {
		t.Fatalf("%v %x: SkipPrefixes %d %v, want %d %v", fam, b, n, st, good, wantErr)
	}
	it, raw := IterNLRI(b, fam, false), IterNLRI(b, fam, false)
	var n NLRI
	var rn RawNLRI
	for i := 0; i <= good; i++ {
		more, moreRaw := it.Next(&n), raw.NextRaw(&rn)
		if i == good {
			if more || moreRaw || it.Err() != wantErr || raw.Err() != wantErr {
				t.Fatalf("%v %x: after %d entries: %v %v, errors %v %v, want %v", fam, b, good, more, moreRaw, it.Err(), raw.Err(), wantErr)
			}
			break
		}
		if !more || !moreRaw || n.Prefix != want[i] || rn.Prefix() != want[i] {
			t.Fatalf("%v %x entry %d: %v %v, want %v", fam, b, i, n.Prefix, rn.Prefix(), want[i])
		}
	}
}

// ADD-PATH fields (RFC 7911 §3): a path identifier before each prefix; a field that ends
// inside an identifier or right after one is truncated.
func TestSkipPrefixesAddPath(t *testing.T) {
	one := []byte{0, 0, 0, 7, 24, 10, 1, 2}
	for cut := 0; cut <= len(one); cut++ {
		b := append(append([]byte(nil), one...), one[:cut]...)
		r := NewReader(b)
		n, st := r.SkipPrefixes(32, true)
		want, wantSt := 2, PrefixOK
		if cut < len(one) {
			want, wantSt = 1, PrefixTruncated
		}
		if cut == 0 {
			want, wantSt = 1, PrefixOK
		}
		if n != want || st != wantSt {
			t.Errorf("cut %d: %d %v, want %d %v", cut, n, st, want, wantSt)
		}
	}
}

// RFC 4271 §4.3 attribute headers: Reader.Attr against the byte-by-byte reading, on
// random runs of attributes cut at every length.
func TestReaderAttrMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 300; trial++ {
		var b []byte
		for k := 1 + rng.IntN(4); k > 0; k-- {
			flags, typ := byte(rng.Uint32())&0xf0, byte(rng.Uint32())
			n := rng.IntN(300)
			if flags&FlagExtLen != 0 {
				b = append(b, flags, typ, byte(n>>8), byte(n))
			} else {
				n &= 0xff
				b = append(b, flags, typ, byte(n))
			}
			for ; n > 0; n-- {
				b = append(b, byte(rng.Uint32()))
			}
		}
		for cut := 0; cut <= len(b); cut++ {
			in := b[:cut]
			r := NewReader(in)
			off := 0
			for off < len(in) {
				flags, typ, val, raw, ok := r.Attr()
				// The reference.
				wantTyp, hl, vl, wantOK := byte(0), 3, 0, true
				if len(in)-off >= 2 {
					wantTyp = in[off+1]
				}
				switch {
				case len(in)-off < 3:
					wantOK = false
				case in[off]&FlagExtLen != 0 && len(in)-off < 4:
					wantOK = false
				default:
					vl = int(in[off+2])
					if in[off]&FlagExtLen != 0 {
						hl, vl = 4, vl<<8|int(in[off+3])
					}
					wantOK = len(in)-off >= hl+vl
				}
				if ok != wantOK || typ != wantTyp {
					t.Fatalf("%x at %d: Attr ok %v typ %d, want %v %d", in, off, ok, typ, wantOK, wantTyp)
				}
				if !ok {
					if r.Ok() || !r.Empty() {
						t.Fatalf("%x at %d: reader not failed after an overrun", in, off)
					}
					break
				}
				if flags != in[off] || len(raw) != hl+vl || &raw[0] != &in[off] || len(val) != vl || cap(val) != vl || (vl > 0 && &val[0] != &in[off+hl]) {
					t.Fatalf("%x at %d: Attr %x %x %x", in, off, flags, val, raw)
				}
				off += hl + vl
			}
		}
	}
}

// RFC 4271 §4.3, RFC 7606 §7.2: ASSegments against the byte-by-byte walk.
func TestASSegmentsMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := 0; trial < 2000; trial++ {
		size := 2 + 2*rng.IntN(2)
		var b []byte
		for k := rng.IntN(4); k > 0; k-- {
			n := rng.IntN(4)
			b = append(b, byte(rng.IntN(6)), byte(n))
			for i := 0; i < n*size; i++ {
				b = append(b, byte(rng.Uint32()))
			}
		}
		if rng.IntN(3) == 0 && len(b) > 0 {
			b = b[:rng.IntN(len(b))]
		}
		segs, asns, confed, ok := 0, 0, false, true
		for off := 0; off < len(b); {
			if len(b)-off < 2 || b[off+1] == 0 || b[off] < SegSet || b[off] > SegConfedSet || len(b)-off-2 < int(b[off+1])*size {
				ok = false
				break
			}
			confed = confed || b[off] == SegConfedSeq || b[off] == SegConfedSet
			segs, asns = segs+1, asns+int(b[off+1])
			off += 2 + int(b[off+1])*size
		}
		r := NewReader(b)
		gs, ga, gc, gok := r.ASSegments(size)
		if gok != ok || ok && (gs != segs || ga != asns || gc != confed) {
			t.Fatalf("%x (%d-byte ASNs): %d %d %v %v, want %d %d %v %v", b, size, gs, ga, gc, gok, segs, asns, confed, ok)
		}
	}
}
