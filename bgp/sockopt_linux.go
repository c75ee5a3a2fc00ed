//go:build linux

package bgp

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setMD5 installs the TCP MD5 signature key for peer on fd (RFC 2385, TCP_MD5SIG); an
// empty key removes it. v6 says fd is an AF_INET6 socket: an IPv4 peer is then named by its
// IPv4-mapped address, as the kernel sees it.
func setMD5(fd int, v6 bool, peer netip.Addr, key string) error {
	if len(key) > maxMD5KeyLen {
		return unix.EINVAL
	}
	var sig unix.TCPMD5Sig
	peer = peer.Unmap()
	if v6 {
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&sig.Addr))
		sa.Family = unix.AF_INET6
		sa.Addr = netip.AddrFrom16(peer.As16()).As16()
	} else {
		if !peer.Is4() {
			return unix.EAFNOSUPPORT
		}
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sig.Addr))
		sa.Family = unix.AF_INET
		sa.Addr = peer.As4()
	}
	sig.Keylen = uint16(len(key))
	copy(sig.Key[:], key)
	return unix.SetsockoptTCPMD5Sig(fd, unix.IPPROTO_TCP, unix.TCP_MD5SIG, &sig)
}

// isIPv6Socket reports whether fd is an AF_INET6 socket.
func isIPv6Socket(fd int) (bool, error) {
	d, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	return d == unix.AF_INET6, err
}

// setTTL sets the TTL (IPv4 peer, also over an IPv4-mapped IPv6 socket) or the unicast hop
// limit (IPv6 peer) of what fd sends.
func setTTL(fd int, peer netip.Addr, ttl uint8) error {
	if peer.Unmap().Is4() {
		return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, int(ttl))
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, int(ttl))
}

// setMinTTL makes the kernel drop what arrives on fd with a smaller TTL / hop limit
// (IP_MINTTL, IPV6_MINHOPCOUNT: RFC 5082 GTSM).
func setMinTTL(fd int, peer netip.Addr, min uint8) error {
	if peer.Unmap().Is4() {
		return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MINTTL, int(min))
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MINHOPCOUNT, int(min))
}
