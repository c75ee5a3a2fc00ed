package rib

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/fanoutd/fanout/db"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/sched"
)

// SourceCounters are the per-source route counts the partitions maintain. Every field is
// atomic: several partition tasks update one source's counters at once, and the session,
// the API and metrics read them.
type SourceCounters struct {
	Received atomic.Int64 // paths held in the Adj-RIB-In
	Accepted atomic.Int64 // of those, paths usable as best (no loop, reachable next hop)
	Best     atomic.Int64 // prefixes whose best path is this source's
	// ByFamily splits Received and Accepted by the table's family (FamilySlot), for the
	// per-family counts `gobgp neighbor` shows.
	ByFamily [FamilySlots]FamilyCounts
}

// FamilyCounts are one family's share of SourceCounters.
type FamilyCounts struct {
	Received, Accepted atomic.Int64
}

// FamilySlots is the number of families SourceCounters.ByFamily splits counts by.
const FamilySlots = 4

// FamilySlot is fam's index in SourceCounters.ByFamily: IPv4 and IPv6 unicast, VPNv4 and
// VPNv6; -1 for any other family.
func FamilySlot(fam proto.Family) int {
	switch fam {
	case proto.IPv4Unicast:
		return 0
	case proto.IPv6Unicast:
		return 1
	case proto.VPNv4:
		return 2
	case proto.VPNv6:
		return 3
	}
	return -1
}

// count adds recv and acc to the counters, in total and for the family of slot.
func (c *SourceCounters) count(slot int, recv, acc int64) {
	if recv != 0 {
		c.Received.Add(recv)
	}
	if acc != 0 {
		c.Accepted.Add(acc)
	}
	if slot >= 0 {
		f := &c.ByFamily[slot]
		if recv != 0 {
			f.Received.Add(recv)
		}
		if acc != 0 {
			f.Accepted.Add(acc)
		}
	}
}

// OpKind says what an Op does to an entry.
type OpKind uint8

// Operations on one entry (or, for sweeps, on every entry of a partition).
const (
	OpAdd            OpKind = iota + 1 // add or replace Path (by source and path id)
	OpWithdraw                         // remove the path of Path.Src with id Path.ID
	OpDropSource                       // sweep: remove every path of Path.Src
	OpMarkStale                        // sweep: mark every path of Path.Src FlagStale (graceful restart)
	OpSweepStale                       // sweep: remove the paths of Path.Src still marked FlagStale
	OpLongLivedStale                   // sweep: stale paths of Path.Src become long-lived stale (RFC 9494)
	// OpNextHop (sweep): set (Path.Flags has FlagNextHopUnreachable) or clear that flag on
	// every path whose next hop is Path.Attrs.NextHop; Path.Attrs is a carrier that is not
	// interned and never released (see SetNextHopReachable).
	OpNextHop
)

// Op is one request to a table: a small value copied through the partition queues.
type Op struct {
	Kind OpKind
	Path Path // for OpAdd the whole path (holding one reference on Path.Attrs); else Src and ID
}

// Request is one keyed Op, as enqueued to a partition.
type Request = db.Request[Key, Op]

// DBEntry is a table entry as the db layer holds it: the key, the rib Entry as data, and
// listener state slots.
type DBEntry = db.Entry[Key, Entry]

// TableConfig configures a Table.
type TableConfig struct {
	Family     proto.Family
	Partitions int
	QueueLen   int
	Best       BestOptions
}

// Table is one routing table (one address family of the global RIB, or a VRF): a
// partitioned db table of Entries keyed by prefix, where each partition applies its queued
// adds and withdrawals, selects best paths and notifies listeners in its db.partition task.
//
// Owner: the server. Cardinality: one per family and VRF. Lifetime: the server's.
type Table struct {
	fam   proto.Family
	slot  int // FamilySlot(fam)
	attrs *AttrTable
	best  BestOptions
	db    *db.Table[Key, Entry, Op]
	// allPaths counts the registered listeners that need every path change, not only
	// best-path changes (ADD-PATH RibOuts). Written by tasks that exclude db.partition.
	allPaths int
	// down: next hops marked unreachable (nexthop.go); its own synchronisation.
	down nextHopsDown
	// outs are the registered RibOuts, whose senders the partitions wake when they have
	// applied everything queued (routingRan). Written by tasks that exclude db.partition.
	outs []*RibOut
}

