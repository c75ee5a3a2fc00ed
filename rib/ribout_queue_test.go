package rib

import (
	"net/netip"
	"testing"
	"time"

	"github.com/fanoutd/fanout/proto"
)

// queueFixture is a queue whose releases are counted.
type queueFixture struct {
	q        *UpdateQueue
	released map[*Attrs]int
	wakes    int
}

func newQueueFixture() *queueFixture {
	f := &queueFixture{released: map[*Attrs]int{}}
	f.q = NewUpdateQueue(func(a *Attrs) { f.released[a]++ })
	f.q.SetWake(func() { f.wakes++ })
	return f
}

// mkAttrs returns a distinct interned set (an ORIGIN attribute and a next hop).
func mkAttrs() *Attrs {
	nextAttrs++
	nh := netip.AddrFrom4([4]byte{198, 18, byte(nextAttrs >> 8), byte(nextAttrs)})
	return NewAttrTable().Intern(InternKey(nil, []byte{0x40, 1, 1, 0}, nh), &Summary{NextHop: nh})
}

var nextAttrs int

func set(slots ...int) PeerSet {
	var s PeerSet
	for _, i := range slots {
		s.Add(i)
	}
	return s
}

func keyN(i int) Key {
	return MakeKey(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24), [8]byte{})
}

func upd(i int, a *Attrs, ann PeerSet) *Update {
	return &Update{Key: keyN(i), Attrs: a, Announce: ann}
}

