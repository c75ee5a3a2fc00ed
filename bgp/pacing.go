package bgp

import (
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// Sync pacing: the walks that send sessions their table (the initial sync after a join, and
// re-advertisements) are the bulk work of a reconnect storm. Each RibOut has at most one
// such walk waiting to start; sessions that join or ask while it waits join it, so a storm
// of peers on one export policy costs one walk. When the walk may start is the Pacer's
// choice: by default at most MaxWalks run at once and each starts after a random delay up
// to MaxDelay, so hundreds of peers coming up in the same second do not start hundreds of
// table walks in that second. Waiting peers are told nothing false: they get their table
// later, then End-of-RIB, and meanwhile the changes of any prefix (Changed) as everyone else.

// Pacer decides when a sync walk starts. Schedule must call start exactly once, from any
// goroutine, when the walk may begin; Done is called once per started walk when it ends.
// Stats reports the pacer's state for metrics and logs.
type Pacer interface {
	Schedule(start func())
	Done()
	Stats() PacerStats
}

// PacerStats is a Pacer's state.
type PacerStats struct {
	Running int // walks started and not done
	Queued  int // walks waiting for a slot or their delay
	Started uint64
	Delayed uint64 // walks that waited because MaxWalks were running
}

// PacingConfig configures the default Pacer.
type PacingConfig struct {
	// MaxWalks bounds the sync walks running at once; 0: 4; negative: unbounded (no pacing).
	MaxWalks int
	// MaxDelay is the upper bound of the random delay before a walk starts; 0: none.
	MaxDelay time.Duration
}

// NewPacer returns the default pacer of cfg on clk (nil: the system clock).
func NewPacer(cfg PacingConfig, clk Clock) Pacer {
	if cfg.MaxWalks == 0 {
		cfg.MaxWalks = 4
	}
	if clk == nil {
		clk = SystemClock{}
	}
	return &boundedPacer{cfg: cfg, clk: clk}
}

// boundedPacer: mu guards everything below it. Owner: the RIB's export manager.
type boundedPacer struct {
	cfg PacingConfig
	clk Clock

	mu      sync.Mutex
	running int
	queue   []func()
	started uint64
	delayed uint64
}

func (p *boundedPacer) Schedule(start func()) {
	p.mu.Lock()
	if p.cfg.MaxWalks > 0 && p.running >= p.cfg.MaxWalks {
		p.queue = append(p.queue, start)
		p.delayed++
		p.mu.Unlock()
		return
	}
	p.running++
	p.started++
	p.mu.Unlock()
	p.launch(start)
}

func (p *boundedPacer) launch(start func()) {
	if p.cfg.MaxDelay <= 0 {
		start()
		return
	}
	p.clk.AfterFunc(rand.N(p.cfg.MaxDelay), start)
}

func (p *boundedPacer) Done() {
	p.mu.Lock()
	p.running--
	var next func()
	if len(p.queue) > 0 && (p.cfg.MaxWalks <= 0 || p.running < p.cfg.MaxWalks) {
		next = p.queue[0]
		p.queue = p.queue[1:]
		p.running++
		p.started++
	}
	p.mu.Unlock()
	if next != nil {
		p.launch(next)
	}
}

func (p *boundedPacer) Stats() PacerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PacerStats{Running: p.running, Queued: len(p.queue), Started: p.started, Delayed: p.delayed}
}

// syncWait is what one RibOut's waiting sync walk is for. Owned by the bgp.membership task.
type syncWait struct {
	scheduled bool        // the pacer holds a start for this RibOut
	walking   bool        // its sync walk runs: the next one starts after it
	joined    rib.PeerSet // joined slots: table, then End-of-RIB
	refresh   rib.PeerSet // slots to re-advertise to
	enh       rib.PeerSet // of those, the ones framed by BoRR/EoRR
	since     time.Time   // when the oldest of them began waiting
}

