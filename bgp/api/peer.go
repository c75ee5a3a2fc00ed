package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	apipb "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/proto"
)

var (
	ipv4UC = &apipb.Family{Afi: apipb.Family_AFI_IP, Safi: apipb.Family_SAFI_UNICAST}
	ipv6UC = &apipb.Family{Afi: apipb.Family_AFI_IP6, Safi: apipb.Family_SAFI_UNICAST}
)

func apiFamily(f proto.Family) *apipb.Family {
	return &apipb.Family{Afi: apipb.Family_Afi(f.AFI), Safi: apipb.Family_Safi(f.SAFI)}
}

func fanoutFamily(f *apipb.Family) proto.Family {
	return proto.Family{AFI: proto.AFI(f.GetAfi()), SAFI: proto.SAFI(f.GetSafi())}
}

// peerAddr parses a neighbor address from a request.
func peerAddr(what, s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, status.Errorf(codes.InvalidArgument, "%s: no neighbor address given", what)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, status.Errorf(codes.InvalidArgument, "%s: neighbor address %q is not an IP address", what, s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, status.Errorf(codes.InvalidArgument, "%s: neighbor address %q has a zone; interface neighbors are not supported", what, s)
	}
	return a.Unmap(), nil
}

// peerErr maps the bgp package's errors to statuses.
func peerErr(what string, addr netip.Addr, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bgp.ErrNoPeer):
		return status.Errorf(codes.NotFound, "%s: no neighbor %v is configured", what, addr)
	case errors.Is(err, bgp.ErrPeerExists):
		return status.Errorf(codes.AlreadyExists, "%s: neighbor %v is already configured", what, addr)
	case errors.Is(err, bgp.ErrNotEstablished):
		return status.Errorf(codes.FailedPrecondition, "%s: the session with %v is not established", what, addr)
	case errors.Is(err, bgp.ErrNoRouteRefresh):
		return status.Errorf(codes.FailedPrecondition, "%s: %v did not announce route refresh, so it cannot be asked to resend its routes", what, addr)
	case errors.Is(err, bgp.ErrNoReadvertise):
		return status.Errorf(codes.FailedPrecondition, "%s: the session with %v has no routing side to re-send its routes", what, addr)
	case errors.Is(err, bgp.ErrServerClosed):
		return status.Errorf(codes.Unavailable, "%s: the BGP server is shutting down", what)
	}
	return status.Errorf(codes.Internal, "%s %v: %v", what, addr, err)
}

var sessionStates = [...]apipb.PeerState_SessionState{
	bgp.Idle: apipb.PeerState_IDLE, bgp.Connect: apipb.PeerState_CONNECT, bgp.Active: apipb.PeerState_ACTIVE,
	bgp.OpenSent: apipb.PeerState_OPENSENT, bgp.OpenConfirm: apipb.PeerState_OPENCONFIRM, bgp.Established: apipb.PeerState_ESTABLISHED,
}

func sessionState(s bgp.State) apipb.PeerState_SessionState {
	if int(s) < len(sessionStates) {
		return sessionStates[s]
	}
	return apipb.PeerState_UNKNOWN
}

