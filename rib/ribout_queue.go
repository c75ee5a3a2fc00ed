package rib

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Update is one node of a RibOut's update queue: a pending change of one prefix, an
// End-of-RIB marker, or (inside the queue only) a marker where some members stand.
//
// A pending update is built by a partition task and never changed after Push, except for
// its queue links, which the queue's mutex guards. The queue holds at most one pending
// update per prefix: the partition replaces an unsent one (UnlinkFor, then PushFor a merged one).
type Update struct {
	Key      Key
	PathID   uint32 // the ADD-PATH path identifier sent (RFC 7911); 0 without ADD-PATH send
	Attrs    *Attrs // what is announced (one reference, given to the queue); nil: nothing
	Label    Label
	Announce PeerSet // members to send Attrs to (a marker: the members standing at it)
	Withdraw PeerSet // members to send a withdrawal to
	EndOfRIB bool    // an End-of-RIB marker for the members in Announce
	// Refresh, on an EndOfRIB node, makes it a ROUTE-REFRESH of that subtype instead
	// (RFC 7313: proto.RefreshBoRR before a re-advertisement, proto.RefreshEoRR after it).
	Refresh uint8

	// Guarded by the queue's mu.
	//
	// owner is the state whose pending field points here (nil for markers, End-of-RIB and
	// updates pushed with Push): the queue clears owner.pending when it frees the update,
	// and recycles updates that had an owner (see PushFor).
	owner      *advState
	prev, next *Update
	marker     bool
	queued     bool    // linked and live: not sent to every member yet, not replaced
	pinned     bool    // the last node of a batch being sent: stays linked until Advance
	dead       bool    // replaced while pinned: skipped, unlinked at Advance
	sent       PeerSet // members it was sent to already (a parked member holds it back)
	seq        uint64  // when it was queued (UpdateQueue.seq)
}

// UpdateQueue is a RibOut's queue of pending updates, in the order they were queued, with
// one marker per distinct position of its members: every member has been sent everything
// before its marker. Members in sync share the marker at the tail; a parked member (its send
// buffer was full) keeps its marker and later catches up from it, receiving only what is
// still queued, that is the newest state of each prefix it missed. Nodes behind every marker
// are freed. The queue holds at most one update per prefix of the table (plus one marker per
// member and one End-of-RIB per join), so it is bounded by the table, not by time.
//
// Updates pushed with PushFor are grouped by attribute set where nobody has seen the queue
// yet: an update whose set was queued a moment ago by another partition (the prefixes of
// one received UPDATE are spread over every partition) goes right after it instead of at
// the tail, so the send task finds them together and packs them in one message. Order
// between different prefixes carries no meaning in BGP; what must not move is anything a
// member has passed, a batch has taken, or an End-of-RIB or refresh marker follows (see
// frozen).
//
// It is the hand-off point between the partition tasks that export into it and the send
// task of the RibOut's scheduling group that drains it, and the drain callbacks of the
// members' send buffers: mu guards every field below it. Owner: its RibOut. Cardinality:
// one per RibOut. Lifetime: the RibOut's.
type UpdateQueue struct {
	release func(*Attrs)

	mu      sync.Mutex
	head    *Update
	tail    *Update
	pending int                 // live updates (not markers) queued
	at      [MaxMembers]*Update // the marker node of each member slot; nil when not a member
	marks   []*Update           // the marker nodes, in queue order (at most one per member)
	flip    bool                // Next alternates between the oldest and the newest marker
	blocked PeerSet             // parked members: their send buffer refused a batch
	drains  [MaxMembers]uint32  // drain callbacks seen per slot
	wake    func()              // called after a Push or a drain, outside mu
	free    []*Update           // recycled updates for PushFor, at most freeMax

	// seq numbers queued nodes; frozen is the highest number that may sit before a marker,
	// inside a batch or before a node pushed with Push: nodes numbered above it are in the
	// tail nobody has seen, where PushFor may insert. lastOf is the last update queued for
	// each attribute set (nil: withdrawals), valid while it is above frozen and still
	// queued with that set.
	seq    uint64
	frozen uint64
	lastOf map[*Attrs]*Update

	// Waking the send task. armed: a wake was sent that the task has not taken up yet
	// (Rearm), so further pushes need not wake it again. holdBelow: the task holds back
	// while routing is in progress (Hold); a push wakes it only once that many updates
	// are pending, or routing settling does (Kick). markers: updates pushed with Push
	// (End-of-RIB, refresh markers) still queued; the task never holds back for those.
	armed     bool
	holdBelow int
	markers   int
	heldAt    atomic.Int64 // monotonicNow when the hold began; 0 when not holding back
}

