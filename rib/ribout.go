package rib

import (
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"

	"github.com/fanoutd/fanout/db"
	"github.com/fanoutd/fanout/sched"
)

// RibOut is one table's export toward the peers of one export policy: it decides, in the
// partition tasks, what its members are to be sent for each prefix, remembers per prefix
// what it last queued and to which members, and queues the changes once for all of them.
// The bgp package's send task drains the queue, encodes each UPDATE once and hands the
// same bytes to every member in sync.
//
// Ownership, by field group:
//   - Policy, table, attrs, parts' slice: immutable after NewRibOut.
//   - parts[p]: partition p's db.partition and db.walk tasks.
//   - the membership view (members, forced, slotOf, byRouterID, gen, id): tasks excluding
//     every db.partition, db.walk and bgp.send task (bgp.membership); the partition, walk
//     and send tasks read it, which the policy makes safe.
//   - Queue: its own mutex.
//   - the per-prefix state on entries (advState): the entry's partition tasks.
//
// Cardinality: one per (table, export policy) with members (more when a policy has over
// MaxMembers peers). Lifetime: from the first member's join until a cleanup after the last
// one left; Close gives back its references.
type RibOut struct {
	Policy ExportPolicy
	Queue  *UpdateQueue

	table *Table
	attrs *AttrTable // where exported sets are interned (private for 2-octet policies)
	own   bool       // attrs is private
	parts []*Exporter
	id    db.ListenerID

	members    PeerSet
	active     PeerSet // members exported to: their first sync walk has started (Force)
	forced     PeerSet // members whose sync walk has not finished: walks re-announce to them
	slotOf     map[uint32]int
	routerIDOf [MaxMembers]netip.Addr
	byRouterID map[netip.Addr]PeerSet
	gen        [MaxMembers]uint32

	// advCount[p][s] is how many units (prefixes, or paths under ADD-PATH) of partition p
	// have slot s in their advertised set: written by partition p's tasks where the set
	// changes (apply), summed by readers that exclude them (ribout_read.go).
	advCount [][MaxMembers]int64
}

// advState is a RibOut's state on one entry: what it last queued for the prefix and which
// members hold (or are about to be sent) it. Owned by the entry's partition tasks, except
// pending, which the queue also clears. There is one per prefix the RibOut advertises, so
// it is kept to 32 bytes (the 32-byte class): the advertised set's first word inline, the
// other words and the label in an extension allocated only for a member in slot 64 or up
// or a labelled (VPN) route.
type advState struct {
	attrs *Attrs // one reference; nil when nothing is advertised
	// pending is the last update queued for the prefix while it is queued: the queue sets
	// it to nil when it frees that update (UpdateQueue.freeHeadLocked), so nothing keeps a
	// sent update's memory alive, and a replaced one is found without a lookup.
	pending atomic.Pointer[Update]
	adv0    uint64  // members in slots 0-63 that hold attrs or will once the queue drains
	ext     *advExt // nil when no member from slot 64 up holds it and it has no label
}

// advExt is the rest of an advState, rarely needed.
type advExt struct {
	hi    [len(PeerSet{}) - 1]uint64 // members in slots 64 and up
	label Label
}

// adv returns the members that hold attrs or will once the queue drains.
func (st *advState) adv() PeerSet {
	s := PeerSet{st.adv0}
	if st.ext != nil {
		copy(s[1:], st.ext.hi[:])
	}
	return s
}

// label returns the label advertised with attrs.
func (st *advState) label() Label {
	if st.ext == nil {
		return Label{}
	}
	return st.ext.label
}

// set sets the members that hold attrs and the label.
func (st *advState) set(s PeerSet, l Label) {
	st.adv0 = s[0]
	hi := [len(PeerSet{}) - 1]uint64(s[1:])
	if hi == ([len(PeerSet{}) - 1]uint64{}) && l == (Label{}) {
		st.ext = nil
		return
	}
	if st.ext == nil {
		st.ext = new(advExt)
	}
	st.ext.hi, st.ext.label = hi, l
}