// apiPeer converts a peer's configuration and status into the API's Peer, filled as far as
// `gobgp neighbor` and `gobgp neighbor <addr>` read it. Received, accepted and advertised
// counts come from maintained counters: advertised per family (adv, from the RibOuts; nil
// when not asked for), received and accepted per session, not per family, so they are
// reported under the first configured family.
func (s *Service) apiPeer(cfg bgp.PeerConfig, st bgp.PeerStatus, adv map[proto.Family]int64) *apipb.Peer {
	msg := func(c [6]uint64) *apipb.Message {
		m := &apipb.Message{Open: c[proto.MsgOpen], Update: c[proto.MsgUpdate], Notification: c[proto.MsgNotification],
			Keepalive: c[proto.MsgKeepalive], Refresh: c[proto.MsgRouteRefresh]}
		m.Total = m.Open + m.Update + m.Notification + m.Keepalive + m.Refresh
		return m
	}
	p := &apipb.Peer{
		Conf: &apipb.PeerConf{NeighborAddress: cfg.Addr.String(), PeerAsn: cfg.PeerAS, LocalAsn: cfg.LocalAS,
			AdminDown: st.AdminDown, Type: peerType(cfg), Vrf: cfg.VRF},
		State: &apipb.PeerState{NeighborAddress: cfg.Addr.String(), PeerAsn: cfg.PeerAS, LocalAsn: cfg.LocalAS,
			SessionState: sessionState(st.State), AdminState: apipb.PeerState_UP, Flops: uint32(st.Flaps),
			Queues: &apipb.Queues{}, Type: peerType(cfg),
			Messages: &apipb.Messages{Received: msg(st.Counters.MsgIn), Sent: msg(st.Counters.MsgOut)}},
		Timers: &apipb.Timers{
			Config: &apipb.TimersConfig{ConnectRetry: secs(cfg.ConnectRetry), HoldTime: secs(cfg.HoldTime),
				KeepaliveInterval: secs(keepalive(cfg))},
			State: &apipb.TimersState{ConnectRetry: secs(cfg.ConnectRetry), HoldTime: secs(cfg.HoldTime),
				KeepaliveInterval: secs(keepalive(cfg))},
		},
		Transport: &apipb.Transport{RemoteAddress: cfg.Addr.String(), RemotePort: uint32(cfg.RemotePort),
			PassiveMode: cfg.Passive},
		RouteReflector:  &apipb.RouteReflector{RouteReflectorClient: cfg.RRClient},
		RouteServer:     &apipb.RouteServer{RouteServerClient: cfg.RSClient},
		GracefulRestart: &apipb.GracefulRestart{Enabled: cfg.GracefulRestart.Enabled, RestartTime: uint32(secs(cfg.GracefulRestart.RestartTime))},
		// The TCP MD5 password is never shown (Conf.AuthPassword stays empty).
		EbgpMultihop: &apipb.EbgpMultihop{Enabled: cfg.MultihopTTL != 0, MultihopTtl: uint32(cfg.MultihopTTL)},
		TtlSecurity:  &apipb.TtlSecurity{Enabled: cfg.TTLSecurity != 0, TtlMin: uint32(cfg.TTLSecurity)},
	}
	if cfg.RRClient {
		p.RouteReflector.RouteReflectorClusterId = cfg.ClusterID.String()
	}
	if cfg.Addr != groupPlaceholder {
		p.Conf.PeerGroup = s.groupOf(cfg.Addr)
	}
	if cfg.LocalAddr.IsValid() {
		p.Transport.LocalAddress = cfg.LocalAddr.String()
	}
	if st.AdminDown {
		p.State.AdminState = apipb.PeerState_DOWN
	}
	if st.State == bgp.Established && !st.EstablishedSince.IsZero() {
		p.Timers.State.Uptime = timestamppb.New(st.EstablishedSince)
		p.Timers.State.NegotiatedHoldTime = secs(st.HoldTime)
		p.Timers.State.KeepaliveInterval = secs(st.KeepaliveTime)
	}
	if le := st.LastError; le != nil && st.State != bgp.Established {
		p.Timers.State.Downtime = timestamppb.New(le.At)
	}
	p.State.LocalCap, _ = apiutil.MarshalCapabilities(apiCaps(localCaps(cfg)))
	if sess := st.Session; sess != nil {
		p.State.RouterId = sess.RouterID.String()
		p.State.PeerAsn = sess.PeerAS
		if sess.LocalAddr.IsValid() {
			p.Transport.LocalAddress = sess.LocalAddr.String()
		}
		if pc := st.PeerCapabilities; pc != nil {
			p.State.RemoteCap, _ = apiutil.MarshalCapabilities(apiCaps(pc))
		}
	}
	for i, f := range cfg.Families {
		af := &apipb.AfiSafi{
			Config: &apipb.AfiSafiConfig{Family: apiFamily(f), Enabled: true},
			State:  &apipb.AfiSafiState{Family: apiFamily(f), Enabled: true},
		}
		if m := cfg.AddPathMode(f); m != 0 {
			ap := &apipb.AddPathsConfig{Receive: m&proto.AddPathReceive != 0, SendMax: uint32(cfg.AddPathSendMax(f))}
			af.AddPaths = &apipb.AddPaths{Config: ap, State: &apipb.AddPathsState{Receive: ap.Receive, SendMax: ap.SendMax}}
		}
		af.State.Advertised = uint64(max(adv[f], 0))
		recv, acc := st.Counters.Family(f)
		af.State.Received = uint64(max(recv, 0))
		af.State.Accepted = uint64(max(acc, 0))
		if l := cfg.MaxPrefixes.Limit; l > 0 && i == 0 {
			af.PrefixLimits = &apipb.PrefixLimit{Family: apiFamily(f), MaxPrefixes: uint32(l),
				ShutdownThresholdPct: uint32(cfg.MaxPrefixes.WarnPct)}
		}
		p.AfiSafis = append(p.AfiSafis, af)
	}
	return p
}

