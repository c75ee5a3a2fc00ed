package bgp

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// Export: RibOuts, membership and scheduling groups
//
// Each established session joins one RibOut per family it negotiated: the RibOut of its
// export policy (rib.ExportPolicy) on that family's table. Joins and leaves are queued by
// the sessions' goroutines (RIB.SessionUp, Ingest.Down) and applied by one bgp.membership
// task, which excludes every partition, walk and send task, so the membership view the
// others read never changes under them. After applying a run of changes it recomputes the
// scheduling groups: the connected components of the graph of sessions and RibOuts (a
// session in two RibOuts links them). Each group has one bgp.send task that drains its
// RibOuts' queues (send.go).

// exportKey names a RibOut: its policy, the VRF whose table it is on ("" for the global
// tables, vrfpeer.go) and, when more than rib.MaxMembers sessions share the policy, which of
// the RibOuts of that policy.
type exportKey struct {
	pol   rib.ExportPolicy
	vrf   string
	shard int
}

// RibOutCounters count one RibOut's sending. Atomic: the send task writes them, anyone
// reads them.
type RibOutCounters struct {
	Encoded  atomic.Uint64 // UPDATE messages encoded (End-of-RIB included): once per message, however many members get it
	Prefixes atomic.Uint64 // prefix announcements and withdrawals dequeued
	Batches  atomic.Uint64 // batches sent
}

// ribOut is the bgp side of a rib.RibOut: the members' sessions by slot and its group.
// Owned by the bgp.membership task; the group's send task reads members and group.
// Cardinality: one per RibOut. Lifetime: from its first join until its cleanup.
type ribOut struct {
	key      exportKey
	ro       *rib.RibOut
	members  [rib.MaxMembers]*SessionInfo
	group    *sendGroup
	counters RibOutCounters
	// joined are the slots that joined since the last walk request, with their generations.
	joined rib.PeerSet
	// refreshing are the slots marked for re-advertisement since the last walk request
	// (refresh.go); refreshEnh those of them that get BoRR/EoRR around it.
	refreshing, refreshEnh rib.PeerSet
	wait                   syncWait // what its paced sync walk is for (pacing.go)
	cleanup                bool     // a cleanup walk is requested (no members left)
}

// exportSession is one session's place in the RibOuts. Owned by the membership task.
type exportSession struct {
	info    *SessionInfo
	src     *rib.Source
	slots   []exportSlot
	refresh map[proto.Family]*refreshState // re-advertisements per family (refresh.go)
}

type exportSlot struct {
	r    *ribOut
	slot int
}

// memberOp is one queued membership change.
type memberOp struct {
	kind uint8
	info *SessionInfo
	src  *rib.Source
	r    *ribOut
	set  rib.PeerSet
	gens *[rib.MaxMembers]uint32
	fam  proto.Family // opRefresh
	enh  bool         // opRefresh: enhanced route refresh (RFC 7313)
	wait bool         // opRefresh: a request that waited (timer or running sync), not a new one
	def  *deferral    // opDefer
}

const (
	opJoin uint8 = iota + 1
	opLeave
	opWalked    // an initial walk finished for set
	opCleaned   // a cleanup walk finished for r
	opRefresh   // a session asked for its routes again (refresh.go)
	opRefreshed // a re-advertisement walk finished for set
	opDefer     // hold every join until the peers have synced (gr_defer.go)
	opSynced    // a session's peer sent End-of-RIB for all its families, or needs not
	opDeferEnd  // the selection deferral timer fired
	opStartWalk // the pacer lets r's sync walk start (pacing.go)
	opWalkDone  // r's sync walk ended: the next may be scheduled
)

// maxOpsPerRun bounds the membership changes one bgp.membership run applies.
const maxOpsPerRun = 256

