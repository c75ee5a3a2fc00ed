package bgp

import (
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// Re-advertisement: answering a peer's ROUTE-REFRESH (RFC 2918, RFC 7313) and a soft reset
// out. The session's slot in the family's RibOut is marked as a joining member's is, and a
// walk of the table sends it everything it is to hold; with enhanced route refresh, a BoRR
// goes before and an EoRR after (RFC 7313 §4), through the same queue, so they frame
// exactly the re-advertisement.
//
// A peer cannot make fanout walk its table faster than its limits allow: at most one
// re-advertisement runs per session and family (the initial sync counts as one); requests
// that come meanwhile are coalesced into one that runs after it; and two of them start at
// least PeerConfig.RefreshInterval apart. Coalesced requests are counted
// (PeerCounters.RefreshesCoalesced).

// refreshState is one session's re-advertisement state for one family. Owned by the
// bgp.membership task.
type refreshState struct {
	running bool      // a walk for this session and family is under way
	pending bool      // a request waits for the running one or for the interval
	enh     bool      // the waiting request is enhanced
	timer   bool      // a timer will post the waiting request
	last    time.Time // when the last one started
}

// refresher is what an Ingest that can re-advertise does with a ROUTE-REFRESH message
// and with a soft reset out. Called from the session's peer goroutine.
type refresher interface {
	RouteRefresh(rr proto.RouteRefresh)
	SoftResetOut()
}

// RouteRefresh implements refresher: a request (RFC 2918) queues a re-advertisement of its
// family.
func (in *ribIn) RouteRefresh(rr proto.RouteRefresh) {
	if rr.Subtype != proto.RefreshNormal || !hasFamily(in.info.Families, rr.Family) {
		return
	}
	in.r.exp.post(memberOp{kind: opRefresh, info: in.info, fam: rr.Family, enh: in.info.EnhancedRefresh})
}

// refreshMarker is what an Ingest does with the BoRR and EoRR markers around a peer's
// re-advertisement (RFC 7313 §4). Called from the session's reader goroutine, in order with
// Update.
type refreshMarker interface {
	RefreshMarker(rr proto.RouteRefresh)
}

// RefreshMarker implements refreshMarker: at BoRR the session's routes of the family are
// marked stale, the ones it re-sends replace them, and at EoRR what it did not re-send goes
// (RFC 7313 §4).
func (in *ribIn) RefreshMarker(rr proto.RouteRefresh) {
	fi := famIndex(rr.Family)
	if fi < 0 || in.tables[fi] == nil {
		return
	}
	t := in.tables[fi] // the session's tables: a VRF's for a VRF peer
	var err error
	switch rr.Subtype {
	case proto.RefreshBoRR:
		err = t.MarkStale(in.r.ctx, in.src)
	case proto.RefreshEoRR:
		err = t.SweepStale(in.r.ctx, in.src)
	}
	if err != nil {
		in.r.log.Warn("enhanced route refresh marker not applied", zap.Stringer("peer", in.info.PeerAddr), zap.Error(err))
	}
}

// SoftResetOut implements refresher: every family is re-advertised.
func (in *ribIn) SoftResetOut() {
	for _, f := range in.info.Families {
		in.r.exp.post(memberOp{kind: opRefresh, info: in.info, fam: f, enh: in.info.EnhancedRefresh})
	}
}

// refresh applies one request in the bgp.membership task.
func (m *exportManager) refresh(c *sched.Ctx, op *memberOp) {
	es := m.sessions[op.info]
	if es == nil {
		return
	}
	st := es.refresh[op.fam]
	if st == nil {
		return
	}
	cnt := op.info.Counters
	if op.wait {
		st.timer = false
	}
	if st.running || (st.timer && !op.wait) {
		if !op.wait && cnt != nil {
			cnt.RefreshesCoalesced.Add(1)
		}
		st.pending, st.enh = true, st.enh || op.enh
		return
	}
	var clk Clock = SystemClock{}
	interval := time.Duration(0)
	if p := op.info.Peer; p != nil {
		clk, interval = p.clock(), p.cfg.RefreshInterval
	}
	now := clk.Now()
	if wait := st.last.Add(interval).Sub(now); !st.last.IsZero() && wait > 0 {
		if !op.wait && cnt != nil {
			cnt.RefreshesCoalesced.Add(1)
		}
		st.pending, st.enh, st.timer = true, st.enh || op.enh, true
		info, fam := op.info, op.fam
		clk.AfterFunc(wait, func() { m.post(memberOp{kind: opRefresh, info: info, fam: fam, wait: true}) })
		return
	}
	enh := op.enh || st.enh
	st.pending, st.enh = false, false
	for _, s := range es.slots {
		if s.r.key.pol.Family != op.fam || !s.r.ro.Refresh(c, s.slot) {
			continue
		}
		s.r.refreshing.Add(s.slot)
		if enh {
			s.r.refreshEnh.Add(s.slot)
		}
		st.running, st.last = true, now
		if cnt != nil {
			cnt.RefreshesAnswered.Add(1)
		}
	}
}

// synced ends the running sync (initial or re-advertisement) of the slots in set of r that
// are still the same members, and starts the requests that waited for it.
func (m *exportManager) synced(c *sched.Ctx, r *ribOut, set rib.PeerSet, gens *[rib.MaxMembers]uint32) {
	fam := r.key.pol.Family
	set.Each(func(i int) {
		info := r.members[i]
		if info == nil || r.ro.Gen(i) != gens[i] {
			return
		}
		es := m.sessions[info]
		if es == nil {
			return
		}
		st := es.refresh[fam]
		if st == nil {
			return
		}
		st.running = false
		if st.pending && !st.timer {
			m.refresh(c, &memberOp{kind: opRefresh, info: info, fam: fam, enh: st.enh, wait: true})
		}
	})
}
