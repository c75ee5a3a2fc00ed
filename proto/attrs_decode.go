package proto

import "net/netip"

// Attribute flag patterns (Optional and Transitive bits) that RFC 4271 §5 and each
// attribute's RFC require; the Partial and Extended Length bits are not compared.
const (
	wantMask        = FlagOptional | FlagTransitive
	wantWellKnown   = FlagTransitive
	wantOptTrans    = FlagOptional | FlagTransitive
	wantOptNonTrans = FlagOptional
)

// reset clears a for a new message, keeping the capacity of its buffers.
func (a *Attrs) reset() {
	*a = Attrs{Unknown: a.Unknown[:0], scratch: a.scratch[:0]}
}

// drop removes attribute t from Present and records it in Discarded.
func (a *Attrs) drop(t uint8) {
	a.Present.Clear(t)
	a.Discarded.Set(t)
}

// attrDecoder is the state of decoding one path attribute list; it lives on the stack of
// DecodeUpdate.
type attrDecoder struct {
	opts    *SessionOptions
	a       *Attrs
	hasNLRI bool // the UPDATE carries IPv4 NLRI (NEXT_HOP is needed)
	err     *Error
	seen    [4]uint64 // attribute types met so far, for RFC 7606 §3 (g)

	pathFrom, pathTo int  // the AS_PATH converted to 4 octets, in a.scratch
	pathInScratch    bool // ASPath lives in scratch (2-octet session)
	as4Path          ASPath
	hasAS4Path       bool
	as4Agg           Aggregator
	hasAS4Agg        bool
	nextHopErr       *Error // a NEXT_HOP error, which matters only with IPv4 NLRI
}

// note records e; the most severe error wins (RFC 7606 §3 (j)).
func (d *attrDecoder) note(e *Error) { d.err = Worse(d.err, e) }

func (d *attrDecoder) fatal() bool { return d.err != nil && d.err.Action == ActionSessionReset }

// withdraw records a treat-as-withdraw error for attribute t (RFC 7606 §2).
func (d *attrDecoder) withdraw(sub, t uint8, raw []byte, reason string) {
	d.a.Present.Clear(t)
	d.note(attrErr(ActionTreatAsWithdraw, sub, t, raw, reason))
}

// discard drops attribute t and records an attribute-discard error (RFC 7606 §2).
func (d *attrDecoder) discard(sub, t uint8, raw []byte, reason string) {
	d.a.drop(t)
	d.note(attrErr(ActionAttributeDiscard, sub, t, raw, reason))
}

// firstTime marks type t as seen and reports whether it had not been seen before.
func (d *attrDecoder) firstTime(t uint8) bool {
	w, bit := &d.seen[t>>6], uint64(1)<<(t&63)
	if *w&bit != 0 {
		return false
	}
	*w |= bit
	return true
}

// decode walks the path attribute field b (RFC 4271 §4.3) and decodes every attribute.
// It stops at the first session-reset error.
func (d *attrDecoder) decode(b []byte) {
	r := NewReader(b)
	for !r.Empty() {
		flags, typ, val, raw, ok := r.Attr()
		if !ok {
			d.overrun(typ)
			return
		}
		if !d.firstTime(typ) {
			if typ == AttrMPReach || typ == AttrMPUnreach {
				// RFC 7606 §3 (g): a repeated MP_REACH_NLRI or MP_UNREACH_NLRI resets.
				d.note(resetErr(CodeUpdate, SubMalformedAttrList, nil, "MP_REACH_NLRI or MP_UNREACH_NLRI appears more than once"))
				d.err.AttrType = typ
				return
			}
			// RFC 7606 §3 (g): every occurrence after the first is discarded.
			d.note(attrErr(ActionAttributeDiscard, SubMalformedAttrList, typ, raw, "repeated attribute discarded"))
			continue
		}
		d.attr(flags, typ, val, raw)
		if d.fatal() {
			return
		}
	}
}

