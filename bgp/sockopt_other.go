//go:build !linux

package bgp

import "net/netip"

// Without Linux's socket options a configured protection cannot be enforced: the
// connection is refused, never run unprotected.

func setMD5(int, bool, netip.Addr, string) error { return errSockOptUnsupported }
func isIPv6Socket(int) (bool, error)             { return false, errSockOptUnsupported }
func setTTL(int, netip.Addr, uint8) error        { return errSockOptUnsupported }
func setMinTTL(int, netip.Addr, uint8) error     { return errSockOptUnsupported }