// maxHold bounds how long a send task holds back while routing stays busy.
const maxHold = 10 * time.Millisecond

// monotonicNow is a monotonic clock reading in nanoseconds (never 0).
func monotonicNow() int64 { return int64(time.Since(clockBase)) + 1 }

var clockBase = time.Now()

// lastOfMax bounds lastOf between the moments everything queued is frozen (when it is
// emptied).
const lastOfMax = 1 << 14

// freeMax bounds a queue's recycled updates: enough for what the send task holds back
// (bgp's sendHold) and the batches in flight, so a burst of routing allocates no update
// (the garbage of allocating them made peak RSS 15% higher converging 10x100k routes).
// It is kept for the RibOut's life: at most 2.4 MB per RibOut, and RibOuts are one per
// export policy. (Trimming it whenever the queue empties gave most of that garbage back.)
const freeMax = 8192

// NewUpdateQueue returns an empty queue that gives freed updates' attribute references
// back with release.
func NewUpdateQueue(release func(*Attrs)) *UpdateQueue {
	return &UpdateQueue{release: release}
}

// SetWake sets the function called (outside the lock) after each Push and drain: the
// wake-up of the send task currently draining the queue.
func (q *UpdateQueue) SetWake(f func()) {
	q.mu.Lock()
	q.wake = f
	q.armed, q.holdBelow = false, 0
	q.heldAt.Store(0)
	q.mu.Unlock()
}

// Rearm is called by the send task as it starts draining the queue: pushes from then on
// wake it again, and it no longer holds back.
func (q *UpdateQueue) Rearm() {
	q.mu.Lock()
	q.armed, q.holdBelow = false, 0
	q.heldAt.Store(0)
	q.mu.Unlock()
}

// Hold makes the send task hold back while routing is in progress (busy), so that what
// the partitions export for one received UPDATE (spread over every partition) and what a
// sync walk visits can be grouped by attribute set before it is packed: it is woken once
// n updates are pending, routing settles (Kick), a marker is pushed, or routing has stayed
// busy for maxHold (KickAfter, from the partitions' runs). It reports false,
// holding nothing, when routing is not busy or there is something to send at once: n
// updates pending already, a queued End-of-RIB or refresh marker, or a member catching
// up from an older marker. busy is asked after the hold is in place, so routing settling
// meanwhile (its Kick found no hold) is not missed.
func (q *UpdateQueue) Hold(n int, busy func() bool) bool {
	q.mu.Lock()
	if q.pending >= n || q.markers > 0 || len(q.marks) > 1 {
		q.mu.Unlock()
		return false
	}
	q.holdBelow = n
	q.heldAt.Store(monotonicNow())
	q.mu.Unlock()
	if busy() {
		return true
	}
	q.mu.Lock()
	q.holdBelow = 0
	q.heldAt.Store(0)
	q.mu.Unlock()
	return false
}

// KickAfter is Kick for a send task that has held back for longer than d at now (a
// monotonicNow reading); it costs one atomic load when there is nothing to do.
func (q *UpdateQueue) KickAfter(now int64, d time.Duration) {
	if h := q.heldAt.Load(); h != 0 && now-h >= int64(d) {
		q.Kick()
	}
}

// Kick wakes a send task holding back (Hold): routing has settled.
func (q *UpdateQueue) Kick() {
	q.mu.Lock()
	var w func()
	if q.holdBelow > 0 {
		q.holdBelow = 0
		q.heldAt.Store(0)
		if !q.armed {
			q.armed, w = true, q.wake
		}
	}
	q.mu.Unlock()
	if w != nil {
		w()
	}
}

// wakeLocked returns the wake-up to call after a push, if the send task needs one.
func (q *UpdateQueue) wakeLocked() func() {
	if q.armed || q.pending < q.holdBelow {
		return nil
	}
	q.armed = true
	return q.wake
}

// Pending returns the number of live updates queued.
func (q *UpdateQueue) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending
}

