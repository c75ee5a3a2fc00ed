package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// RD is a route distinguisher (RFC 4364 §4.2) in wire form: a 2-byte type then 6 bytes of
// value. The zero RD (type 0, value 0) is what plain unicast NLRI carry.
type RD [8]byte

// Route distinguisher types.
const (
	RDType0 uint16 = 0 // 2-byte AS : 4-byte number
	RDType1 uint16 = 1 // IPv4 address : 2-byte number
	RDType2 uint16 = 2 // 4-byte AS : 2-byte number
)

// Type returns the RD's type field.
func (rd RD) Type() uint16 { return binary.BigEndian.Uint16(rd[:2]) }

// String formats the RD as "admin:assigned" the way GoBGP prints it.
func (rd RD) String() string {
	switch rd.Type() {
	case RDType0:
		return fmt.Sprintf("%d:%d", binary.BigEndian.Uint16(rd[2:]), binary.BigEndian.Uint32(rd[4:]))
	case RDType1:
		return fmt.Sprintf("%s:%d", netip.AddrFrom4([4]byte(rd[2:6])), binary.BigEndian.Uint16(rd[6:]))
	case RDType2:
		return fmt.Sprintf("%d:%d", binary.BigEndian.Uint32(rd[2:]), binary.BigEndian.Uint16(rd[6:]))
	}
	return fmt.Sprintf("rd-type%d:%x", rd.Type(), rd[2:])
}

// RD0 builds a type 0 route distinguisher.
func RD0(as uint16, n uint32) RD {
	var rd RD
	binary.BigEndian.PutUint16(rd[2:], as)
	binary.BigEndian.PutUint32(rd[4:], n)
	return rd
}

// RD1 builds a type 1 route distinguisher; a must be IPv4.
func RD1(a netip.Addr, n uint16) RD {
	var rd RD
	binary.BigEndian.PutUint16(rd[:2], RDType1)
	a4 := a.As4()
	copy(rd[2:6], a4[:])
	binary.BigEndian.PutUint16(rd[6:], n)
	return rd
}

// RD2 builds a type 2 route distinguisher.
func RD2(as uint32, n uint16) RD {
	var rd RD
	binary.BigEndian.PutUint16(rd[:2], RDType2)
	binary.BigEndian.PutUint32(rd[2:], as)
	binary.BigEndian.PutUint16(rd[6:], n)
	return rd
}

// MaxLabels is the deepest MPLS label stack an NLRI may carry here.
const MaxLabels = 3

// WithdrawLabel is the 3-byte label field value RFC 8277 §2.4 sends in withdrawals.
const WithdrawLabel uint32 = 0x800000

// LabelStack is an MPLS label stack of up to MaxLabels 20-bit labels, a small value.
type LabelStack struct {
	N      uint8
	Labels [MaxLabels]uint32
}

// Label1 returns a stack of one label.
func Label1(l uint32) LabelStack { return LabelStack{N: 1, Labels: [MaxLabels]uint32{l & 0xfffff}} }

// NLRI is one decoded reachability entry: a prefix (host bits masked), the ADD-PATH path
// identifier when negotiated (RFC 7911), and for VPN families the route distinguisher and
// label stack. It is a value with no pointers into the message.
type NLRI struct {
	Prefix netip.Prefix
	PathID uint32
	RD     RD
	Labels LabelStack
}

// Errors of NLRI syntax; callers classify them (Withdrawn Routes and NLRI fields, or
// MP_REACH/MP_UNREACH attributes) per RFC 7606 §5.3.
var (
	ErrNLRITruncated     = errors.New("NLRI truncated")
	ErrNLRIPrefixTooLong = errors.New("NLRI prefix length exceeds the address length")
	ErrNLRIBadLabels     = errors.New("NLRI label stack malformed or too deep")
	ErrNLRIFamily        = errors.New("NLRI of an unsupported address family")
)

// NLRIIter iterates the NLRI of one field (the UPDATE NLRI or Withdrawn Routes field, or
// the NLRI of MP_REACH_NLRI / MP_UNREACH_NLRI) without allocating. It is a small value
// owned by the caller; it aliases the message bytes.
type NLRIIter struct {
	r       Reader
	fam     Family
	addPath bool
	plain   uint8 // 4 or 16: unicast without path ids, read by the Reader's fast path
	err     error
}

// IterNLRI returns an iterator over b holding NLRI of family fam, with ADD-PATH path
// identifiers when addPath is set.
func IterNLRI(b []byte, fam Family, addPath bool) NLRIIter {
	it := NLRIIter{r: NewReader(b), fam: fam, addPath: addPath}
	if !fam.Supported() {
		it.err = ErrNLRIFamily
	} else if !addPath && !fam.IsVPN() {
		it.plain = uint8(fam.AddrLen())
	}
	return it
}