// overrun handles an attribute whose header or value runs past the Total Path Attribute
// Length (RFC 7606 §4): treat-as-withdraw, the total length still locating the NLRI field.
// Treat-as-withdraw needs every NLRI of the message located (RFC 7606 §5); when no
// reachability was found before the broken attribute, the unparsed rest may hold an
// MP_REACH_NLRI that could never be withdrawn, so the session is reset instead.
func (d *attrDecoder) overrun(typ uint8) {
	if d.hasNLRI || d.a.Present.Has(AttrMPReach) {
		d.note(attrErr(ActionTreatAsWithdraw, SubAttrLength, typ, nil, "attribute overruns the path attribute field"))
		return
	}
	d.note(resetErr(CodeUpdate, SubAttrLength, nil, "attribute overruns the path attribute field before any NLRI was located"))
}

// flagsOK checks the Optional and Transitive bits of a known attribute. A conflict makes
// the attribute malformed (RFC 7606 §3 (c)); the caller's action applies.
func (d *attrDecoder) flagsOK(flags, want, t uint8, raw []byte, action Action) bool {
	if flags&wantMask == want {
		return true
	}
	d.flagsConflict(t, raw, action)
	return false
}

func (d *attrDecoder) flagsConflict(t uint8, raw []byte, action Action) {
	if action == ActionAttributeDiscard {
		d.discard(SubAttrFlags, t, raw, "attribute flags conflict with the attribute type")
	} else {
		d.withdraw(SubAttrFlags, t, raw, "attribute flags conflict with the attribute type")
	}
}

// u32 decodes a 4-byte value; ok is false for any other length.
func u32(val []byte) (uint32, bool) {
	r := NewReader(val)
	return r.U32All()
}

// addr4 decodes a 4-byte IPv4 address; ok is false for any other length.
func addr4(val []byte) (netip.Addr, bool) {
	v, ok := u32(val)
	return addrFromWord(v), ok
}

// hostAddr4 reports whether the IPv4 address with value v may be a host's: not
// unspecified, multicast (224.0.0.0/4) or the limited broadcast address.
func hostAddr4(v uint32) bool { return v != 0 && v>>28 != 0xe && v != 0xffffffff }

