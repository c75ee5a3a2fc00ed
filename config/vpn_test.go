package config

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

func TestRouteDistinguisherAndTarget(t *testing.T) {
	for _, tc := range []struct {
		in, str string
		rd      [8]byte
		gobgp   bool // gobgpd parses this form the same way
	}{
		{"65000:100", "65000:100", [8]byte{0, 0, 0xfd, 0xe8, 0, 0, 0, 100}, true},
		{"65000:4294967295", "65000:4294967295", [8]byte{0, 0, 0xfd, 0xe8, 0xff, 0xff, 0xff, 0xff}, true},
		{"192.0.2.1:7", "192.0.2.1:7", [8]byte{0, 1, 192, 0, 2, 1, 0, 7}, true},
		{"1.10:5", "65546:5", [8]byte{0, 2, 0, 1, 0, 10, 0, 5}, true},
		{"4200000000:9", "4200000000:9", [8]byte{0, 2, 0xfa, 0x56, 0xea, 0x00, 0, 9}, false},
		{"0.100:1", "0.100:1", [8]byte{0, 2, 0, 0, 0, 100, 0, 1}, true},
	} {
		rd, err := ParseRouteDistinguisher(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if rd != tc.rd || rd.String() != tc.str {
			t.Errorf("RD %s: % x %s, want % x %s", tc.in, rd[:], rd, tc.rd[:], tc.str)
		}
		if back, err := ParseRouteDistinguisher(rd.String()); err != nil || back != rd {
			t.Errorf("RD %s does not round-trip: %v", rd, err)
		}
		rt, err := ParseRouteTarget(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if rt[0] != tc.rd[1] || rt[1] != 2 || !bytes.Equal(rt[2:], tc.rd[2:]) || rt.String() != tc.str {
			t.Errorf("RT %s: % x %s", tc.in, rt[:], rt)
		}
		if !tc.gobgp {
			continue
		}
		grd, err := bgp.ParseRouteDistinguisher(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if w, _ := grd.Serialize(); !bytes.Equal(rd[:], w) {
			t.Errorf("RD %s: fanout % x, gobgp % x", tc.in, rd[:], w)
		}
		grt, err := bgp.ParseRouteTarget(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if w, _ := grt.Serialize(); !bytes.Equal(rt[:], w) {
			t.Errorf("RT %s: fanout % x, gobgp % x", tc.in, rt[:], w)
		}
	}
	for _, bad := range []string{"", "65000", ":1", "65000:", "a:1", "65000:-1", "65000:+1", "+1:1", "1.2.3:1",
		"192.0.2.1:65536", "4200000000:65536", "4294967296:1", "65536.1:1", "2001:db8::1:1", "1.2.3.4.5:1", "65000:1:2"} {
		if rd, err := ParseRouteDistinguisher(bad); err == nil {
			t.Errorf("RD %q parses as %s", bad, rd)
		}
		if rt, err := ParseRouteTarget(bad); err == nil {
			t.Errorf("RT %q parses as %s", bad, rt)
		}
	}
}

// A neighbor's `config.vrf` binds it to a configured vrf (a PE-CE session), as gobgpd's does
// (TestSameAsGobgpd compares the value); moving a neighbor into a vrf is a change of it.
func TestNeighborVrf(t *testing.T) {
	c, err := Load(filepath.Join("..", "testdata", "config", "all-keys.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Neighbors) < 2 || c.Neighbors[0].Vrf != "cust-a" || c.Neighbors[1].Vrf != "" {
		t.Fatalf("neighbors %+v", c.Neighbors)
	}
	old := *c
	old.Neighbors = append([]Neighbor(nil), c.Neighbors...)
	old.Neighbors[0].Vrf = ""
	if d := Diff(&old, c); d.Neighbors.empty() {
		t.Fatal("moving a neighbor into a vrf is not a change")
	}
}
