package netinst

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// maxBatch bounds the route events one actor turn applies, so config and stop requests
// are never stuck behind a full-table download.
const maxBatch = 4096

// Retry back-off of failed dumps and set-ups: from minRetry doubling up to the interval
// (or maxRetry when reconciliation is off).
const (
	minRetry = 100 * time.Millisecond
	maxRetry = 30 * time.Second
)

// versioned is a config as the manager sent it.
type versioned struct {
	cfg     Config
	version uint64
}

// actor runs one network instance. Its goroutine (run) is the only code that touches the
// instance's kernel state: routes, bridge, ports, rules. It takes config from cfgCh (a
// 1-buffered channel the manager keeps holding only the newest config), route events from
// its inbox, and ticks from its reconcile timer.
//
// Owner: the Manager, which starts run and waits for it after closing done. Cardinality:
// one per configured instance. Lifetime: from the config that adds the instance until the
// one that removes it (or the manager's Close); it removes what it created on the way out.
type actor struct {
	name    string
	log     *zap.Logger
	k       Kernel
	clock   Clock
	met     *instanceMetrics
	publish func(Status)
	unreach func(instance string, p netip.Prefix, nh netip.Addr)
	nextHop func(instance string, nh netip.Addr, reachable bool)

	in     *inbox
	fix    *repairBox // routes the kernel watch saw deleted
	cfgCh  chan versioned
	done   chan struct{} // closed by the manager: tear down and exit
	exited chan struct{} // closed by run

	// Below: owned by the run goroutine.
	cfg       Config
	version   uint64
	created   Created
	activated bool
	setupErr  error
	want      map[EventKey]netip.Addr   // every route event's latest next hop
	installed map[netip.Prefix]Route    // what the actor believes the kernel has
	failed    map[netip.Prefix]struct{} // wanted routes whose install failed
	down      map[netip.Addr]struct{}   // next hops reported unreachable (nexthop.go)
	nWanted   int                       // prefixes with a wanted route
	batch     []Event
	st        Status
	retry     time.Duration // current back-off; 0: not backing off

	watching     int             // table watched; 0: none
	watchDone    chan struct{}   // closed to stop the watch
	watchStopped <-chan struct{} // closed when the watch's goroutine has exited
}

func newActor(name string, k Kernel, clock Clock, log *zap.Logger, met *instanceMetrics) *actor {
	return &actor{
		name: name, k: k, clock: clock, log: log, met: met,
		in:        newInbox(clock),
		fix:       newRepairBox(),
		cfgCh:     make(chan versioned, 1),
		done:      make(chan struct{}),
		exited:    make(chan struct{}),
		want:      map[EventKey]netip.Addr{},
		installed: map[netip.Prefix]Route{},
		failed:    map[netip.Prefix]struct{}{},
		down:      map[netip.Addr]struct{}{},
		st:        Status{Name: name},
	}
}

// run is the actor's goroutine.
func (a *actor) run() {
	defer close(a.exited)
	var tick <-chan time.Time
	for {
		select {
		case <-a.done:
			a.teardown()
			return
		default:
		}
		select {
		case <-a.done:
			a.teardown()
			return
		case v := <-a.cfgCh:
			// A config that leaves the interval alone keeps the running timer, so frequent
			// changes do not postpone reconciliation forever.
			if a.configure(v) || tick == nil {
				tick = a.arm()
			}
		case <-a.in.wake:
			a.drain()
		case <-a.fix.wake:
			if a.installing() {
				a.repair()
			}
		case <-tick:
			if !a.activated {
				a.activate()
			}
			if a.activated {
				a.reconcile()
			}
			tick = a.arm()
		}
		a.publishStatus()
	}
}

// arm returns the channel of the next reconcile tick: after the back-off while retrying,
// else after the interval; nil when reconciliation is off and nothing needs retrying.
func (a *actor) arm() <-chan time.Time {
	if a.retry > 0 {
		return a.clock.After(a.retry)
	}
	if a.cfg.ReconcileInterval > 0 {
		return a.clock.After(a.cfg.ReconcileInterval)
	}
	return nil
}

func (a *actor) backoff() {
	limit := a.cfg.ReconcileInterval
	if limit <= 0 {
		limit = maxRetry
	}
	a.retry = min(max(2*a.retry, minRetry), limit)
}

