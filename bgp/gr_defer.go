package bgp

import (
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/sched"
)

// Graceful restart, restarting side (RFC 4724 §4.1): when fanout itself restarts, its peers
// (helpers) keep the routes it sent before, and fanout must not send them a table it
// computed from a partial view. So it defers: sessions come up and their routes are
// learned, but no session joins its RibOuts (nothing is exported) until every expected
// peer has sent End-of-RIB for each of its families, or is not to be waited for (it
// announced no Graceful Restart, or set the Restart State bit itself), or the deferral
// time passes. Then every held session joins at once and gets the settled table, then
// End-of-RIB.

// deferral is the export deferral state. on, held and waiting are owned by the
// bgp.membership task.
type deferral struct {
	on      bool
	held    []memberOp          // joins held while on
	waiting map[netip.Addr]bool // peers not yet synced
	onDone  func()              // runs once, when the deferral ends
	timer   ClockTimer
	started time.Time
	clk     Clock
}

// DeferExport holds export until each peer in peers has synced (End-of-RIB for each of its
// families, or nothing to wait for) or max passes; then onDone (may be nil) runs. Call it
// before any session comes up: fanout's own restart (RFC 4724 §4.1).
func (r *RIB) DeferExport(peers []netip.Addr, max time.Duration, clk Clock, onDone func()) {
	if clk == nil {
		clk = SystemClock{}
	}
	d := &deferral{on: true, waiting: map[netip.Addr]bool{}, onDone: onDone, clk: clk, started: clk.Now()}
	for _, a := range peers {
		d.waiting[a] = true
	}
	d.timer = clk.AfterFunc(max, func() { r.exp.post(memberOp{kind: opDeferEnd}) })
	r.exp.post(memberOp{kind: opDefer, def: d})
	r.log.Info("restarting: export deferred until the peers' End-of-RIB", zap.Int("peers", len(peers)), zap.Duration("deferral_time", max))
}

// syncedPeer reports that the session of in has nothing more to send for the deferral:
// End-of-RIB for all its families, or a peer that is not waited for.
func (in *ribIn) syncedPeer() {
	in.r.exp.post(memberOp{kind: opSynced, info: in.info})
}

// checkSynced posts syncedPeer when the session is not to be waited for, or has sent
// End-of-RIB for each family.
func (in *ribIn) checkSynced() {
	if !in.info.GR.Present || in.info.GR.Flags&proto.GRRestartState != 0 {
		in.syncedPeer()
		return
	}
	for _, f := range in.info.Families {
		if fi := famIndex(f); fi >= 0 && !in.eor[fi] {
			return
		}
	}
	in.syncedPeer()
}

// deferOp applies opDefer, opSynced and opDeferEnd; it reports whether sessions joined.
func (m *exportManager) deferOp(c *sched.Ctx, op *memberOp) bool {
	switch op.kind {
	case opDefer:
		m.def = *op.def
		if len(m.def.waiting) == 0 {
			return m.endDeferral(c, "no peers to wait for")
		}
	case opSynced:
		if !m.def.on || !m.def.waiting[op.info.PeerAddr] {
			return false
		}
		delete(m.def.waiting, op.info.PeerAddr)
		if len(m.def.waiting) == 0 {
			return m.endDeferral(c, "every peer sent End-of-RIB")
		}
	case opDeferEnd:
		if m.def.on {
			return m.endDeferral(c, "deferral time passed")
		}
	}
	return false
}

// endDeferral lets the held sessions join.
func (m *exportManager) endDeferral(c *sched.Ctx, why string) bool {
	d := &m.def
	d.on = false
	if d.timer != nil {
		d.timer.Stop()
	}
	waited := time.Duration(0)
	if d.clk != nil {
		waited = d.clk.Now().Sub(d.started)
	}
	m.log.Info("restart: export resumes", zap.String("why", why), zap.Int("sessions", len(d.held)),
		zap.Int("peers_not_synced", len(d.waiting)), zap.Duration("waited", waited))
	joined := false
	for i := range d.held {
		joined = m.join(c, d.held[i].info, d.held[i].src) || joined
	}
	d.held = nil
	if d.onDone != nil {
		d.onDone()
		d.onDone = nil
	}
	return joined
}

// unhold drops the held join of info, if any: its session went down before the deferral
// ended, so it has nothing to leave.
func (m *exportManager) unhold(info *SessionInfo) bool {
	for i := range m.def.held {
		if m.def.held[i].info == info {
			m.def.held = append(m.def.held[:i], m.def.held[i+1:]...)
			return true
		}
	}
	return false
}