// Next decodes the next entry into n and reports whether there was one. It stops at the
// end of the field or at the first malformed entry; Err tells which.
func (it *NLRIIter) Next(n *NLRI) bool {
	if it.plain != 4 {
		return it.next(n)
	}
	// The hot path, IPv4 unicast, one word per prefix; everything else is in next.
	w, bits, ok := it.r.prefixWord4()
	if !ok {
		return it.next(n)
	}
	// Field by field: writing the whole struct (it holds a pointer) would cost a typed
	// copy per prefix.
	n.Prefix = netip.PrefixFrom(addrFromWire(w), int(bits))
	n.clearExtras()
	return true
}

// next is Next for all but the common IPv4 unicast prefix: the end of the field, the
// last prefixes of an IPv4 field (too close to its end for a whole word), errors, IPv6
// unicast, ADD-PATH and VPN families.
func (it *NLRIIter) next(n *NLRI) bool {
	if it.err != nil || it.r.Empty() {
		return false
	}
	switch it.plain {
	case 0:
		if err := decodeNLRI(&it.r, it.fam, it.addPath, n); err != nil {
			it.err = err
			return false
		}
		return true
	case 16:
		p, st := it.r.Prefix16()
		if st != PrefixOK {
			it.err = prefixErr(st)
			return false
		}
		n.Prefix = p
		n.clearExtras()
		return true
	}
	w, hi, lo, bits, ok := it.nextPlain()
	if !ok {
		return false
	}
	if it.plain == 4 {
		n.Prefix = netip.PrefixFrom(addrFromWire(w), int(bits))
	} else {
		n.Prefix = netip.PrefixFrom(addrFromWords(hi, lo), int(bits))
	}
	n.clearExtras()
	return true
}

// nextPlain reads a unicast prefix without path identifier the slow way (next and
// nextRaw): an IPv4 word in prefixWord4's form, or the two IPv6 words. It records the
// error and reports false for a malformed entry.
func (it *NLRIIter) nextPlain() (w uint32, hi, lo uint64, bits uint, ok bool) {
	var st PrefixStatus
	if it.plain == 4 {
		w, bits, st = it.r.prefix4Tail()
	} else {
		hi, lo, bits, st = it.r.prefix16()
	}
	if st != PrefixOK {
		it.err = prefixErr(st)
		return 0, 0, 0, 0, false
	}
	return w, hi, lo, bits, true
}

// clearExtras zeroes what a plain unicast entry does not carry, field by field: a
// struct assignment would go through a temporary on the stack.
func (n *NLRI) clearExtras() {
	n.PathID = 0
	n.RD = RD{}
	n.Labels = LabelStack{}
}

// clearExtras is NLRI.clearExtras for RawNLRI.
func (n *RawNLRI) clearExtras() {
	n.PathID = 0
	n.RD = RD{}
	n.Labels = LabelStack{}
}

// Err returns the error that stopped iteration, nil at a clean end.
func (it *NLRIIter) Err() error { return it.err }

// ValidateNLRI checks a whole NLRI field and returns how many entries it holds. An UPDATE
// is validated before any of it is applied, so a later iteration of the same bytes cannot
// fail halfway (RFC 7606 §5.3 requires the decision before the routes are used).
func ValidateNLRI(b []byte, fam Family, addPath bool) (int, error) {
	it := IterNLRI(b, fam, addPath)
	var n NLRI
	count := 0
	for it.Next(&n) {
		count++
	}
	return count, it.Err()
}

func prefixErr(st PrefixStatus) error {
	switch st {
	case PrefixTruncated:
		return ErrNLRITruncated
	case PrefixTooLong:
		return ErrNLRIPrefixTooLong
	}
	return nil
}

func decodeNLRI(r *Reader, fam Family, addPath bool, n *NLRI) error {
	*n = NLRI{}
	if addPath {
		n.PathID = r.U32()
	}
	if !fam.IsVPN() {
		// Unicast: the length octet and the prefix in one read.
		var st PrefixStatus
		if fam.AFI == AFIIPv4 {
			n.Prefix, st = r.Prefix4()
		} else {
			n.Prefix, st = r.Prefix16()
		}
		return prefixErr(st)
	}
	bits := int(r.U8())
	if !r.Ok() {
		return ErrNLRITruncated
	}
	if fam.IsVPN() {
		for {
			if bits < 24 {
				return ErrNLRIBadLabels
			}
			v := r.U24()
			if !r.Ok() {
				return ErrNLRITruncated
			}
			bits -= 24
			if v == WithdrawLabel || v == 0 && n.Labels.N == 0 {
				// RFC 8277 §2.4: a withdrawal's label field carries no stack.
				break
			}
			if int(n.Labels.N) == MaxLabels {
				return ErrNLRIBadLabels
			}
			n.Labels.Labels[n.Labels.N] = v >> 4
			n.Labels.N++
			if v&1 == 1 {
				break
			}
		}
		if bits < 64 {
			return ErrNLRIBadLabels
		}
		if !r.Copy(n.RD[:]) {
			return ErrNLRITruncated
		}
		bits -= 64
	}
	alen := fam.AddrLen()
	if bits > alen*8 {
		return ErrNLRIPrefixTooLong
	}
	nb := (bits + 7) / 8
	var a [16]byte
	if !r.Copy(a[:nb]) {
		return ErrNLRITruncated
	}
	if rem := bits % 8; rem != 0 {
		a[nb-1] &= 0xff << (8 - rem)
	}
	if alen == 4 {
		n.Prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte(a[:4])), bits)
	} else {
		n.Prefix = netip.PrefixFrom(netip.AddrFrom16(a), bits)
	}
	return nil
}

