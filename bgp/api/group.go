package api

import (
	"context"
	"errors"
	"net/netip"
	"strings"

	apipb "github.com/osrg/gobgp/v3/api"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/fanoutd/fanout/bgp"
	fproto "github.com/fanoutd/fanout/proto"
)

func zapGroup(name string) zap.Field { return zap.String("peer_group", name) }

// Peer groups and dynamic neighbors. The groups and ranges live in the bgp.Server (which
// creates dynamic peers from them); the service remembers which neighbors it added as
// members of a group, with the settings they gave themselves, so UpdatePeerGroup can apply a
// group's new settings to them.

// member is a neighbor added through the API as a member of a group: own are the settings
// its request gave (zero where the group's apply).
type member struct {
	group string
	own   bgp.PeerConfig
}

// groupPlaceholder stands in for a group's address while its settings are validated as a
// neighbor's.
var groupPlaceholder = netip.IPv4Unspecified()

// groupConfig validates an API peer group and converts it into a bgp.PeerGroup.
func (s *Service) groupConfig(what string, g *apipb.PeerGroup) (bgp.PeerGroup, error) {
	name := g.GetConf().GetPeerGroupName()
	if name == "" {
		return bgp.PeerGroup{}, status.Errorf(codes.InvalidArgument, "%s: no peer group name given", what)
	}
	c := g.GetConf()
	p := &apipb.Peer{
		Conf: &apipb.PeerConf{NeighborAddress: groupPlaceholder.String(), PeerAsn: c.GetPeerAsn(), LocalAsn: c.GetLocalAsn(),
			AuthPassword: c.GetAuthPassword(), Description: c.GetDescription()},
		EbgpMultihop: g.GetEbgpMultihop(), RouteReflector: g.GetRouteReflector(), Timers: g.GetTimers(),
		Transport: g.GetTransport(), RouteServer: g.GetRouteServer(), GracefulRestart: g.GetGracefulRestart(),
		AfiSafis: g.GetAfiSafis(), TtlSecurity: g.GetTtlSecurity(),
	}
	pc, err := s.peerConfig(what, p)
	if err != nil {
		st, _ := status.FromError(err)
		msg := strings.ReplaceAll(st.Message(), "neighbor "+groupPlaceholder.String(), "peer group "+name)
		return bgp.PeerGroup{}, status.Error(st.Code(), msg)
	}
	pc.Addr = netip.Addr{}
	return bgp.PeerGroup{Name: name, Template: pc}, nil
}

func groupErr(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bgp.ErrNoPeerGroup), errors.Is(err, bgp.ErrNoRange):
		return status.Errorf(codes.NotFound, "%s: %v", what, err)
	case errors.Is(err, bgp.ErrPeerGroupExists), errors.Is(err, bgp.ErrRangeExists):
		return status.Errorf(codes.AlreadyExists, "%s: %v", what, err)
	case errors.Is(err, bgp.ErrPeerGroupInUse):
		return status.Errorf(codes.FailedPrecondition, "%s: %v", what, err)
	}
	return status.Errorf(codes.InvalidArgument, "%s: %v", what, err)
}

// AddPeerGroup adds a peer group: settings its members and dynamic neighbors take.
func (s *Service) AddPeerGroup(ctx context.Context, req *apipb.AddPeerGroupRequest) (*emptypb.Empty, error) {
	g, err := s.groupConfig("AddPeerGroup", req.GetPeerGroup())
	if err != nil {
		return nil, err
	}
	if err := s.srv.AddPeerGroup(g); err != nil {
		return nil, groupErr("AddPeerGroup", err)
	}
	s.log.Info("peer group added through the API", zapGroup(g.Name))
	return &emptypb.Empty{}, nil
}