// localCaps are the capabilities fanout announces to a peer with configuration cfg (as
// the bgp package builds its OPEN).
func localCaps(cfg bgp.PeerConfig) *proto.Capabilities {
	c := &proto.Capabilities{Multiprotocol: cfg.Families, RouteRefresh: true, HasAS4: true, AS4: cfg.LocalAS,
		ExtendedMessage: cfg.ExtendedMessage}
	for _, f := range cfg.Families {
		if m := cfg.AddPathMode(f); m != 0 {
			c.AddPath = append(c.AddPath, proto.AddPathFamily{Family: f, Mode: m})
		}
	}
	if cfg.GracefulRestart.Enabled {
		c.GracefulRestart.Present = true
		c.GracefulRestart.Time = uint16(min(cfg.GracefulRestart.RestartTime/time.Second, 4095))
		for _, f := range cfg.Families {
			c.GracefulRestart.Families = append(c.GracefulRestart.Families, proto.GRFamily{Family: f})
		}
	}
	return c
}

// apiCaps converts capabilities into GoBGP's types, for `gobgp neighbor <addr>`.
func apiCaps(c *proto.Capabilities) []gobgp.ParameterCapabilityInterface {
	rf := func(f proto.Family) gobgp.RouteFamily {
		return gobgp.AfiSafiToRouteFamily(uint16(f.AFI), uint8(f.SAFI))
	}
	var out []gobgp.ParameterCapabilityInterface
	for _, f := range c.Multiprotocol {
		out = append(out, gobgp.NewCapMultiProtocol(rf(f)))
	}
	if c.RouteRefresh {
		out = append(out, gobgp.NewCapRouteRefresh())
	}
	if c.EnhancedRouteRefresh {
		out = append(out, gobgp.NewCapEnhancedRouteRefresh())
	}
	if c.HasAS4 {
		out = append(out, gobgp.NewCapFourOctetASNumber(c.AS4))
	}
	// GoBGP's packet library has no extended-message capability type: it is not shown.
	if len(c.AddPath) > 0 {
		var ts []*gobgp.CapAddPathTuple
		for _, a := range c.AddPath {
			ts = append(ts, gobgp.NewCapAddPathTuple(rf(a.Family), gobgp.BGPAddPathMode(a.Mode)))
		}
		out = append(out, gobgp.NewCapAddPath(ts))
	}
	if g := c.GracefulRestart; g.Present {
		var ts []*gobgp.CapGracefulRestartTuple
		for _, f := range g.Families {
			ts = append(ts, gobgp.NewCapGracefulRestartTuple(rf(f.Family), f.Flags&0x80 != 0))
		}
		out = append(out, gobgp.NewCapGracefulRestart(g.Flags&0x8 != 0, g.Flags&0x4 != 0, g.Time, ts))
	}
	return out
}

func peerType(cfg bgp.PeerConfig) apipb.PeerType {
	if cfg.PeerAS == cfg.LocalAS {
		return apipb.PeerType_INTERNAL
	}
	return apipb.PeerType_EXTERNAL
}

func keepalive(cfg bgp.PeerConfig) time.Duration {
	if cfg.KeepaliveTime > 0 {
		return cfg.KeepaliveTime
	}
	return cfg.HoldTime / 3
}

