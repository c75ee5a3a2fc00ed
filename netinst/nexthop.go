package netinst

import (
	"net/netip"

	"go.uber.org/zap"
)

// Next-hop feedback: the actor tells the RIB (Deps.NextHop) which next hops its kernel
// refuses routes through, so paths via them stop being best, and when they can be used
// again. An instance speaks only for the next hops its own routes were refused through, and
// only while it exists: tear-down reports every one of them reachable again. All of it runs
// in the actor's goroutine and touches a.down, which that goroutine owns.

// nextHopDown records nh as unreachable and reports it the first time.
func (a *actor) nextHopDown(nh netip.Addr) {
	if !nh.IsValid() {
		return
	}
	if _, ok := a.down[nh]; ok {
		return
	}
	a.down[nh] = struct{}{}
	a.log.Info("next hop unreachable in the kernel, reported to the RIB", zap.Stringer("next-hop", nh))
	if a.nextHop != nil {
		a.nextHop(a.name, nh, false)
	}
}

// nextHopUp reports nh reachable again if it was reported down.
func (a *actor) nextHopUp(nh netip.Addr) {
	if _, ok := a.down[nh]; !ok {
		return
	}
	delete(a.down, nh)
	a.log.Info("next hop reachable again, reported to the RIB", zap.Stringer("next-hop", nh))
	if a.nextHop != nil {
		a.nextHop(a.name, nh, true)
	}
}

// probeNextHops asks a kernel that can tell whether the next hops reported down are usable
// again; called at every reconcile. Without a prober only an installed route brings one back.
func (a *actor) probeNextHops() {
	pr, ok := a.k.(NextHopProber)
	if !ok || len(a.down) == 0 {
		return
	}
	for nh := range a.down {
		up, err := pr.NextHopReachable(a.cfg.Table, nh)
		if err != nil {
			a.log.Debug("next hop probe failed", zap.Stringer("next-hop", nh), zap.Error(err))
			continue
		}
		if up {
			a.nextHopUp(nh) // deleting the current key while ranging is allowed
		}
	}
}

// releaseNextHops gives up every next hop the instance reported down: it no longer speaks
// for them.
func (a *actor) releaseNextHops() {
	for nh := range a.down {
		a.nextHopUp(nh)
	}
}