// exportManager keeps the RibOuts and the scheduling groups of one RIB.
//
// mu guards ops, the queue of membership changes filled from session goroutines and walk
// tasks. Everything else is owned by the bgp.membership task. Owner: the RIB.
// Cardinality: one per RIB. Lifetime: the RIB's.
type exportManager struct {
	r    *RIB
	s    *sched.Scheduler
	log  *zap.Logger
	task *sched.Task
	// attrs interns the attribute sets the RibOuts export, shared by all of them (2-octet
	// RibOuts keep their own). It is apart from the RIB's table of received sets, whose
	// count is what the RIB holds: an exported set lives only while some RibOut holds it.
	attrs *rib.AttrTable

	mu  sync.Mutex
	ops []memberOp // guarded by mu; at most a few per session

	def       deferral // fanout's own restart: export held until the peers synced (gr_defer.go)
	pacer     Pacer    // when sync walks start (pacing.go)
	pacing    *PacingConfig
	clk       Clock
	waited    waitStats
	ribouts   map[exportKey]*ribOut
	sessions  map[*SessionInfo]*exportSession
	groups    []*sendGroup
	nextGroup int
}

func newExportManager(r *RIB, s *sched.Scheduler) (*exportManager, error) {
	m := &exportManager{r: r, s: s, log: r.log, attrs: rib.NewAttrTable(), ribouts: map[exportKey]*ribOut{}, sessions: map[*SessionInfo]*exportSession{}}
	pc := r.cfg.Pacing
	if pc.MaxWalks == 0 {
		pc.MaxWalks = 4
	}
	m.pacing, m.pacer = &pc, r.cfg.Pacer
	m.clk = r.cfg.Clock
	if m.clk == nil {
		m.clk = SystemClock{}
	}
	if m.pacer == nil {
		m.pacer = NewPacer(pc, m.clk)
	}
	t, err := s.NewTask(sched.BGPMembership, 0, m.run)
	if err != nil {
		return nil, err
	}
	m.task = t
	return m, nil
}

func (m *exportManager) post(op memberOp) {
	m.mu.Lock()
	m.ops = append(m.ops, op)
	m.mu.Unlock()
	if err := m.task.Wake(); err != nil {
		m.log.Debug("membership change after the scheduler closed", zap.Error(err))
	}
}

// policyFor is the export policy of a session for fam.
func (m *exportManager) policyFor(info *SessionInfo, fam proto.Family) rib.ExportPolicy {
	p := rib.ExportPolicy{Family: fam, AS4: info.Send.AS4, ExtendedMessage: info.Send.ExtendedMessage}
	if info.Peer != nil {
		p.StripUnknown = info.Peer.cfg.StripUnknownAttrs
		p.LLGR = info.LLGR.Present && info.Peer.cfg.GracefulRestart.hasLongLived(fam)
		if info.Send.AddPath.Has(fam) {
			p.AddPathSend = info.Peer.cfg.AddPathSendMax(fam)
		}
	}
	switch {
	case info.RSClient:
		p.Role = rib.RoleRSClient
	case info.EBGP:
		p.Role, p.LocalAS, p.NextHopSelf = rib.RoleEBGP, info.LocalAS, info.LocalAddr
	case info.RRClient:
		p.Role, p.ClusterID = rib.RoleIBGPClient, m.clusterID(info)
	default:
		p.Role, p.ClusterID = rib.RoleIBGPNonClient, m.clusterID(info)
	}
	return p
}

// clusterID is the cluster id reflected toward the session's peer: the peer's configured
// one (route-reflector-cluster-id), else the RIB's.
func (m *exportManager) clusterID(info *SessionInfo) netip.Addr {
	if info.Peer != nil && info.Peer.cfg.ClusterID.IsValid() {
		return info.Peer.cfg.ClusterID
	}
	return m.r.cfg.ClusterID
}