// NewTable builds a table whose partitions run on s and whose paths intern in attrs.
func NewTable(s *sched.Scheduler, attrs *AttrTable, cfg TableConfig) (*Table, error) {
	t := &Table{fam: cfg.Family, slot: FamilySlot(cfg.Family), attrs: attrs, best: cfg.Best}
	d, err := db.New(s, db.Config[Key, Entry, Op]{
		Name:       cfg.Family.String(),
		Partitions: cfg.Partitions,
		QueueLen:   cfg.QueueLen,
		Hash:       Key.Hash,
		Empty:      func(e *Entry) bool { return e.Empty() },
		Apply:      t.apply,
		Ran:        t.routingRan,
	})
	if err != nil {
		return nil, err
	}
	t.db = d
	return t, nil
}

// Family returns the table's address family.
func (t *Table) Family() proto.Family { return t.fam }

// Busy reports whether routing is in progress: some partition has requests queued that it
// has not applied yet. Safe from any goroutine.
func (t *Table) Busy() bool { return t.db.Busy() }

// routingRan runs in a partition task at the end of each run: senders holding back for
// routing to settle (UpdateQueue.Hold) go on when the partition is idle, or when they have
// held back for maxHold, so a long load elsewhere never delays what is already queued by
// more than that.
func (t *Table) routingRan(idle bool) {
	if len(t.outs) == 0 {
		return
	}
	now := monotonicNow()
	for _, r := range t.outs {
		if idle {
			r.Queue.Kick()
		} else {
			r.Queue.KickAfter(now, maxHold)
		}
	}
}

// Partitions returns the number of partitions.
func (t *Table) Partitions() int { return t.db.Partitions() }

// PartitionOf returns the partition of k.
func (t *Table) PartitionOf(k Key) int { return t.db.PartitionOf(k) }

// DB returns the underlying db table, for listeners and walks.
func (t *Table) DB() *db.Table[Key, Entry, Op] { return t.db }

// Enqueue offers requests, all of partition part, waiting while the queue is full. It
// returns how many were queued: on an error the caller still owns the references of the
// OpAdd requests past that count (see Release).
func (t *Table) Enqueue(ctx context.Context, part int, reqs []Request) (int, error) {
	return t.db.Enqueue(ctx, part, reqs)
}

// Release gives back the attribute references held by OpAdd requests that were never
// queued.
func (t *Table) Release(reqs []Request) {
	for i := range reqs {
		if reqs[i].Op.Kind == OpAdd && reqs[i].Op.Path.Attrs != nil {
			t.attrs.Release(reqs[i].Op.Path.Attrs)
		}
	}
}

// DropSource removes every path of src from the table: one sweep per partition, each
// after everything src already queued there.
func (t *Table) DropSource(ctx context.Context, src *Source) error {
	return t.sweep(ctx, OpDropSource, src)
}

// MarkStale marks every path of src stale (RFC 4724 §4.2: its session went down and the
// peer is restarting); each partition's sweep follows what src already queued there.
func (t *Table) MarkStale(ctx context.Context, src *Source) error {
	return t.sweep(ctx, OpMarkStale, src)
}

// SweepStale removes the paths of src still stale: not re-sent since MarkStale (the peer's
// End-of-RIB, or its restart timer expired).
func (t *Table) SweepStale(ctx context.Context, src *Source) error {
	return t.sweep(ctx, OpSweepStale, src)
}

