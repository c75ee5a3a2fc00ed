package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fanoutd/fanout/config"
)

// A neighbor's vrf (gobgpd's neighbors.config.vrf) binds its session to that VRF.
func TestPeerConfigVRF(t *testing.T) {
	c, err := config.Load("../../testdata/config/all-keys.toml")
	if err != nil {
		t.Fatal(err)
	}
	if pc := peerConfig(c, &c.Neighbors[0]); pc.VRF != "cust-a" {
		t.Errorf("vrf neighbor: VRF %q, want cust-a", pc.VRF)
	}
	if pc := peerConfig(c, &c.Neighbors[1]); pc.VRF != "" {
		t.Errorf("global neighbor: VRF %q", pc.VRF)
	}
}

// The real gobgp CLI lists a neighbor bound to a VRF and shows it on its own.
func TestCLIVRFNeighbor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cli := buildCLI(t, ctx)
	d, _ := fakeKernelDaemon(t, `
[[vrfs]]
  [vrfs.config]
    name = "red"
    rd = "65000:1"
    both-rt-list = ["65000:1"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.1.63.30"
    peer-as = 65030
    vrf = "red"
  [neighbors.transport.config]
    passive-mode = true
`)
	run := cliOf(t, ctx, cli, d)
	// Its configuration says its VRF.
	if out := run("neighbor", "127.1.63.30", "-j"); !strings.Contains(out, `"vrf":"red"`) {
		t.Errorf("gobgp neighbor -j does not show vrf red:\n%s", out)
	}
	for _, args := range [][]string{{"neighbor"}, {"neighbor", "127.1.63.30"}} {
		if out := run(args...); !strings.Contains(out, "127.1.63.30") {
			t.Fatalf("gobgp %s does not show the neighbor:\n%s", strings.Join(args, " "), out)
		}
	}
}
