package netinst

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// ribRig is a real scheduler with an IPv4 unicast and a VPNv4 table.
type ribRig struct {
	t       *testing.T
	s       *sched.Scheduler
	attrs   *rib.AttrTable
	v4, vpn *rib.Table
	src     *rib.Source
}

func newRIBRig(t *testing.T) *ribRig {
	s, err := sched.New(sched.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	r := &ribRig{t: t, s: s, attrs: rib.NewAttrTable(), src: &rib.Source{ID: 1, Addr: netip.MustParseAddr("127.0.0.2"), AS: 65001}}
	for _, x := range []struct {
		fam proto.Family
		dst **rib.Table
	}{{proto.IPv4Unicast, &r.v4}, {proto.VPNv4, &r.vpn}} {
		if *x.dst, err = rib.NewTable(s, r.attrs, rib.TableConfig{Family: x.fam, Partitions: 4}); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// extComm is an EXTENDED_COMMUNITIES attribute (RFC 4360) with the given route targets.
func extComm(rts ...[8]byte) []byte {
	b := []byte{0xc0, proto.AttrExtCommunities, byte(8 * len(rts))}
	for _, rt := range rts {
		b = append(b, rt[:]...)
	}
	return b
}

func rt(as uint16, n uint32) [8]byte {
	return [8]byte{0, 2, byte(as >> 8), byte(as), byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

// origin is ORIGIN IGP, so wires differ from an empty one only by what is appended.
var origin = []byte{0x40, proto.AttrOrigin, 1, 0}

func (r *ribRig) add(t *rib.Table, p string, rd proto.RD, nh string, wire []byte) {
	r.t.Helper()
	a := r.attrs.Intern(rib.InternKey(nil, wire, netip.MustParseAddr(nh)), &rib.Summary{NextHop: netip.MustParseAddr(nh)})
	k := rib.MakeKey(netip.MustParsePrefix(p), rd)
	r.enqueue(t, rib.Request{Key: k, Op: rib.Op{Kind: rib.OpAdd, Path: rib.Path{Src: r.src, Attrs: a}}})
}

func (r *ribRig) withdraw(t *rib.Table, p string, rd proto.RD) {
	r.t.Helper()
	k := rib.MakeKey(netip.MustParsePrefix(p), rd)
	r.enqueue(t, rib.Request{Key: k, Op: rib.Op{Kind: rib.OpWithdraw, Path: rib.Path{Src: r.src}}})
}

func (r *ribRig) enqueue(t *rib.Table, req rib.Request) {
	r.t.Helper()
	if _, err := t.Enqueue(context.Background(), t.PartitionOf(req.Key), []rib.Request{req}); err != nil {
		r.t.Fatal(err)
	}
}

// TestFeed: unicast best paths reach the default instance; VPN routes reach a VRF
// instance through its rib VRF table (imported by route target); withdrawals follow; an
// instance added later hears of the routes already there (a walk); a detached feed sends
// nothing.
func TestFeed(t *testing.T) {
	rr := newRIBRig(t)
	vpn6, err := rib.NewTable(rr.s, rr.attrs, rib.TableConfig{Family: proto.VPNv6, Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	rd1, rd2 := proto.RD0(65000, 1), proto.RD0(65000, 2)
	vrfs, err := rib.NewVRFs(rr.s, rr.attrs, rr.vpn, vpn6, 0, []rib.VRFConfig{
		{Name: "red", RD: proto.RD0(65535, 1), ImportRTs: [][8]byte{rt(65000, 1)}},
		{Name: "blue", RD: proto.RD0(65535, 2), ImportRTs: [][8]byte{rt(65000, 2)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	registered := make(chan error, 1)
	if err := rr.s.Run(sched.BGPConfig, 0, func(c *sched.Ctx) sched.Result { registered <- vrfs.Register(c); return sched.Done }); err != nil {
		t.Fatal(err)
	}
	if err := <-registered; err != nil {
		t.Fatal(err)
	}
	r := newRig(t, true)
	red := Config{Name: "red", VRF: true, Table: 10, Install: true}
	r.apply(inst(DefaultName, 100), red)
	f := NewFeed(rr.s, rr.v4)
	for _, v := range vrfs.List() {
		f.AddVRF(v.Name(), v.Table(proto.IPv4Unicast), v.Table(proto.IPv6Unicast))
	}
	if err := f.Attach(ctx, r.m); err != nil {
		t.Fatal(err)
	}
	rr.add(rr.v4, "10.1.0.0/16", proto.RD{}, "192.0.2.1", origin)
	rr.add(rr.vpn, "10.8.0.0/16", rd1, "192.0.2.8", append(append([]byte{}, origin...), extComm(rt(65000, 1))...))
	rr.add(rr.vpn, "10.9.0.0/16", rd2, "192.0.2.9", append(append([]byte{}, origin...), extComm(rt(65000, 2))...))
	rr.add(rr.vpn, "10.10.0.0/16", rd2, "192.0.2.10", append(append([]byte{}, origin...), extComm(rt(65000, 7))...))
	k := r.kernel("")
	eventually(t, "routes", func() bool {
		return k.Dump() == "route table 10 10.8.0.0/16 via 192.0.2.8\nroute table 100 10.1.0.0/16 via 192.0.2.1"
	})
	// Blue is added later and imports 65000:2: it gets the route that was already there.
	blue := Config{Name: "blue", VRF: true, Table: 20, Install: true}
	r.apply(inst(DefaultName, 100), red, blue)
	eventually(t, "blue's route", func() bool { return k.Len(20) == 1 })
	// Withdrawals.
	rr.withdraw(rr.v4, "10.1.0.0/16", proto.RD{})
	rr.withdraw(rr.vpn, "10.8.0.0/16", rd1)
	eventually(t, "withdrawals", func() bool { return k.Dump() == "route table 20 10.9.0.0/16 via 192.0.2.9" })
	// Route targets changing on the same route: no longer imported.
	rr.add(rr.vpn, "10.9.0.0/16", rd2, "192.0.2.9", append(append([]byte{}, origin...), extComm(rt(65000, 3))...))
	eventually(t, "export target changed", func() bool { return k.Dump() == "" })

	if err := f.Detach(ctx); err != nil {
		t.Fatal(err)
	}
	rr.add(rr.v4, "10.1.0.0/16", proto.RD{}, "192.0.2.1", origin)
	waitIdle(t, rr.s)
	if d := r.status(DefaultName).InboxDepth; d != 0 || k.Len(100) != 0 {
		t.Fatalf("detached feed delivered: depth %d, kernel %q", d, k.Dump())
	}
}

func waitIdle(t *testing.T, s *sched.Scheduler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}
