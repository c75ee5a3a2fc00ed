package bgp

import (
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
)

// Graceful restart, helper side (RFC 4724 §4.2, RFC 8538).
//
// When the session of a peer that announced the Graceful Restart capability ends in a way
// the RFCs cover, its routes are not withdrawn: they are marked stale and kept, with its
// rib.Source, for the Restart Time the peer announced. Other peers are sent nothing. If
// the peer comes back in time, its new session takes over the same Source, so the routes
// it re-sends replace the stale ones in place (an unchanged route changes nothing for
// anyone); what it does not re-send is removed at its End-of-RIB for the family (or when
// StaleTime runs out first). A family whose forwarding state the peer did not keep (F
// bit clear), or that the new session does not carry, is swept at once. If the restart
// timer fires first, the stale routes go.
//
// Which endings qualify: a TCP failure with no NOTIFICATION (RFC 4724 §4.2). When both
// sides announced the N bit (RFC 8538), also a NOTIFICATION sent or received, except a
// Cease / Hard Reset; a stop fanout was told to make (admin, prefix limit) never does.

// defaultStaleTime bounds how long a restarted peer's stale routes wait for its End-of-RIB.
const defaultStaleTime = 360 * time.Second

// gracefulIngest is an Ingest that can keep a session's routes as stale.
type gracefulIngest interface {
	// DownGraceful is Down, except that the routes of plan.fams are kept stale.
	DownGraceful(plan grPlan)
}

// grPlan is how a restarting peer's routes are kept: the families, the restart time
// (RFC 4724), and for the families under long-lived graceful restart their long-lived
// stale time (RFC 9494), which follows the restart time.
type grPlan struct {
	fams    []proto.Family
	restart time.Duration
	llgr    map[proto.Family]time.Duration
}

// retainedSource is a restarting peer's Source, kept with its stale routes. Guarded by
// RIB.grMu; cardinality: one per restarting peer; lifetime: until the peer's new session
// takes it or its timers sweep it.
type retainedSource struct {
	src    *rib.Source
	fams   []proto.Family // families still kept
	timers []ClockTimer
}

// graceful reports whether the session s, ending on event ev, keeps its routes as stale,
// and how.
func (l *peerLoop) graceful(s *fsmSession, ev Event) (grPlan, bool) {
	cfg := &l.p.cfg.GracefulRestart
	caps := s.neg.peerCaps
	if !cfg.Enabled || caps == nil || (!caps.GracefulRestart.Present && !caps.LongLivedGR.Present) {
		return grPlan{}, false
	}
	gr := &caps.GracefulRestart
	notif := cfg.Notification && gr.Present && gr.Flags&proto.GRNotification != 0
	switch ev.Kind {
	case EvTCPConnectionFails:
	case EvNotifMsg:
		if !notif || ev.Err == nil || (ev.Err.Code == proto.CodeCease && ev.Err.Subcode == proto.SubHardReset) {
			return grPlan{}, false
		}
	case EvHoldTimerExpires, EvSendHoldTimerExpires, EvUpdateMsgErr, EvBGPHeaderErr:
		if !notif {
			return grPlan{}, false
		}
	default:
		return grPlan{}, false
	}
	plan := grPlan{llgr: map[proto.Family]time.Duration{}}
	if gr.Present {
		plan.restart = time.Duration(gr.Time) * time.Second
		for _, f := range gr.Families {
			if hasFamily(s.neg.families, f.Family) {
				plan.fams = append(plan.fams, f.Family)
			}
		}
	}
	if caps.LongLivedGR.Present {
		for _, f := range caps.LongLivedGR.Families {
			if f.StaleTime == 0 || !hasFamily(s.neg.families, f.Family) || !cfg.hasLongLived(f.Family) {
				continue
			}
			plan.llgr[f.Family] = time.Duration(f.StaleTime) * time.Second
			if !slices.Contains(plan.fams, f.Family) {
				plan.fams = append(plan.fams, f.Family)
			}
		}
	}
	return plan, len(plan.fams) > 0
}

// hasLongLived reports whether long-lived graceful restart is configured for fam.
func (c *GracefulRestartConfig) hasLongLived(fam proto.Family) bool {
	for _, f := range c.LongLived {
		if f.Family == fam {
			return true
		}
	}
	return false
}

