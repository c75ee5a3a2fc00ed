package bgp

import (
	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// Send: the thin shell around the update queues.
//
// A scheduling group's bgp.send task takes bounded batches from its RibOuts' queues. A
// batch is for the members standing at one marker; its updates are grouped by audience
// (the members each announcement or withdrawal is for), each audience's UPDATEs are
// encoded once with one UpdateBuilder, and the same bytes are handed to the send buffer of
// every member of that audience. A member whose buffer refuses stays at its marker, parked,
// until its drain callback wakes the task again.

const (
	sendBatch   = 512 // updates per batch
	sendBatches = 8   // batches per run before yielding
	// sendHold is how many updates a RibOut's queue gathers before its sender goes on
	// while routing is in progress (a partition has requests queued, or a sync walk is
	// running): the updates one received UPDATE makes are exported by every partition at
	// its own pace, and a walk visits prefixes in hash order, so sending each partition's
	// share as it comes packs each attribute set's prefixes into as many messages as there
	// are partitions. Routing settling, a marker (End-of-RIB) or a member catching up end
	// the wait at once, and it never lasts over rib's maxHold (10 ms) of busy routing.
	sendHold = 4096
)

// sendGroup is one scheduling group.
//
// Owner: its fields are set by the bgp.membership task (which excludes every send task);
// the scratch space is the group's send task's. Cardinality: one per connected component
// of sessions and RibOuts. Lifetime: until the next regroup retires it.
type sendGroup struct {
	id      int
	log     *zap.Logger
	task    *sched.Task
	ribouts []*ribOut
	retired bool
	next    int // round robin over ribouts

	batch     rib.Batch
	held      []bool // per RibOut, this run: holding back (UpdateQueue.Hold)
	audiences []audience
	buf       []byte
	nlri      []proto.NLRI
}

// audience is the members one run of UPDATEs is for and the builder encoding it, or the
// members of one marker message: End-of-RIB, or a ROUTE-REFRESH BoRR or EoRR (refresh).
type audience struct {
	set     rib.PeerSet
	b       proto.UpdateBuilder
	eor     bool
	refresh uint8
}

// run is the group's bgp.send task.
func (g *sendGroup) run(c *sched.Ctx) sched.Result {
	sched.Check(c, sched.BGPSend)
	if g.retired || len(g.ribouts) == 0 {
		return sched.Done
	}
	g.held = g.held[:0]
	for _, r := range g.ribouts {
		r.ro.Queue.Rearm()
		// Decided once per run, so what was gathered is then drained whole.
		g.held = append(g.held, r.ro.Queue.Hold(sendHold, func() bool { return r.wait.walking || r.ro.Table().Busy() }))
	}
	for n := 0; n < sendBatches; {
		progressed := false
		for range len(g.ribouts) {
			i := g.next % len(g.ribouts)
			r := g.ribouts[i]
			g.next++
			if g.held[i] {
				continue // woken when it has gathered enough or routing settles
			}
			if !r.ro.Queue.Next(&g.batch, sendBatch) {
				continue
			}
			progressed = true
			n++
			g.send(r)
			if n >= sendBatches {
				break
			}
		}
		if !progressed {
			return sched.Done
		}
	}
	return sched.Again
}

// send encodes and sends one batch of r and moves its members on. It reports whether a
// member must be retried.
func (g *sendGroup) send(r *ribOut) bool {
	b := &g.batch
	fam := r.key.pol.Family
	opts := r.key.pol.Options()
	for i := range g.audiences {
		g.audiences[i].set = rib.PeerSet{}
	}
	active := 0
	use := func(set rib.PeerSet, eor bool, refresh uint8) *audience {
		for i := 0; i < active; i++ {
			if a := &g.audiences[i]; a.set == set && a.eor == eor && a.refresh == refresh {
				return a
			}
		}
		if active == len(g.audiences) {
			g.audiences = append(g.audiences, audience{})
		}
		a := &g.audiences[active]
		active++
		a.set, a.eor, a.refresh = set, eor, refresh
		a.b.Reset(&opts)
		return a
	}
	var n [1]proto.NLRI
	for i := range b.Items {
		it := &b.Items[i]
		if it.EndOfRIB {
			if to := it.Announce.And(b.Peers); !to.Empty() {
				use(to, true, it.Refresh)
			}
			continue
		}
		n[0] = proto.NLRI{Prefix: it.Key.Prefix(), PathID: it.PathID, RD: it.Key.RD(), Labels: it.Label.Stack()}
		if wd := it.Withdraw.And(b.Peers); !wd.Empty() {
			use(wd, false, 0).b.Withdraw(fam, n[0])
			r.counters.Prefixes.Add(1)
		}
		if ann := it.Announce.And(b.Peers); it.HasAttrs && !ann.Empty() {
			use(ann, false, 0).b.AnnounceString(fam, it.Wire, proto.MPNextHop{Addr: it.NextHop}, n[0])
			r.counters.Prefixes.Add(1)
		}
	}
	var failed rib.PeerSet
	for i := 0; i < active; i++ {
		a := &g.audiences[i]
		var err error
		switch {
		case a.eor && a.refresh != 0:
			g.buf = proto.AppendRouteRefresh(g.buf[:0], proto.RouteRefresh{Family: fam, Subtype: a.refresh})
		case a.eor:
			g.buf, err = proto.AppendEndOfRIB(g.buf[:0], fam)
		default:
			g.buf, err = a.b.AppendMessages(g.buf[:0])
		}
		if err != nil {
			g.log.Warn("encoding updates", zap.Stringer("family", fam), zap.Error(err))
		}
		if len(g.buf) == 0 {
			continue
		}
		r.counters.Encoded.Add(uint64(countMessages(g.buf)))
		buf := g.buf
		a.set.AndNot(failed).Each(func(slot int) {
			info := r.members[slot]
			if info == nil || info.Peer == nil || !info.Peer.SendBulk(buf) {
				failed.Add(slot)
			}
		})
	}
	r.counters.Batches.Add(1)
	return r.ro.Queue.Advance(b, b.Peers.AndNot(failed))
}

// countMessages counts the BGP messages in b (whole messages, back to back).
func countMessages(b []byte) int {
	n := 0
	for len(b) >= proto.HeaderLen {
		h, err := proto.ParseHeader(b, proto.MaxExtendedMessage)
		if err != nil || int(h.Len) > len(b) || h.Len == 0 {
			break
		}
		n++
		b = b[h.Len:]
	}
	return n
}
