package proto

import "net/netip"

// DecodeUpdate decodes the body of an UPDATE message (the bytes after the 19-byte header;
// RFC 4271 §4.3) received on a session with options opts into u, which the caller owns and
// reuses. Withdrawn, NLRI and every variable-length attribute alias msg (or u's own
// scratch space) and stay valid until msg or u is reused. Decoding a typical UPDATE into a
// reused u does not allocate; errors allocate.
//
// Every NLRI field (Withdrawn Routes, NLRI, MP_REACH_NLRI and MP_UNREACH_NLRI) is
// validated before DecodeUpdate returns, so a later iteration of them cannot fail.
//
// The result is nil or a *Error classified per RFC 7606 (the most severe of all the errors
// found, RFC 7606 §3 (j)). What the caller must do for each Action:
//
//   - nil: apply the message. Withdraw every prefix of IterWithdrawn and IterMPUnreach;
//     announce every prefix of IterNLRI and IterMPReach with u.Attrs. u.Attrs.Discarded
//     may still be non-zero for attributes ignored without error (LOCAL_PREF from an
//     external peer, AS4_PATH and AS4_AGGREGATOR from a 4-octet peer or superseded by the
//     RFC 6793 merge, NEXT_HOP when there is no IPv4 NLRI).
//   - ActionAttributeDiscard: log the error, then apply the message exactly as for nil: the
//     malformed attributes are already removed (cleared from Present, set in Discarded;
//     for a repeated attribute the first occurrence is kept). An MP_REACH_NLRI or
//     MP_UNREACH_NLRI of a family fanout does not support is discarded this way: its
//     routes are ignored, as for a family that was not negotiated.
//   - ActionTreatAsWithdraw: log the error and withdraw every prefix the message carries:
//     IterWithdrawn, IterNLRI, IterMPUnreach and IterMPReach, announcing nothing. All
//     of them are valid to iterate. u.Attrs is not to be used for routes.
//   - ActionSessionReset: send a NOTIFICATION with the error's Code, Subcode and Data, close
//     the session and apply nothing of the message; u holds nothing to be used.
func DecodeUpdate(msg []byte, opts *SessionOptions, u *Update) error {
	u.Withdrawn, u.NLRI = nil, nil
	u.Attrs.reset()
	r := NewReader(msg)
	withdrawn := r.Bytes(int(r.U16()))
	attrs := r.Bytes(int(r.U16()))
	if !r.Ok() {
		// RFC 7606 §4, RFC 4271 §6.3: the lengths do not fit the message.
		return resetErr(CodeUpdate, SubMalformedAttrList, nil, "withdrawn routes length or total path attribute length exceeds the message")
	}
	u.Withdrawn, u.NLRI = withdrawn, r.Rest()
	v4AddPath := opts.AddPath.Has(IPv4Unicast)
	// RFC 7606 §5.3, RFC 4271 §6.3: a syntax error in the IPv4 fields resets the session.
	if err := validateNLRIField(u.Withdrawn, IPv4Unicast, v4AddPath); err != nil {
		return resetErr(CodeUpdate, SubInvalidNetworkField, nil, "withdrawn routes field: "+err.Error())
	}
	if err := validateNLRIField(u.NLRI, IPv4Unicast, v4AddPath); err != nil {
		return resetErr(CodeUpdate, SubInvalidNetworkField, nil, "NLRI field: "+err.Error())
	}
	d := attrDecoder{opts: opts, a: &u.Attrs, hasNLRI: len(u.NLRI) > 0}
	d.decode(attrs)
	if !d.fatal() {
		d.finish()
		d.mandatory()
	}
	if d.err == nil {
		return nil
	}
	return d.err
}