func (q *UpdateQueue) linkAfterLocked(prev, n *Update) {
	n.prev = prev
	if prev == nil {
		n.next = q.head
		q.head = n
	} else {
		n.next = prev.next
		prev.next = n
	}
	if n.next == nil {
		q.tail = n
	} else {
		n.next.prev = n
	}
}

func (q *UpdateQueue) unlinkLocked(n *Update) {
	if n.prev == nil {
		q.head = n.next
	} else {
		n.prev.next = n.next
	}
	if n.next == nil {
		q.tail = n.prev
	} else {
		n.next.prev = n.prev
	}
	n.prev, n.next = nil, nil
}

// Join places member slot at the tail: it will be sent what is queued from now on.
func (q *UpdateQueue) Join(slot int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if slot < 0 || slot >= MaxMembers || q.at[slot] != nil {
		return
	}
	q.frozen = q.seq // nothing queued now may move in front of the new member's marker
	m := q.tail
	if m == nil || !m.marker {
		m = &Update{marker: true}
		q.linkAfterLocked(q.tail, m)
		q.marks = append(q.marks, m)
	}
	m.Announce.Add(slot)
	q.at[slot] = m
	q.blocked.Remove(slot)
}

// Leave removes member slot and frees what only it still needed.
func (q *UpdateQueue) Leave(slot int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if slot < 0 || slot >= MaxMembers || q.at[slot] == nil {
		return
	}
	m := q.at[slot]
	q.at[slot] = nil
	q.blocked.Remove(slot)
	m.Announce.Remove(slot)
	if m.Announce.Empty() {
		q.dropMarkerLocked(m)
	}
	q.freeHeadLocked()
}

// Push appends u (given with one reference on u.Attrs, which the queue now owns).
func (q *UpdateQueue) Push(u *Update) {
	q.mu.Lock()
	u.queued, u.marker, u.pinned, u.dead = true, false, false, false
	q.seq++
	u.seq, q.frozen = q.seq, q.seq // an End-of-RIB or refresh marker: nothing moves in front of it
	q.linkAfterLocked(q.tail, u)
	q.pending++
	q.markers++
	q.freeHeadLocked() // with no member at all, nobody needs it
	q.armed, q.holdBelow = true, 0
	q.heldAt.Store(0)
	w := q.wake
	q.mu.Unlock()
	if w != nil {
		w()
	}
}

// PushFor queues an update of the unit whose state is st (attrs with one reference, which
// the queue now owns) and makes it st's pending update. The update comes from the queue's
// recycled ones when it has some: a prefix change then allocates nothing.
func (q *UpdateQueue) PushFor(st *advState, key Key, pathID uint32, attrs *Attrs, label Label, ann, wd PeerSet) {
	q.mu.Lock()
	var u *Update
	if n := len(q.free); n > 0 {
		u = q.free[n-1]
		q.free[n-1] = nil
		q.free = q.free[:n-1]
	} else {
		u = new(Update)
	}
	u.Key, u.PathID, u.Attrs, u.Label, u.Announce, u.Withdraw = key, pathID, attrs, label, ann, wd
	u.owner, u.queued = st, true
	st.pending.Store(u)
	q.seq++
	u.seq = q.seq
	at := q.tail
	if prev := q.lastOf[attrs]; prev != nil && prev != u && prev.seq > q.frozen && prev.queued && !prev.dead && prev.Attrs == attrs {
		at = prev
	}
	if q.lastOf == nil {
		q.lastOf = make(map[*Attrs]*Update)
	} else if len(q.lastOf) >= lastOfMax {
		clear(q.lastOf) // keeps its buckets
	}
	q.lastOf[attrs] = u
	q.linkAfterLocked(at, u)
	q.pending++
	q.freeHeadLocked() // with no member at all, nobody needs it
	w := q.wakeLocked()
	q.mu.Unlock()
	if w != nil {
		w()
	}
}

// unsent is what a replaced update would still have sent: UnlinkFor's copy of it.
type unsent struct {
	attrs              *Attrs // the update's reference, now the caller's
	label              Label
	announce, withdraw PeerSet
	sent               PeerSet // members it was sent to already
}

