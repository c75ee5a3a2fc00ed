package rib

import (
	"net/netip"
	"testing"

	"github.com/fanoutd/fanout/proto"
)

func TestKeyVPNTwinSharesPartition(t *testing.T) {
	for _, s := range []string{"10.0.0.0/8", "192.0.2.128/25", "2001:db8::/32", "0.0.0.0/0", "::/0"} {
		p := netip.MustParsePrefix(s)
		ip := MakeKey(p, proto.RD{})
		for _, rd := range []proto.RD{proto.RD0(65000, 1), proto.RD2(4200000000, 7)} {
			vpn := MakeKey(p, rd)
			if vpn == ip {
				t.Fatalf("%s: VPN key equals IP key", s)
			}
			if vpn.Hash() != ip.Hash() || vpn.Partition(7) != ip.Partition(7) {
				t.Fatalf("%s: VPN twin under %s hashes apart", s, rd)
			}
			if vpn.Prefix() != p || vpn.RD() != rd || ip.WithRD(rd) != vpn {
				t.Fatalf("%s: key round trip failed", s)
			}
		}
	}
}

func TestKeyMasksHostBitsAndSpreads(t *testing.T) {
	a := MakeKey(netip.MustParsePrefix("10.1.2.3/16"), proto.RD{})
	b := MakeKey(netip.MustParsePrefix("10.1.0.0/16"), proto.RD{})
	if a != b {
		t.Fatalf("host bits not masked: %v vs %v", a, b)
	}
	if MakeKey(netip.MustParsePrefix("10.1.0.0/16"), proto.RD{}) == MakeKey(netip.MustParsePrefix("10.1.0.0/17"), proto.RD{}) {
		t.Fatal("length not part of the key")
	}
	// A /24 sweep spreads over 4 partitions within 10% of even.
	var count [4]int
	for i := 0; i < 40000; i++ {
		k := MakeKey(netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(i >> 16), byte(i >> 8), byte(i), 0}), 24), proto.RD{})
		count[k.Partition(4)]++
	}
	for p, c := range count {
		if c < 9000 || c > 11000 {
			t.Fatalf("partition %d got %d of 40000", p, c)
		}
	}
}

func TestKeyNoAllocs(t *testing.T) {
	p := netip.MustParsePrefix("2001:db8::/48")
	var sink uint64
	if n := testing.AllocsPerRun(100, func() { sink += MakeKey(p, proto.RD{}).Hash() }); n != 0 {
		t.Fatalf("MakeKey+Hash allocated %v", n)
	}
}