// DownGraceful implements gracefulIngest.
func (in *ribIn) DownGraceful(plan grPlan) {
	if in.inVRF() {
		in.Down() // a VRF peer's routes are not kept (vrfpeer.go)
		return
	}
	in.stopStale()
	if in.info.Peer != nil {
		in.r.exp.post(memberOp{kind: opLeave, info: in.info})
	}
	for i, t := range in.r.tables {
		var err error
		if slices.Contains(plan.fams, ribFamilies[i]) {
			err = t.MarkStale(in.r.ctx, in.src)
		} else {
			err = t.DropSource(in.r.ctx, in.src)
		}
		if err != nil {
			in.r.log.Warn("keeping a restarting peer's routes did not finish", zap.Stringer("peer", in.info.PeerAddr), zap.Error(err))
		}
	}
	in.r.retain(in.info, in.src, plan)
	in.release()
}

// retain keeps src's stale routes for a restart of the peer of info, until its next
// session takes them (adopt) or the timers sweep them: at the restart time the families
// without long-lived GR go and the others become long-lived stale, each until its own
// stale time.
func (r *RIB) retain(info *SessionInfo, src *rib.Source, plan grPlan) {
	clk := r.clock(info)
	rt := &retainedSource{src: src, fams: slices.Clone(plan.fams)}
	r.grMu.Lock()
	if old := r.retained[info.PeerIndex]; old != nil {
		old.stopLocked()
	}
	r.retained[info.PeerIndex] = rt
	rt.timers = append(rt.timers, clk.AfterFunc(plan.restart, func() {
		var sweep, long []proto.Family
		r.grMu.Lock()
		if r.retained[info.PeerIndex] != rt {
			r.grMu.Unlock()
			return
		}
		for _, f := range rt.fams {
			if d := plan.llgr[f]; d > 0 {
				long = append(long, f)
				fam := f
				rt.timers = append(rt.timers, clk.AfterFunc(d, func() { r.expire(info, rt, fam) }))
			} else {
				sweep = append(sweep, f)
			}
		}
		rt.fams = long
		if len(long) == 0 {
			delete(r.retained, info.PeerIndex)
		}
		r.grMu.Unlock()
		r.log.Info("restart timer expired", zap.Stringer("peer", info.PeerAddr), zap.Any("removed", sweep), zap.Any("long_lived", long))
		r.sweepStale(src, sweep)
		for _, f := range long {
			if t := r.Table(f); t != nil {
				if err := t.LongLivedStale(r.ctx, src); err != nil {
					r.log.Warn("long-lived stale marking did not finish", zap.Error(err))
				}
			}
		}
	}))
	r.grMu.Unlock()
	r.log.Info("peer restarting: routes kept stale", zap.Stringer("peer", info.PeerAddr),
		zap.Any("families", plan.fams), zap.Duration("restart_time", plan.restart))
}

// expire ends the long-lived stale time of fam for the retained source rt.
func (r *RIB) expire(info *SessionInfo, rt *retainedSource, fam proto.Family) {
	r.grMu.Lock()
	i := slices.Index(rt.fams, fam)
	mine := r.retained[info.PeerIndex] == rt && i >= 0
	if mine {
		rt.fams = slices.Delete(rt.fams, i, i+1)
		if len(rt.fams) == 0 {
			delete(r.retained, info.PeerIndex)
		}
	}
	r.grMu.Unlock()
	if mine {
		r.log.Info("long-lived stale time expired: removing stale routes", zap.Stringer("peer", info.PeerAddr), zap.Stringer("family", fam))
		r.sweepStale(rt.src, []proto.Family{fam})
	}
}

func (rt *retainedSource) stopLocked() {
	for _, t := range rt.timers {
		t.Stop()
	}
}

func (r *RIB) clock(info *SessionInfo) Clock {
	if info.Peer != nil {
		return info.Peer.clock()
	}
	return SystemClock{}
}

// sweepStale removes src's stale routes of fams.
func (r *RIB) sweepStale(src *rib.Source, fams []proto.Family) {
	for _, f := range fams {
		if t := r.Table(f); t != nil {
			if err := t.SweepStale(r.ctx, src); err != nil {
				r.log.Warn("removing stale routes did not finish", zap.Error(err))
			}
		}
	}
}