// DeletePeerGroup removes a peer group that no neighbor and no dynamic-neighbor range uses.
func (s *Service) DeletePeerGroup(ctx context.Context, req *apipb.DeletePeerGroupRequest) (*emptypb.Empty, error) {
	name := req.GetName()
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "DeletePeerGroup: no peer group name given")
	}
	s.mu.Lock()
	for a, m := range s.members {
		if m.group == name {
			s.mu.Unlock()
			return nil, status.Errorf(codes.FailedPrecondition, "DeletePeerGroup: peer group %q has members (neighbor %v)", name, a)
		}
	}
	s.mu.Unlock()
	if err := s.srv.DeletePeerGroup(name); err != nil {
		return nil, groupErr("DeletePeerGroup", err)
	}
	s.log.Info("peer group deleted through the API", zapGroup(name))
	return &emptypb.Empty{}, nil
}

// UpdatePeerGroup replaces a group's settings and applies them to the members added through
// the API: a member whose resulting configuration changed is re-added (its session resets,
// as UpdatePeer does). Dynamic neighbors already up keep theirs until their session ends.
func (s *Service) UpdatePeerGroup(ctx context.Context, req *apipb.UpdatePeerGroupRequest) (*apipb.UpdatePeerGroupResponse, error) {
	g, err := s.groupConfig("UpdatePeerGroup", req.GetPeerGroup())
	if err != nil {
		return nil, err
	}
	if err := s.srv.UpdatePeerGroup(g); err != nil {
		return nil, groupErr("UpdatePeerGroup", err)
	}
	s.mu.Lock()
	var todo []netip.Addr
	own := map[netip.Addr]bgp.PeerConfig{}
	for a, m := range s.members {
		if m.group == g.Name {
			todo = append(todo, a)
			own[a] = m.own
		}
	}
	s.mu.Unlock()
	for _, a := range todo {
		old := s.srv.Lookup(a)
		if old == nil {
			continue
		}
		if err := s.replacePeer(ctx, old, mergeGroup(g.Template, own[a])); err != nil {
			return nil, err
		}
	}
	s.log.Info("peer group updated through the API", zapGroup(g.Name))
	return &apipb.UpdatePeerGroupResponse{}, nil
}

// ListPeerGroup streams the peer groups ordered by name, or the one asked for.
func (s *Service) ListPeerGroup(req *apipb.ListPeerGroupRequest, stream apipb.GobgpApi_ListPeerGroupServer) error {
	name := req.GetPeerGroupName()
	found := false
	for _, g := range s.srv.PeerGroups() {
		if name != "" && g.Name != name {
			continue
		}
		found = true
		if err := stream.Send(&apipb.ListPeerGroupResponse{PeerGroup: s.apiGroup(g)}); err != nil {
			return err
		}
	}
	if name != "" && !found {
		return status.Errorf(codes.NotFound, "ListPeerGroup: no peer group %q", name)
	}
	return nil
}

// apiGroup converts a group into the API's PeerGroup (as a neighbor of its settings shows).
func (s *Service) apiGroup(g bgp.PeerGroup) *apipb.PeerGroup {
	t := g.Template
	t.Addr = groupPlaceholder
	p := s.apiPeer(t, bgp.PeerStatus{}, nil)
	conf := &apipb.PeerGroupConf{PeerGroupName: g.Name, PeerAsn: t.PeerAS, LocalAsn: t.LocalAS, Type: p.Conf.Type}
	info := proto.Clone(conf).(*apipb.PeerGroupConf)
	for _, af := range p.AfiSafis {
		af.State = nil
	}
	return &apipb.PeerGroup{Conf: conf,
		Info:         &apipb.PeerGroupState{PeerGroupName: info.PeerGroupName, PeerAsn: info.PeerAsn, LocalAsn: info.LocalAsn, Type: info.Type},
		EbgpMultihop: p.EbgpMultihop, RouteReflector: p.RouteReflector, Timers: &apipb.Timers{Config: p.Timers.Config},
		Transport: &apipb.Transport{PassiveMode: t.Passive, RemotePort: uint32(t.RemotePort)}, RouteServer: p.RouteServer,
		GracefulRestart: p.GracefulRestart, AfiSafis: p.AfiSafis, TtlSecurity: p.TtlSecurity}
}

