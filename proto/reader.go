package proto

import (
	"encoding/binary"
	mathbits "math/bits"
	"net/netip"
)

// Reader reads big-endian fields from a byte slice without ever indexing past its end.
// It is the only place in proto that indexes wire bytes: decoders read through it.
//
// A Reader has a sticky failure: the first read past the end marks it failed, returns
// zero values from then on, and Ok reports false. A decoder reads a whole structure and
// checks Ok once, the way a declarative grammar would, instead of checking every field.
//
// A Reader is a small value owned by one decoder call; slices it returns alias the input.
// Invariant: 0 <= off <= len(b), and a failed Reader has off == len(b), so the fast paths
// below need not look at failed: a failed Reader has nothing left to read.
type Reader struct {
	b      []byte
	off    int
	failed bool
}

// NewReader returns a Reader over b.
func NewReader(b []byte) Reader { return Reader{b: b} }

// Ok reports whether every read so far stayed within the input.
func (r *Reader) Ok() bool { return !r.failed }

// Len returns the number of unread bytes (0 after a failure).
func (r *Reader) Len() int {
	if r.failed {
		return 0
	}
	return len(r.b) - r.off
}

// Empty reports whether all input has been read (or a read failed).
func (r *Reader) Empty() bool { return r.Len() == 0 }

// Offset returns how many bytes have been consumed.
func (r *Reader) Offset() int { return r.off }

// fail marks the reader failed and returns false.
func (r *Reader) fail() bool {
	r.failed = true
	r.off = len(r.b)
	return false
}

// need reports whether n more bytes are available, failing the reader if not.
func (r *Reader) need(n int) bool {
	if r.failed {
		return false
	}
	if n < 0 || len(r.b)-r.off < n {
		return r.fail()
	}
	return true
}

