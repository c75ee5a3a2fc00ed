package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"unsafe"
)

// Errors the UpdateBuilder reports from AppendMessages. Each is wrapped with the family
// and the prefix or attribute length it is about.
var (
	// ErrAttrsTooLarge: an attribute set (with its MP_REACH_NLRI header and next hop) is
	// so large that not even one prefix fits beside it in a message of the session's
	// maximum size. The prefix is withdrawn instead, so the peer does not keep a stale
	// older route for it.
	ErrAttrsTooLarge = errors.New("attribute set too large for one message")
	// ErrBadAttrs: the attribute bytes handed to Announce are not a well-formed run of
	// path attributes, or contain MP_REACH_NLRI/MP_UNREACH_NLRI. The prefix is withdrawn.
	ErrBadAttrs = errors.New("malformed attribute encoding")
	// ErrBadNextHop: the next hop is missing or of an address family the NLRI family
	// cannot carry (RFC 4760 §3, RFC 4364 §4.3.2, RFC 4659 §3.2). The prefix is withdrawn.
	ErrBadNextHop = errors.New("next hop unusable for the family")
	// ErrBadPrefix: the family is unsupported, the prefix is invalid or of the other
	// address family, or a VPN label stack is too deep to encode. The entry is dropped.
	ErrBadPrefix = errors.New("prefix unusable for the family")
)

// MPNextHop is the next hop the builder writes into MP_REACH_NLRI: Addr is the global
// next hop and LinkLocal, when valid, the IPv6 link-local one (RFC 2545 §3). For IPv6
// families an IPv4 Addr is sent IPv4-mapped (RFC 4659 §3.2.1.2). For IPv4 unicast a valid
// Addr is written as the NEXT_HOP attribute (replacing one in the attribute bytes); the
// zero MPNextHop means the attribute bytes carry NEXT_HOP themselves.
type MPNextHop struct {
	Addr      netip.Addr
	LinkLocal netip.Addr
}

// UpdateBuilder packs withdrawals and announcements into UPDATE messages.
//
// Use: Reset with the RibOut's session options, queue a batch with Withdraw and Announce,
// then AppendMessages writes whole BGP messages (header included) one after another into
// a caller's buffer. Those bytes are what every in-sync peer of the RibOut is sent: encode
// once, append the same bytes to each peer's send buffer. The send path, per RibOut:
//
//	b.Reset(&ribOut.Options)                   // 4-octet AS, ADD-PATH, extended messages
//	for _, u := range dequeued {               // at most one pending update per prefix
//		if u.Withdraw {
//			b.Withdraw(u.Family, u.NLRI)
//		} else {                               // u.Attrs: AppendAttrs output, interned
//			b.AnnounceString(u.Family, u.Attrs.Wire(), u.NextHop, u.NLRI)
//		}
//	}
//	buf, err := b.AppendMessages(buf[:0])      // err: log it; buf is still all valid
//	for _, p := range ribOut.InSyncPeers {
//		p.Send(buf)                            // the same bytes for every peer
//	}
//
// Prefixes of one set passed in one call (b.Announce(fam, attrs, nh, batch...)) take the
// fastest path. Bound the batch (a few thousand prefixes): the builder keeps the memory of
// its largest batch. The zero UpdateBuilder is usable and has default options (4096-byte
// messages, 2-octet AS, no ADD-PATH) until Reset.
//
// Packing: withdrawals come first (IPv4 unicast in the Withdrawn Routes field, other
// families in MP_UNREACH_NLRI), then the announcements of each attribute set in the order
// the sets were first seen. Prefixes that share a family, next hop and attribute bytes
// are packed together, whatever order they were queued in, into as few messages as fit
// the session's limit (opts.MaxLen(): 4096, or 65535 with RFC 8654 extended messages);
// each message is filled as full as possible and never exceeds the limit. IPv4 unicast
// uses the classic NLRI field; IPv6, VPNv4 and VPNv6 use MP_REACH_NLRI, sent as the first
// attribute (RFC 7606 §5.1) followed by the caller's attribute bytes.
//
// Allocation: after the first few batches have grown its buffers, a batch allocates
// nothing (as long as dst has room). Memory grows to the largest batch and is kept.
//
// Owner: one send task (a scheduling group's bgp.send instance); not safe for concurrent
// use. Cardinality: one per send task. Lifetime: the task's; reused for every batch.
type UpdateBuilder struct {
	opts   SessionOptions
	maxLen int

	wd [numFamilies][]byte // encoded withdrawn NLRI per family

	groups []annGroup         // announcement sets, in first-seen order; reused
	index  map[groupKey]int32 // group key → index in groups, once there are many groups
	cur    int32              // 1 + index of the group of the last Announce; 0 when none
	nlri   NLRI               // scratch for VPN withdrawals (labels cleared)
	err    error              // the first problem of the batch
	nerr   int                // how many entries had a problem
}