// memberConfig is peerConfig for a neighbor that may name a peer group: the group's
// settings apply where the request gives none. It also returns the group's name and the
// request's own settings.
func (s *Service) memberConfig(what string, p *apipb.Peer) (pc bgp.PeerConfig, group string, own bgp.PeerConfig, err error) {
	group = p.GetConf().GetPeerGroup()
	if group == "" {
		pc, err = s.peerConfig(what, p)
		return pc, "", pc, err
	}
	var tmpl *bgp.PeerGroup
	for _, g := range s.srv.PeerGroups() {
		if g.Name == group {
			tmpl = &g
			break
		}
	}
	if tmpl == nil {
		return pc, group, own, status.Errorf(codes.NotFound, "%s: neighbor %s: no peer group %q", what, p.GetConf().GetNeighborAddress(), group)
	}
	req := proto.Clone(p).(*apipb.Peer)
	if req.Conf.PeerAsn == 0 {
		req.Conf.PeerAsn = tmpl.Template.PeerAS // checked again below as the neighbor's own
	}
	if own, err = s.peerConfig(what, req); err != nil {
		return pc, group, own, err
	}
	if p.GetConf().GetPeerAsn() == 0 {
		own.PeerAS = 0
	}
	if len(p.GetAfiSafis()) == 0 {
		own.Families = nil // peerConfig's default for an IPv6 address: the group's apply
	}
	return mergeGroup(tmpl.Template, own), group, own, nil
}

// mergeGroup returns the configuration of a member whose own settings are own: the group's
// template with every setting own gives (non-zero) taking precedence.
func mergeGroup(tmpl, own bgp.PeerConfig) bgp.PeerConfig {
	pc := tmpl
	pc.Addr = own.Addr
	set := func(dst *uint32, v uint32) {
		if v != 0 {
			*dst = v
		}
	}
	set(&pc.PeerAS, own.PeerAS)
	set(&pc.LocalAS, own.LocalAS)
	if own.LocalAddr.IsValid() {
		pc.LocalAddr = own.LocalAddr
	}
	if own.RemotePort != 0 {
		pc.RemotePort = own.RemotePort
	}
	pc.Passive = pc.Passive || own.Passive
	pc.AdminDown = own.AdminDown
	pc.RRClient = pc.RRClient || own.RRClient
	pc.RSClient = pc.RSClient || own.RSClient
	if own.ClusterID.IsValid() {
		pc.ClusterID = own.ClusterID
	}
	if own.AuthPassword != "" {
		pc.AuthPassword = own.AuthPassword
	}
	if own.MultihopTTL != 0 || own.TTLSecurity != 0 {
		pc.MultihopTTL, pc.TTLSecurity = own.MultihopTTL, own.TTLSecurity
	}
	if own.HoldTime != 0 {
		pc.HoldTime = own.HoldTime
	}
	if own.KeepaliveTime != 0 {
		pc.KeepaliveTime = own.KeepaliveTime
	}
	if own.ConnectRetry != 0 {
		pc.ConnectRetry = own.ConnectRetry
	}
	if len(own.Families) > 0 {
		pc.Families, pc.AddPathReceive, pc.AddPathSend = own.Families, own.AddPathReceive, own.AddPathSend
	}
	if len(pc.Families) == 0 && pc.Addr.Is6() {
		pc.Families = []fproto.Family{fproto.IPv6Unicast} // gobgpd's default for an IPv6 neighbor
	}
	if own.MaxPrefixes.Limit > 0 {
		pc.MaxPrefixes = own.MaxPrefixes
	}
	if own.GracefulRestart.Enabled {
		pc.GracefulRestart = own.GracefulRestart
	}
	return pc
}