// schedule hands r's pending joins and refreshes to the pacer (one start per RibOut).
func (m *exportManager) schedule(r *ribOut) {
	w := &r.wait
	if w.joined.Empty() && w.refresh.Empty() {
		w.since = m.clk.Now()
	}
	w.joined = w.joined.Or(r.joined)
	w.refresh = w.refresh.Or(r.refreshing)
	w.enh = w.enh.Or(r.refreshEnh)
	r.joined, r.refreshing, r.refreshEnh = rib.PeerSet{}, rib.PeerSet{}, rib.PeerSet{}
	if (w.joined.Empty() && w.refresh.Empty()) || w.scheduled || w.walking {
		return
	}
	w.scheduled = true
	if st := m.pacer.Stats(); m.pacing != nil && st.Running >= m.pacing.MaxWalks && m.pacing.MaxWalks > 0 {
		m.log.Info("sync walks paced", zap.Int("running", st.Running), zap.Int("queued", st.Queued+1))
	}
	m.pacer.Schedule(func() { m.post(memberOp{kind: opStartWalk, r: r}) })
}

// startWalk runs in the bgp.membership task when the pacer lets r's walk start: one walk
// for every slot that waited, End-of-RIB after it for joins, BoRR/EoRR around it for
// enhanced refreshes.
func (m *exportManager) startWalk(c *sched.Ctx, r *ribOut) {
	w := &r.wait
	w.scheduled = false
	if m.ribouts[r.key] != r {
		m.pacer.Done()
		return
	}
	ro := r.ro
	members := ro.Members()
	joined, refresh, enh := w.joined.And(members), w.refresh.And(members), w.enh.And(members)
	waited := m.clk.Now().Sub(w.since)
	*w = syncWait{walking: true}
	m.waited.observe(waited)
	if joined.Empty() && refresh.Empty() {
		w.walking = false
		m.pacer.Done()
		return
	}
	var gens [rib.MaxMembers]uint32
	joined.Or(refresh).Each(func(i int) { gens[i] = ro.Gen(i) })
	ro.Force(c, joined.Or(refresh))
	if !enh.Empty() {
		ro.Marker(enh, &gens, proto.RefreshBoRR)
	}
	err := ro.RequestWalk(func(*sched.Ctx) {
		if !joined.Empty() {
			ro.EndOfRIB(joined, &gens)
			m.post(memberOp{kind: opWalked, r: r, set: joined, gens: &gens})
		}
		if !refresh.Empty() {
			if !enh.Empty() {
				ro.Marker(enh, &gens, proto.RefreshEoRR)
			}
			m.post(memberOp{kind: opRefreshed, r: r, set: refresh, gens: &gens})
		}
		m.post(memberOp{kind: opWalkDone, r: r})
		m.pacer.Done()
	})
	if err != nil {
		w.walking = false
		m.pacer.Done()
		m.log.Warn("sync walk not started", zap.Error(err))
	}
}

// waitStats keeps the longest and the last wait of a sync walk (nanoseconds; atomic
// through its mutex so metrics can read it).
type waitStats struct {
	mu        sync.Mutex
	last, max time.Duration
}

func (s *waitStats) observe(d time.Duration) {
	s.mu.Lock()
	s.last = d
	s.max = max(s.max, d)
	s.mu.Unlock()
}

// SyncStats describes sync pacing for metrics and diagnostics.
type SyncStats struct {
	PacerStats
	LastWait, MaxWait time.Duration // how long walks waited for the pacer
}

// SyncStats returns the state of sync pacing. Safe from any goroutine.
func (r *RIB) SyncStats() SyncStats {
	st := SyncStats{PacerStats: r.exp.pacer.Stats()}
	r.exp.waited.mu.Lock()
	st.LastWait, st.MaxWait = r.exp.waited.last, r.exp.waited.max
	r.exp.waited.mu.Unlock()
	return st
}
