package proto

import "fmt"

// AppendEndOfRIB appends the End-of-RIB marker for fam to dst (RFC 4724 §2): for IPv4
// unicast an UPDATE with no withdrawn routes, no attributes and no NLRI; for every other
// family an UPDATE whose only attribute is an MP_UNREACH_NLRI for the family with no
// withdrawn routes. An unsupported family yields ErrBadPrefix and dst unchanged.
func AppendEndOfRIB(dst []byte, fam Family) ([]byte, error) {
	if !fam.Supported() {
		return dst, fmt.Errorf("end-of-rib for %v: %w", fam, ErrBadPrefix)
	}
	dst, at := BeginMessage(dst, MsgUpdate)
	if fam == IPv4Unicast {
		dst = append(dst, 0, 0, 0, 0)
	} else {
		dst = append(dst, 0, 0, 0, 6, encOptNonTrans, AttrMPUnreach, 3,
			byte(fam.AFI>>8), byte(fam.AFI), byte(fam.SAFI))
	}
	return endMessage(dst, at), nil
}

// EndOfRIB reports whether a decoded UPDATE is an End-of-RIB marker and for which family
// (RFC 4724 §2): an UPDATE with nothing in it is IPv4 unicast's; one with only an empty
// MP_UNREACH_NLRI (no other attribute, no IPv4 routes) is the MP_UNREACH family's. Any
// other content means the message is a normal UPDATE.
func EndOfRIB(u *Update) (Family, bool) {
	if len(u.Withdrawn) != 0 || len(u.NLRI) != 0 || len(u.Attrs.Unknown) != 0 || u.Attrs.Discarded != 0 {
		return Family{}, false
	}
	switch u.Attrs.Present {
	case 0:
		return IPv4Unicast, true
	case 1 << AttrMPUnreach:
		if len(u.Attrs.MPUnreach.NLRI) == 0 {
			return u.Attrs.MPUnreach.Family, true
		}
	}
	return Family{}, false
}