func secs(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64(d / time.Second)
}

// ListPeer streams every neighbor, ordered by address, or the one asked for. With
// EnableAdvertised, the advertised counts are read from the RibOuts in one short task.
func (s *Service) ListPeer(req *apipb.ListPeerRequest, stream apipb.GobgpApi_ListPeerServer) error {
	var adv map[netip.Addr]map[proto.Family]int64
	if req.GetEnableAdvertised() && s.rib != nil {
		var err error
		if adv, err = s.rib.Advertised(stream.Context()); err != nil {
			if c := stream.Context().Err(); c != nil {
				return status.FromContextError(c).Err()
			}
			return status.Errorf(codes.Unavailable, "ListPeer: reading the advertised counts: %v", err)
		}
	}
	if req.GetAddress() != "" {
		a, err := peerAddr("ListPeer", req.GetAddress())
		if err != nil {
			return err
		}
		p := s.srv.Lookup(a)
		if p == nil {
			return status.Errorf(codes.NotFound, "ListPeer: no neighbor %v is configured", a)
		}
		return stream.Send(&apipb.ListPeerResponse{Peer: s.apiPeer(p.Config(), p.Status(), adv[a])})
	}
	for _, st := range s.srv.Peers() {
		p := s.srv.Lookup(st.Addr)
		if p == nil {
			continue // deleted meanwhile
		}
		if err := stream.Send(&apipb.ListPeerResponse{Peer: s.apiPeer(p.Config(), st, adv[st.Addr])}); err != nil {
			return err
		}
	}
	return nil
}

