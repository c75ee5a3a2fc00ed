package api

import (
	"context"
	"fmt"
	"net/netip"

	apipb "github.com/osrg/gobgp/v3/api"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// The server-wide calls whose gobgpd meaning fits a daemon started from its configuration:
//   - StartBgp: fanoutd's BGP server starts with its configuration, so a StartBgp answers as
//     gobgpd does when already started, unless StopBgp stopped it: then it starts every peer
//     StopBgp stopped again.
//   - StopBgp: every peer that is not administratively down is shut down (Cease /
//     Administrative Shutdown, saying so) and stays down until StartBgp; the configuration
//     and the API stay.
//   - AddVrf, DeleteVrf: VRF tables are built when fanoutd starts (vrfs in its
//     configuration): adding the VRF that exists, as it is, succeeds; anything else says so.
//   - ListPolicy, ListDefinedSet, ListPolicyAssignment: fanout has no routing policies (its
//     configuration refuses them), so there are none to list, and the global import and
//     export assignments accept everything.

// StartBgp implements the GoBGP API call.
func (s *Service) StartBgp(ctx context.Context, req *apipb.StartBgpRequest) (*emptypb.Empty, error) {
	cfg := s.srv.Config()
	if g := req.GetGlobal(); g != nil && (g.GetAsn() != 0 && g.GetAsn() != cfg.AS || g.GetRouterId() != "" && g.GetRouterId() != cfg.RouterID.String()) {
		return nil, status.Errorf(codes.FailedPrecondition, "StartBgp: fanoutd runs AS %d with router id %s from its configuration; change them there and restart", cfg.AS, cfg.RouterID)
	}
	s.mu.Lock()
	stopped := s.stopped
	s.stopped = nil
	s.mu.Unlock()
	if stopped == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "StartBgp: BGP is already started (AS %d, router id %s, from the configuration)", cfg.AS, cfg.RouterID)
	}
	for _, a := range stopped {
		if err := s.srv.EnablePeer(a); err != nil {
			s.log.Warn("StartBgp: a peer did not start", zap.Stringer("peer", a), zap.Error(err))
		}
	}
	return &emptypb.Empty{}, nil
}

// StopBgp implements the GoBGP API call.
func (s *Service) StopBgp(ctx context.Context, _ *apipb.StopBgpRequest) (*emptypb.Empty, error) {
	var down []netip.Addr
	for _, st := range s.srv.Peers() {
		if st.AdminDown {
			continue
		}
		if err := s.srv.DisablePeer(st.Addr, "BGP stopped by the operator (StopBgp)"); err != nil {
			return nil, peerErr("StopBgp", st.Addr, err)
		}
		down = append(down, st.Addr)
	}
	s.mu.Lock()
	s.stopped = append(s.stopped, down...)
	if s.stopped == nil {
		s.stopped = []netip.Addr{} // stopped, with nothing to start again
	}
	s.mu.Unlock()
	return &emptypb.Empty{}, nil
}

// AddVrf implements the GoBGP API call.
func (s *Service) AddVrf(ctx context.Context, req *apipb.AddVrfRequest) (*emptypb.Empty, error) {
	name := req.GetVrf().GetName()
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "AddVrf: the VRF has no name")
	}
	if v := s.rib.VRF(name); v != nil {
		have, err := vrfMessage(v.Config())
		if err == nil && sameVrf(have, req.GetVrf()) {
			return &emptypb.Empty{}, nil
		}
		return nil, status.Errorf(codes.FailedPrecondition, "AddVrf: VRF %q exists with other settings; VRFs are set in fanoutd's configuration (vrfs) and take effect on restart", name)
	}
	return nil, status.Errorf(codes.FailedPrecondition, "AddVrf: VRF %q is not configured; VRFs are set in fanoutd's configuration (vrfs) and take effect on restart", name)
}

// DeleteVrf implements the GoBGP API call.
func (s *Service) DeleteVrf(ctx context.Context, req *apipb.DeleteVrfRequest) (*emptypb.Empty, error) {
	if s.rib.VRF(req.GetName()) == nil {
		return nil, status.Errorf(codes.NotFound, "DeleteVrf: no VRF %q is configured", req.GetName())
	}
	return nil, status.Errorf(codes.FailedPrecondition, "DeleteVrf: VRF %q comes from fanoutd's configuration (vrfs); remove it there and restart", req.GetName())
}

// sameVrf compares the parts of two API VRFs that define them.
func sameVrf(a, b *apipb.Vrf) bool {
	return a.GetName() == b.GetName() && fmt.Sprint(a.GetRd()) == fmt.Sprint(b.GetRd()) &&
		fmt.Sprint(a.GetImportRt()) == fmt.Sprint(b.GetImportRt()) && fmt.Sprint(a.GetExportRt()) == fmt.Sprint(b.GetExportRt())
}

// ListPolicy implements the GoBGP API call: fanout has no policies.
func (s *Service) ListPolicy(req *apipb.ListPolicyRequest, _ apipb.GobgpApi_ListPolicyServer) error {
	if req.GetName() != "" {
		return status.Errorf(codes.NotFound, "ListPolicy: no policy %q: fanout has no routing policies", req.GetName())
	}
	return nil
}

// ListDefinedSet implements the GoBGP API call: fanout has no defined sets.
func (s *Service) ListDefinedSet(req *apipb.ListDefinedSetRequest, _ apipb.GobgpApi_ListDefinedSetServer) error {
	if req.GetName() != "" {
		return status.Errorf(codes.NotFound, "ListDefinedSet: no defined set %q: fanout has no routing policies", req.GetName())
	}
	return nil
}

// ListPolicyAssignment implements the GoBGP API call: the global import and export
// assignments hold no policy and accept everything.
func (s *Service) ListPolicyAssignment(req *apipb.ListPolicyAssignmentRequest, stream apipb.GobgpApi_ListPolicyAssignmentServer) error {
	name := req.GetName()
	if name != "" && name != "global" {
		return status.Errorf(codes.NotFound, "ListPolicyAssignment: %q: fanout assigns policies to no neighbor (it has none)", name)
	}
	dirs := []apipb.PolicyDirection{apipb.PolicyDirection_IMPORT, apipb.PolicyDirection_EXPORT}
	if d := req.GetDirection(); d != apipb.PolicyDirection_UNKNOWN {
		dirs = []apipb.PolicyDirection{d}
	}
	for _, d := range dirs {
		a := &apipb.PolicyAssignment{Name: "global", Direction: d, DefaultAction: apipb.RouteAction_ACCEPT}
		if err := stream.Send(&apipb.ListPolicyAssignmentResponse{Assignment: a}); err != nil {
			return err
		}
	}
	return nil
}
