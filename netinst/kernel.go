package netinst

import (
	"net/netip"
	"slices"
)

// Kernel is how an actor reaches the kernel of its network namespace: routes of fanout's
// protocol in one table, and the instance's links and rules. It is owned by netinst and has
// two implementations: FakeKernel, which records kernel state as text for unit tests, and
// NetlinkKernel, which holds one *netlink.Handle for one network namespace.
//
// Every method is idempotent: adding what exists or removing what is gone is not an error.
// An actor calls its Kernel from its own goroutine only; a Kernel shared by several actors
// (one namespace, several tables) must be safe for concurrent use.
type Kernel interface {
	// ReplaceRoutes installs rs (each replacing whatever route the table has for the same
	// destination) as one batch and returns the routes that failed.
	ReplaceRoutes(rs []Route) []RouteError
	// DeleteRoutes removes rs as one batch and returns the routes that failed; a route that
	// is already gone is not a failure.
	DeleteRoutes(rs []Route) []RouteError
	// ListRoutes dumps table's routes of RouteProtocol, IPv4 and IPv6.
	ListRoutes(table int) ([]Route, error)
	// Setup creates the instance's bridge (when set), attaches and addresses its ports, and
	// adds its rules. It returns what it did so Teardown removes that and nothing more.
	Setup(s Setup) (Created, error)
	// Teardown removes what Setup created.
	Teardown(s Setup, c Created) error
}

// Setup is the kernel plumbing of one instance besides its routes.
type Setup struct {
	Table  int            // the instance's routing table
	Bridge string         // Linux bridge to create or reuse; empty: none
	Addrs  []netip.Prefix // addresses of the bridge
	Ports  []Port         // links attached to the bridge (or, without one, just addressed)
	// RulePriority is the priority of the rule that sends traffic arriving on the bridge to
	// Table (ip rule iif BRIDGE lookup TABLE); 0: no rule.
	RulePriority int
}

// Port is one link of an instance: an existing link, or a veth pair fanout creates.
type Port struct {
	Name  string         // link name
	Peer  string         // when set, Name is created as a veth pair with this peer
	Addrs []netip.Prefix // addresses put on Name
}

// Created says which links Setup made (as opposed to found), for Teardown.
type Created struct {
	Bridge bool
	Veths  []string
	Rules  []int // address families (4, 6) of the rules added
}

func (c Created) empty() bool { return !c.Bridge && len(c.Veths) == 0 && len(c.Rules) == 0 }

// merge adds what o created to c.
func (c *Created) merge(o Created) {
	c.Bridge = c.Bridge || o.Bridge
	for _, v := range o.Veths {
		if !slices.Contains(c.Veths, v) {
			c.Veths = append(c.Veths, v)
		}
	}
	for _, r := range o.Rules {
		if !slices.Contains(c.Rules, r) {
			c.Rules = append(c.Rules, r)
		}
	}
}

func (s Setup) empty() bool {
	return s.Bridge == "" && len(s.Ports) == 0 && len(s.Addrs) == 0 && s.RulePriority == 0
}

// NextHopProber is a Kernel that can say whether a next hop can be used as a route's
// gateway now (it is on a connected network), so an actor that reported a next hop
// unreachable learns when it comes back even though no route via it is wanted any more.
// A Kernel without it learns that only from a route via the next hop being installed.
type NextHopProber interface {
	NextHopReachable(table int, nh netip.Addr) (bool, error)
}

// RouteWatcher is a Kernel that can tell an actor at once when a route of RouteProtocol
// leaves its table, so a route another process deleted is put back without waiting for the
// next reconcile. A Kernel without it is reconciled on the interval only.
type RouteWatcher interface {
	// WatchRoutes calls gone for each route of RouteProtocol deleted from table, and lost
	// when notifications may have been lost (the socket overflowed), until done is closed.
	// The callbacks run on the watcher's goroutine and must not block. The returned channel
	// is closed when that goroutine has exited.
	WatchRoutes(table int, done <-chan struct{}, gone func(Route), lost func()) (<-chan struct{}, error)
}