// configure applies a new config version: set-up changes are torn down and set up again,
// a table or source change moves every installed route, and the version is acknowledged.
// It reports whether the reconcile timer must be armed anew (new interval, or a back-off).
func (a *actor) configure(v versioned) bool {
	old := a.cfg
	first := a.version == 0
	a.cfg, a.version = v.cfg, v.version
	if !first && !sameRoutes(&old, &a.cfg) && old.Install && a.activated {
		a.removeAll(&old)
	}
	if first || !equalSetup(old.setup(), a.cfg.setup()) {
		if !first && (a.activated || !a.created.empty()) && !old.setup().empty() {
			if err := a.k.Teardown(old.setup(), a.created); err != nil {
				a.log.Warn("tearing down the old set-up failed", zap.Error(err))
			}
		}
		a.created = Created{}
		a.activated = false
		a.activate()
	}
	if a.activated && a.cfg.Install {
		a.installAll()
	}
	a.watch()
	newInterval := first || old.ReconcileInterval != a.cfg.ReconcileInterval
	if a.cfg.ReconcileInterval > 0 && newInterval {
		a.log.Info("kernel route reconciliation enabled", zap.Duration("interval", a.cfg.ReconcileInterval))
	}
	return newInterval || a.retry > 0
}

// activate sets up the bridge, ports and rules; on failure it backs off and retries at the
// next tick.
func (a *actor) activate() {
	s := a.cfg.setup()
	if !s.empty() {
		c, err := a.k.Setup(s)
		a.created.merge(c) // a retry after a partial failure finds what it made itself
		if err != nil {
			a.setupErr = fmt.Errorf("set-up: %w", err)
			a.log.Warn("instance set-up failed", zap.Error(err))
			a.backoff()
			return
		}
	}
	a.setupErr = nil
	a.retry = 0
	a.activated = true
	if a.cfg.Install {
		a.installAll()
	}
	a.watch()
}

// teardown removes the instance's routes and what its set-up created.
func (a *actor) teardown() {
	a.unwatch()
	a.releaseNextHops()
	if a.activated && a.cfg.Install {
		a.removeAll(&a.cfg)
	}
	if (a.activated || !a.created.empty()) && !a.cfg.setup().empty() {
		if err := a.k.Teardown(a.cfg.setup(), a.created); err != nil {
			a.log.Warn("instance tear-down failed", zap.Error(err))
		}
	}
	a.created = Created{}
	a.activated = false
}

func (a *actor) installing() bool { return a.activated && a.cfg.Install }

// drain applies one batch of route events.
func (a *actor) drain() {
	var lag time.Duration
	var more bool
	a.batch, lag, more = a.in.take(a.batch, maxBatch)
	a.st.EventLoopLag = lag
	a.apply(a.batch)
	if more {
		select {
		case a.in.wake <- struct{}{}:
		default:
		}
	}
}

// apply records events as wanted and, when installing, brings the kernel in line for the
// prefixes they touch.
func (a *actor) apply(evs []Event) {
	var add, del []Route
	for _, ev := range evs {
		p := ev.Key.Prefix
		a.record(ev)
		if !a.installing() {
			continue
		}
		r, ok := a.desired(p)
		cur, has := a.installed[p]
		switch {
		case ok && (!has || cur != r):
			add = append(add, r)
		case !ok && has:
			del = append(del, cur)
		case !ok:
			delete(a.failed, p)
		}
	}
	a.replace(add)
	a.remove(del)
}

// record updates want with ev.
func (a *actor) record(ev Event) {
	k := ev.Key
	_, had := a.want[k]
	if !ev.NextHop.IsValid() {
		delete(a.want, k)
	} else {
		a.want[k] = ev.NextHop
	}
	if _, has := a.want[k]; has != had {
		if has {
			a.nWanted++
		} else {
			a.nWanted--
		}
	}
}

// desired returns the route the instance wants for p.
func (a *actor) desired(p netip.Prefix) (Route, bool) {
	nh, ok := a.want[EventKey{Prefix: p}]
	if !ok {
		return Route{}, false
	}
	r := Route{Table: a.cfg.Table, Dst: p, Gw: nh}
	if p.Addr().Is4() {
		r.Src = a.cfg.Src4
	} else {
		r.Src = a.cfg.Src6
	}
	return r, true
}

// replace installs rs and records the outcome; it returns how many were installed.
func (a *actor) replace(rs []Route) int {
	if len(rs) == 0 {
		return 0
	}
	failed := a.k.ReplaceRoutes(rs)
	bad := make(map[Route]error, len(failed))
	for _, f := range failed {
		bad[f.Route] = f.Err
	}
	for _, r := range rs {
		if err, isBad := bad[r]; isBad {
			delete(a.installed, r.Dst) // replace may have failed after removing the old route
			a.failed[r.Dst] = struct{}{}
			a.st.InstallFailures++
			a.met.failures.Inc()
			if errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) {
				a.st.UnreachableNextHops++
				if a.unreach != nil {
					a.unreach(a.name, r.Dst, r.Gw)
				}
				a.nextHopDown(r.Gw)
			}
			continue
		}
		a.installed[r.Dst] = r
		delete(a.failed, r.Dst)
		a.nextHopUp(r.Gw)
	}
	if len(failed) > 0 {
		a.st.LastError = failed[0].Error()
		a.log.Warn("kernel routes not installed", zap.Int("failed", len(failed)), zap.Int("batch", len(rs)), zap.String("first", failed[0].Error()))
	}
	return len(rs) - len(failed)
}

