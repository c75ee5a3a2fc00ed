package api

import (
	"context"
	"net/netip"
	"testing"
	"time"

	apipb "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// sink is a server stream that keeps what is sent.
type sink[T any] struct {
	grpc.ServerStream
	ctx context.Context
	got []*T
}

func (s *sink[T]) Send(m *T) error          { s.got = append(s.got, m); return nil }
func (s *sink[T]) Context() context.Context { return s.ctx }

// TestVrfAPI: ListVrf lists the configured VRFs with RD, route targets and id; ListPath of
// a VRF lists its table (with and without a prefix filter); unknown names get NotFound and
// gobgpd's "vrf X not found".
func TestVrfAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := sched.New(sched.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	rd := proto.RD0(65000, 7)
	rt := [8]byte{0, 2, 0xfd, 0xe8, 0, 0, 0, 7}
	r, err := bgp.NewRIB(ctx, s, zap.NewNop(), bgp.RIBConfig{LocalAS: 65000, RouterID: netip.MustParseAddr("10.255.0.1"), Partitions: 4,
		VRFs: []rib.VRFConfig{{Name: "red", RD: rd, ImportRTs: [][8]byte{rt}, ExportRTs: [][8]byte{rt}, ID: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	svc := New(nil, r, Deps{Scheduler: s})

	vs := &sink[apipb.ListVrfResponse]{ctx: ctx}
	if err := svc.ListVrf(&apipb.ListVrfRequest{}, vs); err != nil || len(vs.got) != 1 {
		t.Fatalf("ListVrf: %v, %d vrfs", err, len(vs.got))
	}
	v := vs.got[0].GetVrf()
	gotRD, err := apiutil.UnmarshalRD(v.GetRd())
	if err != nil || v.GetName() != "red" || v.GetId() != 3 || gotRD.String() != "65000:7" || len(v.GetImportRt()) != 1 || len(v.GetExportRt()) != 1 {
		t.Fatalf("ListVrf: %v (rd %v, %v)", v, gotRD, err)
	}
	wantCode(t, svc.ListVrf(&apipb.ListVrfRequest{Name: "blue"}, vs), codes.NotFound, "blue")

	tb := r.VRF("red").Table(proto.IPv4Unicast)
	nh := netip.MustParseAddr("192.0.2.1")
	attrs := r.Attrs().InternN(rib.InternKey(nil, []byte{0x40, proto.AttrOrigin, 1, 0}, nh), &rib.Summary{NextHop: nh}, 2)
	src := &rib.Source{Local: true, ID: bgp.LocalSourceID, Counters: &rib.SourceCounters{}}
	for _, p := range []string{"10.1.0.0/16", "10.2.0.0/16"} {
		k := rib.MakeKey(netip.MustParsePrefix(p), proto.RD{})
		if _, err := tb.Enqueue(ctx, tb.PartitionOf(k), []rib.Request{{Key: k, Op: rib.Op{Kind: rib.OpAdd, Path: rib.Path{Src: src, Attrs: attrs}}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	ipv4 := &apipb.Family{Afi: apipb.Family_AFI_IP, Safi: apipb.Family_SAFI_UNICAST}
	ps := &sink[apipb.ListPathResponse]{ctx: ctx}
	if err := svc.ListPath(&apipb.ListPathRequest{TableType: apipb.TableType_VRF, Name: "red", Family: ipv4}, ps); err != nil || len(ps.got) != 2 {
		t.Fatalf("ListPath vrf: %v, %d destinations", err, len(ps.got))
	}
	if p := ps.got[0].GetDestination(); p.GetPrefix() != "10.1.0.0/16" || len(p.GetPaths()) != 1 || !p.GetPaths()[0].GetBest() {
		t.Fatalf("ListPath vrf: %v", p)
	}
	ps.got = nil
	err = svc.ListPath(&apipb.ListPathRequest{TableType: apipb.TableType_VRF, Name: "red", Family: ipv4,
		Prefixes: []*apipb.TableLookupPrefix{{Prefix: "10.2.0.0/16"}}}, ps)
	if err != nil || len(ps.got) != 1 || ps.got[0].GetDestination().GetPrefix() != "10.2.0.0/16" {
		t.Fatalf("ListPath vrf exact: %v, %v", err, ps.got)
	}
	wantCode(t, svc.ListPath(&apipb.ListPathRequest{TableType: apipb.TableType_VRF, Name: "blue", Family: ipv4}, ps), codes.Unknown, "vrf blue not found")

	// AddPath in the VRF (`gobgp vrf red rib add 10.3.0.0/16 nexthop 192.0.2.3`): in the VRF
	// table, and exported to VPNv4 under the VRF's RD; DeletePath takes both away.
	p := apiPath(t, "10.3.0.0/16", gobgp.NewPathAttributeOrigin(0), gobgp.NewPathAttributeNextHop("192.0.2.3"))
	if _, err := svc.AddPath(ctx, &apipb.AddPathRequest{TableType: apipb.TableType_VRF, VrfId: "red", Path: p}); err != nil {
		t.Fatal(err)
	}
	_, err = svc.AddPath(ctx, &apipb.AddPathRequest{TableType: apipb.TableType_VRF, VrfId: "blue", Path: p})
	wantCode(t, err, codes.NotFound, "blue")
	exported := func() bool {
		if err := s.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		found := false
		done := make(chan struct{})
		k := rib.MakeKey(netip.MustParsePrefix("10.3.0.0/16"), rd)
		s.Run(sched.BGPConfig, 0, func(c *sched.Ctx) sched.Result {
			e := r.Table(proto.VPNv4).DB().Find(c, k)
			found = e != nil && e.Data.Best() != nil && e.Data.Best().Label.Value() == 0 && rib.HasRouteTarget(e.Data.Best().Attrs, [][8]byte{rt})
			close(done)
			return sched.Done
		})
		<-done
		return found
	}
	if !exported() {
		t.Fatal("the path added to the VRF is not in VPNv4 under its RD with its route target")
	}
	if _, err := svc.DeletePath(ctx, &apipb.DeletePathRequest{TableType: apipb.TableType_VRF, VrfId: "red", Path: p}); err != nil {
		t.Fatal(err)
	}
	if exported() {
		t.Fatal("DeletePath in the VRF left the VPN route")
	}
	_, err = svc.DeletePath(ctx, &apipb.DeletePathRequest{TableType: apipb.TableType_VRF, VrfId: "red"})
	wantCode(t, err, codes.Unimplemented, "VRF")
}
