package netinst

import (
	"sync"

	"go.uber.org/zap"
)

// maxRepairs bounds the deleted routes remembered between two actor turns; past it the
// actor does a full reconcile instead.
const maxRepairs = 4096

// repairBox collects what a RouteWatcher reports for an actor: routes of ours that left the
// kernel, or that notifications were lost. Like the inbox it never blocks the reporter.
//
// Owner: the watcher's goroutine reports, the actor takes. mu guards gone and lost; wake is
// a 1-buffered channel. Cardinality: one per actor. Lifetime: the actor's.
type repairBox struct {
	wake chan struct{}

	mu   sync.Mutex
	gone map[Route]struct{}
	lost bool
}

func newRepairBox() *repairBox {
	return &repairBox{wake: make(chan struct{}, 1), gone: map[Route]struct{}{}}
}

func (b *repairBox) routeGone(r Route) {
	b.mu.Lock()
	if len(b.gone) < maxRepairs {
		b.gone[r] = struct{}{}
	} else {
		b.lost = true
	}
	b.mu.Unlock()
	b.signal()
}

func (b *repairBox) notificationsLost() {
	b.mu.Lock()
	b.lost = true
	b.mu.Unlock()
	b.signal()
}

func (b *repairBox) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// take returns the routes reported gone and whether a full reconcile is needed, and empties
// the box.
func (b *repairBox) take() ([]Route, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rs := make([]Route, 0, len(b.gone))
	for r := range b.gone {
		rs = append(rs, r)
	}
	clear(b.gone)
	lost := b.lost
	b.lost = false
	return rs, lost
}

// repair puts back the reported routes that the actor still believes installed and still
// wants; a loss of notifications costs a full reconcile.
func (a *actor) repair() {
	gone, lost := a.fix.take()
	if lost {
		if a.watchStopped != nil {
			select {
			case <-a.watchStopped: // the subscription died: subscribe again
				a.unwatch()
				a.watch()
			default:
			}
		}
		a.reconcile()
		return
	}
	// Events already waiting come first: a route withdrawn meanwhile is not put back.
	for a.in.depth() > 0 {
		a.drain()
	}
	var back []Route
	for _, r := range gone {
		if cur, ok := a.installed[r.Dst]; !ok || cur != r {
			continue // our own removal or replacement
		}
		if w, ok := a.desired(r.Dst); ok && w == r {
			back = append(back, r)
		} else {
			delete(a.installed, r.Dst)
		}
	}
	if len(back) == 0 {
		return
	}
	n := a.replace(back)
	a.st.Reinstalls += uint64(n)
	a.met.reinstalls.Add(float64(n))
	a.log.Info("kernel routes deleted by another process put back", zap.Int("reinstalled", n))
}

// watch starts (or restarts, after a table change) the kernel watch of the instance's
// table when the actor installs routes, and stops it when it does not.
func (a *actor) watch() {
	w, ok := a.k.(RouteWatcher)
	if !ok {
		return
	}
	if a.watching == a.cfg.Table && a.installing() {
		return
	}
	a.unwatch()
	if !a.installing() {
		return
	}
	done := make(chan struct{})
	stopped, err := w.WatchRoutes(a.cfg.Table, done, a.fix.routeGone, a.fix.notificationsLost)
	if err != nil {
		a.log.Warn("watching the kernel table failed; relying on periodic reconciliation", zap.Error(err))
		return
	}
	a.watchDone, a.watchStopped, a.watching = done, stopped, a.cfg.Table
}

// unwatch stops the kernel watch and waits for its goroutine.
func (a *actor) unwatch() {
	if a.watchDone == nil {
		return
	}
	close(a.watchDone)
	<-a.watchStopped
	a.watchDone, a.watchStopped, a.watching = nil, nil, 0
}