// numFamilies is the number of families the builder handles; famIndex maps them.
const numFamilies = 4

var builderFamilies = [numFamilies]Family{IPv4Unicast, IPv6Unicast, VPNv4, VPNv6}

func famIndex(f Family) int {
	switch f {
	case IPv4Unicast:
		return 0
	case IPv6Unicast:
		return 1
	case VPNv4:
		return 2
	case VPNv6:
		return 3
	}
	return -1
}

type groupKey struct {
	fam   Family
	nh    MPNextHop
	attrs string
}

// annGroup is one attribute set's announcements.
type annGroup struct {
	groupKey
	nlri  []byte // encoded NLRI, back to back; reused across batches
	fixed int    // message bytes besides NLRI, with a one-byte MP_REACH length
	mpVal int    // MP_REACH_NLRI value bytes besides NLRI (0 for IPv4 unicast)
	nhAt  int    // IPv4 unicast with nh: where NEXT_HOP goes in attrs
	nhEnd int    // and where the attribute bytes resume (skipping a NEXT_HOP in attrs)

	addPath bool // path identifiers are sent for fam
	roomy   bool // any NLRI of fam fits beside the attributes: no per-prefix size check
}

// NewUpdateBuilder returns a builder for a session with opts.
func NewUpdateBuilder(opts *SessionOptions) *UpdateBuilder {
	b := &UpdateBuilder{}
	b.Reset(opts)
	return b
}

// Reset discards any queued entries and error and sets the session options for the next
// batch (nil keeps the current ones). Buffers are kept for reuse.
func (b *UpdateBuilder) Reset(opts *SessionOptions) {
	if opts != nil {
		b.opts = *opts
	}
	b.maxLen = b.opts.MaxLen()
	for i := range b.wd {
		b.wd[i] = b.wd[i][:0]
	}
	for i := range b.groups {
		b.groups[i].attrs = "" // do not keep the caller's bytes alive
	}
	if len(b.groups) > groupScan {
		clear(b.index)
	}
	b.groups = b.groups[:0]
	b.cur = 0
	b.err, b.nerr = nil, 0
}

// Err returns the first problem of the batch so far (see AppendMessages).
func (b *UpdateBuilder) Err() error { return b.err }

func (b *UpdateBuilder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
	b.nerr++
}

// validNLRI reports whether n can be encoded as an NLRI of fam: its prefix is valid and of
// fam's address family, and for VPN families the label stack is at most MaxLabels deep and
// labels, route distinguisher and prefix fit the one-byte length field (RFC 8277 §2: a
// VPNv6 /128 fits with two labels, not three).
func validNLRI(fam Family, n *NLRI, labels bool) bool {
	p := n.Prefix
	if !p.IsValid() {
		return false
	}
	if fam.AFI == AFIIPv4 && !p.Addr().Is4() || fam.AFI == AFIIPv6 && !p.Addr().Is6() {
		return false
	}
	if fam.IsVPN() && labels {
		return n.Labels.N <= MaxLabels && p.Bits()+64+24*max(1, int(n.Labels.N)) <= 0xff
	}
	return true
}

