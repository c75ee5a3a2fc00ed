package bgp

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// A route added to a VRF's table is exported as VPNv4 (RFC 4364 §4.3.1) with the VRF's
// RD, its export route targets and its label, and reflected to an RR client that negotiated
// VPNv4; withdrawing it from the VRF withdraws the VPN route.
func TestVRFExportToClient(t *testing.T) {
	s, err := sched.New(sched.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		c, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		s.Close(c)
	})
	rd := proto.RD0(65000, 42)
	exportRT := [8]byte{0, 2, 0xfd, 0xe8, 0, 0, 0, 42} // 65000:42
	r, err := NewRIB(ctx, s, zap.NewNop(), RIBConfig{LocalAS: 65000, RouterID: addr("10.255.0.1"), Partitions: 4,
		VRFs: []rib.VRFConfig{{Name: "red", RD: rd, ImportRTs: [][8]byte{exportRT}, ExportRTs: [][8]byte{exportRT}, Label: 1042}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, ServerConfig{AS: 65000, RouterID: addr("10.255.0.1"), ListenAddrs: []netip.Addr{addr("127.1.61.1")}},
		Deps{Logger: zap.NewNop(), Scheduler: s, Routing: r})
	fams := []proto.Family{proto.IPv4Unicast, proto.VPNv4}
	addPeer(t, srv, PeerConfig{Addr: addr("127.1.61.20"), PeerAS: 65000, RRClient: true, Passive: true, Families: fams})
	rcv := dialRaw(t, "127.1.61.20", srv.ListenAddrs()[0], 0)
	rcv.handshake(65000, "127.1.61.20", 0, func(c *proto.Capabilities) { c.Multiprotocol = fams })
	waitState(t, srv, addr("127.1.61.20"), Established)

	opts := proto.SessionOptions{AS4: true}
	var a proto.Attrs
	for _, typ := range []uint8{proto.AttrOrigin, proto.AttrASPath, proto.AttrLocalPref} {
		a.Present.Set(typ)
	}
	a.LocalPref = 100
	wire, err := proto.AppendAttrs(nil, &a, &opts)
	if err != nil {
		t.Fatal(err)
	}
	nh := addr("198.18.7.1")
	attrs := r.Attrs().Intern(rib.InternKey(nil, wire, nh), &rib.Summary{NextHop: nh, LocalPref: 100, HasLocalPref: true})
	src := &rib.Source{ID: LocalSourceID, Local: true, Counters: &rib.SourceCounters{}}
	tb := r.VRF("red").Table(proto.IPv4Unicast)
	pfx := netip.MustParsePrefix("10.88.0.0/24")
	k := rib.MakeKey(pfx, proto.RD{})
	if _, err := tb.Enqueue(ctx, tb.PartitionOf(k), []rib.Request{{Key: k, Op: rib.Op{Kind: rib.OpAdd, Path: rib.Path{Src: src, Attrs: attrs}}}}); err != nil {
		t.Fatal(err)
	}

	next := func() *proto.Update {
		for end := time.Now().Add(waitLimit); time.Now().Before(end); {
			typ, body, err := rcv.read(time.Until(end))
			if err != nil {
				t.Fatal(err)
			}
			if typ != proto.MsgUpdate {
				continue
			}
			u := &proto.Update{}
			if err := proto.DecodeUpdate(body, &opts, u); err != nil {
				t.Fatal(err)
			}
			if _, eor := proto.EndOfRIB(u); !eor {
				return u
			}
		}
		t.Fatal("no UPDATE")
		return nil
	}
	u := next()
	if !u.Attrs.Present.Has(proto.AttrMPReach) || u.Attrs.MPReach.Family != proto.VPNv4 {
		t.Fatalf("want a VPNv4 announcement, got %+v", u.Attrs.MPReach)
	}
	var got proto.NLRI
	it := u.IterMPReach(&opts)
	if !it.Next(&got) || got.Prefix != pfx || got.RD != rd || got.Labels.N != 1 || got.Labels.Labels[0] != 1042 {
		t.Fatalf("exported NLRI %+v, want %v RD %v label 1042", got, pfx, rd)
	}
	if !strings.Contains(string(u.Attrs.ExtCommunities), string(exportRT[:])) {
		t.Fatalf("extended communities %x lack the export route target %x", u.Attrs.ExtCommunities, exportRT)
	}
	if u.Attrs.MPReach.NextHop != nh {
		t.Fatalf("next hop %v, want %v", u.Attrs.MPReach.NextHop, nh)
	}

	if _, err := tb.Enqueue(ctx, tb.PartitionOf(k), []rib.Request{{Key: k, Op: rib.Op{Kind: rib.OpWithdraw, Path: rib.Path{Src: src}}}}); err != nil {
		t.Fatal(err)
	}
	u = next()
	it = u.IterMPUnreach(&opts)
	if !u.Attrs.Present.Has(proto.AttrMPUnreach) || !it.Next(&got) || got.Prefix != pfx || got.RD != rd {
		t.Fatalf("want the VPNv4 withdrawal, got %+v", u.Attrs.MPUnreach)
	}
}
