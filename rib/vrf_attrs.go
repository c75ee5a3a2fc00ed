package rib

import "github.com/fanoutd/fanout/proto"

// nextAttr splits the first path attribute off the canonical encoding w: its flags, type
// and value, and the rest. ok is false at the end or on anything malformed (which
// interning never produces).
func nextAttr(w string) (flags, typ uint8, val, rest string, ok bool) {
	if len(w) < 3 {
		return 0, 0, "", "", false
	}
	flags, typ = w[0], w[1]
	hdr, n := 3, int(w[2])
	if flags&proto.FlagExtLen != 0 {
		if len(w) < 4 {
			return 0, 0, "", "", false
		}
		hdr, n = 4, int(w[2])<<8|int(w[3])
	}
	if len(w) < hdr+n {
		return 0, 0, "", "", false
	}
	return flags, typ, w[hdr : hdr+n], w[hdr+n:], true
}

// isRouteTarget reports whether the 8-byte extended community v is a route target (RFC
// 4360 §4: sub-type 0x02 of the two-octet AS, IPv4 address and four-octet AS types).
func isRouteTarget(v string) bool { return len(v) == 8 && v[0]&0x3f <= 0x02 && v[1] == 0x02 }

// HasRouteTarget reports whether a's EXTENDED_COMMUNITIES carry one of rts (compared on
// all eight bytes). It does not allocate.
func HasRouteTarget(a *Attrs, rts [][8]byte) bool {
	if len(rts) == 0 {
		return false
	}
	for w := a.Wire(); ; {
		_, typ, val, rest, ok := nextAttr(w)
		if !ok {
			return false
		}
		if typ == proto.AttrExtCommunities {
			for ; len(val) >= 8; val = val[8:] {
				if !isRouteTarget(val[:8]) {
					continue
				}
				for i := range rts {
					if val[:8] == string(rts[i][:]) {
						return true
					}
				}
			}
			return false
		}
		w = rest
	}
}

// appendWithRouteTargets appends to dst the canonical encoding wire with rts added to its
// EXTENDED_COMMUNITIES (created, in type order, when absent; values already there are not
// repeated): the attributes of a VRF route exported to VPN (RFC 4364 §4.3.1).
func appendWithRouteTargets(dst []byte, wire string, rts [][8]byte) []byte {
	done := false
	add := func(dst []byte, have string) []byte {
		var extra int
		for i := range rts {
			if !containsExt(have, rts[i]) {
				extra++
			}
		}
		n := len(have) + 8*extra
		flags := proto.FlagOptional | proto.FlagTransitive
		if n > 255 {
			dst = append(dst, flags|proto.FlagExtLen, proto.AttrExtCommunities, byte(n>>8), byte(n))
		} else {
			dst = append(dst, flags, proto.AttrExtCommunities, byte(n))
		}
		dst = append(dst, have...)
		for i := range rts {
			if !containsExt(have, rts[i]) {
				dst = append(dst, rts[i][:]...)
			}
		}
		done = true
		return dst
	}
	for w := wire; ; {
		_, typ, val, rest, ok := nextAttr(w)
		if !ok {
			break
		}
		switch {
		case done || typ < proto.AttrExtCommunities:
			dst = append(dst, w[:len(w)-len(rest)]...)
		case typ == proto.AttrExtCommunities:
			dst = add(dst, val)
		default:
			dst = add(dst, "")
			dst = append(dst, w[:len(w)-len(rest)]...)
		}
		w = rest
	}
	if !done && len(rts) > 0 {
		dst = add(dst, "")
	}
	return dst
}

// containsExt reports whether the extended communities list have holds v.
func containsExt(have string, v [8]byte) bool {
	for ; len(have) >= 8; have = have[8:] {
		if have[:8] == string(v[:]) {
			return true
		}
	}
	return false
}
