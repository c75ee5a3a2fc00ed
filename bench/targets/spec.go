package targets

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Role is what the daemon under test does with the routes it learns.
type Role int

const (
	// RouteServer is an RFC 7947 transparent route server: eBGP to every neighbor, no AS
	// prepended, NEXT_HOP and MED passed on unchanged.
	RouteServer Role = iota
	// RouteReflector is an RFC 4456 route reflector: iBGP to every neighbor, reflecting
	// routes between clients with ORIGINATOR_ID and CLUSTER_LIST.
	RouteReflector
)

func (r Role) String() string {
	switch r {
	case RouteServer:
		return "route-server"
	case RouteReflector:
		return "route-reflector"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// Family is an address family a session negotiates.
type Family int

const (
	// IPv4Unicast is AFI 1 / SAFI 1.
	IPv4Unicast Family = iota
	// IPv6Unicast is AFI 2 / SAFI 1.
	IPv6Unicast
)

func (f Family) String() string {
	switch f {
	case IPv4Unicast:
		return "ipv4-unicast"
	case IPv6Unicast:
		return "ipv6-unicast"
	}
	return fmt.Sprintf("Family(%d)", int(f))
}

// Neighbor is one peer of the daemon under test.
type Neighbor struct {
	// Address is the neighbor's loopback address.
	Address netip.Addr
	// AS is the neighbor's AS; for a route reflector it equals Spec.AS.
	AS uint32
	// Port is the neighbor's BGP port, used only when the daemon connects (Passive false);
	// 0 means 179.
	Port uint16
	// Passive makes the daemon wait for the neighbor to connect instead of connecting.
	Passive bool
	// RouteServerClient marks the neighbor as an RFC 7947 route-server client.
	RouteServerClient bool
	// RouteReflectorClient marks the neighbor as an RFC 4456 route-reflector client.
	RouteReflectorClient bool
	// RouteServer marks the neighbor as a route server (RFC 7947) the daemon is a client
	// of: the paths it sends start with another client's AS, not its own, so the daemon must
	// not enforce the first AS (RFC 7947 §2.2.2; OpenBGPD: "enforce neighbor-as no").
	RouteServer bool
	// Families are the families negotiated with the neighbor; empty means IPv4 unicast only.
	Families []Family
}

// families returns n's families with the default applied.
func (n Neighbor) families() []Family {
	if len(n.Families) == 0 {
		return []Family{IPv4Unicast}
	}
	return n.Families
}

// hasFamily reports whether n negotiates f.
func (n Neighbor) hasFamily(f Family) bool {
	for _, g := range n.families() {
		if g == f {
			return true
		}
	}
	return false
}

// remotePort returns the port the daemon connects to for an active neighbor.
func (n Neighbor) remotePort() uint16 {
	if n.Port == 0 {
		return 179
	}
	return n.Port
}

// Spec describes one run of a daemon: who it is, where it listens, what it does and with whom.
// It is a plain value; a Target only reads it.
type Spec struct {
	// AS is the daemon's own AS.
	AS uint32
	// RouterID is the daemon's BGP identifier (an IPv4 address).
	RouterID netip.Addr
	// ListenAddr is the loopback address the daemon listens on and connects from.
	ListenAddr netip.Addr
	// Port is the daemon's BGP listen port (unprivileged; see FreePort).
	Port uint16
	// Role is route server or route reflector.
	Role Role
	// ClusterID is the route reflector's cluster id; the zero value means RouterID.
	ClusterID netip.Addr
	// HoldTime is the hold time the daemon offers; 0 means 90 s.
	HoldTime time.Duration
	// Neighbors are the daemon's peers.
	Neighbors []Neighbor
}

// holdSeconds returns the hold time in whole seconds with the default applied.
func (s Spec) holdSeconds() int {
	if s.HoldTime == 0 {
		return 90
	}
	return int(s.HoldTime / time.Second)
}

// keepaliveSeconds is a third of the hold time, at least one second.
func (s Spec) keepaliveSeconds() int {
	return max(1, s.holdSeconds()/3)
}

// clusterID returns the cluster id with the default applied.
func (s Spec) clusterID() netip.Addr {
	if s.ClusterID.IsValid() {
		return s.ClusterID
	}
	return s.RouterID
}

// ErrNotLoopback is returned by Validate for an address outside 127.0.0.0/8 and ::1.
var ErrNotLoopback = errors.New("address is not loopback")

// Validate checks that s is complete, consistent with its role, and confined to loopback.
func (s Spec) Validate() error {
	if s.AS == 0 {
		return errors.New("spec: AS is 0")
	}
	if !s.RouterID.Is4() || s.RouterID.IsUnspecified() {
		return fmt.Errorf("spec: router id %v is not a non-zero IPv4 address", s.RouterID)
	}
	if !s.ListenAddr.IsLoopback() {
		return fmt.Errorf("spec: listen address %v: %w", s.ListenAddr, ErrNotLoopback)
	}
	if s.Port < 1024 {
		return fmt.Errorf("spec: port %d is privileged or unset", s.Port)
	}
	if s.ClusterID.IsValid() && !s.ClusterID.Is4() {
		return fmt.Errorf("spec: cluster id %v is not an IPv4 address", s.ClusterID)
	}
	if s.holdSeconds() < 3 {
		return fmt.Errorf("spec: hold time %v is below 3 s", s.HoldTime)
	}
	if s.Role != RouteServer && s.Role != RouteReflector {
		return fmt.Errorf("spec: unknown role %v", s.Role)
	}
	if len(s.Neighbors) == 0 {
		return errors.New("spec: no neighbors")
	}
	seen := make(map[netip.Addr]bool, len(s.Neighbors))
	for i, n := range s.Neighbors {
		if !n.Address.IsLoopback() {
			return fmt.Errorf("spec: neighbor %d address %v: %w", i, n.Address, ErrNotLoopback)
		}
		if n.Address == s.ListenAddr {
			return fmt.Errorf("spec: neighbor %d has the listen address %v", i, n.Address)
		}
		if seen[n.Address] {
			return fmt.Errorf("spec: neighbor %v listed twice", n.Address)
		}
		seen[n.Address] = true
		if n.AS == 0 {
			return fmt.Errorf("spec: neighbor %v: AS is 0", n.Address)
		}
		switch s.Role {
		case RouteServer:
			if n.AS == s.AS {
				return fmt.Errorf("spec: neighbor %v: a route server's neighbors are eBGP, but its AS is the server's %d", n.Address, n.AS)
			}
			if n.RouteReflectorClient {
				return fmt.Errorf("spec: neighbor %v: route-reflector client of a route server", n.Address)
			}
		case RouteReflector:
			if n.AS != s.AS {
				return fmt.Errorf("spec: neighbor %v: a route reflector's neighbors are iBGP, but its AS %d is not %d", n.Address, n.AS, s.AS)
			}
			if n.RouteServerClient {
				return fmt.Errorf("spec: neighbor %v: route-server client of a route reflector", n.Address)
			}
		}
		for _, f := range n.Families {
			if f != IPv4Unicast && f != IPv6Unicast {
				return fmt.Errorf("spec: neighbor %v: unknown family %v", n.Address, f)
			}
		}
	}
	return nil
}