// UnlinkFor takes st's pending update u out of the queue if it is still there (not yet
// sent to every member, not freed, not recycled for another unit since st read it) and
// reports whether it was. It returns a copy of what u would still send, whose attribute
// reference is the caller's again, and recycles u unless a batch in flight ends at it.
// (An update pushed with Push has no state: st is nil.)
func (q *UpdateQueue) UnlinkFor(st *advState, u *Update) (x unsent, ok bool) {
	if u == nil {
		return x, false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if !u.queued || u.owner != st {
		return x, false
	}
	x = unsent{attrs: u.Attrs, label: u.Label, announce: u.Announce, withdraw: u.Withdraw, sent: u.sent}
	u.queued = false
	q.pending--
	if u.owner == nil {
		q.markers--
	}
	if u.pinned {
		u.dead = true // a batch ends at it: Advance unlinks and recycles it
	} else {
		q.unlinkLocked(u)
		q.recycleLocked(u)
	}
	return x, true
}

// recycleLocked keeps an unlinked update that had an owner for PushFor to reuse.
func (q *UpdateQueue) recycleLocked(n *Update) {
	if n.owner == nil {
		return // pushed with Push: the pusher may still hold it
	}
	*n = Update{}
	if len(q.free) < freeMax {
		q.free = append(q.free, n)
	}
}

// freeHeadLocked frees the nodes every member has passed.
func (q *UpdateQueue) freeHeadLocked() {
	for n := q.head; n != nil && !n.marker && !n.pinned; n = q.head {
		q.unlinkLocked(n)
		if n.queued {
			n.queued = false
			q.pending--
			if n.Attrs != nil && q.release != nil {
				q.release(n.Attrs)
			}
			if o := n.owner; o != nil {
				o.pending.CompareAndSwap(n, nil) // unless the owner has moved on
				q.recycleLocked(n)
			} else {
				q.markers--
			}
		}
	}
}

// BatchItem is a copy of one queued update, taken under the queue's lock so the send task
// encodes it without holding the lock.
type BatchItem struct {
	Key      Key
	PathID   uint32
	Wire     string     // the attributes' encoding (Attrs.Wire); empty without Attrs
	NextHop  netip.Addr // the attributes' next hop
	HasAttrs bool
	Label    Label
	Announce PeerSet
	Withdraw PeerSet
	EndOfRIB bool
	Refresh  uint8 // see Update.Refresh
}

// Batch is one bounded slice of a queue for the members standing at one marker. The send
// task owns it and reuses it.
type Batch struct {
	Peers  PeerSet // the members the batch is for (in sync with each other, not parked)
	Items  []BatchItem
	drains [MaxMembers]uint32
	from   *Update // their marker
	last   *Update // the last node taken (pinned)
}

// Next fills b with up to max updates for the ready (not parked) members of one marker
// that has something after it, and reports whether it found any. It alternates between
// the oldest and the newest such marker, so members catching up and members in sync take
// turns. An End-of-RIB marker is always alone in its batch. Call Advance after sending.
func (q *UpdateQueue) Next(b *Batch, max int) bool {
	b.Items = b.Items[:0]
	b.from, b.last = nil, nil
	q.mu.Lock()
	defer q.mu.Unlock()
	q.flip = !q.flip
	for again := true; again; {
		again = false
		for k := range q.marks {
			i := k
			if q.flip {
				i = len(q.marks) - 1 - k
			}
			m := q.marks[i]
			ready := m.Announce.AndNot(q.blocked)
			if ready.Empty() {
				continue
			}
			last := q.takeLocked(b, m, max)
			if last != m {
				last.pinned = true
				b.Peers, b.from, b.last = ready, m, last
				ready.Each(func(i int) { b.drains[i] = q.drains[i] })
				return true
			}
			if next := m.next; next != nil && next.marker {
				// Nothing between two markers: the ready members join the later one.
				q.moveLocked(ready, m, next)
				again = true
				break
			}
		}
	}
	return false
}

// takeLocked copies up to max live updates following marker m (up to the next marker) into
// b and returns the last node it passed (m when none).
func (q *UpdateQueue) takeLocked(b *Batch, m *Update, max int) *Update {
	last := m
	defer func() {
		if last != m {
			q.freezeTakenLocked(m, last)
		}
	}()
	for n := m.next; n != nil && !n.marker && len(b.Items) < max; n = n.next {
		if n.dead || !n.queued {
			last = n
			continue
		}
		if n.EndOfRIB && len(b.Items) > 0 {
			break
		}
		it := BatchItem{Key: n.Key, PathID: n.PathID, Label: n.Label, Announce: n.Announce, Withdraw: n.Withdraw, EndOfRIB: n.EndOfRIB, Refresh: n.Refresh}
		if n.Attrs != nil {
			it.HasAttrs, it.Wire, it.NextHop = true, n.Attrs.Wire(), n.Attrs.NextHop
		}
		b.Items = append(b.Items, it)
		last = n
		if it.EndOfRIB {
			break
		}
	}
	return last
}

// freezeTakenLocked raises frozen over the nodes after marker m up to last, which a batch
// has taken, and forgets every set's last update once everything queued is frozen.
func (q *UpdateQueue) freezeTakenLocked(m, last *Update) {
	for n := m.next; n != nil; n = n.next {
		q.frozen = max(q.frozen, n.seq)
		if n == last {
			break
		}
	}
	if q.frozen == q.seq && len(q.lastOf) > 0 {
		clear(q.lastOf)
	}
}

// dropMarkerLocked unlinks marker m, which no member stands at any more.
func (q *UpdateQueue) dropMarkerLocked(m *Update) {
	q.unlinkLocked(m)
	for i, x := range q.marks {
		if x == m {
			q.marks = slices.Delete(q.marks, i, i+1)
			break
		}
	}
}

// moveLocked moves the members in set from marker from to marker to.
func (q *UpdateQueue) moveLocked(set PeerSet, from, to *Update) {
	set.Each(func(i int) { q.at[i] = to })
	to.Announce = to.Announce.Or(set)
	from.Announce = from.Announce.AndNot(set)
	if from.Announce.Empty() {
		q.dropMarkerLocked(from)
	}
}

// Advance moves the members in sent (those of b.Peers that took every message of the
// batch) past the batch, and parks the others unless their send buffer drained meanwhile
// (then they are retried at once). It frees what every member has passed and reports
// whether some member was left to retry.
func (q *UpdateQueue) Advance(b *Batch, sent PeerSet) (retry bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	last := b.last
	if last == nil {
		return false
	}
	sent = sent.And(b.Peers)
	if !sent.Empty() {
		for n := b.from.next; n != nil; n = n.next {
			if !n.marker {
				n.sent = n.sent.Or(sent)
			}
			if n == last {
				break
			}
		}
		to := last.next
		if to == nil || !to.marker {
			to = &Update{marker: true}
			q.linkAfterLocked(last, to)
			for i, x := range q.marks {
				if x == b.from {
					q.marks = slices.Insert(q.marks, i+1, to)
					break
				}
			}
		}
		q.moveLocked(sent, b.from, to)
	}
	b.Peers.AndNot(sent).Each(func(i int) {
		if q.at[i] == nil {
			return
		}
		if q.drains[i] == b.drains[i] {
			q.blocked.Add(i)
		} else {
			retry = true
		}
	})
	last.pinned = false
	if last.dead {
		q.unlinkLocked(last)
		q.recycleLocked(last)
	}
	b.from, b.last = nil, nil
	q.freeHeadLocked()
	return retry
}

// Drained unparks member slot (its send buffer has room again) and wakes the sender.
func (q *UpdateQueue) Drained(slot int) {
	if slot < 0 || slot >= MaxMembers {
		return
	}
	q.mu.Lock()
	q.drains[slot]++
	q.blocked.Remove(slot)
	q.armed = true
	w := q.wake
	q.mu.Unlock()
	if w != nil {
		w()
	}
}

// Parked returns the parked members.
func (q *UpdateQueue) Parked() PeerSet {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.blocked
}

// Clear frees every node and forgets every member (the RibOut is being deleted).
func (q *UpdateQueue) Clear() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for n := q.head; n != nil; n = q.head {
		n.pinned = false
		q.unlinkLocked(n)
		if n.queued && !n.marker {
			n.queued = false
			if n.Attrs != nil && q.release != nil {
				q.release(n.Attrs)
			}
			if o := n.owner; o != nil {
				o.pending.CompareAndSwap(n, nil)
			}
		}
	}
	q.pending, q.markers = 0, 0
	q.marks = nil
	q.at = [MaxMembers]*Update{}
	q.blocked = PeerSet{}
}