// Withdraw queues the withdrawal of each of ns in fam. The path identifier is sent when
// the session has ADD-PATH for fam; a VPN withdrawal carries the RFC 8277 §2.4 withdrawal
// label instead of the route's labels.
func (b *UpdateBuilder) Withdraw(fam Family, ns ...NLRI) {
	fi := famIndex(fam)
	for i := range ns {
		n := &ns[i]
		if fi < 0 || !validNLRI(fam, n, false) {
			b.fail(fmt.Errorf("withdraw %v %v: %w", fam, n.Prefix, ErrBadPrefix))
			continue
		}
		b.withdraw(fi, fam, n)
	}
}

func (b *UpdateBuilder) withdraw(fi int, fam Family, n *NLRI) {
	if fam.IsVPN() && n.Labels.N != 0 {
		b.nlri = *n
		b.nlri.Labels = LabelStack{}
		n = &b.nlri
	}
	b.wd[fi] = AppendNLRI(b.wd[fi], fam, b.opts.AddPath.Has(fam), n)
}

// Announce queues the announcement of each of ns in fam with the attribute set attrs (the
// output of AppendAttrs for this session, without MP_REACH/MP_UNREACH) and, for families
// other than IPv4 unicast, next hop nh (see MPNextHop). The builder keeps a reference to
// attrs until the next Reset: the bytes must not change until AppendMessages has returned.
//
// Entries are grouped by (fam, nh, attrs content), whatever order they come in. Passing
// a set's prefixes in one call (b.Announce(fam, attrs, nh, batch...)) is the fast path:
// the set is looked up once and each prefix costs a few nanoseconds; handing the same
// slice for every prefix of a set (an interned encoding) makes the lookup one pointer
// comparison. An announcement the builder cannot encode is queued as a withdrawal and
// reported by AppendMessages.
func (b *UpdateBuilder) Announce(fam Family, attrs []byte, nh MPNextHop, ns ...NLRI) {
	b.AnnounceString(fam, unsafe.String(unsafe.SliceData(attrs), len(attrs)), nh, ns...)
}

// AnnounceString is Announce for attribute bytes held in a string (as interned attribute
// sets are).
func (b *UpdateBuilder) AnnounceString(fam Family, attrs string, nh MPNextHop, ns ...NLRI) {
	if len(ns) == 1 && b.cur > 0 {
		// One prefix for the current set (the send path's usual call): no run loop.
		g := &b.groups[b.cur-1]
		if g.roomy && g.fam == fam && sameString(g.attrs, attrs) && sameNextHop(&g.nh, &nh) && g.appendOne(&ns[0]) {
			return
		}
	}
	b.announce(fam, attrs, &nh, ns)
}

// announce is AnnounceString past its one-prefix fast path.
func (b *UpdateBuilder) announce(fam Family, attrs string, pnh *MPNextHop, ns []NLRI) {
	nh := *pnh
	for len(ns) > 0 {
		// Fast path: the current set is this one and has room for any prefix of fam, so
		// a run of valid prefixes is encoded in one tight loop.
		if b.cur > 0 {
			g := &b.groups[b.cur-1]
			if g.roomy && g.fam == fam && sameString(g.attrs, attrs) && sameNextHop(&g.nh, &nh) {
				k := g.appendRun(ns)
				if ns = ns[k:]; len(ns) == 0 {
					return
				}
			}
		}
		if fam == IPv4Unicast && !nh.Addr.IsValid() {
			nh = MPNextHop{} // NEXT_HOP travels in attrs: one group whatever LinkLocal says
		}
		b.announceSlow(fam, attrs, nh, &ns[0])
		ns = ns[1:]
	}
}

// appendOne is appendRun for one IPv4 or IPv6 unicast prefix; it reports false, taking
// nothing, for any other family or a prefix appendRun would not take.
func (g *annGroup) appendOne(n *NLRI) bool {
	p := n.Prefix
	a := p.Addr()
	switch {
	case !p.IsValid():
		return false
	case g.fam == IPv4Unicast && a.Is4():
		if g.addPath {
			g.nlri = binary.BigEndian.AppendUint32(g.nlri, n.PathID)
		}
		g.nlri = appendV4(g.nlri, p.Bits(), a.As4())
	case g.fam == IPv6Unicast && a.Is6():
		if g.addPath {
			g.nlri = binary.BigEndian.AppendUint32(g.nlri, n.PathID)
		}
		g.nlri = appendV6(g.nlri, p.Bits(), a)
	default:
		return false
	}
	return true
}