// NewRibOut builds the RibOut of pol on table t. Exported sets are interned in attrs
// (shared by the RibOuts of a server), except for 2-octet policies, whose encodings are not
// in the canonical 4-octet form and get a private table.
func NewRibOut(t *Table, attrs *AttrTable, pol ExportPolicy) *RibOut {
	r := &RibOut{Policy: pol, table: t, attrs: attrs, id: -1,
		slotOf: make(map[uint32]int), byRouterID: make(map[netip.Addr]PeerSet)}
	if !pol.AS4 {
		r.attrs, r.own = NewAttrTable(), true
	}
	r.Queue = NewUpdateQueue(r.attrs.Release)
	r.parts = make([]*Exporter, t.Partitions())
	r.advCount = make([][MaxMembers]int64, t.Partitions())
	for i := range r.parts {
		r.parts[i] = NewExporter(&r.Policy, r.attrs)
	}
	return r
}

// Register registers the RibOut as a listener of its table. c must exclude every
// partition and walk task (bgp.membership).
func (r *RibOut) Register(c *sched.Ctx) error {
	id, err := r.table.DB().Register(c, db.Listener[Key, Entry]{
		Name:    fmt.Sprintf("ribout %v %v", r.Policy.Family, r.Policy.Role),
		Changed: func(c *sched.Ctx, e *DBEntry) { r.export(c, e, PeerSet{}) },
		Visit:   func(c *sched.Ctx, e *DBEntry) { r.export(c, e, r.forced) },
	})
	if err != nil {
		return err
	}
	r.id = id
	if r.Policy.AddPathSend > 0 {
		r.table.allPaths++
	}
	r.table.outs = append(r.table.outs, r)
	return nil
}

// Unregister removes the listener; done runs when its state slots are cleared. Call it
// only after a walk with no members has released every state (see Leave).
func (r *RibOut) Unregister(c *sched.Ctx, done func(c *sched.Ctx)) error {
	if err := r.table.DB().Unregister(c, r.id, done); err != nil {
		return err
	}
	if r.Policy.AddPathSend > 0 {
		r.table.allPaths--
	}
	if i := slices.Index(r.table.outs, r); i >= 0 {
		r.table.outs = slices.Delete(r.table.outs, i, i+1)
	}
	return nil
}

// Close gives back every reference the RibOut holds outside entries: its exporters'
// caches and its queue. Call it once the listener is unregistered.
func (r *RibOut) Close() {
	for _, x := range r.parts {
		x.Close()
	}
	r.Queue.Clear()
}

// Members returns the member slots (read by tasks the membership view's policy allows).
func (r *RibOut) Members() PeerSet { return r.members }

// Full reports whether no slot is free.
func (r *RibOut) Full() bool { return r.members.FirstFree() < 0 }

// Rewrites returns how many attribute sets the exporters rewrote (cache misses). c must
// exclude partition and walk tasks.
func (r *RibOut) Rewrites(c *sched.Ctx) int {
	sched.CheckExcludes(c, sched.DBPartition, sched.DBWalk)
	n := 0
	for _, x := range r.parts {
		n += x.Rewrites
	}
	return n
}

// Join adds a member: the session of peer srcID (Source.ID of its paths, for split
// horizon) with BGP identifier routerID. It returns its slot and the slot's generation,
// or -1 when the RibOut is full. The member is placed at the tail of the queue; the
// initial walk that sends it the table marks it when it starts (Force). c must be
// bgp.membership (or bgp.config).
func (r *RibOut) Join(c *sched.Ctx, srcID uint32, routerID netip.Addr) (slot int, gen uint32) {
	sched.CheckExcludes(c, sched.DBPartition, sched.DBWalk, sched.BGPSend)
	slot = r.freeSlot()
	if slot < 0 {
		return -1, 0
	}
	r.gen[slot]++
	r.members.Add(slot)
	r.slotOf[srcID] = slot
	r.routerIDOf[slot] = routerID
	s := r.byRouterID[routerID]
	s.Add(slot)
	r.byRouterID[routerID] = s
	r.Queue.Join(slot)
	return slot, r.gen[slot]
}