// adopt hands the new session of a restarting peer its retained Source, or nil when there
// is none or it cannot be reused (the peer is not the same). Families the new session
// cannot refresh are swept at once; the others are returned to wait for End-of-RIB.
func (r *RIB) adopt(info *SessionInfo) (*rib.Source, []proto.Family) {
	r.grMu.Lock()
	rt := r.retained[info.PeerIndex]
	delete(r.retained, info.PeerIndex)
	if rt != nil {
		rt.stopLocked()
	}
	r.grMu.Unlock()
	if rt == nil {
		return nil, nil
	}
	src := rt.src
	if src.AS != info.PeerAS || src.RouterID != info.RouterID || src.EBGP != info.EBGP ||
		src.Client != info.RRClient || src.RSClient != info.RSClient || src.Addr != info.PeerAddr {
		r.log.Info("restarted peer is not the same: removing its stale routes", zap.Stringer("peer", info.PeerAddr))
		r.sweepStale(src, rt.fams)
		return nil, nil
	}
	var wait, now []proto.Family
	for _, f := range rt.fams {
		if hasFamily(info.Families, f) && (grForwarding(&info.GR, f) || llgrForwarding(&info.LLGR, f)) {
			wait = append(wait, f)
		} else {
			now = append(now, f) // RFC 4724 §4.2: forwarding state not kept, or family gone
		}
	}
	r.sweepStale(src, now)
	r.log.Info("restarted peer: stale routes wait for its End-of-RIB", zap.Stringer("peer", info.PeerAddr),
		zap.Any("families", wait), zap.Any("swept", now))
	return src, wait
}

// llgrForwarding is grForwarding for the LLGR capability (its per-family F bit).
func llgrForwarding(c *proto.LongLivedGR, fam proto.Family) bool {
	return c.Present && forwarding(c.Families, fam)
}

// grForwarding reports whether gr (a peer's Graceful Restart capability) says the peer
// kept its forwarding state for fam (the F bit, RFC 4724 §3).
func grForwarding(gr *proto.GracefulRestart, fam proto.Family) bool {
	return gr.Present && forwarding(gr.Families, fam)
}

// forwarding reports whether fam's entry in fams has the F bit.
func forwarding(fams []proto.GRFamily, fam proto.Family) bool {
	for _, f := range fams {
		if f.Family == fam {
			return f.Flags&proto.GRForwarding != 0
		}
	}
	return false
}

// staleWait is a session's families whose stale routes (from before its peer restarted)
// await its End-of-RIB. mu guards it: the reader (EndOfRIB), a timer and the peer
// goroutine (Down) use it.
type staleWait struct {
	mu    sync.Mutex
	fams  []proto.Family
	timer ClockTimer
}

// waitStale arms the stale wait of a session that adopted src's stale routes of fams.
func (in *ribIn) waitStale(fams []proto.Family, d time.Duration) {
	if len(fams) == 0 {
		return
	}
	w := &in.stale
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fams = fams
	w.timer = in.r.clock(in.info).AfterFunc(d, func() {
		w.mu.Lock()
		left := w.fams
		w.fams = nil
		w.mu.Unlock()
		if len(left) > 0 {
			in.r.log.Info("no End-of-RIB in time: removing stale routes", zap.Stringer("peer", in.info.PeerAddr), zap.Any("families", left))
			in.r.sweepStale(in.src, left)
		}
	})
}

// staleEndOfRIB ends the stale wait of fam: what was not re-sent goes.
func (in *ribIn) staleEndOfRIB(fam proto.Family) {
	w := &in.stale
	w.mu.Lock()
	i := slices.Index(w.fams, fam)
	if i >= 0 {
		w.fams = slices.Delete(slices.Clone(w.fams), i, i+1)
	}
	w.mu.Unlock()
	if i >= 0 {
		in.r.sweepStale(in.src, []proto.Family{fam})
	}
}

// stopStale stops the stale timer (the session is going down; what still waits stays
// stale, for the next restart or the sweep of the session's routes).
func (in *ribIn) stopStale() {
	w := &in.stale
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.fams = nil
	w.mu.Unlock()
}
