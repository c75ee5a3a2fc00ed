package bgp

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/fanoutd/fanout/proto"
)

// localOpen builds the OPEN fanout sends to a peer configured by cfg (defaults applied):
// 4-octet AS always (RFC 6793), route refresh and enhanced route refresh always (RFC 2918,
// RFC 7313), the configured families (RFC 4760), ADD-PATH receive and send for the
// configured families (RFC 7911), extended messages (RFC 8654), graceful restart (RFC 4724,
// with the F bit; RFC 8538's N bit when configured; the Restart State bit is added by
// restartOpen) and the BGP role (RFC 9234) when configured.
func localOpen(cfg *PeerConfig, routerID netip.Addr) (*proto.Open, error) {
	o := &proto.Open{Version: proto.BGPVersion, HoldTime: uint16(cfg.HoldTime / time.Second), ID: routerID}
	o.AS = uint16(cfg.LocalAS)
	if cfg.LocalAS > 0xffff {
		o.AS = uint16(proto.ASTrans)
	}
	c := &o.Caps
	c.Multiprotocol = append(c.Multiprotocol, cfg.Families...)
	c.RouteRefresh = true
	c.EnhancedRouteRefresh = true
	c.HasAS4, c.AS4 = true, cfg.LocalAS
	c.ExtendedMessage = cfg.ExtendedMessage
	for _, f := range cfg.Families {
		if m := cfg.AddPathMode(f); m != 0 {
			c.AddPath = append(c.AddPath, proto.AddPathFamily{Family: f, Mode: m})
		}
	}
	if cfg.GracefulRestart.Enabled {
		c.GracefulRestart.Present = true
		c.GracefulRestart.Time = uint16(min(cfg.GracefulRestart.RestartTime/time.Second, 4095))
		if cfg.GracefulRestart.Notification {
			c.GracefulRestart.Flags |= proto.GRNotification // RFC 8538
		}
		// F bit: fanout's routing state survives its sessions, and it forwards no traffic
		// itself, so what it advertised stays valid while it restarts (RFC 4724 §3).
		for _, f := range cfg.Families {
			c.GracefulRestart.Families = append(c.GracefulRestart.Families, proto.GRFamily{Family: f, Flags: proto.GRForwarding})
		}
		for _, f := range cfg.GracefulRestart.LongLived {
			if hasFamily(cfg.Families, f.Family) {
				c.LongLivedGR.Present = true
				c.LongLivedGR.Families = append(c.LongLivedGR.Families, proto.GRFamily{Family: f.Family, Flags: proto.GRForwarding, StaleTime: f.StaleTime})
			}
		}
	}
	if cfg.HasRole {
		c.HasRole, c.Role = true, cfg.Role
	}
	// Encode once to catch a configuration the wire cannot carry.
	if _, err := proto.AppendOpen(nil, o); err != nil {
		return nil, fmt.Errorf("peer %v: OPEN: %w", cfg.Addr, err)
	}
	return o, nil
}

// restartOpen returns the OPEN of o with the Restart State bit set (RFC 4724 §3), sent
// while fanout restarts, or nil when o announces no graceful restart.
func restartOpen(o *proto.Open) []byte {
	if !o.Caps.GracefulRestart.Present {
		return nil
	}
	r := *o
	r.Caps.GracefulRestart.Flags |= proto.GRRestartState
	msg, err := proto.AppendOpen(nil, &r)
	if err != nil {
		return nil
	}
	return msg
}

// negotiated is what one OPEN exchange decided.
type negotiated struct {
	peerAS       uint32
	routerID     netip.Addr // the peer's BGP identifier
	peerHold     time.Duration
	families     []proto.Family // configured ∩ announced by the peer, in configuration order
	recv, send   proto.SessionOptions
	routeRefresh bool // the peer accepts ROUTE-REFRESH
	enhRefresh   bool // both announced enhanced route refresh (RFC 7313)
	peerCaps     *proto.Capabilities
}

