package main

import (
	"context"
	"net/netip"
	"testing"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/config"
	"github.com/fanoutd/fanout/netinst"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// TestVRFInstanceFedFromVRFTable: a VPN route whose route target the vrf imports appears in
// the vrf's RIB table and in its instance's kernel table; one with another route target
// does not; a withdrawal removes it.
func TestVRFInstanceFedFromVRFTable(t *testing.T) {
	c, err := config.LoadBytes([]byte(`
[global.config]
  as = 65000
  router-id = "192.0.2.1"
  port = -1
[fanout]
  grpc-address = "127.0.0.1:0"
  http-address = "127.0.0.1:0"
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
`), "toml")
	if err != nil {
		t.Fatal(err)
	}
	k := netinst.NewFakeKernel()
	d, err := startWith(c, zap.NewNop(), options{kernel: func(string) (netinst.Kernel, error) { return k, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stop(context.Background()) })

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
		key := rib.MakeKey(netip.MustParsePrefix(p), proto.RD0(65000, 1))
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
