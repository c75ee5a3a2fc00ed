package netinst

import (
	"fmt"
	"net/netip"
	"time"
)

// RouteProtocol is the route protocol number (rtm_protocol) fanout marks its kernel routes
// with, so a dump can tell fanout's routes from everyone else's and a restarted fanoutd can
// find and remove what an earlier run left. 201 is taken by no routing daemon we know of:
// iproute2's rt_protos stops at 192, BIRD uses 12, and FRR claims 186 to 198 (196 is its
// staticd, which is why the example number is not used). Add "201 fanout" to
// /etc/iproute2/rt_protos.d to have `ip route` print the name.
const RouteProtocol = 201

// Route is one kernel route as fanout installs it: a small comparable value, used directly
// as a map key. Reconciliation matches routes on all four fields, so two routes that differ
// only by their preferred source address are different routes.
type Route struct {
	Table int          // kernel routing table id
	Dst   netip.Prefix // destination, masked
	Gw    netip.Addr   // gateway (the BGP next hop)
	Src   netip.Addr   // preferred source address; zero: none
}

func (r Route) String() string {
	s := fmt.Sprintf("table %d %s via %s", r.Table, r.Dst, r.Gw)
	if r.Src.IsValid() {
		s += " src " + r.Src.String()
	}
	return s
}

// RouteError is one route a kernel call could not install or remove.
type RouteError struct {
	Route Route
	Err   error
}

func (e RouteError) Error() string { return fmt.Sprintf("%s: %v", e.Route, e.Err) }

// Clock is the time source of actors and the feed: time is an input, so tests drive it.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// After implements Clock.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
