package api

import (
	"cmp"
	"context"
	"net/netip"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fanoutd/fanout/db"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// Reading the RIB. Entries belong to their partition's tasks, so the API never touches a
// table from its own goroutines: a full listing registers a listener for the length of one
// walk, and the walk's low-priority db.walk tasks copy each entry (in bounded slices, between
// the partitions' routing batches); a lookup of a few keys runs one short db.walk task per
// partition concerned. Copies are small: a path's attribute encoding is an immutable string
// shared with the RIB, not copied.

// pathSnap is a copy of one stored path, taken in its partition's task.
type pathSnap struct {
	src   *rib.Source
	label rib.Label // VPN families
	wire  string    // canonical attribute encoding (shares the interned string)
	nh    netip.Addr
	id    uint32
	flags uint8
	best  bool
}

// destSnap is a copy of one entry: its prefix and the paths a request asked for.
type destSnap struct {
	prefix netip.Prefix
	rd     proto.RD // VPN families
	paths  []pathSnap
}

// snapFunc copies what a listing shows of entry e, in a task of e's partition; false when
// nothing. Calls for different partitions run at once.
type snapFunc func(c *sched.Ctx, e *rib.DBEntry) (destSnap, bool)

// pathsOf is the snapFunc of the stored paths keep accepts (all when keep is nil).
func pathsOf(keep func(*rib.Path) bool) snapFunc {
	return func(_ *sched.Ctx, e *rib.DBEntry) (destSnap, bool) { return snapshot(e, keep) }
}

// snapshot copies e's paths that keep accepts (all when keep is nil); false when none.
func snapshot(e *rib.DBEntry, keep func(*rib.Path) bool) (destSnap, bool) {
	d := destSnap{prefix: e.Key().Prefix(), rd: e.Key().RD()}
	best := e.Data.Best()
	for i, p := range e.Data.Paths() {
		if keep != nil && !keep(&p) {
			continue
		}
		ps := pathSnap{src: p.Src, id: p.ID, flags: p.Flags, best: best != nil && i == 0, label: p.Label}
		if p.Attrs != nil {
			ps.wire, ps.nh = p.Attrs.Wire(), p.Attrs.NextHop
		}
		d.paths = append(d.paths, ps)
	}
	return d, len(d.paths) > 0
}

// acquireWalk takes a walk slot, waiting for one until ctx ends.
func (s *Service) acquireWalk(ctx context.Context) (func(), error) {
	select {
	case s.walks <- struct{}{}:
		return func() { <-s.walks }, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// walk runs visit on every entry of t, in the db.walk task of the entry's partition p, and
// returns when every partition has been visited. It registers a listener, requests one
// walk, and unregisters when the walk is done (also when ctx ends first: the walk then
// finishes unobserved, and visit must stay harmless until it does).
func (s *Service) walk(ctx context.Context, t *rib.Table, visit func(c *sched.Ctx, e *rib.DBEntry)) error {
	release, err := s.acquireWalk(ctx)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	tdb := t.DB()
	// The task owns the slot from here: every path through it ends in release, directly or
	// through Unregister's callback.
	regErr := make(chan error, 1)
	err = s.deps.Scheduler.Run(sched.BGPConfig, 0, func(c *sched.Ctx) sched.Result {
		id, err := tdb.Register(c, db.Listener[rib.Key, rib.Entry]{
			Name:    "api.ListPath",
			Changed: func(*sched.Ctx, *rib.DBEntry) {},
			Visit:   visit,
		})
		if err != nil {
			release()
			regErr <- status.Errorf(codes.Internal, "registering a table reader: %v", err)
			return sched.Done
		}
		err = tdb.RequestWalk(id, func(*sched.Ctx) {
			close(done)
			// Unregister in a task that may change the listener list. A refused run means
			// the scheduler is closing, which ends the table with it.
			_ = s.deps.Scheduler.Run(sched.BGPConfig, 0, func(c *sched.Ctx) sched.Result {
				_ = tdb.Unregister(c, id, func(*sched.Ctx) { release() })
				return sched.Done
			})
		})
		if err != nil {
			_ = tdb.Unregister(c, id, func(*sched.Ctx) { release() })
			regErr <- status.Errorf(codes.Unavailable, "walking table %s: %v", t.Family(), err)
			return sched.Done
		}
		regErr <- nil
		return sched.Done
	})
	if err != nil {
		release()
		return status.Errorf(codes.Unavailable, "the scheduler refused a task: %v", err)
	}
	select {
	case err := <-regErr:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
	select {
	case <-done:
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
	return nil
}

// walkTable copies what snap takes of the entries of t accepted by match (all when nil),
// sorted by prefix.
func (s *Service) walkTable(ctx context.Context, t *rib.Table, match func(netip.Prefix) bool, snap snapFunc) ([]destSnap, error) {
	parts := make([][]destSnap, t.Partitions()) // index p written only by partition p's db.walk tasks
	err := s.walk(ctx, t, func(c *sched.Ctx, e *rib.DBEntry) {
		if match != nil && !match(e.Key().Prefix()) {
			return
		}
		if d, ok := snap(c, e); ok {
			p := c.Instance()
			parts[p] = append(parts[p], d)
		}
	})
	if err != nil {
		return nil, err
	}
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]destSnap, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	// A walk may visit an entry twice when others are deleted meanwhile; the later copy
	// (later in its partition's slice, so later after a stable sort) is the newer one.
	slices.SortStableFunc(out, func(a, b destSnap) int { return comparePrefix(a.prefix, b.prefix) })
	w := 0
	for i := range out {
		if w > 0 && out[w-1].prefix == out[i].prefix {
			out[w-1] = out[i]
			continue
		}
		out[w] = out[i]
		w++
	}
	clear(out[w:])
	return out[:w], nil
}

// comparePrefix orders prefixes by address, then length (IPv4 before IPv6).
func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// lookup copies what snap takes of the entries of keys in t (those present), in the order
// of keys. One short db.walk task per partition concerned finds them.
func (s *Service) lookup(ctx context.Context, t *rib.Table, keys []rib.Key, snap snapFunc) ([]destSnap, error) {
	tdb := t.DB()
	byPart := map[int][]int{}
	for i, k := range keys {
		p := tdb.PartitionOf(k)
		byPart[p] = append(byPart[p], i)
	}
	found := make([]destSnap, len(keys))
	ok := make([]bool, len(keys))
	res := make(chan struct{}, len(byPart))
	for p, idx := range byPart {
		err := s.deps.Scheduler.Run(sched.DBWalk, p, func(c *sched.Ctx) sched.Result {
			for _, i := range idx {
				if e := tdb.Find(c, keys[i]); e != nil {
					found[i], ok[i] = snap(c, e)
				}
			}
			res <- struct{}{}
			return sched.Done
		})
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "the scheduler refused a lookup task: %v", err)
		}
	}
	for range byPart {
		select {
		case <-res:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	var out []destSnap
	for i := range keys {
		if ok[i] {
			out = append(out, found[i])
		}
	}
	return out, nil
}