// attr decodes one attribute that was not a repeat. raw is the whole attribute (header
// and value), the NOTIFICATION data for errors about it (RFC 4271 §6.3).
func (d *attrDecoder) attr(flags, typ uint8, val, raw []byte) {
	a := d.a
	switch typ {
	case AttrOrigin: // RFC 7606 §7.1
		if !d.flagsOK(flags, wantWellKnown, typ, raw, ActionTreatAsWithdraw) {
			return
		}
		r := NewReader(val)
		o := r.U8()
		switch {
		case len(val) != 1:
			d.withdraw(SubAttrLength, typ, raw, "ORIGIN length is not 1")
		case o > OriginIncomplete:
			d.withdraw(SubInvalidOrigin, typ, raw, "ORIGIN value undefined")
		default:
			a.Origin = o
			a.Present.Set(typ)
		}
	case AttrASPath:
		if d.flagsOK(flags, wantWellKnown, typ, raw, ActionTreatAsWithdraw) {
			d.asPath(val, raw)
		}
	case AttrNextHop: // RFC 7606 §7.3, RFC 4271 §6.3
		if flags&wantMask != wantWellKnown {
			d.nextHopErr = attrErr(ActionTreatAsWithdraw, SubAttrFlags, typ, raw, "attribute flags conflict with the attribute type")
			return
		}
		v, ok := u32(val)
		switch {
		case !ok:
			d.nextHopErr = attrErr(ActionTreatAsWithdraw, SubAttrLength, typ, raw, "NEXT_HOP length is not 4")
		case !hostAddr4(v):
			d.nextHopErr = attrErr(ActionTreatAsWithdraw, SubInvalidNextHop, typ, raw, "NEXT_HOP is not a host address")
		default:
			a.NextHop = addrFromWord(v)
			a.Present.Set(typ)
		}
	case AttrMED: // RFC 7606 §7.4
		if !d.flagsOK(flags, wantOptNonTrans, typ, raw, ActionTreatAsWithdraw) {
			return
		}
		if v, ok := u32(val); ok {
			a.MED = v
			a.Present.Set(typ)
		} else {
			d.withdraw(SubAttrLength, typ, raw, "MULTI_EXIT_DISC length is not 4")
		}
	case AttrLocalPref: // RFC 7606 §7.5, RFC 4271 §5.1.5
		if d.opts.EBGP {
			a.drop(typ) // ignored when received from an external peer; not an error
			return
		}
		if !d.flagsOK(flags, wantWellKnown, typ, raw, ActionTreatAsWithdraw) {
			return
		}
		if v, ok := u32(val); ok {
			a.LocalPref = v
			a.Present.Set(typ)
		} else {
			d.withdraw(SubAttrLength, typ, raw, "LOCAL_PREF length is not 4")
		}
	case AttrAtomicAggregate: // RFC 7606 §7.6
		if !d.flagsOK(flags, wantWellKnown, typ, raw, ActionAttributeDiscard) {
			return
		}
		if len(val) != 0 {
			d.discard(SubAttrLength, typ, raw, "ATOMIC_AGGREGATE length is not 0")
			return
		}
		a.Present.Set(typ)
	case AttrAggregator: // RFC 7606 §7.7, RFC 6793 §4
		if !d.flagsOK(flags, wantOptTrans, typ, raw, ActionAttributeDiscard) {
			return
		}
		agg, ok := aggregator(val, d.opts.AS4)
		if !ok {
			d.discard(SubAttrLength, typ, raw, "AGGREGATOR length does not match the session's AS number size")
			return
		}
		a.Aggregator = agg
		a.Present.Set(typ)
	case AttrCommunities: // RFC 7606 §7.8
		d.list(flags, typ, val, raw, 4, &a.Communities)
	case AttrOriginatorID: // RFC 7606 §7.9
		if !d.flagsOK(flags, wantOptNonTrans, typ, raw, ActionTreatAsWithdraw) {
			return
		}
		if id, ok := addr4(val); ok {
			a.OriginatorID = id
			a.Present.Set(typ)
		} else {
			d.withdraw(SubAttrLength, typ, raw, "ORIGINATOR_ID length is not 4")
		}
	case AttrClusterList: // RFC 7606 §7.10
		if d.flagsOK(flags, wantOptNonTrans, typ, raw, ActionTreatAsWithdraw) {
			d.list(flags, typ, val, raw, 4, &a.ClusterList)
		}
	case AttrMPReach:
		d.mpReach(flags, val, raw)
	case AttrMPUnreach:
		d.mpUnreach(flags, val, raw)
	case AttrExtCommunities: // RFC 7606 §7.14
		d.list(flags, typ, val, raw, 8, &a.ExtCommunities)
	case AttrAS4Path:
		d.as4PathAttr(flags, val, raw)
	case AttrAS4Aggregator:
		d.as4AggAttr(flags, val, raw)
	case AttrLargeCommunities: // RFC 8092 §5
		d.list(flags, typ, val, raw, 12, &a.LargeCommunities)
	case AttrOTC: // RFC 9234 §5
		if !d.flagsOK(flags, wantOptTrans, typ, raw, ActionTreatAsWithdraw) {
			return
		}
		if v, ok := u32(val); ok {
			a.OTC = v
			a.Present.Set(typ)
		} else {
			d.withdraw(SubAttrLength, typ, raw, "OTC length is not 4")
		}
	default:
		switch {
		case flags&FlagOptional == 0:
			// RFC 4271 §6.3: an unrecognized well-known attribute resets the session.
			d.note(attrErr(ActionSessionReset, SubUnrecognizedWellKnown, typ, raw, "unrecognized well-known attribute"))
		case flags&FlagTransitive != 0:
			// RFC 4271 §5: kept and passed on; the encoder sets the Partial bit.
			a.Unknown = append(a.Unknown, RawAttr{Flags: flags, Type: typ, Value: val})
		}
		// Unrecognized optional non-transitive attributes are quietly ignored (RFC 4271 §9).
	}
}

