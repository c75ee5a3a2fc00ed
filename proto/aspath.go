package proto

import (
	"encoding/binary"
	"strconv"
)

// ASSegment is one AS_PATH segment viewed in place: its type and its ASNs as 4-byte
// big-endian values aliasing the path. It is a small value; reading it never allocates.
type ASSegment struct {
	Type uint8
	asns []byte // Len()*4 bytes
}

// Len returns the number of ASNs in the segment.
func (s ASSegment) Len() int { return len(s.asns) / 4 }

// AS returns the i-th ASN of the segment (0 when i is out of range).
func (s ASSegment) AS(i int) uint32 {
	r := NewReader(s.asns)
	r.Skip(4 * i)
	return r.U32()
}

// AppendASNs appends the segment's ASNs to dst.
func (s ASSegment) AppendASNs(dst []uint32) []uint32 {
	r := NewReader(s.asns)
	for !r.Empty() {
		dst = append(dst, r.U32())
	}
	return dst
}

// ASPathIter walks the segments of an ASPath without allocating. It stops at the end of
// the path or at the first malformed segment (Err reports which); an ASPath produced by
// DecodeUpdate is always well formed.
type ASPathIter struct {
	r   Reader
	bad bool
}

// Segments returns an iterator over p's segments.
func (p ASPath) Segments() ASPathIter { return ASPathIter{r: NewReader(p)} }

// Next returns the next segment and whether there was one.
func (it *ASPathIter) Next() (ASSegment, bool) {
	if it.bad || it.r.Empty() {
		return ASSegment{}, false
	}
	typ := it.r.U8()
	n := int(it.r.U8())
	asns := it.r.Bytes(4 * n)
	if !it.r.Ok() || n == 0 || typ < SegSet || typ > SegConfedSet {
		it.bad = true
		return ASSegment{}, false
	}
	return ASSegment{Type: typ, asns: asns}, true
}

// Err reports whether iteration stopped at a malformed segment.
func (it *ASPathIter) Err() bool { return it.bad }

// Valid reports whether p is a well-formed 4-octet AS_PATH (RFC 7606 §7.2): known segment
// types, no empty segment, no overrun or trailing byte.
func (p ASPath) Valid() bool {
	ok, _ := p.scan()
	return ok
}

// scan checks p's segment framing in one pass (what Valid checks) and reports whether it
// holds a confederation segment: the decoder asks both of every AS_PATH.
func (p ASPath) scan() (ok, confed bool) {
	r := NewReader(p)
	_, _, confed, ok = r.ASSegments(4)
	return ok, confed
}

// Len is the path length used by best-path selection (RFC 4271 §9.1.2.2 (a), RFC 5065
// §5.3): each ASN of an AS_SEQUENCE counts 1, an AS_SET counts 1 whatever its size, and
// confederation segments count 0.
func (p ASPath) Len() int {
	n := 0
	it := p.Segments()
	for s, ok := it.Next(); ok; s, ok = it.Next() {
		switch s.Type {
		case SegSequence:
			n += s.Len()
		case SegSet:
			n++
		}
	}
	return n
}

// First returns the leftmost ASN when the path starts with an AS_SEQUENCE (the AS of the
// speaker that sent it, checked against the peer AS by RFC 4271 §6.3).
func (p ASPath) First() (uint32, bool) {
	it := p.Segments()
	s, ok := it.Next()
	if !ok || s.Type != SegSequence {
		return 0, false
	}
	return s.AS(0), true
}

// NeighborAS returns the AS a route was learned from for MED comparison (RFC 4271
// §9.1.2.2 (c), RFC 5065 §5.3): the first ASN of the first AS_SEQUENCE after any leading
// confederation segments. It reports false for an empty path, a path of only confederation
// segments, or one whose first non-confederation segment is an AS_SET.
func (p ASPath) NeighborAS() (uint32, bool) {
	it := p.Segments()
	for s, ok := it.Next(); ok; s, ok = it.Next() {
		switch s.Type {
		case SegConfedSeq, SegConfedSet:
			continue
		case SegSequence:
			return s.AS(0), true
		}
		return 0, false
	}
	return 0, false
}

// Contains reports whether as appears anywhere in the path, in any segment type (AS path
// loop detection, RFC 4271 §9.1.2; confederation loops, RFC 5065 §5.3).
func (p ASPath) Contains(as uint32) bool {
	it := p.Segments()
	for s, ok := it.Next(); ok; s, ok = it.Next() {
		r := NewReader(s.asns)
		for !r.Empty() {
			if r.U32() == as {
				return true
			}
		}
	}
	return false
}

// HasConfed reports whether the path carries a confederation segment.
func (p ASPath) HasConfed() bool {
	it := p.Segments()
	for s, ok := it.Next(); ok; s, ok = it.Next() {
		if s.Type == SegConfedSeq || s.Type == SegConfedSet {
			return true
		}
	}
	return false
}

// String formats the path the way GoBGP prints an AS_PATH: segments separated by a
// space; an AS_SEQUENCE as "1 2 3", an AS_SET as "{1,2}", an AS_CONFED_SET as "(1 2)"
// and an AS_CONFED_SEQUENCE as "[1,2]".
func (p ASPath) String() string {
	var b []byte
	it := p.Segments()
	first := true
	for s, ok := it.Next(); ok; s, ok = it.Next() {
		if !first {
			b = append(b, ' ')
		}
		first = false
		open, sep, closing := "", " ", ""
		switch s.Type {
		case SegSet:
			open, sep, closing = "{", ",", "}"
		case SegConfedSet:
			open, sep, closing = "(", " ", ")"
		case SegConfedSeq:
			open, sep, closing = "[", ",", "]"
		}
		b = append(b, open...)
		for i := 0; i < s.Len(); i++ {
			if i > 0 {
				b = append(b, sep...)
			}
			b = strconv.AppendUint(b, uint64(s.AS(i)), 10)
		}
		b = append(b, closing...)
	}
	return string(b)
}

// AppendASSegment appends a segment of type typ holding asns to p and returns the longer
// path. A run longer than 255 ASNs is split into several segments of the same type (for an
// AS_SET that changes its path-length weight; callers build sets of at most 255). Empty
// asns append nothing.
func AppendASSegment(p ASPath, typ uint8, asns ...uint32) ASPath {
	for len(asns) > 0 {
		n := min(len(asns), 255)
		p = append(p, typ, byte(n))
		for _, a := range asns[:n] {
			p = binary.BigEndian.AppendUint32(p, a)
		}
		asns = asns[n:]
	}
	return p
}

// ASSeq returns a path holding one AS_SEQUENCE of asns (split at 255 ASNs).
func ASSeq(asns ...uint32) ASPath { return AppendASSegment(nil, SegSequence, asns...) }

// validAS2Path reports whether b is a well-formed 2-octet AS_PATH and how many bytes its
// 4-octet form takes.
func validAS2Path(b []byte) (int, bool) {
	r := NewReader(b)
	segs, asns, _, ok := r.ASSegments(2)
	return 2*segs + 4*asns, ok
}

// appendAS2As4 appends the 4-octet form of the well-formed 2-octet path b to dst
// (RFC 6793 §4.2.2: a 2-octet ASN is the same number as a 4-octet one).
func appendAS2As4(dst []byte, b []byte) []byte {
	r := NewReader(b)
	for !r.Empty() {
		typ := r.U8()
		n := int(r.U8())
		dst = append(dst, typ, byte(n))
		for i := 0; i < n; i++ {
			dst = binary.BigEndian.AppendUint32(dst, uint32(r.U16()))
		}
	}
	return dst
}