// run is the bgp.membership task: apply queued changes, then regroup.
func (m *exportManager) run(c *sched.Ctx) sched.Result {
	sched.Check(c, sched.BGPMembership)
	m.mu.Lock()
	n := min(len(m.ops), maxOpsPerRun)
	ops := append([]memberOp(nil), m.ops[:n]...)
	m.ops = append(m.ops[:0], m.ops[n:]...)
	more := len(m.ops) > 0
	m.mu.Unlock()
	changed := false
	for i := range ops {
		op := &ops[i]
		switch op.kind {
		case opJoin:
			if m.def.on {
				m.def.held = append(m.def.held, *op) // gr_defer.go
				continue
			}
			changed = m.join(c, op.info, op.src) || changed
		case opLeave:
			if m.unhold(op.info) {
				continue
			}
			changed = m.leave(c, op.info) || changed
		case opDefer, opSynced, opDeferEnd:
			changed = m.deferOp(c, op) || changed
		case opWalked:
			op.r.ro.Walked(c, op.set, op.gens)
			m.synced(c, op.r, op.set, op.gens)
		case opRefresh:
			m.refresh(c, op)
		case opRefreshed:
			op.r.ro.Walked(c, op.set, op.gens)
			m.synced(c, op.r, op.set, op.gens)
		case opStartWalk:
			m.startWalk(c, op.r)
		case opWalkDone:
			op.r.wait.walking = false
			op.r.ro.Queue.Kick() // its sender may be holding back for the walk (send.go)
			m.schedule(op.r)
		case opCleaned:
			changed = m.clean(c, op.r) || changed
		}
	}
	m.requestWalks()
	if changed {
		m.regroup()
	}
	if more {
		return sched.Again
	}
	return sched.Done
}

func (m *exportManager) join(c *sched.Ctx, info *SessionInfo, src *rib.Source) bool {
	if _, ok := m.sessions[info]; ok {
		return false
	}
	es := &exportSession{info: info, src: src, refresh: map[proto.Family]*refreshState{}}
	for _, fam := range info.Families {
		t := m.r.sessionTable(info, fam) // a VRF's table for a peer bound to it (vrfpeer.go)
		if t == nil {
			continue
		}
		pol := m.policyFor(info, fam)
		var r *ribOut
		for shard := 0; ; shard++ {
			k := exportKey{pol: pol, vrf: sessionVRF(info), shard: shard}
			r = m.ribouts[k]
			if r == nil {
				r = &ribOut{key: k, ro: rib.NewRibOut(t, m.attrs, pol)}
				if err := r.ro.Register(c); err != nil {
					m.log.Error("registering a RibOut failed", zap.Error(err))
					r = nil
					break
				}
				m.ribouts[k] = r
			}
			if !r.ro.Full() {
				break
			}
		}
		if r == nil {
			continue
		}
		slot, _ := r.ro.Join(c, src.ID, info.RouterID)
		if slot < 0 {
			continue
		}
		r.members[slot] = info
		r.joined.Add(slot)
		r.cleanup = false
		es.slots = append(es.slots, exportSlot{r: r, slot: slot})
		es.refresh[fam] = &refreshState{running: true} // the initial sync
	}
	m.sessions[info] = es
	if info.Peer != nil {
		slots := es.slots
		info.Peer.OnDrain(func() {
			for _, s := range slots {
				s.r.ro.Queue.Drained(s.slot)
			}
		})
	}
	return true
}

func (m *exportManager) leave(c *sched.Ctx, info *SessionInfo) bool {
	es, ok := m.sessions[info]
	if !ok {
		return false
	}
	delete(m.sessions, info)
	for _, s := range es.slots {
		r := s.r
		r.ro.Leave(c, es.src.ID, s.slot)
		r.members[s.slot] = nil
		r.joined.Remove(s.slot)
		if r.ro.Members().Empty() && !r.cleanup {
			// A walk with no members releases every per-prefix state; then it goes.
			r.cleanup = true
			if err := r.ro.RequestWalk(func(*sched.Ctx) { m.post(memberOp{kind: opCleaned, r: r}) }); err != nil {
				m.log.Warn("cleanup walk not started", zap.Error(err))
			}
		}
	}
	return true
}

