package config

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// RouteDistinguisher is an RFC 4364 4.2 route distinguisher in its 8-byte wire form: a 2-byte
// type (0: 2-byte AS, 1: IPv4 address, 2: 4-byte AS), an administrator and an assigned
// number. It is a small comparable value.
type RouteDistinguisher [8]byte

// RouteTarget is a route-target extended community (RFC 4360 4, RFC 5668) in its 8-byte wire
// form: type 0x00 (2-byte AS), 0x01 (IPv4) or 0x02 (4-byte AS), subtype 0x02, then the
// administrator and the assigned number.
type RouteTarget [8]byte

// The administrator types shared by route distinguishers and route targets.
const (
	adminAS2  = 0
	adminIPv4 = 1
	adminAS4  = 2
)

// ParseRouteDistinguisher reads a route distinguisher as gobgpd writes it: ASN:n (a 2-byte
// ASN with a 32-bit n, or a 4-byte ASN with a 16-bit n), IPv4:n (16-bit n), or X.Y:n (a
// 4-byte ASN in asdot notation, 16-bit n).
func ParseRouteDistinguisher(s string) (RouteDistinguisher, error) {
	typ, admin, assigned, err := parseAdmin(s, "route distinguisher")
	var rd RouteDistinguisher
	if err != nil {
		return rd, err
	}
	binary.BigEndian.PutUint16(rd[0:2], uint16(typ))
	putAdmin(rd[2:], typ, admin, assigned)
	return rd, nil
}

// ParseRouteTarget reads a route target in the same forms as ParseRouteDistinguisher.
func ParseRouteTarget(s string) (RouteTarget, error) {
	typ, admin, assigned, err := parseAdmin(s, "route target")
	var rt RouteTarget
	if err != nil {
		return rt, err
	}
	rt[0], rt[1] = byte(typ), 0x02
	putAdmin(rt[2:], typ, admin, assigned)
	return rt, nil
}

func putAdmin(b []byte, typ int, admin, assigned uint32) {
	if typ == adminAS2 {
		binary.BigEndian.PutUint16(b[0:2], uint16(admin))
		binary.BigEndian.PutUint32(b[2:6], assigned)
		return
	}
	binary.BigEndian.PutUint32(b[0:4], admin)
	binary.BigEndian.PutUint16(b[4:6], uint16(assigned))
}

func parseAdmin(s, what string) (typ int, admin, assigned uint32, err error) {
	form := fmt.Errorf("%q is not a %s (write it like 65000:100, 192.0.2.1:100 or 4200000000:100)", s, what)
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return 0, 0, 0, form
	}
	a, n := s[:i], s[i+1:]
	num, perr := strconv.ParseUint(n, 10, 32)
	if perr != nil || n == "" || n[0] == '+' {
		if errors.Is(perr, strconv.ErrRange) {
			return 0, 0, 0, fmt.Errorf("%q: the assigned number %s is more than %d", s, n, uint32(math.MaxUint32))
		}
		return 0, 0, 0, form
	}
	switch dots := strings.Count(a, "."); {
	case dots == 3:
		ip, perr := netip.ParseAddr(a)
		if perr != nil || !ip.Is4() {
			return 0, 0, 0, form
		}
		typ, admin = adminIPv4, binary.BigEndian.Uint32(ip.AsSlice())
	case dots == 1:
		hi, lo, _ := strings.Cut(a, ".")
		h, err1 := strconv.ParseUint(hi, 10, 16)
		l, err2 := strconv.ParseUint(lo, 10, 16)
		if err1 != nil || err2 != nil {
			return 0, 0, 0, form
		}
		typ, admin = adminAS4, uint32(h<<16|l)
	case dots == 0:
		asn, perr := strconv.ParseUint(a, 10, 32)
		if perr != nil || a == "" || a[0] == '+' {
			return 0, 0, 0, form
		}
		typ, admin = adminAS2, uint32(asn)
		if asn > math.MaxUint16 {
			typ = adminAS4
		}
	default:
		return 0, 0, 0, form
	}
	if typ != adminAS2 && num > math.MaxUint16 {
		return 0, 0, 0, fmt.Errorf("%q: the assigned number %d is more than 65535, the most this form of %s holds", s, num, what)
	}
	return typ, admin, uint32(num), nil
}

func formatAdmin(typ int, b []byte) string {
	switch typ {
	case adminAS2:
		return fmt.Sprintf("%d:%d", binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint32(b[2:6]))
	case adminIPv4:
		return fmt.Sprintf("%s:%d", netip.AddrFrom4([4]byte(b[0:4])), binary.BigEndian.Uint16(b[4:6]))
	case adminAS4:
		asn := binary.BigEndian.Uint32(b[0:4])
		if asn <= math.MaxUint16 {
			// Plain notation would read back as a 2-byte AS: use asdot.
			return fmt.Sprintf("0.%d:%d", asn, binary.BigEndian.Uint16(b[4:6]))
		}
		return fmt.Sprintf("%d:%d", asn, binary.BigEndian.Uint16(b[4:6]))
	}
	return fmt.Sprintf("unknown-type-%d:%x", typ, b)
}

// String formats rd as ParseRouteDistinguisher reads it: a 4-byte ASN in plain notation,
// or in asdot (0.N) when it is small enough to be read back as a 2-byte one.
func (rd RouteDistinguisher) String() string {
	return formatAdmin(int(binary.BigEndian.Uint16(rd[0:2])), rd[2:])
}

// String formats rt as ParseRouteTarget reads it.
func (rt RouteTarget) String() string { return formatAdmin(int(rt[0]), rt[2:]) }
