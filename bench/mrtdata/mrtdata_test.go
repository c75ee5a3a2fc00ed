package mrtdata

import (
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

func TestReadRIB(t *testing.T) {
	p, err := Path("rib", "rib.20150922.1200.routeviews-ipv6.bz2")
	if err != nil {
		t.Fatal(err)
	}
	routes, err := ReadRIB(p, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 5000 {
		t.Fatalf("read %d routes, want 5000", len(routes))
	}
	for i, r := range routes[:200] {
		m, err := bgp.ParseBGPMessage(r.Msg)
		if err != nil {
			t.Fatalf("route %d: GoBGP cannot parse the synthesized UPDATE: %v", i, err)
		}
		u := m.Body.(*bgp.BGPUpdate)
		found := false
		for _, a := range u.PathAttributes {
			if mp, ok := a.(*bgp.PathAttributeMpReachNLRI); ok && len(mp.Value) == 1 {
				found = true
			}
		}
		if !found || !r.Peer.IsValid() || r.PeerAS == 0 {
			t.Fatalf("route %d: no IPv6 prefix in MP_REACH, or no peer", i)
		}
	}
}

func TestReadUpdates(t *testing.T) {
	p, err := Path("updates", "updates.20070211.0141.routeviews-linx.gz")
	if err != nil {
		t.Fatal(err)
	}
	ups, err := ReadUpdates(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	// SOURCES.md counts 23,394 UPDATEs in this file.
	if len(ups) != 23394 {
		t.Fatalf("read %d UPDATEs, want 23394", len(ups))
	}
	if ups[0].AS4 || !ups[0].Peer.IsValid() || ups[0].Time == 0 {
		t.Fatalf("first update %+v", ups[0].Peer)
	}
}