func (s *Service) addMember(pc bgp.PeerConfig, group string, own bgp.PeerConfig) error {
	if err := s.srv.AddPeer(pc); err != nil {
		return err
	}
	s.setMember(pc.Addr, group, own)
	return nil
}

func (s *Service) setMember(a netip.Addr, group string, own bgp.PeerConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if group == "" {
		delete(s.members, a)
		return
	}
	if s.members == nil {
		s.members = map[netip.Addr]member{}
	}
	s.members[a] = member{group: group, own: own}
}

func (s *Service) forgetMember(a netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.members, a)
}

// groupOf returns the peer group of the neighbor at a: the one it was added with through
// the API, or the one a dynamic-neighbor range created it from; "" when none.
func (s *Service) groupOf(a netip.Addr) string {
	s.mu.Lock()
	m, ok := s.members[a]
	s.mu.Unlock()
	if ok {
		return m.group
	}
	g, _ := s.srv.IsDynamic(a)
	return g
}

// AddDynamicNeighbor accepts peers from a prefix with the settings of a peer group.
func (s *Service) AddDynamicNeighbor(ctx context.Context, req *apipb.AddDynamicNeighborRequest) (*emptypb.Empty, error) {
	d := req.GetDynamicNeighbor()
	pfx, err := parseRange("AddDynamicNeighbor", d.GetPrefix())
	if err != nil {
		return nil, err
	}
	if d.GetPeerGroup() == "" {
		return nil, status.Error(codes.InvalidArgument, "AddDynamicNeighbor: no peer group given")
	}
	if err := s.srv.AddDynamicRange(bgp.DynamicRange{Prefix: pfx, Group: d.GetPeerGroup()}); err != nil {
		return nil, groupErr("AddDynamicNeighbor", err)
	}
	s.log.Info("dynamic-neighbor range added through the API", zapGroup(d.GetPeerGroup()))
	return &emptypb.Empty{}, nil
}

// DeleteDynamicNeighbor stops accepting peers from a prefix (its peers keep their sessions).
func (s *Service) DeleteDynamicNeighbor(ctx context.Context, req *apipb.DeleteDynamicNeighborRequest) (*emptypb.Empty, error) {
	pfx, err := parseRange("DeleteDynamicNeighbor", req.GetPrefix())
	if err != nil {
		return nil, err
	}
	if g := req.GetPeerGroup(); g != "" {
		for _, r := range s.srv.DynamicRanges() {
			if r.Prefix == pfx && r.Group != g {
				return nil, status.Errorf(codes.NotFound, "DeleteDynamicNeighbor: the range %v is of peer group %q, not %q", pfx, r.Group, g)
			}
		}
	}
	if err := s.srv.DeleteDynamicRange(pfx); err != nil {
		return nil, groupErr("DeleteDynamicNeighbor", err)
	}
	return &emptypb.Empty{}, nil
}

// ListDynamicNeighbor streams the dynamic-neighbor ranges, all or those of one group.
func (s *Service) ListDynamicNeighbor(req *apipb.ListDynamicNeighborRequest, stream apipb.GobgpApi_ListDynamicNeighborServer) error {
	for _, r := range s.srv.DynamicRanges() {
		if g := req.GetPeerGroup(); g != "" && r.Group != g {
			continue
		}
		if err := stream.Send(&apipb.ListDynamicNeighborResponse{DynamicNeighbor: &apipb.DynamicNeighbor{Prefix: r.Prefix.String(), PeerGroup: r.Group}}); err != nil {
			return err
		}
	}
	return nil
}

func parseRange(what, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, status.Errorf(codes.InvalidArgument, "%s: %q is not a prefix", what, s)
	}
	if p.Masked() != p {
		return p, status.Errorf(codes.InvalidArgument, "%s: %v has host bits set (the prefix is %v)", what, p, p.Masked())
	}
	return p, nil
}