// NLRILen returns the encoded length of n in family fam.
func NLRILen(fam Family, addPath bool, n *NLRI) int {
	l := 1 + (n.Prefix.Bits()+7)/8
	if addPath {
		l += 4
	}
	if fam.IsVPN() {
		l += 8 + 3*max(1, min(int(n.Labels.N), MaxLabels))
	}
	return l
}

// AppendNLRI appends the wire form of n in family fam to dst. A VPN NLRI with an empty
// label stack is encoded with the RFC 8277 withdrawal label; a stack deeper than MaxLabels
// is cut to MaxLabels. The prefix must belong to fam's address family, and for VPN
// families its length plus 64 and 24 per label must fit the length octet (255 bits): the
// UpdateBuilder checks both before calling it.
func AppendNLRI(dst []byte, fam Family, addPath bool, n *NLRI) []byte {
	if addPath {
		dst = binary.BigEndian.AppendUint32(dst, n.PathID)
	}
	bits := n.Prefix.Bits()
	if bits < 0 {
		bits = 0
	}
	if fam.IsVPN() {
		nl := min(int(n.Labels.N), MaxLabels)
		dst = append(dst, byte(bits+64+24*max(1, nl)))
		if nl == 0 {
			dst = append(dst, byte(WithdrawLabel>>16), 0, 0)
		}
		for i := 0; i < nl; i++ {
			v := n.Labels.Labels[i] << 4
			if i == nl-1 {
				v |= 1
			}
			dst = append(dst, byte(v>>16), byte(v>>8), byte(v))
		}
		dst = append(dst, n.RD[:]...)
	} else {
		dst = append(dst, byte(bits))
	}
	a := n.Prefix.Addr().As16()
	raw := a[:]
	if n.Prefix.Addr().Is4() {
		raw = a[12:]
	}
	nb := (bits + 7) / 8
	start := len(dst)
	dst = append(dst, raw[:nb]...)
	if rem := bits % 8; rem != 0 {
		dst[start+nb-1] &= 0xff << (8 - rem)
	}
	return dst
}

// RawNLRI is an NLRI in the compact form the RIB keys on: prefix bytes (host bits cleared,
// IPv4 in the first four bytes) and length, with no pointers, so iterating into it is a
// plain copy. NLRI is the same entry with a netip.Prefix.
type RawNLRI struct {
	Addr   [16]byte
	Bits   uint8
	V6     bool
	PathID uint32
	RD     RD
	Labels LabelStack
}

// Prefix returns the entry's prefix.
func (n *RawNLRI) Prefix() netip.Prefix {
	if n.V6 {
		return netip.PrefixFrom(netip.AddrFrom16(n.Addr), int(n.Bits))
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte(n.Addr[:4])), int(n.Bits))
}

// NextRaw is Next for RawNLRI: the RIB's hot path, since it needs prefix bytes, not a
// netip.Prefix.
func (it *NLRIIter) NextRaw(n *RawNLRI) bool {
	if it.plain != 4 {
		return it.nextRaw(n)
	}
	w, bits, ok := it.r.prefixWord4()
	if !ok {
		return it.nextRaw(n)
	}
	n.set4(w, bits)
	return true
}

// set4 makes n the IPv4 unicast entry whose address bytes are w (prefixWord4's form).
func (n *RawNLRI) set4(w uint32, bits uint) {
	n.Addr = [16]byte{}
	binary.LittleEndian.PutUint32(n.Addr[:4], w)
	n.Bits, n.V6 = uint8(bits), false
	n.clearExtras()
}

// nextRaw is next for RawNLRI.
func (it *NLRIIter) nextRaw(n *RawNLRI) bool {
	if it.err != nil || it.r.Empty() {
		return false
	}
	if it.plain == 0 {
		var full NLRI
		if err := decodeNLRI(&it.r, it.fam, it.addPath, &full); err != nil {
			it.err = err
			return false
		}
		*n = RawNLRI{Bits: uint8(full.Prefix.Bits()), V6: full.Prefix.Addr().Is6(), PathID: full.PathID, RD: full.RD, Labels: full.Labels}
		if n.V6 {
			n.Addr = full.Prefix.Addr().As16()
		} else {
			a := full.Prefix.Addr().As4()
			copy(n.Addr[:4], a[:])
		}
		return true
	}
	w, hi, lo, bits, ok := it.nextPlain()
	switch {
	case !ok:
		return false
	case it.plain == 4:
		n.set4(w, bits)
	default:
		binary.BigEndian.PutUint64(n.Addr[:8], hi)
		binary.BigEndian.PutUint64(n.Addr[8:], lo)
		n.Bits, n.V6 = uint8(bits), true
		n.clearExtras()
	}
	return true
}