// list decodes an optional transitive attribute that is a non-empty list of size-byte
// values (COMMUNITIES, CLUSTER_LIST, EXTENDED COMMUNITIES, LARGE_COMMUNITY); a bad length
// is treat-as-withdraw (RFC 7606 §7.8, §7.10, §7.14, RFC 8092 §5). CLUSTER_LIST's flags
// are checked by its caller.
func (d *attrDecoder) list(flags, typ uint8, val, raw []byte, size int, dst *[]byte) {
	if typ != AttrClusterList && !d.flagsOK(flags, wantOptTrans, typ, raw, ActionTreatAsWithdraw) {
		return
	}
	if len(val) == 0 || !multipleOf(len(val), size) {
		d.withdraw(SubAttrLength, typ, raw, "attribute length is not a positive multiple of its value size")
		return
	}
	*dst = val
	d.a.Present.Set(typ)
}

// multipleOf reports whether n is a multiple of size, without a division for the usual
// power-of-two sizes.
func multipleOf(n, size int) bool {
	switch size {
	case 4:
		return n&3 == 0
	case 8:
		return n&7 == 0
	}
	return n%size == 0
}

// aggregator decodes AGGREGATOR (RFC 4271 §5.1.7; 8 bytes between 4-octet speakers,
// RFC 6793 §4.1) or AS4_AGGREGATOR (always 8 bytes).
func aggregator(val []byte, as4 bool) (Aggregator, bool) {
	r := NewReader(val)
	var as uint32
	if as4 {
		as = r.U32()
	} else {
		as = uint32(r.U16())
	}
	addr, ok := addr4(r.Rest())
	return Aggregator{AS: as, Addr: addr}, ok && r.Ok()
}

// asPath decodes AS_PATH (RFC 4271 §5.1.2). A malformed path is treat-as-withdraw (RFC
// 7606 §7.2): an unknown segment type, a segment of zero ASNs, an overrun or a trailing
// byte. Confederation segments from an external peer are treat-as-withdraw too (RFC 7606
// §7.2, RFC 5065 §5). From a 2-octet peer the path is widened into a.scratch.
func (d *attrDecoder) asPath(val, raw []byte) {
	a := d.a
	var p ASPath
	var confed bool
	if d.opts.AS4 {
		p = ASPath(val)
		var ok bool
		if ok, confed = p.scan(); !ok {
			d.withdraw(SubMalformedASPath, AttrASPath, raw, "AS_PATH malformed")
			return
		}
	} else {
		if _, ok := validAS2Path(val); !ok {
			d.withdraw(SubMalformedASPath, AttrASPath, raw, "AS_PATH malformed")
			return
		}
		d.pathFrom = len(a.scratch)
		a.scratch = appendAS2As4(a.scratch, val)
		d.pathTo = len(a.scratch)
		d.pathInScratch = true
		p = ASPath(a.scratch[d.pathFrom:d.pathTo])
		confed = p.HasConfed()
	}
	if d.opts.EBGP && confed {
		d.pathInScratch = false
		d.withdraw(SubMalformedASPath, AttrASPath, raw, "AS_PATH from an external peer carries confederation segments")
		return
	}
	a.ASPath = p
	a.Present.Set(AttrASPath)
}

// as4PathAttr decodes AS4_PATH (RFC 6793 §5). Between 4-octet speakers it is discarded
// without error (RFC 6793 §3 says a NEW speaker discards it from a NEW peer); from a
// 2-octet peer a malformed one is discarded with an error (RFC 6793 §6, RFC 7606 §7.11 of
// AS4 attributes) and a well-formed one is kept for the merge after all attributes.
func (d *attrDecoder) as4PathAttr(flags uint8, val, raw []byte) {
	if d.opts.AS4 {
		d.a.Discarded.Set(AttrAS4Path)
		return
	}
	if !d.flagsOK(flags, wantOptTrans, AttrAS4Path, raw, ActionAttributeDiscard) {
		return
	}
	p := ASPath(val)
	if len(val) == 0 || !p.Valid() {
		d.discard(SubMalformedASPath, AttrAS4Path, raw, "AS4_PATH malformed")
		return
	}
	d.as4Path, d.hasAS4Path = p, true
}