// Leave removes member slot. Nothing is withdrawn (its session is gone); the per-prefix
// state forgets it lazily. c as for Join.
func (r *RibOut) Leave(c *sched.Ctx, srcID uint32, slot int) {
	sched.CheckExcludes(c, sched.DBPartition, sched.DBWalk, sched.BGPSend)
	if !r.members.Has(slot) {
		return
	}
	r.members.Remove(slot)
	r.active.Remove(slot)
	r.forced.Remove(slot)
	if r.slotOf[srcID] == slot {
		delete(r.slotOf, srcID)
	}
	id := r.routerIDOf[slot]
	s := r.byRouterID[id]
	s.Remove(slot)
	if s.Empty() {
		delete(r.byRouterID, id)
	} else {
		r.byRouterID[id] = s
	}
	r.routerIDOf[slot] = netip.Addr{}
	r.Queue.Leave(slot)
}

// Walked clears the initial-walk mark of the slots in set whose generation is still
// the one recorded in gens (they have not left meanwhile). c as for Join.
func (r *RibOut) Walked(c *sched.Ctx, set PeerSet, gens *[MaxMembers]uint32) {
	sched.CheckExcludes(c, sched.DBPartition, sched.DBWalk, sched.BGPSend)
	set.Each(func(i int) {
		if r.gen[i] == gens[i] {
			r.forced.Remove(i)
		}
	})
}

// RequestWalk asks for a walk of the table that sends every member marked by Join what
// it must hold; done runs in the db.walk task that finishes it. Walks are shared by the
// joins that request them while one is pending. Safe from any task.
func (r *RibOut) RequestWalk(done func(c *sched.Ctx)) error {
	return r.table.DB().RequestWalk(r.id, done)
}

// EndOfRIB queues an End-of-RIB marker for the slots in set that are still the members
// recorded with generations gens; it follows everything queued before it. It runs in the
// db.walk task that finished a walk, which may read the membership view.
func (r *RibOut) EndOfRIB(set PeerSet, gens *[MaxMembers]uint32) {
	r.Marker(set, gens, 0)
}

// Refresh reports whether slot is a member that can be re-advertised to (a ROUTE-REFRESH,
// RFC 2918, or a soft reset out): the walk that does it marks it when it starts (Force).
// c as for Join.
func (r *RibOut) Refresh(c *sched.Ctx, slot int) bool {
	sched.CheckExcludes(c, sched.DBPartition, sched.DBWalk, sched.BGPSend)
	return r.members.Has(slot)
}

// Force marks the members in set for the walk about to start (RequestWalk): it sends them
// everything they are to hold even where the state says they hold it, until Walked clears
// the mark. A member is exported to only from its first Force on: until its sync walk
// starts it is sent nothing, so no walk running before sends it part of the table that its
// own walk sends again. Call it only when no walk of the RibOut is running. c as for Join.
func (r *RibOut) Force(c *sched.Ctx, set PeerSet) {
	sched.CheckExcludes(c, sched.DBPartition, sched.DBWalk, sched.BGPSend)
	set = set.And(r.members)
	r.forced = r.forced.Or(set)
	r.active = r.active.Or(set)
}

// Gen returns the generation of member slot (see Join).
func (r *RibOut) Gen(slot int) uint32 { return r.gen[slot] }

// Marker queues, for the slots in set still members with generations gens, an End-of-RIB
// marker (refresh 0) or a ROUTE-REFRESH of subtype refresh (RFC 7313 BoRR, EoRR); it
// follows everything queued before it. It runs in a task that may read the membership view
// (a db.walk task that finished a walk, or bgp.membership).
func (r *RibOut) Marker(set PeerSet, gens *[MaxMembers]uint32, refresh uint8) {
	var to PeerSet
	set.Each(func(i int) {
		if r.members.Has(i) && r.gen[i] == gens[i] {
			to.Add(i)
		}
	})
	if !to.Empty() {
		r.Queue.Push(&Update{EndOfRIB: true, Refresh: refresh, Announce: to})
	}
}

