package proto

import (
	"encoding/binary"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// TestEndOfRIB checks the End-of-RIB markers of RFC 4724 §2 for every family: GoBGP
// recognises them, fanout's decoder and EndOfRIB round-trip them, and normal UPDATEs are
// not mistaken for them.
func TestEndOfRIB(t *testing.T) {
	for _, fam := range allFamilies {
		msg, err := AppendEndOfRIB([]byte{9}, fam)
		if err != nil || msg[0] != 9 {
			t.Fatalf("%v: %v", fam, err)
		}
		msg = msg[1:]
		wantLen := 23
		if fam != IPv4Unicast {
			wantLen = 29
		}
		if len(msg) != wantLen || int(binary.BigEndian.Uint16(msg[16:])) != wantLen {
			t.Fatalf("%v: % x", fam, msg)
		}
		gm, err := bgp.ParseBGPMessage(msg)
		if err != nil {
			t.Fatalf("%v: GoBGP: %v", fam, err)
		}
		ok, rf := gm.Body.(*bgp.BGPUpdate).IsEndOfRib()
		if !ok || rf != bgp.AfiSafiToRouteFamily(uint16(fam.AFI), uint8(fam.SAFI)) {
			t.Errorf("%v: GoBGP says end-of-rib %v for %v", fam, ok, rf)
		}
		var u Update
		if err := DecodeUpdate(msg[HeaderLen:], as4Opts, &u); err != nil {
			t.Fatalf("%v: decode: %v", fam, err)
		}
		if f, ok := EndOfRIB(&u); !ok || f != fam {
			t.Errorf("%v: EndOfRIB says %v %v", fam, f, ok)
		}
	}
	if _, err := AppendEndOfRIB(nil, Family{AFIIPv4, 2}); err == nil {
		t.Error("end-of-rib of an unsupported family")
	}
	// Normal UPDATEs are not End-of-RIB.
	b := NewUpdateBuilder(as4Opts)
	for _, fam := range allFamilies {
		n := uniqueNLRI(fam, 1)[0]
		b.Reset(as4Opts)
		b.Withdraw(fam, n)
		out, _ := b.AppendMessages(nil)
		var u Update
		if err := DecodeUpdate(out[HeaderLen:], as4Opts, &u); err != nil {
			t.Fatal(err)
		}
		if f, ok := EndOfRIB(&u); ok {
			t.Errorf("%v withdrawal taken for end-of-rib of %v", fam, f)
		}
	}
	if _, ok := EndOfRIB(&Update{Attrs: Attrs{Discarded: 1 << AttrMED}}); ok {
		t.Error("an UPDATE whose only attribute was discarded taken for end-of-rib")
	}
}