// as4AggAttr decodes AS4_AGGREGATOR (RFC 6793 §5), with the same rules as AS4_PATH.
func (d *attrDecoder) as4AggAttr(flags uint8, val, raw []byte) {
	if d.opts.AS4 {
		d.a.Discarded.Set(AttrAS4Aggregator)
		return
	}
	if !d.flagsOK(flags, wantOptTrans, AttrAS4Aggregator, raw, ActionAttributeDiscard) {
		return
	}
	agg, ok := aggregator(val, true)
	if !ok {
		d.discard(SubAttrLength, AttrAS4Aggregator, raw, "AS4_AGGREGATOR length is not 8")
		return
	}
	d.as4Agg, d.hasAS4Agg = agg, true
}

// finish runs the checks that need the whole attribute list: the RFC 6793 §4.2.3 merge
// for a 2-octet peer, and a NEXT_HOP error, which only matters when there is IPv4 NLRI
// (RFC 4760 §3: without it NEXT_HOP is ignored).
func (d *attrDecoder) finish() {
	a := d.a
	if d.nextHopErr != nil {
		if d.hasNLRI {
			d.note(d.nextHopErr)
		} else {
			a.Discarded.Set(AttrNextHop)
		}
	}
	if d.opts.AS4 {
		return
	}
	// RFC 6793 §4.2.3: an AGGREGATOR with an AS other than AS_TRANS was set by an OLD
	// speaker after aggregation, and both AS4 attributes are then ignored.
	useAS4 := !a.Present.Has(AttrAggregator) || a.Aggregator.AS == ASTrans
	if d.hasAS4Agg {
		if useAS4 && a.Present.Has(AttrAggregator) {
			a.Aggregator = d.as4Agg
		} else {
			a.Discarded.Set(AttrAS4Aggregator)
		}
	}
	if d.hasAS4Path {
		if useAS4 && a.Present.Has(AttrASPath) {
			if merged, ok := mergeAS4Path(a.scratch, a.ASPath, d.as4Path); ok {
				from := len(a.scratch)
				a.scratch = merged
				a.ASPath = ASPath(a.scratch[from:])
				return
			}
		}
		a.Discarded.Set(AttrAS4Path)
	}
}

// mergeAS4Path appends to dst the AS path rebuilt from a 2-octet peer's AS_PATH (already
// widened) and AS4_PATH (RFC 6793 §4.2.3). Counting ASNs as RFC 4271 §9.1.2.2 does (a set
// counts one, confederation segments none), when AS_PATH holds fewer than AS4_PATH the
// AS4_PATH is ignored (ok false). Otherwise the leading part of AS_PATH that makes up the
// difference is taken, with confederation segments kept when leading or adjacent to a taken
// segment, and AS4_PATH's segments follow, less any confederation segment (RFC 6793 §6).
// An AS_SEQUENCE taken from AS_PATH is joined with a leading AS4_PATH AS_SEQUENCE when the
// result fits one segment.
func mergeAS4Path(dst []byte, asPath, as4Path ASPath) ([]byte, bool) {
	keep := asPath.Len() - as4Path.Len()
	if keep < 0 {
		return dst, false
	}
	last := -1 // offset in dst of the last segment written, -1 before the first
	put := func(typ uint8, asns []byte) {
		n := len(asns) / 4
		if last >= 0 && typ == SegSequence && dst[last] == SegSequence && int(dst[last+1])+n <= 255 {
			dst[last+1] += byte(n)
		} else {
			last = len(dst)
			dst = append(dst, typ, byte(n))
		}
		dst = append(dst, asns...)
	}
	it := asPath.Segments()
	for s, ok := it.Next(); ok; s, ok = it.Next() {
		if s.Type == SegConfedSeq || s.Type == SegConfedSet {
			put(s.Type, s.asns)
			continue
		}
		if keep == 0 {
			break
		}
		if s.Type == SegSet {
			put(s.Type, s.asns)
			keep--
			continue
		}
		n := min(keep, s.Len())
		r := NewReader(s.asns)
		put(s.Type, r.Bytes(4*n))
		keep -= n
		if n < s.Len() {
			break
		}
	}
	it = as4Path.Segments()
	for s, ok := it.Next(); ok; s, ok = it.Next() {
		if s.Type == SegSequence || s.Type == SegSet {
			put(s.Type, s.asns)
		}
	}
	return dst, true
}