// peerConfig validates an API Peer and converts it into a bgp.PeerConfig.
func (s *Service) peerConfig(what string, p *apipb.Peer) (bgp.PeerConfig, error) {
	if p == nil || p.GetConf() == nil {
		return bgp.PeerConfig{}, status.Errorf(codes.InvalidArgument, "%s: no peer configuration given", what)
	}
	c := p.GetConf()
	if c.GetNeighborInterface() != "" {
		return bgp.PeerConfig{}, status.Errorf(codes.InvalidArgument, "%s: interface neighbors (%q) are not supported", what, c.GetNeighborInterface())
	}
	addr, err := peerAddr(what, c.GetNeighborAddress())
	if err != nil {
		return bgp.PeerConfig{}, err
	}
	switch {
	case c.GetPeerAsn() == 0:
		return bgp.PeerConfig{}, status.Errorf(codes.InvalidArgument, "%s: neighbor %v: peer AS 0 is not a valid AS number", what, addr)
	case c.GetPeerAsn() == 23456:
		return bgp.PeerConfig{}, status.Errorf(codes.InvalidArgument, "%s: neighbor %v: peer AS 23456 is AS_TRANS (RFC 6793), not a real AS", what, addr)
	case len(c.GetAuthPassword()) > 80:
		return bgp.PeerConfig{}, status.Errorf(codes.InvalidArgument, "%s: neighbor %v: the TCP MD5 password is longer than 80 bytes (RFC 2385 key)", what, addr)
	case p.GetEbgpMultihop().GetEnabled() && p.GetTtlSecurity().GetEnabled():
		return bgp.PeerConfig{}, status.Errorf(codes.InvalidArgument, "%s: neighbor %v: ebgp-multihop and ttl-security exclude each other", what, addr)
	case p.GetEbgpMultihop().GetMultihopTtl() > 255 || p.GetTtlSecurity().GetTtlMin() > 255:
		return bgp.PeerConfig{}, status.Errorf(codes.InvalidArgument, "%s: neighbor %v: a TTL is at most 255", what, addr)
	case c.GetVrf() != "":
		return bgp.PeerConfig{}, status.Errorf(codes.InvalidArgument, "%s: neighbor %v: VRFs are not supported by this build", what, addr)
	}
	pc := bgp.PeerConfig{Addr: addr, PeerAS: c.GetPeerAsn(), LocalAS: c.GetLocalAsn(), AdminDown: c.GetAdminDown(),
		RRClient: p.GetRouteReflector().GetRouteReflectorClient(), RSClient: p.GetRouteServer().GetRouteServerClient(),
		AuthPassword: c.GetAuthPassword()}
	if m := p.GetEbgpMultihop(); m.GetEnabled() {
		pc.MultihopTTL = uint8(cmp.Or(m.GetMultihopTtl(), 255)) // gobgpd: 255 when not given
	}
	if ts := p.GetTtlSecurity(); ts.GetEnabled() {
		pc.TTLSecurity = uint8(cmp.Or(ts.GetTtlMin(), 255))
	}
	if id := p.GetRouteReflector().GetRouteReflectorClusterId(); id != "" {
		a, err := netip.ParseAddr(id)
		if err != nil || !a.Is4() {
			return bgp.PeerConfig{}, status.Errorf(codes.InvalidArgument, "%s: neighbor %v: cluster id %q is not an IPv4 address", what, addr, id)
		}
		pc.ClusterID = a
	}
	if t := p.GetTransport(); t != nil {
		pc.Passive = t.GetPassiveMode()
		if t.GetRemotePort() > 65535 {
			return bgp.PeerConfig{}, status.Errorf(codes.InvalidArgument, "%s: neighbor %v: remote port %d is not a TCP port", what, addr, t.GetRemotePort())
		}
		pc.RemotePort = uint16(t.GetRemotePort())
		if la := t.GetLocalAddress(); la != "" {
			a, err := netip.ParseAddr(la)
			if err != nil {
				return bgp.PeerConfig{}, status.Errorf(codes.InvalidArgument, "%s: neighbor %v: local address %q is not an IP address", what, addr, la)
			}
			pc.LocalAddr = a.Unmap()
		}
	}
	if tc := p.GetTimers().GetConfig(); tc != nil {
		pc.HoldTime = time.Duration(tc.GetHoldTime()) * time.Second
		pc.KeepaliveTime = time.Duration(tc.GetKeepaliveInterval()) * time.Second
		pc.ConnectRetry = time.Duration(tc.GetConnectRetry()) * time.Second
	}
	for _, af := range p.GetAfiSafis() {
		if af.GetConfig() == nil || (!af.GetConfig().GetEnabled() && af.GetConfig().GetFamily() == nil) {
			continue
		}
		f := fanoutFamily(af.GetConfig().GetFamily())
		if !f.Supported() {
			return bgp.PeerConfig{}, status.Errorf(codes.InvalidArgument, "%s: neighbor %v: family %s is not supported",
				what, addr, gobgp.AfiSafiToRouteFamily(uint16(f.AFI), uint8(f.SAFI)))
		}
		pc.Families = append(pc.Families, f)
		if ap := af.GetAddPaths().GetConfig(); ap != nil {
			if ap.GetReceive() {
				pc.AddPathReceive = append(pc.AddPathReceive, f)
			}
			if n := ap.GetSendMax(); n > 255 {
				return bgp.PeerConfig{}, status.Errorf(codes.InvalidArgument, "%s: neighbor %v: add-paths send-max %d is over 255", what, addr, n)
			} else if n > 0 {
				pc.AddPathSend = append(pc.AddPathSend, bgp.AddPathSend{Family: f, Max: uint8(n)})
			}
		}
		if l := af.GetPrefixLimits(); l != nil && l.GetMaxPrefixes() > 0 {
			pc.MaxPrefixes.Limit += int(l.GetMaxPrefixes())
			pc.MaxPrefixes.WarnPct = int(l.GetShutdownThresholdPct())
		}
	}
	if pc.Families == nil && addr.Is6() {
		pc.Families = []proto.Family{proto.IPv6Unicast} // gobgpd's default for an IPv6 neighbor
	}
	if gr := p.GetGracefulRestart(); gr.GetEnabled() {
		pc.GracefulRestart = bgp.GracefulRestartConfig{Enabled: true, RestartTime: time.Duration(gr.GetRestartTime()) * time.Second}
	}
	return pc, nil
}

