package proto

import (
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// mrtDiffFiles are the MRT captures compared with GoBGP: a 2-octet-AS one, an IPv6 one,
// recent 4-octet ones and the extended-timestamp one.
var mrtDiffFiles = []string{
	"updates.20070211.0141.routeviews-linx.gz",
	"updates.20151009.1230.routeviews-ipv6.bz2",
	"updates.20190101.0000.ris-rrc00.gz",
	"updates.20260222.1530.routeviews.bz2",
	"updates.et-header.2015.fulltable-1peer.gz",
}

// mrtOptions returns the session options a captured UPDATE was received with. MRT does
// not record whether the peer was internal; a message carrying LOCAL_PREF is taken to come
// from an internal peer (it must not come from an external one, RFC 4271 §5.1.5).
func mrtOptions(m mrtUpdate, g *bgp.BGPMessage) SessionOptions {
	opts := SessionOptions{AS4: m.AS4, EBGP: true}
	if upd, ok := g.Body.(*bgp.BGPUpdate); ok {
		for _, pa := range upd.PathAttributes {
			if _, ok := pa.(*bgp.PathAttributeLocalPref); ok {
				opts.EBGP = false
			}
		}
	}
	return opts
}

// unsupportedFamily reports whether GoBGP's decode carries a family fanout does not
// decode (fanout discards those attributes by design).
func unsupportedFamily(g *bgp.BGPMessage) bool {
	upd, ok := g.Body.(*bgp.BGPUpdate)
	if !ok {
		return false
	}
	for _, pa := range upd.PathAttributes {
		switch p := pa.(type) {
		case *bgp.PathAttributeMpReachNLRI:
			if !(Family{AFI(p.AFI), SAFI(p.SAFI)}).Supported() {
				return true
			}
		case *bgp.PathAttributeMpUnreachNLRI:
			if !(Family{AFI(p.AFI), SAFI(p.SAFI)}).Supported() {
				return true
			}
		}
	}
	return false
}

// TestDecodeMRTAgainstGoBGP decodes every UPDATE of several MRT captures with fanout and
// with GoBGP and compares the canonical forms.
func TestDecodeMRTAgainstGoBGP(t *testing.T) {
	for _, file := range mrtDiffFiles {
		t.Run(file, func(t *testing.T) {
			ups := loadMRTUpdates(t, file, 0)
			var u Update
			var compared, gobgpFailed, unsupported, fanoutErr, mismatches int
			for i, m := range ups {
				g, gerr := bgp.ParseBGPMessage(m.Msg)
				if gerr != nil {
					gobgpFailed++
					continue
				}
				if unsupportedFamily(g) {
					unsupported++
					continue
				}
				opts := mrtOptions(m, g)
				if err := DecodeUpdate(m.Body(), &opts, &u); err != nil {
					fanoutErr++
					if fanoutErr <= 5 {
						t.Errorf("message %d: fanout error %v\n%x", i, err, m.Msg)
					}
					continue
				}
				compared++
				want := canonFromGoBGPSession(g, m.AS4)
				got := canonFromFanout(&u, 0)
				if ok, diff := canonEqual(got, want); !ok {
					mismatches++
					if mismatches <= 5 {
						t.Errorf("message %d (as4=%v) differs:\n%s%x", i, m.AS4, diff, m.Msg)
					}
				}
			}
			t.Logf("%s: %d UPDATEs, %d compared equal-checked, %d mismatched, %d GoBGP could not parse (excluded), %d of families fanout does not decode (excluded), %d fanout errors",
				file, len(ups), compared, mismatches, gobgpFailed, unsupported, fanoutErr)
			if mismatches > 0 || fanoutErr > 0 {
				t.Fatalf("%d mismatches, %d fanout errors", mismatches, fanoutErr)
			}
		})
	}
}
