package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/config"
	"github.com/fanoutd/fanout/netinst"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// testHeader is the start of a test configuration: no BGP listener, the API and metrics on
// free loopback ports.
const testHeader = `
[global.config]
  as = 65000
  router-id = "192.0.2.1"
  port = -1
[fanout]
  grpc-address = "127.0.0.1:0"
  http-address = "127.0.0.1:0"
`

// fakeKernelDaemon starts a daemon from testHeader and extra, every network instance on one
// fake kernel, stopped when the test ends.
func fakeKernelDaemon(t *testing.T, extra string) (*daemon, *netinst.FakeKernel) {
	t.Helper()
	c, err := config.LoadBytes([]byte(testHeader+extra), "toml")
	if err != nil {
		t.Fatal(err)
	}
	k := netinst.NewFakeKernel()
	d, err := startWith(c, zap.NewNop(), options{kernel: func(string) (netinst.Kernel, error) { return k, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stop(context.Background()) })
	return d, k
}

// TestVRFInstanceFedFromVRFTable: a VPN route whose route target the vrf imports appears in
// the vrf's RIB table and in its instance's kernel table; one with another route target
// does not; a withdrawal removes it.
func TestVRFInstanceFedFromVRFTable(t *testing.T) {
	d, k := fakeKernelDaemon(t, `
[[vrfs]]
  [vrfs.config]
    name = "red"
    rd = "65000:1"
    import-rt-list = ["65000:1"]
    export-rt-list = ["65000:1"]
[[fanout.instances]]
  name = "red"
  table = 200
  install = true
`)

	vpn := d.rib.Table(proto.VPNv4)
	src := &rib.Source{Addr: netip.MustParseAddr("10.0.0.1"), RouterID: netip.MustParseAddr("10.0.0.1"), AS: 65000, Counters: &rib.SourceCounters{}}
	enqueue := func(p string, rd proto.RD, op rib.Op) rib.Key {
		key := rib.MakeKey(netip.MustParsePrefix(p), rd)
		if _, err := vpn.Enqueue(context.Background(), vpn.PartitionOf(key), []rib.Request{{Key: key, Op: op}}); err != nil {
			t.Fatal(err)
		}
		return key
	}
	add := func(p string, rd proto.RD, nh string, rt [8]byte) {
		wire := append([]byte{0x40, proto.AttrOrigin, 1, 0, 0xc0, proto.AttrExtCommunities, 8}, rt[:]...)
		n := netip.MustParseAddr(nh)
		a := d.rib.Attrs().Intern(rib.InternKey(nil, wire, n), &rib.Summary{NextHop: n})
		enqueue(p, rd, rib.Op{Kind: rib.OpAdd, Path: rib.Path{Src: src, Attrs: a, Label: rib.MakeLabel(300)}})
	}
	match, other := [8]byte{0, 2, 0xfd, 0xe8, 0, 0, 0, 1}, [8]byte{0, 2, 0xfd, 0xe8, 0, 0, 0, 2}
	add("10.20.0.0/16", proto.RD0(65001, 5), "192.0.2.20", match)
	add("10.21.0.0/16", proto.RD0(65001, 5), "192.0.2.21", other)
	waitFor(t, "the imported route installed", func() bool { return k.Dump() == "route table 200 10.20.0.0/16 via 192.0.2.20" })
	inVRF := func(p string) bool {
		found := false
		key := rib.MakeKey(netip.MustParsePrefix(p), proto.RD{})
		inTask(t, d.sched, func(c *sched.Ctx) {
			e := d.rib.VRF("red").Table(proto.IPv4Unicast).DB().Find(c, key)
			found = e != nil && e.Data.Best() != nil
		})
		return found
	}
	if !inVRF("10.20.0.0/16") || inVRF("10.21.0.0/16") {
		t.Fatal("the vrf table does not hold exactly the route with the imported route target")
	}
	enqueue("10.20.0.0/16", proto.RD0(65001, 5), rib.Op{Kind: rib.OpWithdraw, Path: rib.Path{Src: src}})
	waitFor(t, "the withdrawal", func() bool { return k.Dump() == "" })
	if inVRF("10.20.0.0/16") {
		t.Fatal("the vrf table kept a withdrawn route")
	}
	// The JSON diagnostics carry the instances' statuses.
	st, ok := d.metrics.Snapshot().Instances.([]netinst.Status)
	if !ok || len(st) != 1 || st[0].Name != "red" {
		t.Fatalf("diagnostics instances %#v", d.metrics.Snapshot().Instances)
	}
}

// TestReloadAppliesInstances: a reload of a file whose only change is an instance's kernel
// table reaches the instance (a new TargetVersion); one that adds a vrf is refused.
func TestReloadAppliesInstances(t *testing.T) {
	const base = testHeader + `
[[vrfs]]
  [vrfs.config]
    name = "red"
    rd = "65000:1"
    both-rt-list = ["65000:1"]
[[fanout.instances]]
  name = "red"
  table = %d
%s`
	p := filepath.Join(t.TempDir(), "fanout.toml")
	write := func(table int, extra string) *config.Config {
		t.Helper()
		if err := os.WriteFile(p, []byte(fmt.Sprintf(base, table, extra)), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := write(200, "")
	k := netinst.NewFakeKernel()
	d, err := startWith(c, zap.NewNop(), options{kernel: func(string) (netinst.Kernel, error) { return k, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stop(context.Background()) })
	r := &reloader{d: d, log: zap.NewNop(), path: p, cur: c}
	waitFor(t, "red up", func() bool { s := instanceStatus(d, "red"); return s.TargetVersion == 1 && !s.Pending })
	write(201, "")
	if err := r.reload(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "red's new table", func() bool { s := instanceStatus(d, "red"); return s.TargetVersion == 2 && !s.Pending })
	write(201, `
[[vrfs]]
  [vrfs.config]
    name = "blue"
    rd = "65000:2"
    both-rt-list = ["65000:2"]
`)
	// VRF tables are built at start-up: a reload that adds a vrf is refused, saying so, and
	// the running configuration stays.
	if err := r.reload(); err == nil || !strings.Contains(err.Error(), "vrfs") {
		t.Fatalf("reload adding a vrf: %v, want it refused as needing a restart", err)
	}
	if len(d.rib.VRFs().List()) != 1 {
		t.Fatalf("%d VRF tables after a refused reload, want 1", len(d.rib.VRFs().List()))
	}
}