// AddPeer configures a neighbor; it starts at once unless admin-down.
func (s *Service) AddPeer(ctx context.Context, req *apipb.AddPeerRequest) (*emptypb.Empty, error) {
	pc, group, own, err := s.memberConfig("AddPeer", req.GetPeer())
	if err != nil {
		return nil, err
	}
	if err := s.addMember(pc, group, own); err != nil {
		if errors.Is(err, bgp.ErrPeerExists) || errors.Is(err, bgp.ErrServerClosed) {
			return nil, peerErr("AddPeer", pc.Addr, err)
		}
		return nil, status.Errorf(codes.InvalidArgument, "AddPeer: %v", err)
	}
	s.log.Info("neighbor added through the API", zapAddr(pc.Addr))
	return &emptypb.Empty{}, nil
}

// DeletePeer removes a neighbor (Cease / Peer De-configured to an established session).
func (s *Service) DeletePeer(ctx context.Context, req *apipb.DeletePeerRequest) (*emptypb.Empty, error) {
	if req.GetInterface() != "" {
		return nil, status.Errorf(codes.InvalidArgument, "DeletePeer: interface neighbors (%q) are not supported", req.GetInterface())
	}
	a, err := peerAddr("DeletePeer", req.GetAddress())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.srv.DeletePeer(ctx, a); err != nil {
		return nil, peerErr("DeletePeer", a, err)
	}
	s.forgetMember(a)
	s.log.Info("neighbor deleted through the API", zapAddr(a))
	return &emptypb.Empty{}, nil
}

// UpdatePeer replaces a neighbor's configuration. fanout cannot change a running session's
// parameters in place: a changed configuration deletes and re-adds the neighbor, which
// resets its session; an unchanged one does nothing.
func (s *Service) UpdatePeer(ctx context.Context, req *apipb.UpdatePeerRequest) (*apipb.UpdatePeerResponse, error) {
	pc, group, own, err := s.memberConfig("UpdatePeer", req.GetPeer())
	if err != nil {
		return nil, err
	}
	old := s.srv.Lookup(pc.Addr)
	if old == nil {
		return nil, status.Errorf(codes.NotFound, "UpdatePeer: no neighbor %v is configured", pc.Addr)
	}
	s.setMember(pc.Addr, group, own)
	if err := s.replacePeer(ctx, old, pc); err != nil {
		return nil, err
	}
	return &apipb.UpdatePeerResponse{}, nil
}

