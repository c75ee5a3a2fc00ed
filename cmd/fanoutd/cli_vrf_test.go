package main

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The real gobgp CLI on a VRF: `gobgp vrf` lists it with its RD and route targets, `vrf red
// rib add` puts a route in its table, which `vrf red rib` shows and which is exported to
// VPNv4 under the VRF's RD (`global rib -a vpnv4`); `vrf red rib del` takes it out again.
func TestCLIVRF(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cli := buildCLI(t, ctx)
	d, _ := fakeKernelDaemon(t, `
[[vrfs]]
  [vrfs.config]
    name = "red"
    rd = "65000:1"
    import-rt-list = ["65000:1"]
    export-rt-list = ["65000:2"]
`)
	gobgp := cliOf(t, ctx, cli, d)
	hasLine := func(what, out string, fields ...string) bool {
		for _, l := range strings.Split(out, "\n") {
			ok := true
			for _, f := range fields {
				ok = ok && strings.Contains(l, f)
			}
			if ok {
				return true
			}
		}
		return false
	}
	if out := gobgp("vrf"); !hasLine("vrf", out, "red", "65000:1", "65000:2") {
		t.Fatalf("gobgp vrf: no line with red, its RD and route targets:\n%s", out)
	}
	gobgp("vrf", "red", "rib", "add", "10.3.0.0/24", "nexthop", "192.0.2.3")
	waitFor(t, "the route in vrf red and exported to VPNv4", func() bool {
		return hasLine("vrf red rib", gobgp("vrf", "red", "rib"), "10.3.0.0/24", "192.0.2.3") &&
			hasLine("global rib -a vpnv4", gobgp("global", "rib", "-a", "vpnv4"), "65000:1:10.3.0.0/24")
	})
	gobgp("vrf", "red", "rib", "del", "10.3.0.0/24")
	waitFor(t, "the route gone from vrf red and VPNv4", func() bool {
		return !strings.Contains(gobgp("vrf", "red", "rib"), "10.3.0.0/24") &&
			!strings.Contains(gobgp("global", "rib", "-a", "vpnv4"), "10.3.0.0/24")
	})
}

// cliOf returns a function that runs the gobgp CLI against d's API (bounded by a timeout)
// and returns its output, failing the test when the command fails.
func cliOf(t *testing.T, ctx context.Context, cli string, d *daemon) func(args ...string) string {
	host, port, _ := net.SplitHostPort(d.apiAddr.String())
	return func(args ...string) string {
		t.Helper()
		cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
		defer ccancel()
		out, err := exec.CommandContext(cctx, cli, append([]string{"-u", host, "-p", port}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("gobgp %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
}