// negotiate checks the peer's OPEN against the configuration and our own OPEN and derives
// the session options for both directions. A refusal is a session-reset *proto.Error with
// the NOTIFICATION to answer the OPEN with (RFC 4271 §6.2, RFC 5492 §3, RFC 9234 §4.2).
// remote must already have passed proto.DecodeOpen.
func negotiate(cfg *PeerConfig, local *proto.Open, remote *proto.Open) (negotiated, *proto.Error) {
	var n negotiated
	if err := remote.CheckPeerAS(cfg.PeerAS); err != nil {
		e, _ := proto.AsError(err)
		return n, e
	}
	n.peerAS = remote.PeerAS()
	n.routerID = remote.ID
	// RFC 6286 §2.2: the identifiers of an internal session must differ.
	if remote.ID == local.ID && n.peerAS == cfg.LocalAS {
		return n, openErr(proto.SubBadBGPIdentifier, nil, "peer uses our BGP identifier on an internal session")
	}
	n.peerHold = time.Duration(remote.HoldTime) * time.Second

	// RFC 4760 §8: a speaker without the Multiprotocol capability does IPv4 unicast only.
	peerFams := remote.Caps.Multiprotocol
	if len(peerFams) == 0 {
		peerFams = []proto.Family{proto.IPv4Unicast}
	}
	for _, f := range cfg.Families {
		if hasFamily(peerFams, f) {
			n.families = append(n.families, f)
		}
	}
	if len(n.families) == 0 {
		// RFC 5492 §3: Unsupported Capability, data listing the capabilities we need.
		data, _ := (&proto.Capabilities{Multiprotocol: cfg.Families}).Append(nil)
		return n, openErr(proto.SubUnsupportedCapability, data, "no common address family")
	}

	if cfg.HasRole {
		switch {
		case remote.Caps.HasRole && !proto.RolesMatch(cfg.Role, remote.Caps.Role):
			return n, openErr(proto.SubRoleMismatch, nil, fmt.Sprintf("role %v does not pair with %v", remote.Caps.Role, cfg.Role))
		case !remote.Caps.HasRole && cfg.StrictRole:
			return n, openErr(proto.SubRoleMismatch, nil, "peer announced no role (strict mode)")
		}
	}

	as4 := local.Caps.HasAS4 && remote.Caps.HasAS4
	ext := local.Caps.ExtendedMessage && remote.Caps.ExtendedMessage
	ebgp := n.peerAS != cfg.LocalAS
	n.recv = proto.SessionOptions{AS4: as4, ExtendedMessage: ext, EBGP: ebgp}
	n.send = n.recv
	for _, f := range n.families {
		lm, rm := local.Caps.AddPathFor(f), remote.Caps.AddPathFor(f)
		// RFC 7911 §5: path identifiers flow from a sender that announced Send to a
		// receiver that announced Receive.
		if lm&proto.AddPathReceive != 0 && rm&proto.AddPathSend != 0 {
			n.recv.AddPath.Set(f)
		}
		if lm&proto.AddPathSend != 0 && rm&proto.AddPathReceive != 0 {
			n.send.AddPath.Set(f)
		}
	}
	n.routeRefresh = remote.Caps.RouteRefresh || remote.Caps.EnhancedRouteRefresh
	n.enhRefresh = local.Caps.EnhancedRouteRefresh && remote.Caps.EnhancedRouteRefresh
	n.peerCaps = &remote.Caps
	return n, nil
}

func openErr(sub uint8, data []byte, reason string) *proto.Error {
	return &proto.Error{Action: proto.ActionSessionReset, Code: proto.CodeOpen, Subcode: sub, Data: data, Reason: reason}
}

func hasFamily(fams []proto.Family, f proto.Family) bool {
	for _, g := range fams {
		if g == f {
			return true
		}
	}
	return false
}
