package api

import (
	"io"
	"testing"

	apipb "github.com/osrg/gobgp/v3/api"
	"google.golang.org/grpc/codes"
)

// StartBgp and StopBgp on a daemon started from its configuration, AddVrf and DeleteVrf
// without VRFs, and the policy listings of a server without policies.
func TestServerWideCalls(t *testing.T) {
	f := newFixture(t, 84, Deps{})
	f.connectSpeaker(1)
	_, err := f.c.StartBgp(f.ctx, &apipb.StartBgpRequest{Global: &apipb.Global{Asn: 1}})
	wantCode(t, err, codes.FailedPrecondition, "AS 65000")
	_, err = f.c.StartBgp(f.ctx, &apipb.StartBgpRequest{})
	wantCode(t, err, codes.FailedPrecondition, "already started")

	// StopBgp shuts every peer down and StartBgp brings them back.
	if _, err := f.c.StopBgp(f.ctx, &apipb.StopBgpRequest{}); err != nil {
		t.Fatal(err)
	}
	ps, err := f.listPeers(f.peer.String())
	if err != nil || ps[0].State.AdminState != apipb.PeerState_DOWN {
		t.Fatalf("after StopBgp: %v %v", ps, err)
	}
	if _, err := f.c.StartBgp(f.ctx, &apipb.StartBgpRequest{}); err != nil {
		t.Fatal(err)
	}
	if ps, _ := f.listPeers(f.peer.String()); ps[0].State.AdminState != apipb.PeerState_UP {
		t.Fatalf("after StartBgp: admin state %v", ps[0].State.AdminState)
	}

	_, err = f.c.AddVrf(f.ctx, &apipb.AddVrfRequest{Vrf: &apipb.Vrf{Name: "red"}})
	wantCode(t, err, codes.FailedPrecondition, "red", "configuration")
	_, err = f.c.AddVrf(f.ctx, &apipb.AddVrfRequest{})
	wantCode(t, err, codes.InvalidArgument, "name")
	_, err = f.c.DeleteVrf(f.ctx, &apipb.DeleteVrfRequest{Name: "red"})
	wantCode(t, err, codes.NotFound, "red")

	// No policies: nothing listed; the global assignments accept everything.
	pol, err := f.c.ListPolicy(f.ctx, &apipb.ListPolicyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pol.Recv(); err != io.EOF {
		t.Fatalf("ListPolicy: %v, want nothing", err)
	}
	ds, err := f.c.ListDefinedSet(f.ctx, &apipb.ListDefinedSetRequest{DefinedType: apipb.DefinedType_PREFIX})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Recv(); err != io.EOF {
		t.Fatalf("ListDefinedSet: %v, want nothing", err)
	}
	as, err := f.c.ListPolicyAssignment(f.ctx, &apipb.ListPolicyAssignmentRequest{Name: "global", Direction: apipb.PolicyDirection_IMPORT})
	if err != nil {
		t.Fatal(err)
	}
	a, err := as.Recv()
	if err != nil || a.Assignment.DefaultAction != apipb.RouteAction_ACCEPT || len(a.Assignment.Policies) != 0 {
		t.Fatalf("global import assignment %v, %v", a, err)
	}
}