// LongLivedStale turns src's stale paths into long-lived stale ones (RFC 9494 §4.2: its
// restart timer expired): least preferred, sent with LLGR_STALE to peers that understand it
// and withdrawn from the others; paths with NO_LLGR go.
func (t *Table) LongLivedStale(ctx context.Context, src *Source) error {
	return t.sweep(ctx, OpLongLivedStale, src)
}

func (t *Table) sweep(ctx context.Context, kind OpKind, src *Source) error {
	var errs []error
	for p := 0; p < t.db.Partitions(); p++ {
		if err := t.db.EnqueueSweep(ctx, p, Op{Kind: kind, Path: Path{Src: src}}); err != nil {
			errs = append(errs, fmt.Errorf("table %s partition %d: %w", t.fam, p, err))
		}
	}
	return errors.Join(errs...)
}

// apply runs in the db.partition task of e's partition.
func (t *Table) apply(c *sched.Ctx, e *DBEntry, op Op) bool {
	sched.Check(c, sched.DBPartition)
	d := &e.Data
	prev := d.Snapshot()
	switch op.Kind {
	case OpAdd:
		if op.Path.Attrs != nil && t.down.has(op.Path.Attrs.NextHop) {
			op.Path.Flags |= FlagNextHopUnreachable
		}
		i := d.find(op.Path.Src, op.Path.ID)
		wasUsable := i >= 0 && d.paths()[i].Usable()
		old, changed := d.Upsert(op.Path)
		if !changed {
			t.attrs.Release(op.Path.Attrs) // the identical stored path already holds a reference
			return false
		}
		if old != nil {
			t.attrs.Release(old)
		}
		if cnt := op.Path.Src.Counters; cnt != nil {
			var recv, acc int64
			if i < 0 {
				recv = 1
			}
			switch usable := op.Path.Usable(); {
			case usable && !wasUsable:
				acc = 1
			case !usable && wasUsable:
				acc = -1
			}
			cnt.count(t.slot, recv, acc)
		}
	case OpWithdraw:
		i := d.find(op.Path.Src, op.Path.ID)
		if i < 0 {
			return false
		}
		usable := d.paths()[i].Usable()
		t.attrs.Release(d.removeAt(i))
		if cnt := op.Path.Src.Counters; cnt != nil {
			acc := int64(0)
			if usable {
				acc = -1
			}
			cnt.count(t.slot, -1, acc)
		}
	case OpDropSource:
		src := op.Path.Src
		usable := 0
		for i := range d.paths() {
			if d.paths()[i].Src == src && d.paths()[i].Usable() {
				usable++
			}
		}
		n := d.RemoveSource(src, t.attrs.Release)
		if n == 0 {
			return false
		}
		if cnt := src.Counters; cnt != nil {
			cnt.count(t.slot, int64(-n), int64(-usable))
		}
	case OpMarkStale:
		if !d.UpdateFlags(op.Path.Src, func(f uint8) uint8 { return f | FlagStale }) {
			return false
		}
	case OpLongLivedStale:
		src := op.Path.Src
		changed, n, usable := d.LongLivedStale(src, func(a *Attrs) bool { return HasCommunity(a, CommunityNoLLGR) }, t.attrs.Release)
		if !changed {
			return false
		}
		if cnt := src.Counters; cnt != nil {
			cnt.count(t.slot, int64(-n), int64(-usable))
		}
	case OpSweepStale:
		src := op.Path.Src
		n, usable := d.RemoveStale(src, t.attrs.Release)
		if n == 0 {
			return false
		}
		if cnt := src.Counters; cnt != nil {
			cnt.count(t.slot, int64(-n), int64(-usable))
		}
	case OpNextHop:
		if !applyNextHop(d, &op, t.slot) {
			return false
		}
	default:
		return false
	}
	changed := d.Select(&t.best, prev)
	if !changed {
		return t.allPaths > 0
	}
	if prev.Src != nil && prev.Src.Counters != nil {
		prev.Src.Counters.Best.Add(-1)
	}
	if b := d.Best(); b != nil && b.Src.Counters != nil {
		b.Src.Counters.Best.Add(1)
	}
	return true
}