// keys lists the batch's prefixes as numbers (third octet).
func batchKeys(b *Batch) []int {
	var out []int
	for _, it := range b.Items {
		if it.EndOfRIB {
			out = append(out, -1)
			continue
		}
		a := it.Key.Prefix().Addr().As4()
		out = append(out, int(a[1])<<8|int(a[2]))
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPeerSet(t *testing.T) {
	var s PeerSet
	for _, i := range []int{0, 63, 64, 511} {
		s.Add(i)
	}
	s.Add(512) // out of range: ignored
	if s.Len() != 4 || !s.Has(511) || s.Has(1) || s.Has(-1) {
		t.Fatalf("set %v", s)
	}
	var got []int
	s.Each(func(i int) { got = append(got, i) })
	if !equalInts(got, []int{0, 63, 64, 511}) {
		t.Fatalf("Each %v", got)
	}
	if f := s.FirstFree(); f != 1 {
		t.Fatalf("FirstFree %d", f)
	}
	if d := s.AndNot(set(0, 64)); d != set(63, 511) {
		t.Fatal("AndNot")
	}
	if s.And(set(64, 5)) != set(64) || set(1).Or(set(2)) != set(1, 2) {
		t.Fatal("And/Or")
	}
}

// Members in sync share one marker and one batch; what everyone passed is freed and its
// references given back.
func TestQueueInSyncShareTail(t *testing.T) {
	f := newQueueFixture()
	q := f.q
	q.Join(0)
	q.Join(1)
	a := mkAttrs()
	for i := range 3 {
		q.Push(upd(i, a, set(0, 1)))
	}
	if f.wakes != 3 || q.Pending() != 3 {
		t.Fatalf("wakes %d pending %d", f.wakes, q.Pending())
	}
	var b Batch
	if !q.Next(&b, 10) || b.Peers != set(0, 1) || !equalInts(batchKeys(&b), []int{0, 1, 2}) {
		t.Fatalf("batch %v for %v", batchKeys(&b), b.Peers)
	}
	if q.Advance(&b, set(0, 1)) {
		t.Fatal("retry without a refusal")
	}
	if q.Pending() != 0 || f.released[a] != 3 {
		t.Fatalf("pending %d, released %d: passed updates must be freed", q.Pending(), f.released[a])
	}
	if q.Next(&b, 10) {
		t.Fatal("nothing left to send")
	}
}

// A parked member keeps its marker; the others go on. While it is parked a newer change of
// a prefix replaces the unsent one, so when it catches up it gets only the newest state.
func TestQueueParkedCatchesUpWithNewestOnly(t *testing.T) {
	f := newQueueFixture()
	q := f.q
	q.Join(0)
	q.Join(1)
	old, newer := mkAttrs(), mkAttrs()
	u1 := upd(1, old, set(0, 1))
	q.Push(u1)
	q.Push(upd(2, old, set(0, 1)))
	var b Batch
	if !q.Next(&b, 10) {
		t.Fatal("no batch")
	}
	q.Advance(&b, set(0)) // 1 refused: parked
	if q.Parked() != set(1) || q.Pending() != 2 {
		t.Fatalf("parked %v pending %d", q.Parked(), q.Pending())
	}
	// Prefix 1 changes again: the queued update is replaced; 0 had it already.
	x, ok := q.UnlinkFor(nil, u1)
	if sent := x.sent; !ok || sent != set(0) {
		t.Fatalf("unlink %v sent %v", ok, sent)
	}
	q.Push(upd(1, newer, set(0, 1)))
	if !q.Next(&b, 10) || b.Peers != set(0) || !equalInts(batchKeys(&b), []int{1}) {
		t.Fatalf("in-sync batch %v for %v", batchKeys(&b), b.Peers)
	}
	q.Advance(&b, set(0))
	if q.Next(&b, 10) {
		t.Fatal("a parked member must not be sent to")
	}
	q.Drained(1)
	// It gets prefix 2 and the newest state of prefix 1, never the replaced one.
	if !q.Next(&b, 10) || b.Peers != set(1) || !equalInts(batchKeys(&b), []int{2, 1}) || b.Items[1].Announce != set(0, 1) {
		t.Fatalf("catch-up batch %v for %v", batchKeys(&b), b.Peers)
	}
	q.Advance(&b, set(1))
	if q.Next(&b, 10) || q.Pending() != 0 || q.Parked() != (PeerSet{}) {
		t.Fatalf("pending %d parked %v after catching up", q.Pending(), q.Parked())
	}
	// Both are at one marker again: the next update is one batch for both.
	q.Push(upd(3, newer, set(0, 1)))
	if !q.Next(&b, 10) || b.Peers != set(0, 1) {
		t.Fatalf("after catching up the members share a batch: %v", b.Peers)
	}
	q.Advance(&b, set(0, 1))
}

// A refusal followed by a drain before Advance is retried, not parked forever.
func TestQueueDrainDuringSendRetries(t *testing.T) {
	f := newQueueFixture()
	q := f.q
	q.Join(0)
	q.Push(upd(1, mkAttrs(), set(0)))
	var b Batch
	q.Next(&b, 10)
	q.Drained(0) // the buffer drained between the refusal and Advance
	if !q.Advance(&b, PeerSet{}) || q.Parked() != (PeerSet{}) {
		t.Fatal("a member whose buffer drained meanwhile must be retried, not parked")
	}
	if !q.Next(&b, 10) || !equalInts(batchKeys(&b), []int{1}) {
		t.Fatal("retry batch")
	}
	q.Advance(&b, set(0))
}

// End-of-RIB follows what was queued before it, alone in its batch.
func TestQueueEndOfRIBOrder(t *testing.T) {
	f := newQueueFixture()
	q := f.q
	q.Join(0)
	q.Push(upd(1, mkAttrs(), set(0)))
	q.Push(&Update{EndOfRIB: true, Announce: set(0)})
	q.Push(upd(2, mkAttrs(), set(0)))
	var b Batch
	var seq [][]int
	for q.Next(&b, 10) {
		seq = append(seq, batchKeys(&b))
		q.Advance(&b, set(0))
	}
	if len(seq) != 3 || !equalInts(seq[0], []int{1}) || !equalInts(seq[1], []int{-1}) || !equalInts(seq[2], []int{2}) {
		t.Fatalf("batches %v", seq)
	}
}

// Replacing the update a batch in flight ends at keeps the batch's place; leaving frees
// what only the leaver needed.
func TestQueueReplaceInFlightAndLeave(t *testing.T) {
	f := newQueueFixture()
	q := f.q
	q.Join(0)
	q.Join(1)
	a := mkAttrs()
	u := upd(1, a, set(0, 1))
	q.Push(u)
	var b Batch
	q.Next(&b, 10)
	if _, ok := q.UnlinkFor(nil, u); !ok {
		t.Fatal("in-flight update not unlinked")
	}
	q.Push(upd(1, a, set(0, 1)))
	q.Advance(&b, set(0))
	if q.Pending() != 1 {
		t.Fatalf("pending %d", q.Pending())
	}
	q.Leave(1) // parked, then gone
	if !q.Next(&b, 10) || b.Peers != set(0) {
		t.Fatal("member 0 gets the replacement")
	}
	q.Advance(&b, set(0))
	if q.Pending() != 0 || f.released[a] != 1 {
		t.Fatalf("pending %d released %d", q.Pending(), f.released[a])
	}
	q.Leave(0)
	q.Push(upd(5, a, set(0)))
	if q.Pending() != 0 || f.released[a] != 2 {
		t.Fatal("with no member, nothing is kept")
	}
}

// TestAdvStateSet checks the advertised set's and label's split storage: every slot and
// label reads back, and the extension is allocated only for slots from 64 up or a label.
func TestAdvStateSet(t *testing.T) {
	var st advState
	for _, l := range []Label{{}, MakeLabel(16)} {
		for _, slots := range [][]int{{}, {0}, {63}, {64}, {0, MaxMembers - 1}, {5, 100, 300}, {1, 2}} {
			var s PeerSet
			for _, i := range slots {
				s.Add(i)
			}
			st.set(s, l)
			if st.adv() != s || st.label() != l {
				t.Errorf("slots %v label %v: read back %v %v", slots, l, st.adv(), st.label())
			}
			if hi := s.AndNot(PeerSet{s[0]}); (st.ext != nil) != (!hi.Empty() || l.IsSet()) {
				t.Errorf("slots %v label %v: extension allocated %v", slots, l, st.ext != nil)
			}
		}
	}
}

// TestQueueForgetsFreedUpdates checks that the queue clears a state's pending pointer when
// it frees the update (sent to every member, or nobody to send it to), so a prefix's
// state never keeps a sent update's memory, and that a recycled update is never taken for
// the pending update of the state that pushed it before.
func TestQueueForgetsFreedUpdates(t *testing.T) {
	q := NewUpdateQueue(nil)
	var st, other advState
	key := MakeKey(netip.MustParsePrefix("192.0.2.0/24"), proto.RD{})
	push := func(s *advState) *Update {
		q.PushFor(s, key, 0, nil, Label{}, PeerSet{}, PeerSet{1})
		return s.pending.Load()
	}
	push(&st) // no member: freed at once
	if st.pending.Load() != nil {
		t.Fatal("an update nobody needs is still the state's pending one")
	}
	q.Join(0)
	u := push(&st)
	if u == nil {
		t.Fatal("a queued update is not the state's pending one")
	}
	var b Batch
	if !q.Next(&b, 10) || len(b.Items) != 1 {
		t.Fatalf("batch %+v", b.Items)
	}
	q.Advance(&b, b.Peers)
	if st.pending.Load() != nil {
		t.Fatal("the state still points at an update sent to every member")
	}
	// u was recycled: pushed again for another state, it is not st's to unlink.
	if v := push(&other); v != u {
		t.Fatalf("the freed update was not reused (%p, %p)", v, u)
	}
	if _, ok := q.UnlinkFor(&st, u); ok {
		t.Fatal("a state unlinked an update recycled for another")
	}
	if x, ok := q.UnlinkFor(&other, u); !ok || x.withdraw != (PeerSet{1}) {
		t.Fatalf("the owner could not unlink its update: %v %+v", ok, x)
	}
	// Replaced while a batch in flight ends at it: the old one is skipped and recycled
	// at Advance, and its removal does not clear the new pointer.
	old := push(&st)
	if !q.Next(&b, 10) || len(b.Items) != 1 {
		t.Fatalf("batch %+v", b.Items)
	}
	if _, ok := q.UnlinkFor(&st, old); !ok {
		t.Fatal("UnlinkFor of a queued update failed")
	}
	nu := push(&st)
	q.Advance(&b, b.Peers)
	if st.pending.Load() != nu || q.Pending() != 1 {
		t.Fatalf("after the in-flight batch: pending %p (want %p), %d queued", st.pending.Load(), nu, q.Pending())
	}
	if !q.Next(&b, 10) || len(b.Items) != 1 {
		t.Fatalf("batch %+v", b.Items)
	}
	q.Advance(&b, b.Peers)
	if st.pending.Load() != nil || q.Pending() != 0 {
		t.Fatal("the successor is sent but still pending")
	}
}

// TestQueueGroupsBySet checks that PushFor puts an update next to the last queued update
// of the same attribute set, but never in front of anything a batch has taken, a new
// member's marker, or an End-of-RIB.
func TestQueueGroupsBySet(t *testing.T) {
	f := newQueueFixture()
	q := f.q
	q.Join(0)
	a, b := mkAttrs(), mkAttrs()
	states := make([]advState, 20)
	push := func(k int, at *Attrs) {
		q.PushFor(&states[k], MakeKey(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(k), 0}), 24), proto.RD{}), 0, at, Label{}, set(0), PeerSet{})
	}
	keys := func(max int) []int {
		var bt Batch
		if !q.Next(&bt, max) {
			return nil
		}
		var ks []int
		for _, it := range bt.Items {
			if it.EndOfRIB {
				ks = append(ks, -1)
				continue
			}
			ks = append(ks, int(it.Key.Prefix().Addr().As4()[2]))
		}
		q.Advance(&bt, bt.Peers)
		return ks
	}
	push(1, a)
	push(2, b)
	push(3, a)
	push(4, nil) // withdrawals group too
	push(5, b)
	push(6, nil)
	if got := keys(2); !equalInts(got, []int{1, 3}) {
		t.Fatalf("first batch %v, want the set a together", got)
	}
	push(7, a) // a's last update is taken: to the tail
	push(8, b) // b's is not: beside it
	if got := keys(100); !equalInts(got, []int{2, 5, 8, 4, 6, 7}) {
		t.Fatalf("second batch %v", got)
	}
	push(9, a)
	q.Push(&Update{EndOfRIB: true, Announce: set(0)})
	push(10, a) // after the End-of-RIB, not in front of it
	q.Join(1)
	push(11, a) // 10 is before member 1's marker: 11 goes after it, and 1 gets it
	got := map[int][]int{}
	for range 10 {
		var bt Batch
		if !q.Next(&bt, 100) {
			break
		}
		for _, it := range bt.Items {
			k := -1
			if !it.EndOfRIB {
				k = int(it.Key.Prefix().Addr().As4()[2])
			}
			bt.Peers.Each(func(m int) { got[m] = append(got[m], k) })
		}
		q.Advance(&bt, bt.Peers)
	}
	if !equalInts(got[0], []int{9, -1, 10, 11}) || !equalInts(got[1], []int{11}) {
		t.Fatalf("member 0 got %v, member 1 got %v", got[0], got[1])
	}
}