// appendRun encodes the leading prefixes of ns that are valid for the group's family and
// returns how many it took.
func (g *annGroup) appendRun(ns []NLRI) int {
	dst, k := g.nlri, len(ns)
	switch g.fam {
	case IPv4Unicast:
		dst = slices.Grow(dst, len(ns)*(4+5)) // the appends below never grow
		for i := range ns {
			p := ns[i].Prefix
			a := p.Addr()
			if !a.Is4() || !p.IsValid() {
				k = i
				break
			}
			if g.addPath {
				dst = binary.BigEndian.AppendUint32(dst, ns[i].PathID)
			}
			dst = appendV4(dst, p.Bits(), a.As4())
		}
	case IPv6Unicast:
		dst = slices.Grow(dst, len(ns)*(4+17)) // the appends below never grow
		for i := range ns {
			p := &ns[i].Prefix
			a := p.Addr()
			if !a.Is6() || !p.IsValid() {
				k = i
				break
			}
			if g.addPath {
				id := ns[i].PathID
				dst = append(dst, byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
			}
			if addrWordsOK {
				dst = appendV6Words(dst, p.Bits(), (*addrWords)(unsafe.Pointer(&a)))
			} else {
				dst = appendV6Portable(dst, p.Bits(), a)
			}
		}
	default:
		for i := range ns {
			if !validNLRI(g.fam, &ns[i], true) {
				k = i
				break
			}
			dst = AppendNLRI(dst, g.fam, g.addPath, &ns[i])
		}
	}
	g.nlri = dst
	return k
}

func (b *UpdateBuilder) announceSlow(fam Family, attrs string, nh MPNextHop, n *NLRI) {
	if b.maxLen == 0 { // a zero UpdateBuilder: default options
		b.maxLen = b.opts.MaxLen()
	}
	fi := famIndex(fam)
	if fi < 0 || !validNLRI(fam, n, true) {
		b.fail(fmt.Errorf("announce %v %v (%d labels): %w", fam, n.Prefix, n.Labels.N, ErrBadPrefix))
		return
	}
	g := b.group(fam, attrs, nh)
	if g == nil {
		b.withdraw(fi, fam, n)
		return
	}
	if l := NLRILen(fam, g.addPath, n); !g.fits(l, b.maxLen) {
		b.fail(fmt.Errorf("announce %v %v with %d attribute bytes: %d-byte message over the %d-byte limit: %w",
			fam, n.Prefix, len(attrs), g.fixed+l, b.maxLen, ErrAttrsTooLarge))
		b.withdraw(fi, fam, n)
		return
	}
	if fam.IsVPN() {
		g.nlri = AppendNLRI(g.nlri, fam, g.addPath, n)
	} else {
		g.nlri = appendUnicast(g.nlri, g.addPath, n)
	}
}

// sameString reports whether a and b are equal, comparing their pointers first: the
// attribute bytes of one set are usually the very same memory.
func sameString(a, b string) bool {
	return len(a) == len(b) && (unsafe.StringData(a) == unsafe.StringData(b) || a == b)
}

// sameNextHop compares next hops field by field (a struct comparison would call memequal).
func sameNextHop(a, b *MPNextHop) bool { return a.Addr == b.Addr && a.LinkLocal == b.LinkLocal }

// appendUnicast appends an IPv4 or IPv6 unicast NLRI (RFC 4271 §4.3, RFC 4760 §5, RFC
// 7911 §3), masking host bits. It is AppendNLRI specialised for the builder's hot path:
// the address is masked in registers and appended whole (fixed-size stores), then the
// slice is cut back to the prefix's bytes.
func appendUnicast(dst []byte, addPath bool, n *NLRI) []byte {
	if addPath {
		id := n.PathID
		dst = append(dst, byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
	}
	if a := n.Prefix.Addr(); a.Is4() {
		return appendV4(dst, n.Prefix.Bits(), a.As4())
	}
	return appendV6(dst, n.Prefix.Bits(), n.Prefix.Addr())
}

// appendV4 appends the length byte and the prefix bytes of an IPv4 prefix of bits bits
// (0 to 32) whose address is a, masking host bits: the masked address is appended whole
// and the slice cut back to the prefix's bytes.
func appendV4(dst []byte, bits int, a [4]byte) []byte {
	v := binary.BigEndian.Uint32(a[:]) & mask4(uint(bits))
	dst = append(dst, byte(bits), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	return dst[:len(dst)-4+(bits+7)/8]
}

// appendV6 appends the length byte and the prefix bytes of an IPv6 prefix of bits bits
// (0 to 128) whose address is a, masking host bits. The address's two words are read in
// place (see addrWordsOK), masked and stored whole with two 8-byte stores, and the slice
// cut back to the prefix's bytes; where netip.Addr's layout is not the one expected, the
// words come from AppendBinary instead.
func appendV6(dst []byte, bits int, a netip.Addr) []byte {
	if !addrWordsOK || uint(bits) > 128 {
		return appendV6Portable(dst, bits, a)
	}
	return appendV6Words(dst, bits, (*addrWords)(unsafe.Pointer(&a)))
}

// appendV6Words is appendV6 for an address whose layout has been checked and a length
// of at most 128 bits.
func appendV6Words(dst []byte, bits int, w *addrWords) []byte {
	m := mask6(uint(bits))
	l := len(dst)
	if cap(dst)-l < 17 {
		dst = slices.Grow(dst, 17)
	}
	dst = dst[:l+17]
	dst[l] = byte(bits)
	binary.BigEndian.PutUint64(dst[l+1:], w.hi&m.hi)
	binary.BigEndian.PutUint64(dst[l+9:], w.lo&m.lo)
	return dst[:l+1+(bits+7)/8]
}

// appendV6Portable is appendV6 through netip's own encoding. AppendBinary writes the
// address straight into dst; what follows the prefix's bytes, a zone included, is cut off.
func appendV6Portable(dst []byte, bits int, a netip.Addr) []byte {
	dst = append(dst, byte(bits))
	l := len(dst)
	dst, _ = a.AppendBinary(dst)
	nb := (bits + 7) / 8
	if len(dst) < l+16 || nb > 16 || nb < 0 { // not an IPv6 address: callers check, but never slice past it
		return append(dst[:l], make([]byte, max(nb, 0))...)
	}
	dst = dst[:l+nb]
	if rem := bits % 8; rem != 0 {
		dst[l+nb-1] &= 0xff << (8 - rem)
	}
	return dst
}

// addrWords is how netip.Addr holds an address: its 128 bits as two host-order words,
// high first, then the zone handle. Reading them in place saves the per-prefix cost of
// AppendBinary (zone lookups, byte-wise stores) on the encoder's hottest loop.
type addrWords struct {
	hi, lo uint64
	_      unsafe.Pointer
}

// addrWordsOK reports whether netip.Addr has addrWords' layout in this build: the sizes
// agree and known addresses read back as the words they are. Checked once at start-up;
// a future Go that changes the layout falls back to appendV6Portable.
var addrWordsOK = func() bool {
	if unsafe.Sizeof(netip.Addr{}) != unsafe.Sizeof(addrWords{}) {
		return false
	}
	for _, s := range []string{"2001:db8:1:2:3:4:5:6", "fe80::1%eth0", "::ffff:192.0.2.1", "::"} {
		a := netip.MustParseAddr(s)
		b := a.As16()
		w := (*addrWords)(unsafe.Pointer(&a))
		if w.hi != binary.BigEndian.Uint64(b[:8]) || w.lo != binary.BigEndian.Uint64(b[8:]) {
			return false
		}
	}
	return true
}()

// maxNLRILen is the longest NLRI of each family without a path identifier: a length
// byte, up to three labels and a route distinguisher for VPN, and the address.
func maxNLRILen(fam Family) int {
	l := 1 + fam.AddrLen()
	if fam.IsVPN() {
		l += 3*MaxLabels + 8
	}
	return l
}

// fits reports whether an NLRI of l bytes fits in a message of the group by itself.
func (g *annGroup) fits(l, maxLen int) bool {
	need := g.fixed + l
	if g.mpVal > 0 {
		need += attrHeaderLen(g.mpVal+l) - 3
	}
	return need <= maxLen
}

// groupScan is how many groups the builder searches linearly before it indexes them in
// a map: batches usually hold a few sets, and a map costs more than a short scan.
const groupScan = 8

// group returns the group for (fam, attrs, nh), creating it; nil (with the error recorded)
// when the attribute set or next hop cannot be encoded.
func (b *UpdateBuilder) group(fam Family, attrs string, nh MPNextHop) *annGroup {
	if b.cur > 0 {
		if g := &b.groups[b.cur-1]; g.fam == fam && sameNextHop(&g.nh, &nh) && sameString(g.attrs, attrs) {
			return g
		}
	}
	k := groupKey{fam: fam, nh: nh, attrs: attrs}
	if len(b.groups) <= groupScan {
		for i := range b.groups {
			if g := &b.groups[i]; g.fam == fam && sameNextHop(&g.nh, &nh) && sameString(g.attrs, attrs) {
				b.cur = int32(i) + 1
				return g
			}
		}
	} else if i, ok := b.index[k]; ok {
		b.cur = i + 1
		return &b.groups[i]
	}
	var g annGroup
	g.groupKey = k
	if err := b.layout(&g); err != nil {
		b.fail(fmt.Errorf("announce %v with %d attribute bytes: %w", fam, len(attrs), err))
		return nil
	}
	l := maxNLRILen(fam)
	if g.addPath {
		l += 4
	}
	g.roomy = g.fits(l, b.maxLen)
	n := len(b.groups)
	if n < cap(b.groups) {
		b.groups = b.groups[:n+1]
		g.nlri = b.groups[n].nlri[:0]
	} else {
		b.groups = append(b.groups, annGroup{})
	}
	b.groups[n] = g
	switch {
	case n+1 == groupScan+1: // the scan gets too long: index every group from now on
		if b.index == nil {
			b.index = make(map[groupKey]int32)
		}
		for i := range b.groups {
			b.index[b.groups[i].groupKey] = int32(i)
		}
	case n+1 > groupScan+1:
		b.index[k] = int32(n)
	}
	b.cur = int32(n) + 1
	return &b.groups[n]
}

// layout checks a new group's attribute bytes and next hop and computes its fixed size.
func (b *UpdateBuilder) layout(g *annGroup) error {
	nhAt, nhEnd, err := scanAttrs(g.attrs)
	if err != nil {
		return err
	}
	g.fixed = HeaderLen + 2 + 2 + len(g.attrs)
	g.addPath = b.opts.AddPath.Has(g.fam)
	if g.fam == IPv4Unicast {
		if g.nh.Addr.IsValid() {
			if !g.nh.Addr.Unmap().Is4() {
				return ErrBadNextHop
			}
			g.nhAt, g.nhEnd = nhAt, nhEnd
			g.fixed += 3 + 4 - (nhEnd - nhAt)
		}
		return nil
	}
	nhLen, ok := mpNextHopLen(g.fam, g.nh)
	if !ok {
		return ErrBadNextHop
	}
	g.mpVal = 2 + 1 + 1 + nhLen + 1 // AFI, SAFI, next hop length, next hop, reserved
	g.fixed += 3 + g.mpVal
	return nil
}

// scanAttrs walks encoded path attributes. It returns where a NEXT_HOP attribute is (or
// would go, in ascending type order) as [at, end), and an error when the bytes are not a
// well-formed run of attributes or include MP_REACH/MP_UNREACH.
func scanAttrs(s string) (at, end int, err error) {
	at, end = -1, -1
	off := 0
	for off < len(s) {
		if len(s)-off < 3 {
			return 0, 0, ErrBadAttrs
		}
		flags, typ := s[off], s[off+1]
		hl, vl := 3, int(s[off+2])
		if flags&FlagExtLen != 0 {
			if len(s)-off < 4 {
				return 0, 0, ErrBadAttrs
			}
			hl, vl = 4, int(s[off+2])<<8|int(s[off+3])
		}
		if len(s)-off-hl < vl || typ == AttrMPReach || typ == AttrMPUnreach {
			return 0, 0, ErrBadAttrs
		}
		if at < 0 && typ >= AttrNextHop {
			at = off
			end = off
			if typ == AttrNextHop {
				end = off + hl + vl
			}
		}
		off += hl + vl
	}
	if at < 0 {
		at, end = len(s), len(s)
	}
	return at, end, nil
}

// mpNextHopLen returns the MP_REACH next hop length for fam and whether nh suits fam.
func mpNextHopLen(fam Family, nh MPNextHop) (int, bool) {
	a := nh.Addr
	if !a.IsValid() {
		return 0, false
	}
	ll := 0
	if nh.LinkLocal.IsValid() {
		if fam.AFI != AFIIPv6 || !nh.LinkLocal.Is6() {
			return 0, false
		}
		ll = 16
	}
	switch fam {
	case IPv6Unicast:
		return 16 + ll, true
	case VPNv6:
		if ll != 0 {
			return 48, true
		}
		return 24, true
	case VPNv4:
		return 12, a.Unmap().Is4()
	}
	return 0, false
}

// appendMPNextHop appends the next hop field of MP_REACH_NLRI: for VPN families each
// address is preceded by a zero route distinguisher (RFC 4364 §4.3.2, RFC 4659 §3.2).
func appendMPNextHop(dst []byte, fam Family, nh MPNextHop) []byte {
	var zeroRD [8]byte
	if fam.IsVPN() {
		dst = append(dst, zeroRD[:]...)
	}
	if fam.AFI == AFIIPv4 {
		return appendAddr4(dst, nh.Addr)
	}
	a := nh.Addr.As16()
	dst = append(dst, a[:]...)
	if nh.LinkLocal.IsValid() {
		if fam.IsVPN() {
			dst = append(dst, zeroRD[:]...)
		}
		a = nh.LinkLocal.As16()
		dst = append(dst, a[:]...)
	}
	return dst
}

// endMessage writes the length of the message that starts at dst[at:] (begun with
// BeginMessage). Unlike EndMessage it does not check the limit: the builder's packing
// guarantees it.
func endMessage(dst []byte, at int) []byte {
	binary.BigEndian.PutUint16(dst[at+16:], uint16(len(dst)-at))
	return dst
}

// nlriEntryLen returns the length of the encoded NLRI at the start of b (which the builder
// wrote itself), 0 when b is too short to hold one.
func nlriEntryLen(b []byte, addPath bool) int {
	h := 0
	if addPath {
		h = 4
	}
	if len(b) <= h {
		return 0
	}
	n := h + 1 + (int(b[h])+7)/8
	if n > len(b) {
		return 0
	}
	return n
}

// take returns how many leading bytes of b hold whole NLRI fitting in room bytes.
func take(b []byte, addPath bool, room int) int {
	if len(b) <= room {
		return len(b) // the builder wrote b: it holds whole NLRI
	}
	n := 0
	for n < len(b) {
		l := nlriEntryLen(b[n:], addPath)
		if l == 0 || n+l > room {
			break
		}
		n += l
	}
	return n
}

// takeMP is take for NLRI inside an MP attribute whose value holds val bytes besides the
// NLRI: room counts the attribute header with a one-byte length, and a value over 255
// bytes needs one byte more.
func takeMP(b []byte, addPath bool, val, room int) int {
	if len(b)+attrHeaderLen(val+len(b))-3 <= room {
		return len(b)
	}
	n := 0
	for n < len(b) {
		l := nlriEntryLen(b[n:], addPath)
		if l == 0 {
			break
		}
		need := n + l + attrHeaderLen(val+n+l) - 3
		if need > room {
			break
		}
		n += l
	}
	return n
}

// AppendMessages appends the UPDATE messages for everything queued since Reset to dst and
// returns it: whole messages, header included, back to back, each at most opts.MaxLen()
// bytes. It does not clear the queue; call Reset before the next batch.
//
// The error is the first problem met while queueing (see the Err* variables; the
// messages for every other entry are still appended and valid): an announcement whose
// attribute set or next hop cannot be encoded was turned into a withdrawal, and an entry
// with an unusable prefix was dropped.
func (b *UpdateBuilder) AppendMessages(dst []byte) ([]byte, error) {
	if b.maxLen == 0 { // a zero UpdateBuilder: default options
		b.maxLen = b.opts.MaxLen()
	}
	for fi := range b.wd {
		if len(b.wd[fi]) > 0 {
			dst = b.appendWithdrawals(dst, builderFamilies[fi], b.wd[fi])
		}
	}
	for i := range b.groups {
		dst = b.appendGroup(dst, &b.groups[i])
	}
	if b.err != nil && b.nerr > 1 {
		return dst, fmt.Errorf("%w (and %d more problems in the batch)", b.err, b.nerr-1)
	}
	return dst, b.err
}

func (b *UpdateBuilder) appendWithdrawals(dst []byte, fam Family, w []byte) []byte {
	addPath := b.opts.AddPath.Has(fam)
	for len(w) > 0 {
		var at, n int
		dst, at = BeginMessage(dst, MsgUpdate)
		if fam == IPv4Unicast {
			n = take(w, addPath, b.maxLen-HeaderLen-4)
			if n == 0 {
				return dst[:at]
			}
			dst = binary.BigEndian.AppendUint16(dst, uint16(n))
			dst = append(dst, w[:n]...)
			dst = append(dst, 0, 0)
		} else {
			n = takeMP(w, addPath, 3, b.maxLen-HeaderLen-4-3-3)
			if n == 0 {
				return dst[:at]
			}
			val := 3 + n
			dst = append(dst, 0, 0)
			dst = binary.BigEndian.AppendUint16(dst, uint16(attrHeaderLen(val)+val))
			dst = appendAttrHeader(dst, encOptNonTrans, AttrMPUnreach, val)
			dst = append(dst, byte(fam.AFI>>8), byte(fam.AFI), byte(fam.SAFI))
			dst = append(dst, w[:n]...)
		}
		dst = endMessage(dst, at)
		w = w[n:]
	}
	return dst
}

func (b *UpdateBuilder) appendGroup(dst []byte, g *annGroup) []byte {
	addPath := g.addPath
	w := g.nlri
	room := b.maxLen - g.fixed
	for len(w) > 0 {
		var n int
		if g.mpVal == 0 {
			n = take(w, addPath, room)
		} else {
			n = takeMP(w, addPath, g.mpVal, room)
		}
		if n == 0 {
			return dst // Announce checked every entry fits; defensive
		}
		var at int
		dst, at = BeginMessage(dst, MsgUpdate)
		dst = append(dst, 0, 0, 0, 0) // withdrawn length 0, attribute length patched below
		if g.mpVal == 0 {
			if g.nh.Addr.IsValid() {
				dst = append(dst, g.attrs[:g.nhAt]...)
				dst = appendAddr4(append(dst, encWellKnown, AttrNextHop, 4), g.nh.Addr)
				dst = append(dst, g.attrs[g.nhEnd:]...)
			} else {
				dst = append(dst, g.attrs...)
			}
			binary.BigEndian.PutUint16(dst[at+HeaderLen+2:], uint16(len(dst)-at-HeaderLen-4))
			dst = append(dst, w[:n]...)
		} else {
			val := g.mpVal + n
			dst = appendAttrHeader(dst, encOptNonTrans, AttrMPReach, val)
			dst = append(dst, byte(g.fam.AFI>>8), byte(g.fam.AFI), byte(g.fam.SAFI))
			dst = append(dst, byte(g.mpVal-5))
			dst = appendMPNextHop(dst, g.fam, g.nh)
			dst = append(dst, 0)
			dst = append(dst, w[:n]...)
			dst = append(dst, g.attrs...)
			binary.BigEndian.PutUint16(dst[at+HeaderLen+2:], uint16(len(dst)-at-HeaderLen-4))
		}
		dst = endMessage(dst, at)
		w = w[n:]
	}
	return dst
}
