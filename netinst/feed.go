package netinst

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"

	"github.com/fanoutd/fanout/db"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// Feed turns RIB changes into route events for the instances' actors. It is one db listener
// per RIB table; its Changed runs in the db.partition task of the changed entry, reads the
// best path's next hop and pushes (prefix, next hop or withdrawn) into the inbox of every
// instance the table feeds, never blocking:
//
//   - IPv4 and IPv6 unicast tables feed the default instance;
//   - VPNv4 and VPNv6 tables feed each VRF instance whose import route targets match the
//     best path's route targets, keyed by prefix and RD. This stands in for the rib's VRF
//     tables (VPN import into a per-VRF table with its own best path), which do not exist
//     yet: see doc.go.
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
	vpn bool
	id  db.ListenerID
}

// target is one instance as the feed sees it.
type target struct {
	vrf     bool
	imports [][8]byte
	in      *inbox
}

// NewFeed returns a feed over the RIB's tables; VPN tables (VPNv4, VPNv6) feed VRF
// instances, the others the default instance.
func NewFeed(s *sched.Scheduler, tables ...*rib.Table) *Feed {
	f := &Feed{s: s}
	for _, t := range tables {
		if t == nil {
			continue
		}
		fam := t.Family()
		f.tables = append(f.tables, feedTable{t: t, vpn: fam == proto.VPNv4 || fam == proto.VPNv6, id: -1})
	}
	return f
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
		ts = append(ts, target{vrf: in.cfg.VRF, imports: slices.Clone(in.cfg.ImportRTs), in: in.actor.in})
	}
	return ts
}

// changed runs in the db.partition (or, for a walk, db.walk) task of e's partition.
func (f *Feed) changed(ft *feedTable, e *rib.DBEntry) {
	p := f.targets.Load()
	if p == nil || len(*p) == 0 && !ft.vpn {
		return // VPN entries may still hold state to clear
	}
	k := e.Key()
	var nh netip.Addr
	var attrs *rib.Attrs
	if b := e.Data.Best(); b != nil {
		attrs = b.Attrs
		nh = attrs.NextHop
	}
	if !ft.vpn {
		ek := EventKey{Prefix: k.Prefix()}
		for _, t := range *p {
			if !t.vrf {
				t.in.push(ek, nh)
			}
		}
		return
	}
	f.changedVPN(ft.id, e, *p, EventKey{Prefix: k.Prefix(), RD: k.RD()}, attrs)
}

// importedBy is a VPN entry's listener state: the inboxes its route was last pushed to, so
// a withdrawal (or a change of route targets) reaches exactly those. Entries imported by no
// instance hold no state.
type importedBy struct {
	ins []*inbox
}

// changedVPN pushes a VPN entry's best path to the VRFs importing it and a withdrawal to
// those that imported it before and no longer do.
func (f *Feed) changedVPN(id db.ListenerID, e *rib.DBEntry, ts []target, ek EventKey, attrs *rib.Attrs) {
	st, _ := e.State(id).(*importedBy)
	var now []*inbox
	if attrs != nil {
		for _, t := range ts {
			if t.vrf && importable(attrs.Wire(), t.imports) {
				t.in.push(ek, attrs.NextHop)
				now = append(now, t.in)
			}
		}
	}
	if st != nil {
		for _, in := range st.ins {
			if !slices.Contains(now, in) {
				in.push(ek, netip.Addr{})
			}
		}
	}
	switch {
	case len(now) == 0:
		e.SetState(id, nil)
	case st != nil:
		st.ins = now
	default:
		e.SetState(id, &importedBy{ins: now})
	}
}

// importable reports whether the attribute encoding wire (canonical path attributes, RFC
// 4271 §4.3) carries an EXTENDED_COMMUNITIES attribute (RFC 4360) with one of the route
// targets in imports. Route targets compare on all eight bytes. Malformed input reads as
// no match.
func importable(wire string, imports [][8]byte) bool {
	if len(imports) == 0 {
		return false
	}
	for len(wire) >= 3 {
		flags, typ := wire[0], wire[1]
		hdr, n := 3, int(wire[2])
		if flags&0x10 != 0 { // extended length
			if len(wire) < 4 {
				return false
			}
			hdr, n = 4, int(wire[2])<<8|int(wire[3])
		}
		if len(wire) < hdr+n {
			return false
		}
		if typ == proto.AttrExtCommunities {
			val := wire[hdr : hdr+n]
			for ; len(val) >= 8; val = val[8:] {
				if val[1] != 0x02 { // sub-type Route Target (RFC 4360 §4)
					continue
				}
				for _, rt := range imports {
					if val[:8] == string(rt[:]) {
						return true
					}
				}
			}
			return false
		}
		wire = wire[hdr+n:]
	}
	return false
}
