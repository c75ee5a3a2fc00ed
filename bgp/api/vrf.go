package api

import (
	apipb "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
)

// ListVrf lists the configured VRFs (all, or the one named) with their RD, import and
// export route targets and id, as `gobgp vrf` shows them. The GoBGP message has no field for
// route counts: `gobgp vrf NAME rib` lists the routes.
func (s *Service) ListVrf(req *apipb.ListVrfRequest, stream apipb.GobgpApi_ListVrfServer) error {
	vs := s.rib.VRFs().List()
	if name := req.GetName(); name != "" {
		v := s.rib.VRF(name)
		if v == nil {
			return status.Errorf(codes.NotFound, "ListVrf: no VRF %q is configured", name)
		}
		vs = []*rib.VRF{v}
	}
	for _, v := range vs {
		pb, err := vrfMessage(v.Config())
		if err != nil {
			return status.Errorf(codes.Internal, "ListVrf: vrf %q: %v", v.Name(), err)
		}
		if err := stream.Send(&apipb.ListVrfResponse{Vrf: pb}); err != nil {
			return err
		}
	}
	return nil
}

// vrfMessage is c as the GoBGP API carries a VRF.
func vrfMessage(c rib.VRFConfig) (*apipb.Vrf, error) {
	rd, err := apiutil.MarshalRD(gobgp.GetRouteDistinguisher(c.RD[:]))
	if err != nil {
		return nil, err
	}
	imp, err := routeTargets(c.ImportRTs)
	if err != nil {
		return nil, err
	}
	exp, err := routeTargets(c.ExportRTs)
	if err != nil {
		return nil, err
	}
	return &apipb.Vrf{Name: c.Name, Rd: rd, ImportRt: imp, ExportRt: exp, Id: c.ID}, nil
}

func routeTargets(rts [][8]byte) ([]*anypb.Any, error) {
	ecs := make([]gobgp.ExtendedCommunityInterface, 0, len(rts))
	for i := range rts {
		ec, err := gobgp.ParseExtended(rts[i][:])
		if err != nil {
			return nil, err
		}
		ecs = append(ecs, ec)
	}
	return apiutil.MarshalRTs(ecs)
}

// vrfTable returns VRF name's table of fam (IPv4 or IPv6 unicast, as `gobgp vrf NAME rib`
// asks). An unknown name gets gobgpd's answer (code and words), which the CLI prints as it is.
func (s *Service) vrfTable(name string, fam proto.Family) (*rib.Table, error) {
	v := s.rib.VRF(name)
	if v == nil {
		return nil, status.Errorf(codes.Unknown, "vrf %s not found", name)
	}
	return v.Table(fam), nil
}

// originOf returns the local origin AddPath and DeletePath use for a table type: the
// global one, or VRF vrf's (the `gobgp vrf NAME rib add|del` commands).
func (s *Service) originOf(what string, tt apipb.TableType, vrf string) (*bgp.LocalOrigin, error) {
	switch tt {
	case apipb.TableType_GLOBAL:
		return s.local, nil
	case apipb.TableType_VRF:
		if s.rib == nil {
			return nil, status.Errorf(codes.FailedPrecondition, "%s: this service has no RIB", what)
		}
		lo := s.rib.VRFOrigin(vrf)
		if lo == nil {
			return nil, status.Errorf(codes.NotFound, "%s: no VRF %q is configured", what, vrf)
		}
		return lo, nil
	}
	return nil, status.Errorf(codes.Unimplemented, "%s to the %v table is not implemented: only the global table and VRFs", what, tt)
}
