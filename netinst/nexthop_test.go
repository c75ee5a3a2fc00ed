package netinst

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestNextHopFeedback: a next hop the kernel refuses a route through is reported down to
// the RIB once; when the route is withdrawn (the RIB chose another path) the reconcile's
// probe finds the next hop usable again and reports it up; an instance that goes away gives
// up the next hops it reported.
func TestNextHopFeedback(t *testing.T) {
	r := newRig(t, false)
	var mu sync.Mutex
	var got []string
	r.m.nextHop = func(name string, nh netip.Addr, reachable bool) {
		mu.Lock()
		got = append(got, fmt.Sprint(name, " ", nh, " ", reachable))
		mu.Unlock()
	}
	seen := func(want ...string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return slices.Equal(got, want)
		}
	}
	r.apply(inst(DefaultName, 100))
	r.settled(DefaultName, 0)
	k := r.kernel(DefaultName)
	k.FailRoute("192.0.2.66", syscall.ENETUNREACH)
	r.push(DefaultName, "10.1.0.0/16", "192.0.2.66")
	r.push(DefaultName, "10.2.0.0/16", "192.0.2.66")
	eventually(t, "reported down once", seen("default 192.0.2.66 false"))
	eventually(t, "status", func() bool { return r.status(DefaultName).NextHopsDown == 1 })

	// The RIB withdrew the routes (no other path); the next hop comes back in the kernel.
	r.push(DefaultName, "10.1.0.0/16", "")
	r.push(DefaultName, "10.2.0.0/16", "")
	r.clock.Advance(time.Minute)
	if !seen("default 192.0.2.66 false")() {
		t.Fatalf("reported %v while the next hop is still unreachable", got)
	}
	k.FailRoute("192.0.2.66", nil)
	r.clock.Advance(time.Minute)
	eventually(t, "reported up by the probe", seen("default 192.0.2.66 false", "default 192.0.2.66 true"))

	// Down again, then the instance is removed: it gives the next hop up.
	k.FailRoute("192.0.2.66", syscall.EHOSTUNREACH)
	r.push(DefaultName, "10.1.0.0/16", "192.0.2.66")
	eventually(t, "down again", seen("default 192.0.2.66 false", "default 192.0.2.66 true", "default 192.0.2.66 false"))
	r.apply()
	eventually(t, "released on removal", seen("default 192.0.2.66 false", "default 192.0.2.66 true", "default 192.0.2.66 false", "default 192.0.2.66 true"))
}