// U8 reads one byte.
func (r *Reader) U8() uint8 {
	if !r.need(1) {
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

// U16 reads a big-endian uint16.
func (r *Reader) U16() uint16 {
	if !r.need(2) {
		return 0
	}
	v := binary.BigEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

// U24 reads a big-endian 24-bit value.
func (r *Reader) U24() uint32 {
	if !r.need(3) {
		return 0
	}
	v := uint32(r.b[r.off])<<16 | uint32(r.b[r.off+1])<<8 | uint32(r.b[r.off+2])
	r.off += 3
	return v
}

// U32 reads a big-endian uint32.
func (r *Reader) U32() uint32 {
	if !r.need(4) {
		return 0
	}
	v := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

// U32All reads a big-endian uint32 that must be all that is left of the input, as in
// an attribute of a fixed four-byte value; otherwise it reads nothing and reports false.
func (r *Reader) U32All() (uint32, bool) {
	if len(r.b)-r.off != 4 {
		return 0, false
	}
	v := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, true
}

// U64 reads a big-endian uint64.
func (r *Reader) U64() uint64 {
	if !r.need(8) {
		return 0
	}
	v := binary.BigEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

// Addr16 reads a 16-byte IPv6 address (the zero Addr on failure). It builds the address
// from the input bytes as they are: no temporary written piecewise (see Prefix16).
func (r *Reader) Addr16() netip.Addr {
	if !r.need(16) {
		return netip.Addr{}
	}
	a := netip.AddrFrom16([16]byte(r.b[r.off : r.off+16]))
	r.off += 16
	return a
}

// Bytes returns the next n bytes, aliasing the input (nil on failure).
func (r *Reader) Bytes(n int) []byte {
	if !r.need(n) {
		return nil
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}

// Copy reads len(dst) bytes into dst and reports success.
func (r *Reader) Copy(dst []byte) bool {
	if !r.need(len(dst)) {
		return false
	}
	copy(dst, r.b[r.off:])
	r.off += len(dst)
	return true
}

// Skip advances n bytes.
func (r *Reader) Skip(n int) bool {
	if !r.need(n) {
		return false
	}
	r.off += n
	return true
}

// Sub returns a Reader over the next n bytes and advances past them. On failure the
// returned Reader is already failed, so reads through it yield zero values.
func (r *Reader) Sub(n int) Reader {
	if !r.need(n) {
		return Reader{failed: true}
	}
	s := Reader{b: r.b[r.off : r.off+n : r.off+n]}
	r.off += n
	return s
}

// Rest returns every unread byte and consumes them.
func (r *Reader) Rest() []byte {
	if r.failed {
		return nil
	}
	v := r.b[r.off:len(r.b):len(r.b)]
	r.off = len(r.b)
	return v
}

// Peek returns the byte at the read position without consuming it.
func (r *Reader) Peek() (uint8, bool) {
	if r.failed || r.off >= len(r.b) {
		return 0, false
	}
	return r.b[r.off], true
}

// Attr reads one path attribute (RFC 4271 §4.3): the Attribute Flags and Type Code
// octets, a length of one octet (two with the Extended Length flag) and that many value
// octets. val is the value and raw the whole attribute, both aliasing the input. When the
// header or the value runs past the input, ok is false, the reader is failed, and typ is
// the type octet if the input held one (0 otherwise).
//
// It is the attribute walk's hot path: the header is read with one bounds check.
func (r *Reader) Attr() (flags, typ uint8, val, raw []byte, ok bool) {
	b, off := r.b, r.off
	if off < 0 || off+3 > len(b) {
		if off >= 0 && off+2 <= len(b) {
			typ = b[off+1]
		}
		r.fail()
		return 0, typ, nil, nil, false
	}
	h := b[off : off+3 : off+3] // one bounds check for the header
	flags, typ = h[0], h[1]
	start, n := off+3, int(h[2])
	if flags&FlagExtLen != 0 {
		if start >= len(b) {
			r.fail()
			return 0, typ, nil, nil, false
		}
		n = n<<8 | int(b[start])
		start++
	}
	end := start + n
	if end > len(b) {
		r.fail()
		return 0, typ, nil, nil, false
	}
	r.off = end
	return flags, typ, b[start:end:end], b[off:end], true
}

// ASSegments walks AS_PATH segments (RFC 4271 §4.3: a segment type octet, a count octet
// and count ASNs of asnSize octets each) to the end of the input. ok is false for a
// malformed path (RFC 7606 §7.2): an unknown segment type, a segment of zero ASNs, or a
// segment running past the end. It returns the number of segments and of ASNs, and
// whether a confederation segment was met (RFC 5065).
func (r *Reader) ASSegments(asnSize int) (segs, asns int, confed, ok bool) {
	b, off := r.b, r.off
	for off >= 0 && off+2 <= len(b) {
		typ, n := b[off], int(b[off+1])
		if n == 0 || typ < SegSet || typ > SegConfedSet {
			r.fail()
			return segs, asns, confed, false
		}
		confed = confed || typ >= SegConfedSeq
		off += 2 + n*asnSize
		segs++
		asns += n
	}
	if off != len(b) {
		r.fail()
		return segs, asns, confed, false
	}
	r.off = off
	return segs, asns, confed, true
}

// PrefixStatus says how a prefix read ended.
type PrefixStatus uint8

// Outcomes of Prefix4 and Prefix16.
const (
	PrefixOK        PrefixStatus = iota
	PrefixTruncated              // the length octet or the prefix bytes run past the input
	PrefixTooLong                // the length exceeds the address length
)

// Prefix4 reads an RFC 4271 §4.3 prefix (a length octet, then the fewest bytes holding
// that many bits) of an IPv4 address, clearing bits past the length.
func (r *Reader) Prefix4() (netip.Prefix, PrefixStatus) {
	if w, bits, ok := r.prefixWord4(); ok {
		return netip.PrefixFrom(addrFromWire(w), int(bits)), PrefixOK
	}
	w, bits, st := r.prefix4Tail()
	if st != PrefixOK {
		return netip.Prefix{}, st
	}
	return netip.PrefixFrom(addrFromWire(w), int(bits)), PrefixOK
}

// prefixWord4 is the hot path of IPv4 NLRI iteration, small enough to inline: while a
// length octet and four more bytes remain, it loads the prefix as one word and masks it,
// whatever its length (bytes past the prefix are masked away). It reports false, reading
// nothing, near the end of the input or for a length over 32: prefix4Tail decides then.
//
// The word holds the address bytes in wire order, the first in the low byte (a
// little-endian load): storing them or building a netip.Addr from them then costs no
// byte swap beyond the one netip.AddrFrom4 does.
func (r *Reader) prefixWord4() (w uint32, bits uint, ok bool) {
	b, off := r.b, r.off // off >= 0 (the Reader's invariant)
	if off+5 > len(b) {
		return 0, 0, false
	}
	p := b[off : off+5 : off+5] // one bounds check for the five bytes
	if p[0] > 32 {
		return 0, 0, false
	}
	bits = uint(p[0])
	r.off = off + int(bits+15)>>3 // the length octet and (bits+7)/8 bytes
	return binary.LittleEndian.Uint32(p[1:]) & mask4wire(uint8(bits)), bits, true
}

// prefix4Tail reads an IPv4 prefix where prefixWord4 did not: near the end of the input
// and at every error. The word (in prefixWord4's form) is then loaded so that it ends
// where the prefix does (the bytes before it are masked away), or byte by byte when the
// input is shorter than that.
func (r *Reader) prefix4Tail() (uint32, uint, PrefixStatus) {
	if r.failed || r.off >= len(r.b) {
		r.fail()
		return 0, 0, PrefixTruncated
	}
	bits := int(r.b[r.off])
	if bits > 32 {
		return 0, 0, PrefixTooLong
	}
	nb := (bits + 7) >> 3
	end := r.off + 1 + nb
	if end > len(r.b) {
		r.fail()
		return 0, 0, PrefixTruncated
	}
	var v uint32
	if end >= 4 {
		v = binary.BigEndian.Uint32(r.b[end-4:end]) << (8 * (4 - nb)) & mask4(uint(bits))
	} else {
		v = word4(r.b[r.off+1:end], bits)
	}
	r.off = end
	return mathbits.ReverseBytes32(v), uint(bits), PrefixOK
}

// addrFromWire returns the IPv4 address whose bytes, in wire order, are w's from the
// low byte up (prefixWord4's form).
func addrFromWire(w uint32) netip.Addr {
	var a [4]byte
	binary.LittleEndian.PutUint32(a[:], w)
	return netip.AddrFrom4(a)
}

// addrFromWord returns the IPv4 address whose big-endian value is w.
func addrFromWord(w uint32) netip.Addr {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], w)
	return netip.AddrFrom4(a)
}

// Prefix16 is Prefix4 for IPv6 addresses.
//
// While a length octet and sixteen more bytes remain, the address is built from those
// sixteen bytes as they are and then masked (netip.Prefix.Masked): building it from
// masked words instead would go through a temporary array written with two 8-byte stores
// and copied with one 16-byte load, a store-forwarding stall per prefix.
func (r *Reader) Prefix16() (netip.Prefix, PrefixStatus) {
	b, off := r.b, r.off
	if off+17 <= len(b) && b[off] <= 128 {
		bits := int(b[off])
		r.off = off + (bits+15)>>3
		return netip.PrefixFrom(netip.AddrFrom16([16]byte(b[off+1:off+17])), bits).Masked(), PrefixOK
	}
	hi, lo, bits, st := r.prefix16()
	if st != PrefixOK {
		return netip.Prefix{}, st
	}
	return netip.PrefixFrom(addrFromWords(hi, lo), int(bits)), PrefixOK
}

// prefix16 reads an IPv6 prefix as two masked big-endian words: while a length octet
// and sixteen more bytes remain it loads both words whole, as prefixWord4 does;
// otherwise it copies the prefix's bytes.
func (r *Reader) prefix16() (hi, lo uint64, bits uint, st PrefixStatus) {
	if p := r.b[r.off:]; len(p) >= 17 && p[0] <= 128 {
		bits = uint(p[0])
		r.off += int(bits+15) >> 3
		m := mask6(bits)
		hi = binary.BigEndian.Uint64(p[1:9]) & m.hi
		lo = binary.BigEndian.Uint64(p[9:17]) & m.lo
		return hi, lo, bits, PrefixOK
	}
	if r.failed || r.off >= len(r.b) {
		r.fail()
		return 0, 0, 0, PrefixTruncated
	}
	n := int(r.b[r.off])
	if n > 128 {
		return 0, 0, 0, PrefixTooLong
	}
	nb := (n + 7) >> 3
	if len(r.b)-r.off-1 < nb {
		r.fail()
		return 0, 0, 0, PrefixTruncated
	}
	p := r.b[r.off+1 : r.off+1+nb]
	r.off += 1 + nb
	if nb > 8 {
		hi, lo = binary.BigEndian.Uint64(p[:8]), leading(p[8:])
	} else {
		hi = leading(p)
	}
	m := mask6(uint(n))
	return hi & m.hi, lo & m.lo, uint(n), PrefixOK
}

// leading returns the (at most 8) bytes p as the leading bytes of a big-endian word, in
// at most two loads that may overlap: no copy through a temporary array (whose piecewise
// stores a whole-word load could not forward from).
func leading(p []byte) uint64 {
	switch n := len(p); {
	case n >= 8:
		return binary.BigEndian.Uint64(p)
	case n >= 4:
		return uint64(binary.BigEndian.Uint32(p))<<32 | uint64(binary.BigEndian.Uint32(p[n-4:]))<<(64-8*n)
	case n >= 2:
		return uint64(binary.BigEndian.Uint16(p))<<48 | uint64(binary.BigEndian.Uint16(p[n-2:]))<<(64-8*n)
	case n == 1:
		return uint64(p[0]) << 56
	}
	return 0
}

// addrFromWords returns the IPv6 address whose big-endian halves are hi and lo.
func addrFromWords(hi, lo uint64) netip.Addr {
	var a [16]byte
	binary.BigEndian.PutUint64(a[:8], hi)
	binary.BigEndian.PutUint64(a[8:], lo)
	return netip.AddrFrom16(a)
}

// SkipPrefixes walks RFC 4271 §4.3 prefixes, each preceded by a 4-byte path identifier
// when addPath is set (RFC 7911 §3), to the end of the input, checking that no length
// exceeds maxBits and that no prefix runs past the end; it returns how many it found.
// It is the validation walk over a unicast NLRI field: only the length octets are read,
// in one tight loop, and the only bounds check that can fail is the last one. At an
// error the reader is left failed (truncation) or at the offending length octet.
func (r *Reader) SkipPrefixes(maxBits int, addPath bool) (int, PrefixStatus) {
	if r.failed {
		return 0, PrefixTruncated
	}
	b, off, n := r.b, uint(r.off), 0
	if addPath {
		for off < uint(len(b)) {
			if off += 4; off >= uint(len(b)) {
				r.fail()
				return n, PrefixTruncated
			}
			if bits := int(b[off]); bits <= maxBits {
				off += uint(bits+15) >> 3
				n++
				continue
			}
			r.off = int(off)
			return n, PrefixTooLong
		}
	}
	for off < uint(len(b)) {
		bits := int(b[off])
		if bits > maxBits {
			r.off = int(off)
			return n, PrefixTooLong
		}
		off += uint(bits+15) >> 3
		n++
	}
	if off > uint(len(b)) {
		r.fail()
		return n - 1, PrefixTruncated // the last one counted runs past the end
	}
	r.off = int(off)
	return n, PrefixOK
}

// word4 assembles the (at most 4) prefix bytes p of an IPv4 prefix of length bits into a
// word with the bits past the length cleared. Building a word, rather than copying bytes
// into an array and loading it, avoids a store-forwarding stall on the hot path.
func word4(p []byte, bits int) uint32 {
	var v uint32
	switch len(p) {
	case 4:
		v = binary.BigEndian.Uint32(p)
	case 3:
		v = uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8
	case 2:
		v = uint32(p[0])<<24 | uint32(p[1])<<16
	case 1:
		v = uint32(p[0]) << 24
	}
	if bits < 32 {
		v &= ^(^uint32(0) >> bits)
	}
	return v
}
