package proto

import (
	"bytes"
	"testing"
)

// routeRefreshCases: RFC 7313 §5, a length other than 23 is 7/1 with the whole message as
// data.
var routeRefreshCases = []malformedCase{
	{"RFC7313 5 ROUTE-REFRESH with a 3-byte body", msg(MsgRouteRefresh, []byte{0, 1, 0}), 0, 7, 1, msg(MsgRouteRefresh, []byte{0, 1, 0})},
	{"RFC7313 5 ROUTE-REFRESH with no body", msg(MsgRouteRefresh), 0, 7, 1, msg(MsgRouteRefresh)},
	{"RFC7313 5 BoRR with a 5-byte body", msg(MsgRouteRefresh, []byte{0, 1, 1, 1, 0}), 0, 7, 1, msg(MsgRouteRefresh, []byte{0, 1, 1, 1, 0})},
	{"RFC7313 5 EoRR with a 6-byte body", msg(MsgRouteRefresh, []byte{0, 2, 2, 1, 0, 0}), 0, 7, 1, msg(MsgRouteRefresh, []byte{0, 2, 2, 1, 0, 0})},
}

func TestRouteRefresh(t *testing.T) {
	cases := []RouteRefresh{
		{Family: IPv4Unicast},
		{Family: IPv6Unicast, Subtype: RefreshBoRR},
		{Family: VPNv4, Subtype: RefreshEoRR},
		{Family: Family{AFI: 25, SAFI: 70}, Subtype: 0},
	}
	for _, rr := range cases {
		b := AppendRouteRefresh(nil, rr)
		if len(b) != 23 {
			t.Fatalf("%v: %d bytes", rr, len(b))
		}
		var d decoded
		if err := decodeMessage(b, 0, &d); err != nil || d.rr != rr {
			t.Fatalf("%v: decoded %v, %v", rr, d.rr, err)
		}
		if !rr.KnownSubtype() {
			t.Fatalf("%v unknown", rr)
		}
	}
	want := msg(MsgRouteRefresh, []byte{0, 2, 1, 128})
	if got := AppendRouteRefresh(nil, RouteRefresh{Family: VPNv6, Subtype: RefreshBoRR}); !bytes.Equal(got, want) {
		t.Fatalf("BoRR VPNv6 %x", got)
	}
	// RFC 7313 5: an unknown subtype decodes (the caller ignores it), it is not an error.
	var rr RouteRefresh
	if err := DecodeRouteRefresh([]byte{0, 1, 7, 1}, &rr); err != nil || rr.KnownSubtype() || rr.Subtype != 7 {
		t.Fatalf("subtype 7: %v %v", rr, err)
	}
	if rr.String() != "route-refresh subtype 7 ipv4-unicast" || (RouteRefresh{Family: IPv6Unicast, Subtype: 2}).String() != "EoRR ipv6-unicast" {
		t.Fatalf("String: %s", rr.String())
	}
}

var routeRefreshSeeds = []seed{
	{"normal", "RFC 2918 request for IPv4 unicast", []byte{0, 1, 0, 1}},
	{"borr-vpnv6", "RFC 7313 Beginning of Route Refresh", []byte{0, 2, 1, 128}},
	{"eorr", "RFC 7313 End of Route Refresh", []byte{0, 1, 2, 1}},
	{"subtype-255", "reserved subtype: ignored, not an error", []byte{0, 1, 255, 1}},
	{"short", "3-byte body: 7/1", []byte{0, 1, 0}},
	{"long", "5-byte body: 7/1", []byte{0, 1, 1, 1, 0}},
}

// FuzzRouteRefresh decodes arbitrary ROUTE-REFRESH bodies: no panic; a 4-byte body always
// decodes and round-trips; any other length is 7/1 carrying the complete message.
func FuzzRouteRefresh(f *testing.F) {
	for _, s := range routeRefreshSeeds {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var rr RouteRefresh
		err := DecodeRouteRefresh(body, &rr)
		if len(body) != 4 {
			want := append(AppendHeader(nil, HeaderLen+len(body), MsgRouteRefresh), body...)
			if HeaderLen+len(body) > MaxExtendedMessage {
				want = nil
			}
			wantErr(t, err, 7, 1, want)
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		b := AppendRouteRefresh(nil, rr)
		if !bytes.Equal(b[HeaderLen:], body) {
			t.Fatalf("re-encoded %x from %x", b[HeaderLen:], body)
		}
		var d decoded
		if err := decodeMessage(b, 0, &d); err != nil || d.rr != rr {
			t.Fatalf("round trip %v: %v %v", rr, d.rr, err)
		}
	})
}
