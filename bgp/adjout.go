package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// Reading the export side for management: what fanout advertises to one session
// (Adj-RIB-Out, `gobgp neighbor <addr> adj-out`) and how many prefixes per family (the
// advertised counts of `gobgp neighbor <addr>`). Both are read, never recomputed: the
// RibOuts keep per prefix what each member holds (rib.RibOut.AdvertisedTo) and count it as
// it changes (rib.RibOut.AdvertisedCount). The session's place in the RibOuts belongs to the
// bgp.membership task, so finding it takes one short task of that kind.

// AdjOut is one session's place in the RibOut of one family: its member slot and the
// slot's generation when it was found, to notice the session leaving during a read.
//
// Owner: the caller that found it (the API, for one listing). Lifetime: one read; it holds
// no reference, and a session that leaves makes Left report true.
type AdjOut struct {
	ro   *rib.RibOut
	slot int
	gen  uint32
}

// ErrNoAdjOut: the session has no RibOut for the family (not established, not yet joined,
// or the family was not negotiated).
var ErrNoAdjOut = errors.New("bgp: no advertised routes for the session and family")

// inMembership runs fn in a one-shot bgp.membership task (which excludes every partition,
// walk and send task) and waits for it until ctx ends.
func (r *RIB) inMembership(ctx context.Context, fn func(c *sched.Ctx)) error {
	done := make(chan struct{})
	err := r.exp.s.Run(sched.BGPMembership, 0, func(c *sched.Ctx) sched.Result {
		fn(c)
		close(done)
		return sched.Done
	})
	if err != nil {
		return fmt.Errorf("bgp.membership task: %w", err)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sessionOf returns the export state of the established session of peer addr (nil when
// none has joined). c must be bgp.membership or bgp.config.
func (m *exportManager) sessionOf(c *sched.Ctx, addr netip.Addr) *exportSession {
	sched.CheckExcludes(c, sched.DBPartition, sched.DBWalk, sched.BGPSend)
	for info, es := range m.sessions {
		if info.Peer != nil && info.PeerAddr == addr {
			return es
		}
	}
	return nil
}

// AdjOut finds the RibOut and member slot of peer addr's session for fam. It returns
// ErrNoAdjOut when the session has none (wrapped with the reason).
func (r *RIB) AdjOut(ctx context.Context, addr netip.Addr, fam proto.Family) (*AdjOut, error) {
	var out *AdjOut
	err := r.inMembership(ctx, func(c *sched.Ctx) {
		es := r.exp.sessionOf(c, addr)
		if es == nil {
			return
		}
		for _, s := range es.slots {
			if s.r.ro.Policy.Family == fam {
				out = &AdjOut{ro: s.r.ro, slot: s.slot, gen: s.r.ro.Gen(s.slot)}
				return
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, fmt.Errorf("%w: %v has no established session exporting %s", ErrNoAdjOut, addr, fam)
	}
	return out, nil
}

// Table returns the table the session's routes are exported from.
func (a *AdjOut) Table() *rib.Table { return a.ro.Table() }

// AddPath reports whether the session is sent several paths per prefix (ADD-PATH), each
// with its own path identifier.
func (a *AdjOut) AddPath() bool { return a.ro.Policy.AddPathSend > 0 }

// Read appends what the session holds of e (see rib.RibOut.AdvertisedTo), nothing once the
// session has left. c must be a task of e's partition.
func (a *AdjOut) Read(c *sched.Ctx, e *rib.DBEntry, dst []rib.Advertised) []rib.Advertised {
	if a.Left() {
		return dst
	}
	return a.ro.AdvertisedTo(c, e, a.slot, dst)
}

// Left reports whether the session's slot changed hands since AdjOut found it (the session
// left; another may have joined on the slot). It may be read from the tasks Read runs in.
func (a *AdjOut) Left() bool { return !a.ro.Members().Has(a.slot) || a.ro.Gen(a.slot) != a.gen }

// Advertised returns, per peer address and family, how many prefixes (paths under
// ADD-PATH) each established session holds or is queued to be sent. It runs one short
// bgp.membership task, which holds routing off while it sums the counts (a few additions
// per session and partition).
func (r *RIB) Advertised(ctx context.Context) (map[netip.Addr]map[proto.Family]int64, error) {
	out := map[netip.Addr]map[proto.Family]int64{}
	err := r.inMembership(ctx, func(c *sched.Ctx) {
		for info, es := range r.exp.sessions {
			if info.Peer == nil {
				continue
			}
			per := make(map[proto.Family]int64, len(es.slots))
			for _, s := range es.slots {
				per[s.r.ro.Policy.Family] += s.r.ro.AdvertisedCount(c, s.slot)
			}
			out[info.PeerAddr] = per
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