// clean deletes r if it is still without members after its cleanup walk.
func (m *exportManager) clean(c *sched.Ctx, r *ribOut) bool {
	if !r.cleanup || !r.ro.Members().Empty() || m.ribouts[r.key] != r {
		return false
	}
	delete(m.ribouts, r.key)
	ro := r.ro
	if err := ro.Unregister(c, func(*sched.Ctx) { ro.Close() }); err != nil {
		m.log.Warn("unregistering a RibOut failed", zap.Error(err))
	}
	return true
}

// requestWalks asks one initial walk per RibOut for the members that joined; the walk
// sends them the table, then End-of-RIB follows.
func (m *exportManager) requestWalks() {
	for _, r := range m.ribouts {
		m.schedule(r) // pacing.go
	}
}

// regroup recomputes the scheduling groups: the connected components of sessions and
// RibOuts. Old groups are retired (their queued send task runs return at once) and each
// new group's task is woken to pick up what is pending.
func (m *exportManager) regroup() {
	for _, g := range m.groups {
		g.retired = true
	}
	m.groups = m.groups[:0]
	parent := map[*ribOut]*ribOut{}
	var find func(r *ribOut) *ribOut
	find = func(r *ribOut) *ribOut {
		for parent[r] != r {
			parent[r] = parent[parent[r]]
			r = parent[r]
		}
		return r
	}
	for _, r := range m.ribouts {
		parent[r] = r
	}
	for _, es := range m.sessions {
		for i := 1; i < len(es.slots); i++ {
			a, b := find(es.slots[0].r), find(es.slots[i].r)
			if a != b {
				parent[a] = b
			}
		}
	}
	byRoot := map[*ribOut]*sendGroup{}
	for _, r := range m.ribouts {
		root := find(r)
		g := byRoot[root]
		if g == nil {
			g = m.newGroup()
			if g == nil {
				continue
			}
			byRoot[root] = g
			m.groups = append(m.groups, g)
		}
		g.ribouts = append(g.ribouts, r)
		r.group = g
		task := g.task
		r.ro.Queue.SetWake(func() { _ = task.Wake() })
	}
	for _, g := range m.groups {
		_ = g.task.Wake()
	}
}

func (m *exportManager) newGroup() *sendGroup {
	m.nextGroup++
	g := &sendGroup{id: m.nextGroup, log: m.log}
	t, err := m.s.NewTask(sched.BGPSend, g.id, g.run)
	if err != nil {
		m.log.Error("send task", zap.Error(err))
		return nil
	}
	g.task = t
	return g
}

// ExportAttrs returns the table of exported attribute sets.
func (r *RIB) ExportAttrs() *rib.AttrTable { return r.exp.attrs }

// RibOutStatus describes one RibOut for tests and diagnostics.
type RibOutStatus struct {
	Policy   rib.ExportPolicy
	Members  int
	Pending  int
	Parked   int
	Encoded  uint64
	Prefixes uint64
	Batches  uint64
	Rewrites int
	Group    int
}

// RibOuts describes the RibOuts. c must exclude every partition, walk and send task
// (bgp.config, bgp.membership).
func (r *RIB) RibOuts(c *sched.Ctx) []RibOutStatus {
	sched.CheckExcludes(c, sched.DBPartition, sched.DBWalk, sched.BGPSend)
	var out []RibOutStatus
	for _, x := range r.exp.ribouts {
		st := RibOutStatus{Policy: x.key.pol, Members: x.ro.Members().Len(), Pending: x.ro.Queue.Pending(),
			Parked: x.ro.Queue.Parked().Len(), Encoded: x.counters.Encoded.Load(), Prefixes: x.counters.Prefixes.Load(),
			Batches: x.counters.Batches.Load(), Rewrites: x.ro.Rewrites(c)}
		if x.group != nil {
			st.Group = x.group.id
		}
		out = append(out, st)
	}
	return out
}