// export is the listener: it runs in e's partition task (or a walk of that partition).
// It computes what the members are to hold for the prefix, compares it with what was
// queued last, and queues the difference, merged with an unsent older update. force
// lists members that must be sent the route even if the state says they have it (members
// joining on a slot a departed peer used).
func (r *RibOut) export(c *sched.Ctx, e *DBEntry, force PeerSet) {
	sched.Check(c, sched.DBPartition, sched.DBWalk)
	pi := c.Instance()
	if pi < 0 || pi >= len(r.parts) {
		return
	}
	if r.Policy.AddPathSend > 0 {
		r.exportPaths(pi, e, force)
		return
	}
	st, _ := e.State(r.id).(*advState)
	members := r.active
	var out *Attrs
	var label Label
	var targets PeerSet
	if b := e.Data.Best(); b != nil && !members.Empty() && r.Policy.Allows(b.Src) {
		out, label, targets = r.exportPath(pi, b, members)
	}
	if st == nil && out == nil {
		return
	}
	if st == nil {
		st = &advState{}
		e.SetState(r.id, st)
	}
	r.apply(pi, st, e.Key(), 0, out, label, targets, force, members)
	if st.empty() {
		e.SetState(r.id, nil)
	}
}

// exportPath returns what partition pi's exporter advertises for path b (one reference,
// nil when nothing) and the members it goes to: members less the peer it came from
// (split horizon) and its originator (RFC 4456 §8).
func (r *RibOut) exportPath(pi int, b *Path, members PeerSet) (out *Attrs, label Label, targets PeerSet) {
	if b.Flags&FlagLLGRStale != 0 && !r.Policy.LLGR {
		return nil, Label{}, PeerSet{} // RFC 9494 §4.3: only to peers that understand LLGR_STALE
	}
	targets = members
	if !b.Src.Local {
		if s, ok := r.slotOf[b.Src.ID]; ok {
			targets.Remove(s) // split horizon: never back to the peer it came from
		}
	}
	// RFC 4456 §8: never to the originator of the route.
	if b.Attrs.HasOriginatorID {
		targets = targets.AndNot(r.byRouterID[netip.AddrFrom4(b.Attrs.OriginatorID)])
	} else if r.Policy.reflects(b.Src) {
		targets = targets.AndNot(r.byRouterID[b.Src.RouterID])
	}
	if targets.Empty() {
		return nil, Label{}, PeerSet{}
	}
	if out = r.parts[pi].Export(b); out == nil {
		return nil, Label{}, PeerSet{}
	}
	return out, b.Label, targets
}

// empty reports whether the state holds nothing: no advertised set and no update that
// may still be queued.
func (st *advState) empty() bool { return st.attrs == nil && st.pending.Load() == nil }

// apply moves one advertised unit (a prefix, or one path of a prefix under ADD-PATH, with
// path identifier pathID) of partition pi from state st to announcing out (one reference, given to st or
// released; nil: nothing) with label to targets, and queues the difference for the
// members, merged with an unsent older update of the same unit.
func (r *RibOut) apply(pi int, st *advState, key Key, pathID uint32, out *Attrs, label Label, targets, force, members PeerSet) {
	if out == nil {
		targets = PeerSet{}
	}
	old := st.adv()
	adv := old.And(members)
	force = force.And(targets)
	var ann, wd PeerSet
	if u, unlinked := r.Queue.UnlinkFor(st, st.pending.Load()); unlinked {
		// The unsent update is replaced: the new one carries what it would still have
		// sent to the members it has not reached yet.
		if u.attrs == out && u.label == label {
			ann = u.announce.AndNot(u.sent).Or(targets.AndNot(adv)).Or(force).And(targets)
		} else {
			ann = targets
		}
		wd = u.withdraw.AndNot(u.sent).Or(adv).AndNot(targets).And(members)
		if u.attrs != nil {
			r.attrs.Release(u.attrs)
		}
	} else {
		if st.attrs == out && st.label() == label {
			ann = targets.AndNot(adv).Or(force)
		} else {
			ann = targets
		}
		wd = adv.AndNot(targets)
	}
	if out == nil {
		ann = PeerSet{}
	}
	st.pending.Store(nil) // sent to every member already, or replaced below
	if st.attrs != out {
		if st.attrs != nil {
			r.attrs.Release(st.attrs)
		}
		st.attrs = out // the reference Export gave
	} else if out != nil {
		r.attrs.Release(out) // the state already holds one
	}
	var now PeerSet
	if out != nil {
		now = targets
	}
	if old != now || st.label() != label {
		st.set(now, label)
	}
	if old != now {
		r.countAdv(pi, old, now)
	}
	if !ann.Empty() || !wd.Empty() {
		if out != nil {
			r.attrs.Ref(out)
		}
		r.Queue.PushFor(st, key, pathID, out, label, ann, wd)
	}
}
