package proto

import (
	"encoding/binary"
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

// U64 reads a big-endian uint64.
func (r *Reader) U64() uint64 {
	if !r.need(8) {
		return 0
	}
	v := binary.BigEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
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

// PrefixStatus says how a prefix read ended.
type PrefixStatus uint8

// Outcomes of Prefix4 and Prefix16.
const (
	PrefixOK        PrefixStatus = iota
	PrefixTruncated              // the length octet or the prefix bytes run past the input
	PrefixTooLong                // the length exceeds the address length
)

// Prefix4 reads an RFC 4271 §4.3 prefix (a length octet, then the fewest bytes holding
// that many bits) of an IPv4 address, clearing bits past the length. It is the hot path
// of NLRI iteration, so it reads the bytes in one bounds check.
func (r *Reader) Prefix4() (netip.Prefix, PrefixStatus) {
	if r.failed || r.off >= len(r.b) {
		r.fail()
		return netip.Prefix{}, PrefixTruncated
	}
	bits := int(r.b[r.off])
	if bits > 32 {
		return netip.Prefix{}, PrefixTooLong
	}
	nb := (bits + 7) >> 3
	if len(r.b)-r.off-1 < nb {
		r.fail()
		return netip.Prefix{}, PrefixTruncated
	}
	v := word4(r.b[r.off+1:r.off+1+nb], bits)
	r.off += 1 + nb
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits), PrefixOK
}

// Prefix16 is Prefix4 for IPv6 addresses.
func (r *Reader) Prefix16() (netip.Prefix, PrefixStatus) {
	if r.failed || r.off >= len(r.b) {
		r.fail()
		return netip.Prefix{}, PrefixTruncated
	}
	bits := int(r.b[r.off])
	if bits > 128 {
		return netip.Prefix{}, PrefixTooLong
	}
	nb := (bits + 7) >> 3
	if len(r.b)-r.off-1 < nb {
		r.fail()
		return netip.Prefix{}, PrefixTruncated
	}
	var a [16]byte
	copy(a[:], r.b[r.off+1:r.off+1+nb])
	r.off += 1 + nb
	if rem := bits & 7; rem != 0 {
		a[nb-1] &= 0xff << (8 - rem)
	}
	return netip.PrefixFrom(netip.AddrFrom16(a), bits), PrefixOK
}

// SkipPrefix skips one RFC 4271 §4.3 prefix (a length octet and its bytes) whose length
// may not exceed maxBits, with one bounds check: the validation walk over NLRI fields.
func (r *Reader) SkipPrefix(maxBits int) PrefixStatus {
	if r.failed || r.off >= len(r.b) {
		r.fail()
		return PrefixTruncated
	}
	bits := int(r.b[r.off])
	if bits > maxBits {
		return PrefixTooLong
	}
	end := r.off + 1 + (bits+7)>>3
	if end > len(r.b) {
		r.fail()
		return PrefixTruncated
	}
	r.off = end
	return PrefixOK
}

// rawPrefix reads an RFC 4271 §4.3 prefix of at most maxBits bits into dst (zeroing the
// rest of dst and the bits past the length) with one bounds check.
func (r *Reader) rawPrefix(maxBits int, dst *[16]byte) (int, PrefixStatus) {
	if r.failed || r.off >= len(r.b) {
		r.fail()
		return 0, PrefixTruncated
	}
	bits := int(r.b[r.off])
	if bits > maxBits {
		return 0, PrefixTooLong
	}
	nb := (bits + 7) >> 3
	if len(r.b)-r.off-1 < nb {
		r.fail()
		return 0, PrefixTruncated
	}
	p := r.b[r.off+1 : r.off+1+nb]
	r.off += 1 + nb
	*dst = [16]byte{}
	if maxBits == 32 {
		// IPv4: a word, not a variable-length copy (which costs a memmove call).
		binary.BigEndian.PutUint32(dst[:4], word4(p, bits))
		return bits, PrefixOK
	}
	copy(dst[:nb], p)
	if rem := bits & 7; rem != 0 {
		dst[nb-1] &= 0xff << (8 - rem)
	}
	return bits, PrefixOK
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
