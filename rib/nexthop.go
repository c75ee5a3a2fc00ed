package rib

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"sync"
	"sync/atomic"
)

// nextHopsDown is the set of next hops a Table has been told are unreachable (by the kernel
// of a network instance that is authoritative for them). A path added later via one of them
// is stored unusable at once, so the set must be readable by every partition task: it is an
// immutable map swapped copy-on-write. mu serialises the writers (SetNextHopReachable);
// readers only Load.
//
// Owner: its Table. Cardinality: one per table. Lifetime: the table's.
type nextHopsDown struct {
	mu  sync.Mutex
	cur atomic.Pointer[map[netip.Addr]struct{}] // nil or empty: every next hop usable
}

// has reports whether nh is marked unreachable. It does not allocate.
func (n *nextHopsDown) has(nh netip.Addr) bool {
	m := n.cur.Load()
	if m == nil || len(*m) == 0 {
		return false
	}
	_, ok := (*m)[nh]
	return ok
}

// set records nh as (un)reachable and reports whether that changed anything.
func (n *nextHopsDown) set(nh netip.Addr, reachable bool) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	var next map[netip.Addr]struct{}
	if m := n.cur.Load(); m != nil {
		if _, down := (*m)[nh]; down != reachable {
			return false
		}
		next = maps.Clone(*m)
	} else if reachable {
		return false
	}
	if next == nil {
		next = map[netip.Addr]struct{}{}
	}
	if reachable {
		delete(next, nh)
	} else {
		next[nh] = struct{}{}
	}
	n.cur.Store(&next)
	return true
}

// SetNextHopReachable marks every path of the table via nh unusable (reachable false) or
// usable again (true), in every partition after what was queued there before, and paths
// added later via nh the same way until the next call. Best paths are selected again and
// listeners hear of the changes. It is meant for the network instance whose kernel decides
// whether nh can be reached (its actor calls it; it may wait for queue space within ctx).
// Paths whose next hop is missing or unspecified stay unusable whatever is said here.
func (t *Table) SetNextHopReachable(ctx context.Context, nh netip.Addr, reachable bool) error {
	if !nh.IsValid() || nh.IsUnspecified() {
		return fmt.Errorf("table %s: next hop %v: not an address a path can use", t.fam, nh)
	}
	if !t.down.set(nh, reachable) {
		return nil // already so: every path via nh has the flag it should
	}
	var flags uint8
	if !reachable {
		flags = FlagNextHopUnreachable
	}
	carrier := &Attrs{Summary: Summary{NextHop: nh}} // never interned, never released
	var errs []error
	for p := 0; p < t.db.Partitions(); p++ {
		if err := t.db.EnqueueSweep(ctx, p, Op{Kind: OpNextHop, Path: Path{Attrs: carrier, Flags: flags}}); err != nil {
			errs = append(errs, fmt.Errorf("table %s partition %d: %w", t.fam, p, err))
		}
	}
	return errors.Join(errs...)
}

// NextHopDown reports whether nh is marked unreachable in the table (diagnostics, tests).
func (t *Table) NextHopDown(nh netip.Addr) bool { return t.down.has(nh) }

// applyNextHop sets or clears FlagNextHopUnreachable on the entry's paths via op's next
// hop, keeping their sources' Accepted counts right. It reports whether a path changed.
func applyNextHop(d *Entry, op *Op, slot int) bool {
	nh := op.Path.Attrs.NextHop
	down := op.Path.Flags&FlagNextHopUnreachable != 0
	changed := false
	for i := range d.paths() {
		p := &d.paths()[i]
		if p.Attrs == nil || p.Attrs.NextHop != nh || (p.Flags&FlagNextHopUnreachable != 0) == down {
			continue
		}
		was := p.Usable()
		p.Flags ^= FlagNextHopUnreachable
		if cnt := p.Src.Counters; cnt != nil && was != p.Usable() {
			if was {
				cnt.count(slot, 0, -1)
			} else {
				cnt.count(slot, 0, 1)
			}
		}
		changed = true
	}
	return changed
}
