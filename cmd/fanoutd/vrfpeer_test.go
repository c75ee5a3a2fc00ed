package main

import (
	"testing"

	"github.com/fanoutd/fanout/config"
)

// A neighbor's vrf (gobgpd's neighbors.config.vrf) binds its session to that VRF.
func TestPeerConfigVRF(t *testing.T) {
	c, err := config.LoadBytes([]byte(`
[global.config]
as = 65000
router-id = "192.0.2.1"
[[vrfs]]
[vrfs.config]
name = "red"
rd = "65000:1"
both-rt-list = ["65000:1"]
[[neighbors]]
[neighbors.config]
neighbor-address = "192.0.2.2"
peer-as = 65001
vrf = "red"
[[neighbors]]
[neighbors.config]
neighbor-address = "192.0.2.3"
peer-as = 65000
`), "toml")
	if err != nil {
		t.Fatal(err)
	}
	if pc := peerConfig(c, &c.Neighbors[0]); pc.VRF != "red" {
		t.Errorf("vrf neighbor: VRF %q, want red", pc.VRF)
	}
	if pc := peerConfig(c, &c.Neighbors[1]); pc.VRF != "" {
		t.Errorf("global neighbor: VRF %q", pc.VRF)
	}
}
