package api

import (
	"net/netip"
	"testing"
	"time"

	apipb "github.com/osrg/gobgp/v3/api"
	"google.golang.org/grpc/codes"

	"github.com/fanoutd/fanout/bench/gen"
	"github.com/fanoutd/fanout/bgp"
)

func (f *fixture) listGroups(name string) ([]*apipb.PeerGroup, error) {
	st, err := f.c.ListPeerGroup(f.ctx, &apipb.ListPeerGroupRequest{PeerGroupName: name})
	if err != nil {
		return nil, err
	}
	return recvAll(st, (*apipb.ListPeerGroupResponse).GetPeerGroup)
}

func (f *fixture) listRanges(group string) ([]*apipb.DynamicNeighbor, error) {
	st, err := f.c.ListDynamicNeighbor(f.ctx, &apipb.ListDynamicNeighborRequest{PeerGroup: group})
	if err != nil {
		return nil, err
	}
	return recvAll(st, (*apipb.ListDynamicNeighborResponse).GetDynamicNeighbor)
}

// Peer groups: members take the group's settings where they give none, an updated group
// re-applies to them, a group in use is not deleted.
func TestPeerGroups(t *testing.T) {
	f := newFixture(t, 82, Deps{})
	group := func(name string, as uint32, hold uint64) *apipb.PeerGroup {
		return &apipb.PeerGroup{Conf: &apipb.PeerGroupConf{PeerGroupName: name, PeerAsn: as},
			RouteServer: &apipb.RouteServer{RouteServerClient: true},
			Timers:      &apipb.Timers{Config: &apipb.TimersConfig{HoldTime: hold}},
			Transport:   &apipb.Transport{PassiveMode: true}}
	}
	if _, err := f.c.AddPeerGroup(f.ctx, &apipb.AddPeerGroupRequest{PeerGroup: group("members", 65100, 60)}); err != nil {
		t.Fatal(err)
	}
	_, err := f.c.AddPeerGroup(f.ctx, &apipb.AddPeerGroupRequest{PeerGroup: group("members", 65100, 60)})
	wantCode(t, err, codes.AlreadyExists, "members")
	_, err = f.c.AddPeerGroup(f.ctx, &apipb.AddPeerGroupRequest{PeerGroup: group("", 65100, 60)})
	wantCode(t, err, codes.InvalidArgument, "name")
	_, err = f.c.AddPeerGroup(f.ctx, &apipb.AddPeerGroupRequest{PeerGroup: group("bad", 23456, 60)})
	wantCode(t, err, codes.InvalidArgument, "peer group bad", "AS_TRANS")
	gs, err := f.listGroups("")
	if err != nil || len(gs) != 1 || gs[0].Conf.PeerGroupName != "members" || gs[0].Conf.PeerAsn != 65100 ||
		!gs[0].RouteServer.RouteServerClient || gs[0].Timers.Config.HoldTime != 60 {
		t.Fatalf("groups %v %v", gs, err)
	}
	_, err = f.listGroups("nope")
	wantCode(t, err, codes.NotFound, "nope")

	// A member: AS, route-server client, passive and hold time from the group.
	m := "127.1.82.30"
	if _, err := f.c.AddPeer(f.ctx, &apipb.AddPeerRequest{Peer: &apipb.Peer{Conf: &apipb.PeerConf{NeighborAddress: m, PeerGroup: "members"}}}); err != nil {
		t.Fatal(err)
	}
	pc := f.srv.Lookup(netip.MustParseAddr(m)).Config()
	if pc.PeerAS != 65100 || !pc.RSClient || !pc.Passive || pc.HoldTime != time.Minute {
		t.Fatalf("member config %+v", pc)
	}
	ps, err := f.listPeers(m)
	if err != nil || ps[0].Conf.PeerGroup != "members" {
		t.Fatalf("member listed %v %v", ps, err)
	}
	_, err = f.c.AddPeer(f.ctx, &apipb.AddPeerRequest{Peer: &apipb.Peer{Conf: &apipb.PeerConf{NeighborAddress: "127.1.82.31", PeerGroup: "nope"}}})
	wantCode(t, err, codes.NotFound, "nope")
	_, err = f.c.DeletePeerGroup(f.ctx, &apipb.DeletePeerGroupRequest{Name: "members"})
	wantCode(t, err, codes.FailedPrecondition, "127.1.82.30")

	// The group changes: the member follows.
	if _, err := f.c.UpdatePeerGroup(f.ctx, &apipb.UpdatePeerGroupRequest{PeerGroup: group("members", 65100, 30)}); err != nil {
		t.Fatal(err)
	}
	if pc := f.srv.Lookup(netip.MustParseAddr(m)).Config(); pc.HoldTime != 30*time.Second || pc.PeerAS != 65100 {
		t.Fatalf("member after the update %+v", pc)
	}
	_, err = f.c.UpdatePeerGroup(f.ctx, &apipb.UpdatePeerGroupRequest{PeerGroup: group("nope", 65100, 30)})
	wantCode(t, err, codes.NotFound, "nope")
	if _, err := f.c.DeletePeer(f.ctx, &apipb.DeletePeerRequest{Address: m}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.DeletePeerGroup(f.ctx, &apipb.DeletePeerGroupRequest{Name: "members"}); err != nil {
		t.Fatal(err)
	}
	_, err = f.c.DeletePeerGroup(f.ctx, &apipb.DeletePeerGroupRequest{Name: "members"})
	wantCode(t, err, codes.NotFound, "members")
}

// Dynamic neighbors: a range of a group accepts a speaker nobody configured; it is listed
// with its group and goes when its session ends.
func TestDynamicNeighbors(t *testing.T) {
	f := newFixture(t, 83, Deps{})
	_, err := f.c.AddDynamicNeighbor(f.ctx, &apipb.AddDynamicNeighborRequest{DynamicNeighbor: &apipb.DynamicNeighbor{Prefix: "127.1.83.0/24", PeerGroup: "nope"}})
	wantCode(t, err, codes.NotFound, "nope")
	_, err = f.c.AddDynamicNeighbor(f.ctx, &apipb.AddDynamicNeighborRequest{DynamicNeighbor: &apipb.DynamicNeighbor{Prefix: "127.1.83.1/24", PeerGroup: "g"}})
	wantCode(t, err, codes.InvalidArgument, "host bits")
	if _, err := f.c.AddPeerGroup(f.ctx, &apipb.AddPeerGroupRequest{PeerGroup: &apipb.PeerGroup{Conf: &apipb.PeerGroupConf{PeerGroupName: "g", PeerAsn: 65010}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.AddDynamicNeighbor(f.ctx, &apipb.AddDynamicNeighborRequest{DynamicNeighbor: &apipb.DynamicNeighbor{Prefix: "127.1.83.0/25", PeerGroup: "g"}}); err != nil {
		t.Fatal(err)
	}
	rs, err := f.listRanges("")
	if err != nil || len(rs) != 1 || rs[0].Prefix != "127.1.83.0/25" || rs[0].PeerGroup != "g" {
		t.Fatalf("ranges %v %v", rs, err)
	}
	if rs, err := f.listRanges("other"); err != nil || len(rs) != 0 {
		t.Fatalf("ranges of another group %v %v", rs, err)
	}
	sp, err := gen.Dial(f.ctx, gen.SessionConfig{Name: "dyn", Local: f.peer, Remote: f.srv.ListenAddrs()[0],
		AS: 65010, PeerAS: 65000, Table: gen.NewTable(false, gen.CheckRouteServer)}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the dynamic peer established", func() bool {
		st, _ := f.srv.Peer(f.peer)
		return st.State == bgp.Established
	})
	ps, err := f.listPeers(f.peer.String())
	if err != nil || ps[0].Conf.PeerGroup != "g" || ps[0].State.SessionState != apipb.PeerState_ESTABLISHED {
		t.Fatalf("dynamic peer %v %v", ps, err)
	}
	sp.Close(true)
	eventually(t, "the dynamic peer gone", func() bool { return f.srv.Lookup(f.peer) == nil })
	_, err = f.c.DeleteDynamicNeighbor(f.ctx, &apipb.DeleteDynamicNeighborRequest{Prefix: "127.1.83.0/25", PeerGroup: "other"})
	wantCode(t, err, codes.NotFound, "other")
	if _, err := f.c.DeleteDynamicNeighbor(f.ctx, &apipb.DeleteDynamicNeighborRequest{Prefix: "127.1.83.0/25"}); err != nil {
		t.Fatal(err)
	}
	_, err = f.c.DeleteDynamicNeighbor(f.ctx, &apipb.DeleteDynamicNeighborRequest{Prefix: "127.1.83.0/25"})
	wantCode(t, err, codes.NotFound, "127.1.83.0/25")
}