// remove deletes rs from the kernel and from what the actor believes is installed.
func (a *actor) remove(rs []Route) {
	if len(rs) == 0 {
		return
	}
	failed := a.k.DeleteRoutes(rs)
	for _, r := range rs {
		delete(a.installed, r.Dst)
		delete(a.failed, r.Dst)
	}
	if len(failed) > 0 {
		// The next reconcile finds what is left and removes it as a stray.
		a.st.LastError = failed[0].Error()
		a.log.Warn("kernel routes not removed", zap.Int("failed", len(failed)), zap.String("first", failed[0].Error()))
	}
}

// installAll installs every wanted route that is not installed as wanted.
func (a *actor) installAll() {
	var add []Route
	for p := range a.prefixes() {
		if r, ok := a.desired(p); ok && a.installed[p] != r {
			add = append(add, r)
		}
	}
	for len(add) > 0 {
		n := min(len(add), maxBatch)
		a.replace(add[:n])
		add = add[n:]
	}
}

// removeAll deletes every installed route (of the config c they were installed under).
func (a *actor) removeAll(c *Config) {
	rs := make([]Route, 0, len(a.installed))
	for _, r := range a.installed {
		rs = append(rs, r)
	}
	a.remove(rs)
	clear(a.failed)
}

// prefixes yields each wanted prefix once.
func (a *actor) prefixes() func(func(netip.Prefix) bool) {
	return func(yield func(netip.Prefix) bool) {
		for k := range a.want {
			if !yield(k.Prefix) {
				return
			}
		}
	}
}

// reconcile dumps the instance's table, reinstalls what an outside process removed (if it
// is still wanted), retries failed installs and removes strays of fanout's protocol.
func (a *actor) reconcile() {
	if !a.cfg.Install {
		return
	}
	start := a.clock.Now()
	// Deletions reported so far show in the dump; repairing them as well would only count
	// them twice.
	a.fix.take()
	dump, err := a.k.ListRoutes(a.cfg.Table)
	if err != nil {
		a.backoff()
		a.st.LastReconcile = start
		a.st.LastReconcileResult = "dump failed: " + err.Error()
		a.st.DumpFailures++
		a.log.Warn("kernel route dump failed, retrying", zap.Error(err), zap.Duration("retry", a.retry))
		return
	}
	a.retry = 0
	// Events that came in while the dump ran are applied first: a route withdrawn meanwhile
	// is not wanted any more and must not be put back.
	for a.in.depth() > 0 {
		a.drain()
	}
	inKernel := make(map[Route]struct{}, len(dump))
	for _, r := range dump {
		inKernel[r] = struct{}{}
	}
	var missing []Route
	for p, r := range a.installed {
		if _, ok := inKernel[r]; ok {
			continue
		}
		if w, ok := a.desired(p); ok && w == r {
			missing = append(missing, r)
		} else {
			delete(a.installed, p)
		}
	}
	for p := range a.failed {
		if w, ok := a.desired(p); ok {
			missing = append(missing, w)
		} else {
			delete(a.failed, p)
		}
	}
	var strays []Route
	for _, r := range dump {
		if cur, ok := a.installed[r.Dst]; ok && cur == r {
			continue
		}
		if _, ok := a.desired(r.Dst); ok {
			// The wanted route replaces it (same table and destination).
			if _, present := inKernel[a.installed[r.Dst]]; !present {
				continue
			}
		}
		strays = append(strays, r)
	}
	a.probeNextHops()
	reinstalled := a.replace(missing)
	a.remove(strays)
	a.st.Reinstalls += uint64(reinstalled)
	a.st.StraysRemoved += uint64(len(strays))
	a.met.reinstalls.Add(float64(reinstalled))
	d := a.clock.Now().Sub(start)
	a.met.reconcile.Observe(d.Seconds())
	a.st.LastReconcile = start
	a.st.LastReconcileDuration = d
	a.st.LastReconcileResult = fmt.Sprintf("ok: %d in kernel, %d reinstalled, %d strays removed", len(dump), reinstalled, len(strays))
	if reinstalled > 0 || len(strays) > 0 {
		a.log.Info("kernel routes reconciled", zap.Int("reinstalled", reinstalled), zap.Int("strays", len(strays)), zap.Duration("took", d))
	}
}

// publishStatus hands the manager the actor's current status.
func (a *actor) publishStatus() {
	a.st.TargetVersion = a.version
	a.st.Activated = a.activated
	a.st.Error = ""
	if a.setupErr != nil {
		a.st.Error = a.setupErr.Error()
	}
	a.st.RoutesDesired = a.nWanted
	a.st.RoutesInstalled = len(a.installed)
	a.st.NextHopsDown = len(a.down)
	if a.publish != nil {
		a.publish(a.st)
	}
}

func equalSetup(a, b Setup) bool {
	return a.Table == b.Table && equalConfig(&Config{Setup: a}, &Config{Setup: b})
}