// TestQueueHoldAndWake checks when pushes wake the send task: once per run (Rearm), and
// while it holds back for routing (Hold) only when enough is pending, routing settles
// (Kick) or a marker is pushed; and that it never holds back for a marker or when routing
// is not busy.
func TestQueueHoldAndWake(t *testing.T) {
	q := NewUpdateQueue(nil)
	wakes := 0
	q.SetWake(func() { wakes++ })
	q.Join(0)
	states := make([]advState, 40)
	k := 0
	push := func() {
		k++
		q.PushFor(&states[k], MakeKey(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(k), 0}), 24), proto.RD{}), 0, nil, Label{}, PeerSet{}, set(0))
	}
	expect := func(what string, want int) {
		t.Helper()
		if wakes != want {
			t.Fatalf("%s: %d wakes, want %d", what, wakes, want)
		}
	}
	busy := func() bool { return true }
	push()
	push()
	expect("two pushes before the task ran", 1)
	q.Rearm()
	if q.Hold(3, func() bool { return false }) {
		t.Fatal("held back with routing settled")
	}
	push()
	expect("a push after the task ran", 2)
	q.Rearm()
	if q.Hold(3, busy) {
		t.Fatal("held back with 3 pending already")
	}
	drain := func() {
		var b Batch
		for q.Next(&b, 100) {
			q.Advance(&b, b.Peers)
		}
	}
	drain()
	q.Rearm()
	if !q.Hold(3, busy) {
		t.Fatal("not held back while routing is busy")
	}
	push()
	push()
	expect("held back, 2 of 3 pending", 2)
	push()
	expect("held back, 3 of 3 pending", 3)
	drain()
	q.Rearm()
	if !q.Hold(3, busy) {
		t.Fatal("not held back while routing is busy")
	}
	push()
	q.KickAfter(monotonicNow(), time.Hour)
	expect("held back for less than the bound", 3)
	q.KickAfter(monotonicNow()+int64(maxHold), maxHold)
	expect("held back for the bound", 4)
	q.Rearm()
	if !q.Hold(3, busy) {
		t.Fatal("not held back while routing is busy")
	}
	q.Kick()
	expect("routing settled", 5)
	q.Kick()
	expect("a second Kick", 5)
	q.Rearm()
	if !q.Hold(3, busy) {
		t.Fatal("not held back while routing is busy")
	}
	q.Push(&Update{EndOfRIB: true, Announce: set(0)})
	expect("an End-of-RIB while held back", 6)
	q.Rearm()
	if q.Hold(100, busy) {
		t.Fatal("held back with an End-of-RIB queued")
	}
}