// mandatory checks that an UPDATE carrying reachability has the well-known mandatory
// attributes (RFC 4271 §5, RFC 4760 §3, RFC 7606 §3 (d): treat-as-withdraw otherwise).
// ORIGIN and AS_PATH are needed with any NLRI, NEXT_HOP with IPv4 NLRI, and LOCAL_PREF on
// an internal session (RFC 4271 §5.1.5). A message of withdrawals only needs nothing.
func (d *attrDecoder) mandatory() {
	a := d.a
	if !d.hasNLRI && !a.Present.Has(AttrMPReach) {
		return
	}
	need := AttrMask(1<<AttrOrigin | 1<<AttrASPath)
	if d.hasNLRI {
		need |= 1 << AttrNextHop
	}
	if !d.opts.EBGP {
		need |= 1 << AttrLocalPref
	}
	if a.Present&need == need {
		return
	}
	missing := func(t uint8) {
		d.note(attrErr(ActionTreatAsWithdraw, SubMissingWellKnown, t, []byte{t}, "missing well-known attribute"))
	}
	if !a.Present.Has(AttrOrigin) {
		missing(AttrOrigin)
	}
	if !a.Present.Has(AttrASPath) {
		missing(AttrASPath)
	}
	if d.hasNLRI && !a.Present.Has(AttrNextHop) {
		missing(AttrNextHop)
	}
	if !d.opts.EBGP && !a.Present.Has(AttrLocalPref) {
		missing(AttrLocalPref)
	}
}

// mpFamily reads AFI and SAFI. A family fanout does not support is discarded with an
// error (its routes ignored, as RFC 4760 §7 has for a family that cannot be used).
func (d *attrDecoder) mpFamily(r *Reader, typ uint8, raw []byte) (Family, bool) {
	fam := Family{AFI(r.U16()), SAFI(r.U8())}
	if !r.Ok() {
		d.note(attrErr(ActionSessionReset, SubOptionalAttr, typ, raw, "multiprotocol attribute too short for AFI and SAFI"))
		return fam, false
	}
	if !fam.Supported() {
		d.discard(SubOptionalAttr, typ, raw, "multiprotocol attribute of an unsupported address family")
		return fam, false
	}
	return fam, true
}

// mpReach decodes MP_REACH_NLRI (RFC 4760 §3). An error in its next hop or NLRI resets
// the session (RFC 7606 §7.11, §5.3: its NLRI cannot be withdrawn reliably); a flags
// conflict is treat-as-withdraw (RFC 7606 §3 (c)) once the NLRI are known to be sound.
func (d *attrDecoder) mpReach(flags uint8, val, raw []byte) {
	r := NewReader(val)
	fam, ok := d.mpFamily(&r, AttrMPReach, raw)
	if !ok {
		d.a.MPReach.Family = fam
		return
	}
	nh := r.Bytes(int(r.U8()))
	r.U8() // reserved (RFC 4760 §3: ignored on receipt)
	if !r.Ok() {
		d.note(attrErr(ActionSessionReset, SubOptionalAttr, AttrMPReach, raw, "MP_REACH_NLRI truncated"))
		return
	}
	global, ll, ok := mpNextHop(fam, nh)
	if !ok {
		d.note(attrErr(ActionSessionReset, SubOptionalAttr, AttrMPReach, raw, "MP_REACH_NLRI next hop length is invalid for the address family"))
		return
	}
	nlri := r.Rest()
	if err := validateNLRIField(nlri, fam, d.opts.AddPath.Has(fam)); err != nil {
		d.note(attrErr(ActionSessionReset, SubOptionalAttr, AttrMPReach, raw, "MP_REACH_NLRI: "+err.Error()))
		return
	}
	d.a.MPReach = MPReach{Family: fam, NextHop: global, LinkLocal: ll, NLRI: nlri}
	d.a.Present.Set(AttrMPReach)
	if flags&wantMask != wantOptNonTrans {
		d.note(attrErr(ActionTreatAsWithdraw, SubAttrFlags, AttrMPReach, raw, "attribute flags conflict with the attribute type"))
	}
}

// mpNextHop decodes the next hop of MP_REACH_NLRI. Accepted lengths:
//
//	IPv4 unicast  4, or 16 / 32 (IPv6 next hop, RFC 8950)
//	IPv6 unicast  16 or 32 (global and link-local, RFC 2545 §3)
//	VPNv4         12 (RD + IPv4, RFC 4364 §4.3.2), or 24 / 48 (RD + IPv6, RFC 8950)
//	VPNv6         24 or 48 (RD + IPv6 [+ RD + link-local], RFC 4659 §3.2)
//
// The RD of a VPN next hop is skipped without checking that it is zero.
func mpNextHop(fam Family, nh []byte) (global, ll netip.Addr, ok bool) {
	rd := 0
	if fam.IsVPN() {
		rd = 8
	}
	r := NewReader(nh)
	switch len(nh) {
	case rd + 4:
		if fam.AFI != AFIIPv4 {
			return global, ll, false
		}
		r.Skip(rd)
		global = addrFromWord(r.U32())
	case rd + 16, 2 * (rd + 16):
		r.Skip(rd)
		global = r.Addr16()
		if !r.Empty() {
			r.Skip(rd)
			ll = r.Addr16()
		}
	default:
		return global, ll, false
	}
	return global, ll, r.Ok() && r.Empty()
}

