package proto

import "fmt"

// AFI is an Address Family Identifier (IANA registry).
type AFI uint16

// SAFI is a Subsequent Address Family Identifier (IANA registry).
type SAFI uint8

// Address families and subsequent families fanout knows.
const (
	AFIIPv4 AFI = 1
	AFIIPv6 AFI = 2

	SAFIUnicast SAFI = 1
	SAFIVPN     SAFI = 128 // MPLS-labeled VPN address, RFC 4364 / RFC 4659
)

// Family is an (AFI, SAFI) pair: a small comparable value usable as a map key.
type Family struct {
	AFI  AFI
	SAFI SAFI
}

// The families fanout supports.
var (
	IPv4Unicast = Family{AFIIPv4, SAFIUnicast}
	IPv6Unicast = Family{AFIIPv6, SAFIUnicast}
	VPNv4       = Family{AFIIPv4, SAFIVPN}
	VPNv6       = Family{AFIIPv6, SAFIVPN}
)

// Supported reports whether fanout can decode NLRI of f.
func (f Family) Supported() bool {
	return (f.AFI == AFIIPv4 || f.AFI == AFIIPv6) && (f.SAFI == SAFIUnicast || f.SAFI == SAFIVPN)
}

// IsVPN reports whether f's NLRI carry a label stack and a route distinguisher.
func (f Family) IsVPN() bool { return f.SAFI == SAFIVPN }

// AddrLen is the byte length of a full address of f's AFI (4 or 16), 0 when unknown.
func (f Family) AddrLen() int {
	switch f.AFI {
	case AFIIPv4:
		return 4
	case AFIIPv6:
		return 16
	}
	return 0
}

// String returns GoBGP's name for the family ("ipv4-unicast", "l3vpn-ipv6-unicast", ...).
func (f Family) String() string {
	switch f {
	case IPv4Unicast:
		return "ipv4-unicast"
	case IPv6Unicast:
		return "ipv6-unicast"
	case VPNv4:
		return "l3vpn-ipv4-unicast"
	case VPNv6:
		return "l3vpn-ipv6-unicast"
	}
	return fmt.Sprintf("afi%d-safi%d", f.AFI, f.SAFI)
}
