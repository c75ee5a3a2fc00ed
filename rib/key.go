package rib

import (
	"fmt"
	"net/netip"

	"github.com/cespare/xxhash/v2"
	"github.com/fanoutd/fanout/proto"
)

// Key identifies one prefix in one table: a small comparable value with no pointers, used
// directly as a map key. The route distinguisher is part of the key (VPN tables hold the
// same prefix under many RDs) but never part of the partition hash.
type Key struct {
	addr [16]byte // prefix bytes, host bits zero; IPv4 in the first 4 bytes
	rd   proto.RD
	bits uint8
	v6   bool
}

// KeyOf returns the key of an NLRI (its prefix and, for VPN families, its RD).
func KeyOf(n *proto.NLRI) Key { return MakeKey(n.Prefix, n.RD) }

// MakeKey returns the key of prefix p under route distinguisher rd (zero for plain unicast).
// Host bits are cleared.
func MakeKey(p netip.Prefix, rd proto.RD) Key {
	p = p.Masked()
	k := Key{rd: rd, bits: uint8(max(p.Bits(), 0))}
	if p.Addr().Is4() {
		a := p.Addr().As4()
		copy(k.addr[:4], a[:])
	} else {
		k.addr = p.Addr().As16()
		k.v6 = true
	}
	return k
}

// Prefix returns the key's prefix.
func (k Key) Prefix() netip.Prefix {
	if k.v6 {
		return netip.PrefixFrom(netip.AddrFrom16(k.addr), int(k.bits))
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte(k.addr[:4])), int(k.bits))
}

// RD returns the key's route distinguisher (zero for plain unicast).
func (k Key) RD() proto.RD { return k.rd }

// IsV6 reports whether the key is an IPv6 prefix.
func (k Key) IsV6() bool { return k.v6 }

// WithRD returns k under another route distinguisher: the VPN twin of an IP route or the
// reverse. Both hash to the same partition.
func (k Key) WithRD(rd proto.RD) Key {
	k.rd = rd
	return k
}

func (k Key) String() string {
	if k.rd != (proto.RD{}) {
		return fmt.Sprintf("%s:%s", k.rd, k.Prefix())
	}
	return k.Prefix().String()
}

// Hash is the partition hash of the key: xxhash over the address family group, the prefix
// bytes and the length, never the RD, so a VPN route and its IP twin share a partition.
func (k Key) Hash() uint64 {
	var b [18]byte
	n := (int(k.bits) + 7) / 8
	b[0] = 4
	if k.v6 {
		b[0] = 6
	}
	b[1] = k.bits
	copy(b[2:], k.addr[:n])
	return xxhash.Sum64(b[:2+n])
}

// Partition returns the partition of k among n partitions.
func (k Key) Partition(n int) int {
	if n <= 1 {
		return 0
	}
	return int(k.Hash() % uint64(n))
}
