package bgp

import (
	"testing"
	"time"

	"github.com/fanoutd/fanout/proto"
)

func testPeerConfig(mod func(c *PeerConfig)) PeerConfig {
	c := PeerConfig{Addr: addr("127.0.0.2"), PeerAS: 65010}
	if mod != nil {
		mod(&c)
	}
	return c.withDefaults(&ServerConfig{AS: 65000, RouterID: addr("10.0.0.1")})
}

func remoteOpen(as uint32, mod func(c *proto.Capabilities)) *proto.Open {
	o := &proto.Open{Version: 4, AS: uint16(as), HoldTime: 30, ID: addr("10.0.0.2")}
	o.Caps.HasAS4, o.Caps.AS4 = true, as
	o.Caps.Multiprotocol = []proto.Family{proto.IPv4Unicast}
	if mod != nil {
		mod(&o.Caps)
	}
	return o
}

// TestLocalOpen: what fanout announces (RFC 6793 AS_TRANS for a 4-octet AS, RFC 2918 and
// RFC 7313 route refresh, RFC 7911 receive only for configured families, RFC 4724 with the
// F bit and without Restart State, RFC 9234 role).
func TestLocalOpen(t *testing.T) {
	cfg := testPeerConfig(func(c *PeerConfig) {
		c.LocalAS = 4200000001
		c.Families = []proto.Family{proto.IPv4Unicast, proto.VPNv4}
		c.AddPathReceive = []proto.Family{proto.VPNv4, proto.IPv6Unicast}
		c.GracefulRestart.Enabled = true
		c.HasRole, c.Role = true, proto.RoleRS
		c.HoldTime = 45 * time.Second
	})
	o, err := localOpen(&cfg, addr("10.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	c := &o.Caps
	switch {
	case o.AS != uint16(proto.ASTrans) || c.AS4 != 4200000001 || !c.HasAS4:
		t.Errorf("AS %d / AS4 %d", o.AS, c.AS4)
	case o.HoldTime != 45 || !c.RouteRefresh || !c.EnhancedRouteRefresh || c.ExtendedMessage:
		t.Errorf("hold %d, caps %+v", o.HoldTime, c)
	case len(c.AddPath) != 1 || c.AddPath[0] != (proto.AddPathFamily{Family: proto.VPNv4, Mode: proto.AddPathReceive}):
		t.Errorf("ADD-PATH %+v", c.AddPath)
	case !c.GracefulRestart.Present || c.GracefulRestart.Time != 120 || len(c.GracefulRestart.Families) != 2 ||
		c.GracefulRestart.Families[0].Flags&proto.GRForwarding == 0 || c.GracefulRestart.Flags&proto.GRRestartState != 0:
		t.Errorf("graceful restart %+v", c.GracefulRestart)
	case !c.HasRole || c.Role != proto.RoleRS:
		t.Errorf("role %v", c.Role)
	}
}

// TestNegotiate: the session options both directions and the refusals.
func TestNegotiate(t *testing.T) {
	cases := []struct {
		name   string
		cfg    func(c *PeerConfig)
		remote *proto.Open
		check  func(t *testing.T, n negotiated)
		sub    uint8 // expected OPEN error subcode, 0 for none
	}{
		{"no multiprotocol capability means IPv4 unicast", nil,
			remoteOpen(65010, func(c *proto.Capabilities) { c.Multiprotocol = nil }),
			func(t *testing.T, n negotiated) {
				if len(n.families) != 1 || n.families[0] != proto.IPv4Unicast {
					t.Errorf("families %v", n.families)
				}
			}, 0},
		{"families intersect in configured order",
			func(c *PeerConfig) { c.Families = []proto.Family{proto.VPNv6, proto.IPv6Unicast, proto.IPv4Unicast} },
			remoteOpen(65010, func(c *proto.Capabilities) {
				c.Multiprotocol = []proto.Family{proto.IPv4Unicast, proto.VPNv4, proto.VPNv6}
			}),
			func(t *testing.T, n negotiated) {
				if len(n.families) != 2 || n.families[0] != proto.VPNv6 || n.families[1] != proto.IPv4Unicast {
					t.Errorf("families %v", n.families)
				}
			}, 0},
		{"no common family", func(c *PeerConfig) { c.Families = []proto.Family{proto.IPv6Unicast} },
			remoteOpen(65010, nil), nil, proto.SubUnsupportedCapability},
		{"2-octet peer", nil,
			remoteOpen(65010, func(c *proto.Capabilities) { c.HasAS4 = false }),
			func(t *testing.T, n negotiated) {
				if n.recv.AS4 || n.send.AS4 || n.peerAS != 65010 || !n.recv.EBGP {
					t.Errorf("%+v", n)
				}
			}, 0},
		{"ADD-PATH receive needs the peer's send",
			func(c *PeerConfig) {
				c.Families = []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast}
				c.AddPathReceive = c.Families
			},
			remoteOpen(65010, func(c *proto.Capabilities) {
				c.Multiprotocol = []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast}
				c.AddPath = []proto.AddPathFamily{{Family: proto.IPv4Unicast, Mode: proto.AddPathBoth}, {Family: proto.IPv6Unicast, Mode: proto.AddPathReceive}}
			}),
			func(t *testing.T, n negotiated) {
				if !n.recv.AddPath.Has(proto.IPv4Unicast) || n.recv.AddPath.Has(proto.IPv6Unicast) ||
					n.send.AddPath.Has(proto.IPv4Unicast) || n.send.AddPath.Has(proto.IPv6Unicast) {
					t.Errorf("recv %v send %v", n.recv.AddPath, n.send.AddPath)
				}
			}, 0},
		{"extended messages need both", func(c *PeerConfig) { c.ExtendedMessage = true },
			remoteOpen(65010, func(c *proto.Capabilities) { c.ExtendedMessage = true }),
			func(t *testing.T, n negotiated) {
				if !n.recv.ExtendedMessage || !n.send.ExtendedMessage || n.recv.MaxLen() != proto.MaxExtendedMessage {
					t.Errorf("%+v", n.recv)
				}
			}, 0},
		{"extended messages from one side only", nil,
			remoteOpen(65010, func(c *proto.Capabilities) { c.ExtendedMessage = true }),
			func(t *testing.T, n negotiated) {
				if n.recv.ExtendedMessage {
					t.Errorf("%+v", n.recv)
				}
			}, 0},
		{"internal peer", func(c *PeerConfig) { c.PeerAS = 65000 }, remoteOpen(65000, nil),
			func(t *testing.T, n negotiated) {
				if n.recv.EBGP || n.send.EBGP {
					t.Error("internal peer marked external")
				}
			}, 0},
		{"external peer may share our identifier (RFC 6286)", nil,
			func() *proto.Open { o := remoteOpen(65010, nil); o.ID = addr("10.0.0.1"); return o }(), nil, 0},
		{"role pair", func(c *PeerConfig) { c.HasRole, c.Role = true, proto.RoleRS },
			remoteOpen(65010, func(c *proto.Capabilities) { c.HasRole, c.Role = true, proto.RoleRSClient }), nil, 0},
		{"route refresh", nil, remoteOpen(65010, func(c *proto.Capabilities) { c.RouteRefresh = true }),
			func(t *testing.T, n negotiated) {
				if !n.routeRefresh || n.peerHold != 30*time.Second {
					t.Errorf("%+v", n)
				}
			}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testPeerConfig(c.cfg)
			local, err := localOpen(&cfg, addr("10.0.0.1"))
			if err != nil {
				t.Fatal(err)
			}
			n, perr := negotiate(&cfg, local, c.remote)
			switch {
			case c.sub != 0 && (perr == nil || perr.Code != proto.CodeOpen || perr.Subcode != c.sub):
				t.Fatalf("got %v, want 2/%d", perr, c.sub)
			case c.sub == 0 && perr != nil:
				t.Fatalf("refused: %v", perr)
			case perr == nil && c.check != nil:
				c.check(t, n)
			}
		})
	}
}

// TestFakeClock: callbacks run in deadline order at Advance, a stopped one never runs.
func TestFakeClock(t *testing.T) {
	c := NewFakeClock(epoch)
	var got []int
	c.AfterFunc(3*time.Second, func() { got = append(got, 3) })
	t2 := c.AfterFunc(2*time.Second, func() { got = append(got, 2) })
	c.AfterFunc(time.Second, func() {
		got = append(got, 1)
		c.AfterFunc(500*time.Millisecond, func() { got = append(got, 15) })
	})
	if !t2.Stop() || t2.Stop() {
		t.Error("Stop results")
	}
	c.Advance(2500 * time.Millisecond)
	if len(got) != 2 || got[0] != 1 || got[1] != 15 || !c.Now().Equal(epoch.Add(2500*time.Millisecond)) || c.Pending() != 1 {
		t.Errorf("got %v at %v", got, c.Now())
	}
	c.Advance(time.Second)
	if len(got) != 3 || got[2] != 3 {
		t.Errorf("got %v", got)
	}
}
