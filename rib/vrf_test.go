package rib

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/sched"
)

func rt(as uint16, n uint32) [8]byte {
	return [8]byte{0x00, 0x02, byte(as >> 8), byte(as), byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

// vrfRig is a VPNv4 and VPNv6 table with VRFs "red" (imports and exports 65000:1) and
// "blue" (imports 65000:2), registered.
type vrfRig struct {
	t     *testing.T
	s     *sched.Scheduler
	at    *AttrTable
	vpn4  *Table
	vrfs  *VRFs
	red   *VRF
	blue  *VRF
	peer  *Source
	local *Source
}

func newVRFRig(t *testing.T) *vrfRig {
	vpn4, at, s := newTestTable(t) // an IPv4 table stands in for the family; only keys matter
	vpn6, err := NewTable(s, at, TableConfig{Family: proto.VPNv6, Partitions: vpn4.Partitions()})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := NewVRFs(s, at, vpn4, vpn6, 0, []VRFConfig{
		{Name: "red", RD: proto.RD0(65000, 1), ImportRTs: [][8]byte{rt(65000, 1)}, ExportRTs: [][8]byte{rt(65000, 1), rt(65000, 9)}, Label: 100},
		{Name: "blue", RD: proto.RD0(65000, 2), ImportRTs: [][8]byte{rt(65000, 2)}, Label: 200},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &vrfRig{t: t, s: s, at: at, vpn4: vpn4, vrfs: vs, red: vs.Get("red"), blue: vs.Get("blue"),
		peer:  &Source{Addr: netip.MustParseAddr("10.0.0.1"), RouterID: netip.MustParseAddr("10.0.0.1"), Counters: &SourceCounters{}},
		local: &Source{Local: true, Counters: &SourceCounters{}}}
	readTable(t, s, func(c *sched.Ctx) {
		if err := vs.Register(c); err != nil {
			t.Fatal(err)
		}
	})
	return r
}

// attrs interns an attribute set with LOCAL_PREF 100 and the given extended communities.
func (r *vrfRig) attrs(nh string, ext ...[8]byte) *Attrs {
	var a proto.Attrs
	a.Present.Set(proto.AttrOrigin)
	a.Present.Set(proto.AttrASPath)
	a.Present.Set(proto.AttrLocalPref)
	a.LocalPref = 100
	if len(ext) > 0 {
		a.Present.Set(proto.AttrExtCommunities)
		for _, e := range ext {
			a.ExtCommunities = append(a.ExtCommunities, e[:]...)
		}
	}
	wire, err := proto.AppendAttrs(nil, &a, &proto.SessionOptions{AS4: true})
	if err != nil {
		r.t.Fatal(err)
	}
	n := netip.MustParseAddr(nh)
	return r.at.Intern(InternKey(nil, wire, n), &Summary{NextHop: n, LocalPref: 100, HasLocalPref: true})
}

func (r *vrfRig) enqueue(tb *Table, k Key, op Op) {
	r.t.Helper()
	if _, err := tb.Enqueue(context.Background(), tb.PartitionOf(k), []Request{{Key: k, Op: op}}); err != nil {
		r.t.Fatal(err)
	}
}

// best returns k's best path in tb (a copy), or ok false.
func (r *vrfRig) best(tb *Table, k Key) (p Path, ok bool) {
	readTable(r.t, r.s, func(c *sched.Ctx) {
		if e := tb.DB().Find(c, k); e != nil && e.Data.Best() != nil {
			p, ok = *e.Data.Best(), true
		}
	})
	return p, ok
}

// TestVRFImport: a VPN route whose route targets match a VRF's import targets appears in
// that VRF's table under the VRF's RD (with its label and next hop), not in the other
// VRF's; a withdrawal removes it; a change of route targets moves it.
func TestVRFImport(t *testing.T) {
	r := newVRFRig(t)
	pfx := netip.MustParsePrefix("10.7.0.0/24")
	vpnKey := MakeKey(pfx, proto.RD0(65001, 77))
	inVRF, redExport := MakeKey(pfx, proto.RD{}), vpnKey.WithRD(proto.RD0(65000, 1))
	r.enqueue(r.vpn4, vpnKey, Op{Kind: OpAdd, Path: Path{Src: r.peer, Attrs: r.attrs("192.0.2.1", rt(65000, 1)), Label: MakeLabel(3001)}})
	p, ok := r.best(r.red.Table(proto.IPv4Unicast), inVRF)
	if !ok || p.Attrs.NextHop != netip.MustParseAddr("192.0.2.1") || p.Label.Value() != 3001 || p.Flags&FlagImported == 0 || p.Src.Addr != r.peer.Addr {
		t.Fatalf("red has %+v (%v), want the imported path", p, ok)
	}
	if _, ok := r.best(r.blue.Table(proto.IPv4Unicast), inVRF); ok {
		t.Fatal("blue imported a route without its route target")
	}
	if r.peer.Counters.Received.Load() != 1 {
		t.Fatalf("the peer's counters count the imported copy: received %d", r.peer.Counters.Received.Load())
	}
	// Imported routes are not exported again.
	if _, ok := r.best(r.vpn4, redExport); ok {
		t.Fatal("an imported route was exported back to VPN")
	}
	// New route targets: blue's, not red's.
	r.enqueue(r.vpn4, vpnKey, Op{Kind: OpAdd, Path: Path{Src: r.peer, Attrs: r.attrs("192.0.2.1", rt(65000, 2)), Label: MakeLabel(3001)}})
	if _, ok := r.best(r.red.Table(proto.IPv4Unicast), inVRF); ok {
		t.Fatal("red kept a route whose route targets it no longer imports")
	}
	if _, ok := r.best(r.blue.Table(proto.IPv4Unicast), inVRF); !ok {
		t.Fatal("blue did not import the route with its route target")
	}
	r.enqueue(r.vpn4, vpnKey, Op{Kind: OpWithdraw, Path: Path{Src: r.peer}})
	if _, ok := r.best(r.blue.Table(proto.IPv4Unicast), inVRF); ok {
		t.Fatal("the withdrawal did not remove the imported route")
	}
	readTable(t, r.s, func(c *sched.Ctx) {
		for _, v := range r.vrfs.List() {
			if n := v.Table(proto.IPv4Unicast).DB().Len(c); n != 0 {
				t.Errorf("vrf %s holds %d entries after the withdrawal", v.Name(), n)
			}
			for i := range v.parts {
				if len(v.parts[i].imports) != 0 {
					t.Errorf("vrf %s partition %d keeps %d import sources", v.Name(), i, len(v.parts[i].imports))
				}
			}
		}
		if n := r.vpn4.DB().Len(c); n != 0 {
			t.Errorf("the VPN table holds %d entries", n)
		}
	})
}

// TestVRFExport: a route originated in a VRF is in the VPN table under the VRF's RD with
// its export route targets added and the VRF's label; another VRF importing one of those
// targets imports it; its withdrawal withdraws both.
func TestVRFExport(t *testing.T) {
	r := newVRFRig(t)
	pfx := netip.MustParsePrefix("10.8.0.0/24")
	inVRF, inRed := MakeKey(pfx, proto.RD{}), MakeKey(pfx, proto.RD0(65000, 1))
	r.enqueue(r.red.Table(proto.IPv4Unicast), inVRF, Op{Kind: OpAdd, Path: Path{Src: r.local, Attrs: r.attrs("192.0.2.9", rt(65000, 5))}})
	p, ok := r.best(r.vpn4, inRed)
	if !ok || p.Src != r.red.ExportSource() || p.Label.Value() != 100 || p.Attrs.NextHop != netip.MustParseAddr("192.0.2.9") {
		t.Fatalf("VPN has %+v (%v), want red's export", p, ok)
	}
	for _, want := range [][8]byte{rt(65000, 5), rt(65000, 1), rt(65000, 9)} {
		if !HasRouteTarget(p.Attrs, [][8]byte{want}) {
			t.Errorf("the export lacks route target %x", want)
		}
	}
	rt9 := rt(65000, 9)
	if !strings.Contains(p.Attrs.Wire(), string(rt9[:])) || r.red.ExportSource().Counters.Received.Load() != 1 {
		t.Fatal("export counters or encoding wrong")
	}
	// Red does not import its own export (it carries red's import target 65000:1).
	if p, _ := r.best(r.red.Table(proto.IPv4Unicast), inVRF); p.Src != r.local {
		t.Fatalf("red's best is %+v, want its own route", p)
	}
	r.enqueue(r.red.Table(proto.IPv4Unicast), inVRF, Op{Kind: OpWithdraw, Path: Path{Src: r.local}})
	if _, ok := r.best(r.vpn4, inRed); ok {
		t.Fatal("the export stayed after the VRF route was withdrawn")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.s.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAppendWithRouteTargets: the export encoding adds the attribute in type order when
// absent and merges into one that is there, without repeating a value.
func TestAppendWithRouteTargets(t *testing.T) {
	r := newVRFRig(t)
	plain := r.attrs("192.0.2.1")
	got := string(appendWithRouteTargets(nil, plain.Wire(), [][8]byte{rt(1, 1)}))
	want := r.attrs("192.0.2.1", rt(1, 1)).Wire()
	if got != want {
		t.Fatalf("added:\n%x\nwant\n%x", got, want)
	}
	has := r.attrs("192.0.2.1", rt(1, 1), rt(2, 2))
	got = string(appendWithRouteTargets(nil, has.Wire(), [][8]byte{rt(2, 2), rt(3, 3)}))
	if want := r.attrs("192.0.2.1", rt(1, 1), rt(2, 2), rt(3, 3)).Wire(); got != want {
		t.Fatalf("merged:\n%x\nwant\n%x", got, want)
	}
	if HasRouteTarget(plain, [][8]byte{rt(1, 1)}) || !HasRouteTarget(has, [][8]byte{rt(9, 9), rt(2, 2)}) {
		t.Fatal("HasRouteTarget")
	}
}
