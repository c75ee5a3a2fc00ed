package netinst

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/fanoutd/fanout/db"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// Feed turns RIB changes into route events for the instances' actors. It is one db listener
// per RIB table; its Changed runs in the db.partition task of the changed entry, reads the
// best path's next hop and pushes (prefix, next hop or withdrawn) into the inbox of every
// instance the table feeds, never blocking:
//
//   - the tables given to NewFeed (the global IPv4 and IPv6 unicast tables) feed the default
//     instance;
//   - a VRF's tables (AddVRF) feed the VRF instance of that name: the rib imports VPN routes
//     into them by route target and selects their best paths.
//
// Owner: the daemon, which registers it (in a bgp.config task) after the RIB is built and
// unregisters it before closing the RIB. targets is the only shared state: an immutable
// slice swapped atomically by the Manager and read by partition tasks.
type Feed struct {
	s       *sched.Scheduler
	tables  []feedTable
	targets atomic.Pointer[[]target]
}

type feedTable struct {
	t   *rib.Table
	vrf string // the VRF instance fed; "": the default instance
	id  db.ListenerID
}

// target is one instance as the feed sees it.
type target struct {
	name string
	vrf  bool
	in   *inbox
}

// NewFeed returns a feed of the default instance from tables (nil ones are skipped).
func NewFeed(s *sched.Scheduler, tables ...*rib.Table) *Feed {
	f := &Feed{s: s}
	f.add("", tables)
	return f
}

// AddVRF makes the VRF's tables feed the VRF instance name. Call it before Attach.
func (f *Feed) AddVRF(name string, tables ...*rib.Table) { f.add(name, tables) }

func (f *Feed) add(vrf string, tables []*rib.Table) {
	for _, t := range tables {
		if t != nil {
			f.tables = append(f.tables, feedTable{t: t, vrf: vrf, id: -1})
		}
	}
}

// Attach registers the feed's listeners in a bgp.config task and connects it to m: from
// now on m's instances get route events. It waits for the task within ctx.
func (f *Feed) Attach(ctx context.Context, m *Manager) error {
	err := f.inConfigTask(ctx, func(c *sched.Ctx) error {
		for i := range f.tables {
			ft := &f.tables[i]
			id, err := ft.t.DB().Register(c, db.Listener[rib.Key, rib.Entry]{
				Name:    "netinst",
				Changed: func(c *sched.Ctx, e *rib.DBEntry) { f.changed(ft, e) },
			})
			if err != nil {
				return err
			}
			ft.id = id
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.feed = f
	f.setTargets(m.targetsLocked(), true)
	m.mu.Unlock()
	return nil
}

// Detach unregisters the listeners (in a bgp.config task) within ctx.
func (f *Feed) Detach(ctx context.Context) error {
	f.targets.Store(nil)
	return f.inConfigTask(ctx, func(c *sched.Ctx) error {
		for i := range f.tables {
			if f.tables[i].id >= 0 {
				if err := f.tables[i].t.DB().Unregister(c, f.tables[i].id, nil); err != nil {
					return err
				}
				f.tables[i].id = -1
			}
		}
		return nil
	})
}

// inConfigTask runs fn in a bgp.config task (which excludes every partition and walk, as
// listener registration requires) and waits for it within ctx.
func (f *Feed) inConfigTask(ctx context.Context, fn func(c *sched.Ctx) error) error {
	res := make(chan error, 1)
	if err := f.s.Run(sched.BGPConfig, 0, func(c *sched.Ctx) sched.Result {
		res <- fn(c)
		return sched.Done
	}); err != nil {
		return fmt.Errorf("netinst feed: %w", err)
	}
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return fmt.Errorf("netinst feed: waiting for the config task: %w", ctx.Err())
	}
}

// setTargets swaps in the instances to feed; with walk, every table is walked so that new
// instances hear of the routes already there. Called by the Manager under its mutex.
func (f *Feed) setTargets(ts []target, walk bool) {
	f.targets.Store(&ts)
	if !walk {
		return
	}
	for i := range f.tables {
		if f.tables[i].id >= 0 {
			// The only error is an unregistered listener: then there is nothing to feed.
			_ = f.tables[i].t.DB().RequestWalk(f.tables[i].id, nil)
		}
	}
}

// targetsLocked returns the feed's view of the instances. m.mu must be held.
func (m *Manager) targetsLocked() []target {
	ts := make([]target, 0, len(m.insts))
	for _, in := range m.insts {
		ts = append(ts, target{name: in.cfg.Name, vrf: in.cfg.VRF, in: in.actor.in})
	}
	return ts
}

// changed runs in the db.partition (or, for a walk, db.walk) task of e's partition.
func (f *Feed) changed(ft *feedTable, e *rib.DBEntry) {
	p := f.targets.Load()
	if p == nil || len(*p) == 0 {
		return
	}
	var nh netip.Addr
	if b := e.Data.Best(); b != nil {
		nh = b.Attrs.NextHop
	}
	ek := EventKey{Prefix: e.Key().Prefix()}
	for _, t := range *p {
		if t.vrf == (ft.vrf != "") && (!t.vrf || t.name == ft.vrf) {
			t.in.push(ek, nh)
		}
	}
}
