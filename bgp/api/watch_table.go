package api

import (
	"context"
	"net/netip"
	"sync"

	apipb "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fanoutd/fanout/db"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// bestEvent is one best-path change copied in a partition task: the new best path, or a
// withdrawal (no path) when the prefix has no best path any more.
type bestEvent struct {
	fam  proto.Family
	dest destSnap
}

// bestWatch is one watcher's listener on the unicast tables. Its Changed callbacks run in
// db.partition tasks and only copy the entry's best path into events without blocking;
// when events is full the watch is cut off (full is closed once), never buffered further.
//
// Owner: one WatchEvent call. Lifetime: from watchBest to stop; the listeners are
// unregistered by stop.
type bestWatch struct {
	s      *Service
	events chan bestEvent
	full   chan struct{}
	once   sync.Once
	ids    map[*rib.Table]db.ListenerID // written in the registering bgp.config task, read by stop after it
}

func (w *bestWatch) changed(fam proto.Family) func(*sched.Ctx, *rib.DBEntry) {
	return func(c *sched.Ctx, e *rib.DBEntry) {
		ev := bestEvent{fam: fam, dest: destSnap{prefix: e.Key().Prefix()}}
		if b := e.Data.Best(); b != nil {
			ev.dest.paths = []pathSnap{{src: b.Src, wire: b.Attrs.Wire(), nh: b.Attrs.NextHop, id: b.ID, flags: b.Flags, best: true}}
		}
		select {
		case w.events <- ev:
		default:
			w.once.Do(func() { close(w.full) })
		}
	}
}

// watchBest registers a best-path listener on the IPv4 and IPv6 unicast tables.
func (s *Service) watchBest(ctx context.Context) (*bestWatch, error) {
	w := &bestWatch{s: s, events: make(chan bestEvent, s.deps.WatchBuffer), full: make(chan struct{}), ids: map[*rib.Table]db.ListenerID{}}
	res := make(chan error, 1)
	err := s.deps.Scheduler.Run(sched.BGPConfig, 0, func(c *sched.Ctx) sched.Result {
		for _, fam := range []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast} {
			t := s.rib.Table(fam)
			id, err := t.DB().Register(c, db.Listener[rib.Key, rib.Entry]{Name: "api.WatchEvent", Changed: w.changed(fam),
				Visit: func(*sched.Ctx, *rib.DBEntry) {}})
			if err != nil {
				for t, id := range w.ids {
					_ = t.DB().Unregister(c, id, nil)
				}
				res <- status.Errorf(codes.Internal, "WatchEvent: registering a listener: %v", err)
				return sched.Done
			}
			w.ids[t] = id
		}
		res <- nil
		return sched.Done
	})
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "WatchEvent: the scheduler refused a task: %v", err)
	}
	select {
	case err := <-res:
		if err != nil {
			return nil, err
		}
		return w, nil
	case <-ctx.Done():
		// The task may still register: unregister once it has.
		go func() {
			if <-res == nil {
				w.stop()
			}
		}()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// stop unregisters the listeners (in a bgp.config task; it does not wait for it). A refused
// task means the scheduler is closing, which ends the tables with it.
func (w *bestWatch) stop() {
	_ = w.s.deps.Scheduler.Run(sched.BGPConfig, 0, func(c *sched.Ctx) sched.Result {
		for t, id := range w.ids {
			_ = t.DB().Unregister(c, id, nil)
		}
		return sched.Done
	})
}

// watchTable streams best-path changes of the IPv4 and IPv6 unicast tables (and, with
// Init, the current best paths first). A withdrawal carries the prefix only.
func (s *Service) watchTable(req *apipb.WatchEventRequest, stream apipb.GobgpApi_WatchEventServer) error {
	ctx := stream.Context()
	init := false
	for _, f := range req.GetTable().GetFilters() {
		if f.GetType() != apipb.WatchEventRequest_Table_Filter_BEST {
			return status.Errorf(codes.Unimplemented, "WatchEvent for %v table events is not implemented yet; best-path events are", f.GetType())
		}
		init = init || f.GetInit()
	}
	w, err := s.watchBest(ctx)
	if err != nil {
		return err
	}
	defer w.stop()
	cvs := map[proto.Family]*converter{}
	send := func(fam proto.Family, d *destSnap) error {
		cv := cvs[fam]
		if cv == nil {
			cv = newConverter(s, fam)
			cvs[fam] = cv
		}
		var p *apipb.Path
		var err error
		if len(d.paths) == 0 {
			p, err = cv.withdrawal(d.prefix)
		} else {
			p, err = cv.path(d, &d.paths[0])
		}
		if err != nil {
			return err
		}
		return stream.Send(&apipb.WatchEventResponse{Event: &apipb.WatchEventResponse_Table{Table: &apipb.WatchEventResponse_TableEvent{Paths: []*apipb.Path{p}}}})
	}
	if init {
		for _, fam := range []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast} {
			dests, err := s.walkTable(ctx, s.rib.Table(fam), nil, pathsOf(func(p *rib.Path) bool { return p.Usable() }))
			if err != nil {
				return err
			}
			for i := range dests {
				d := &dests[i]
				if len(d.paths) > 0 && d.paths[0].best {
					d.paths = d.paths[:1]
					if err := send(fam, d); err != nil {
						return err
					}
				}
			}
		}
	}
	for {
		select {
		case ev := <-w.events:
			if err := send(ev.fam, &ev.dest); err != nil {
				return err
			}
		case <-w.full:
			return status.Errorf(codes.ResourceExhausted, "WatchEvent: the watcher fell %d events behind and was cut off", cap(w.events))
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

// withdrawal is the API path of a prefix that lost its best path.
func (cv *converter) withdrawal(pfx netip.Prefix) (*apipb.Path, error) {
	p, err := apiutil.NewPath(nlriOf(pfx), true, nil, cv.s.deps.Now())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "withdrawal of %v does not convert: %v", pfx, err)
	}
	return p, nil
}
