package api

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// adjOut returns the snapFunc of what fanout advertises to neighbor name for fam (its
// Adj-RIB-Out), read from the RibOut state in the walk's partition tasks; nil when the
// neighbor has no established session exporting fam (nothing is advertised).
func (s *Service) adjOut(ctx context.Context, name string, fam proto.Family) (snapFunc, error) {
	a, err := peerAddr("ListPath adj-out", name)
	if err != nil {
		return nil, err
	}
	if s.srv.Lookup(a) == nil {
		return nil, status.Errorf(codes.NotFound, "ListPath adj-out: no neighbor %v is configured", a)
	}
	ao, err := s.rib.AdjOut(ctx, a, fam)
	switch {
	case errors.Is(err, bgp.ErrNoAdjOut):
		return nil, nil
	case ctx.Err() != nil:
		return nil, status.FromContextError(ctx.Err()).Err()
	case err != nil:
		return nil, status.Errorf(codes.Unavailable, "ListPath adj-out: %v", err)
	}
	local := &rib.Source{Local: true}
	scratch := make([][]rib.Advertised, ao.Table().Partitions()) // index p: partition p's tasks only
	return func(c *sched.Ctx, e *rib.DBEntry) (destSnap, bool) {
		p := c.Instance()
		adv := ao.Read(c, e, scratch[p][:0])
		scratch[p] = adv[:0]
		if len(adv) == 0 {
			return destSnap{}, false
		}
		d := destSnap{prefix: e.Key().Prefix(), paths: make([]pathSnap, 0, len(adv))}
		paths := e.Data.Paths()
		for _, x := range adv {
			// The source shown (and the age) is the stored path's the unit was exported from.
			src := local
			for i := range paths {
				if (x.PathID == 0 && i == 0) || (x.PathID != 0 && paths[i].Src.ID == x.Src && paths[i].ID == x.RxID) {
					src = paths[i].Src
					break
				}
			}
			d.paths = append(d.paths, pathSnap{src: src, wire: x.Attrs.Wire(), nh: x.Attrs.NextHop, id: x.PathID})
		}
		clear(adv) // drop the attribute pointers: they are the RibOut's
		return d, true
	}, nil
}