// mpUnreach decodes MP_UNREACH_NLRI (RFC 4760 §4); errors are handled as for
// MP_REACH_NLRI.
func (d *attrDecoder) mpUnreach(flags uint8, val, raw []byte) {
	r := NewReader(val)
	fam, ok := d.mpFamily(&r, AttrMPUnreach, raw)
	if !ok {
		d.a.MPUnreach.Family = fam
		return
	}
	nlri := r.Rest()
	if err := validateNLRIField(nlri, fam, d.opts.AddPath.Has(fam)); err != nil {
		d.note(attrErr(ActionSessionReset, SubOptionalAttr, AttrMPUnreach, raw, "MP_UNREACH_NLRI: "+err.Error()))
		return
	}
	d.a.MPUnreach = MPUnreach{Family: fam, NLRI: nlri}
	d.a.Present.Set(AttrMPUnreach)
	if flags&wantMask != wantOptNonTrans {
		d.note(attrErr(ActionTreatAsWithdraw, SubAttrFlags, AttrMPUnreach, raw, "attribute flags conflict with the attribute type"))
	}
}

// IterWithdrawn iterates the IPv4 unicast Withdrawn Routes field of a decoded UPDATE.
func (u *Update) IterWithdrawn(opts *SessionOptions) NLRIIter {
	return iterIPv4(u.Withdrawn, opts)
}

// IterNLRI iterates the IPv4 unicast NLRI field of a decoded UPDATE.
func (u *Update) IterNLRI(opts *SessionOptions) NLRIIter {
	return iterIPv4(u.NLRI, opts)
}

// iterIPv4 is IterNLRI(b, IPv4Unicast, opts.AddPath.Has(IPv4Unicast)) for the fields of
// every UPDATE, without the family checks.
func iterIPv4(b []byte, opts *SessionOptions) NLRIIter {
	if opts.AddPath.Has(IPv4Unicast) {
		return NLRIIter{r: NewReader(b), fam: IPv4Unicast, addPath: true}
	}
	return NLRIIter{r: NewReader(b), fam: IPv4Unicast, plain: 4}
}

// IterMPReach iterates the NLRI of MP_REACH_NLRI (none when it is absent or discarded);
// their family is u.Attrs.MPReach.Family.
func (u *Update) IterMPReach(opts *SessionOptions) NLRIIter {
	if !u.Attrs.Present.Has(AttrMPReach) {
		return NLRIIter{} // empty
	}
	f := u.Attrs.MPReach.Family
	return IterNLRI(u.Attrs.MPReach.NLRI, f, opts.AddPath.Has(f))
}

// IterMPUnreach iterates the NLRI of MP_UNREACH_NLRI (none when it is absent or
// discarded); their family is u.Attrs.MPUnreach.Family.
func (u *Update) IterMPUnreach(opts *SessionOptions) NLRIIter {
	if !u.Attrs.Present.Has(AttrMPUnreach) {
		return NLRIIter{} // empty
	}
	f := u.Attrs.MPUnreach.Family
	return IterNLRI(u.Attrs.MPUnreach.NLRI, f, opts.AddPath.Has(f))
}

// validateNLRIField checks an NLRI field as ValidateNLRI does, without building the
// prefixes: for unicast families it only walks the length octets (Reader.SkipPrefixes),
// which is what makes decoding cheap per prefix. VPN families, whose label stacks need
// reading, use ValidateNLRI itself.
func validateNLRIField(b []byte, fam Family, addPath bool) error {
	if len(b) == 0 {
		return nil
	}
	if fam.IsVPN() || !fam.Supported() {
		_, err := ValidateNLRI(b, fam, addPath)
		return err
	}
	r := NewReader(b)
	_, st := r.SkipPrefixes(fam.AddrLen()*8, addPath)
	return prefixErr(st)
}