// replacePeer gives the neighbor of old the configuration pc: nothing when it is the same,
// else the neighbor is deleted and added again (its session resets).
func (s *Service) replacePeer(ctx context.Context, old *bgp.Peer, pc bgp.PeerConfig) error {
	if sameConfig(old.Config(), pc) {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.srv.DeletePeer(dctx, pc.Addr); err != nil {
		return peerErr("UpdatePeer", pc.Addr, err)
	}
	if err := s.srv.AddPeer(pc); err != nil {
		// The new configuration passed validation above, so this is the server closing or
		// a concurrent AddPeer: restore the old one.
		restoreErr := s.srv.AddPeer(old.Config())
		return status.Errorf(codes.Aborted, "UpdatePeer: neighbor %v: %v (restoring the old configuration: %v)", pc.Addr, err, restoreErr)
	}
	s.log.Info("neighbor updated through the API (session reset)", zapAddr(pc.Addr))
	return nil
}

// sameConfig compares what peerConfig sets against a stored configuration with defaults.
func sameConfig(old, nw bgp.PeerConfig) bool {
	famEq := len(nw.Families) == 0 || fmt.Sprint(old.Families) == fmt.Sprint(nw.Families)
	return famEq && old.PeerAS == nw.PeerAS && (nw.LocalAS == 0 || old.LocalAS == nw.LocalAS) &&
		old.AdminDown == nw.AdminDown && old.RRClient == nw.RRClient && old.RSClient == nw.RSClient &&
		old.Passive == nw.Passive && (nw.RemotePort == 0 || old.RemotePort == nw.RemotePort) &&
		(nw.HoldTime == 0 || old.HoldTime == nw.HoldTime) && (nw.ConnectRetry == 0 || old.ConnectRetry == nw.ConnectRetry) &&
		(!nw.LocalAddr.IsValid() || old.LocalAddr == nw.LocalAddr)
}

// ResetPeer resets a session: hard (Cease / Administrative Reset), soft inbound (ROUTE-
// REFRESH to the peer), soft outbound (fanout re-sends the peer its routes), or both.
// Address "all" resets every neighbor, as gobgpd does; established ones for a soft reset.
func (s *Service) ResetPeer(ctx context.Context, req *apipb.ResetPeerRequest) (*emptypb.Empty, error) {
	if req.GetAddress() == "all" {
		for _, st := range s.srv.Peers() {
			if req.GetSoft() && st.State != bgp.Established {
				continue
			}
			if _, err := s.resetOne(st.Addr, req); err != nil && status.Code(err) != codes.NotFound {
				return nil, err
			}
		}
		return &emptypb.Empty{}, nil
	}
	a, err := peerAddr("ResetPeer", req.GetAddress())
	if err != nil {
		return nil, err
	}
	return s.resetOne(a, req)
}

func (s *Service) resetOne(a netip.Addr, req *apipb.ResetPeerRequest) (*emptypb.Empty, error) {
	if err := checkCommunication("ResetPeer", req.GetCommunication()); err != nil {
		return nil, err
	}
	if !req.GetSoft() {
		return &emptypb.Empty{}, peerErr("ResetPeer", a, s.srv.ResetPeer(a, false))
	}
	if s.srv.Lookup(a) == nil {
		return nil, status.Errorf(codes.NotFound, "ResetPeer: no neighbor %v is configured", a)
	}
	switch req.GetDirection() {
	case apipb.ResetPeerRequest_IN:
		return &emptypb.Empty{}, peerErr("ResetPeer", a, s.srv.ResetPeer(a, true))
	case apipb.ResetPeerRequest_OUT:
		return &emptypb.Empty{}, peerErr("ResetPeer", a, s.srv.SoftResetOut(a))
	case apipb.ResetPeerRequest_BOTH:
		if err := s.srv.ResetPeer(a, true); err != nil {
			return nil, peerErr("ResetPeer", a, err)
		}
		return &emptypb.Empty{}, peerErr("ResetPeer", a, s.srv.SoftResetOut(a))
	}
	return nil, status.Errorf(codes.InvalidArgument, "ResetPeer: unknown soft reset direction %d", req.GetDirection())
}

// ShutdownPeer stops a session with Cease / Administrative Shutdown and keeps it down
// (RFC 8203 communication included), as gobgpd does.
func (s *Service) ShutdownPeer(ctx context.Context, req *apipb.ShutdownPeerRequest) (*emptypb.Empty, error) {
	a, err := peerAddr("ShutdownPeer", req.GetAddress())
	if err != nil {
		return nil, err
	}
	if err := checkCommunication("ShutdownPeer", req.GetCommunication()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, peerErr("ShutdownPeer", a, s.srv.DisablePeer(a, req.GetCommunication()))
}

// EnablePeer starts a disabled neighbor.
func (s *Service) EnablePeer(ctx context.Context, req *apipb.EnablePeerRequest) (*emptypb.Empty, error) {
	a, err := peerAddr("EnablePeer", req.GetAddress())
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, peerErr("EnablePeer", a, s.srv.EnablePeer(a))
}

// DisablePeer stops a neighbor with Cease / Administrative Shutdown; it stays down until
// EnablePeer.
func (s *Service) DisablePeer(ctx context.Context, req *apipb.DisablePeerRequest) (*emptypb.Empty, error) {
	a, err := peerAddr("DisablePeer", req.GetAddress())
	if err != nil {
		return nil, err
	}
	if err := checkCommunication("DisablePeer", req.GetCommunication()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, peerErr("DisablePeer", a, s.srv.DisablePeer(a, req.GetCommunication()))
}

// checkCommunication bounds an RFC 9003 shutdown communication (at most 255 octets).
func checkCommunication(what, msg string) error {
	if len(msg) > 255 {
		return status.Errorf(codes.InvalidArgument, "%s: the shutdown communication is %d bytes; RFC 9003 allows at most 255", what, len(msg))
	}
	return nil
}
