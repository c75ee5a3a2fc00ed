package bgp

import (
	"runtime/metrics"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
)

// MemoryConfig is the memory ceiling. Above Ceiling, the announcements of the peers that
// hold more routes than their share (the routes held by all Established peers divided by
// their number) are refused; above Hard, every peer's are. Withdrawals always go through:
// they free memory. A refused UPDATE is applied as treat-as-withdraw (RFC 7606 §2), so the
// Adj-RIB-In never keeps a stale version of a prefix the peer re-announced.
type MemoryConfig struct {
	Ceiling uint64 // bytes as Deps.MemoryUsage reads them; 0: no ceiling
	Hard    uint64 // 0: Ceiling + Ceiling/8
}

// MemoryStats are the ceiling's counters, for metrics.
type MemoryStats struct {
	Usage          uint64 // the last sample
	Level          int    // 0 under the ceiling, 1 over it, 2 over the hard level
	Share          int64  // routes per Established peer at the last sample
	RefusedUpdates uint64 // UPDATEs whose announcements were refused
	LevelChanges   uint64
}

// memSampleEvery bounds how often usage is read and the share recomputed.
const memSampleEvery = 100 * time.Millisecond

// memGuard applies MemoryConfig to each UPDATE. Atomics only: readers of every peer call
// refuse concurrently; one of them at a time wins the sample (CAS on sampledAt). Owner:
// the Server. Cardinality: one per Server. Lifetime: the Server's.
type memGuard struct {
	cfg   MemoryConfig
	usage func() uint64
	clock Clock
	log   *zap.Logger
	srv   *Server

	sampledAt atomic.Int64 // Clock time (Unix ns) of the last sample
	lastUsage atomic.Uint64
	level     atomic.Int32
	share     atomic.Int64
	refused   atomic.Uint64
	changes   atomic.Uint64
}

func newMemGuard(cfg MemoryConfig, usage func() uint64, s *Server) *memGuard {
	if cfg.Ceiling == 0 {
		return nil
	}
	if cfg.Hard == 0 {
		cfg.Hard = cfg.Ceiling + cfg.Ceiling/8
	}
	if usage == nil {
		usage = goMemoryInUse
	}
	g := &memGuard{cfg: cfg, usage: usage, clock: s.deps.Clock, log: s.log.Named("memory"), srv: s}
	g.sampledAt.Store(-1)
	return g
}

// goMemoryInUse is the memory the Go runtime holds from the OS and has not released.
func goMemoryInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}

// memRefusal is the error a refused UPDATE is applied with.
var memRefusal = &proto.Error{Action: proto.ActionTreatAsWithdraw, Code: proto.CodeUpdate,
	Reason: "memory ceiling reached: announcements refused"}

// refuse reports whether p's UPDATE is to be refused now. A nil guard refuses nothing.
func (g *memGuard) refuse(p *Peer) bool {
	if g == nil {
		return false
	}
	now := g.clock.Now().UnixNano()
	if last := g.sampledAt.Load(); (last < 0 || now-last >= int64(memSampleEvery)) && g.sampledAt.CompareAndSwap(last, now) {
		g.sample()
	}
	switch g.level.Load() {
	case 0:
		return false
	case 1:
		if p.counters.Routes.Received.Load() <= g.share.Load() {
			return false
		}
	}
	if n := g.refused.Add(1); n&(n-1) == 0 { // 1, 2, 4, ...: a storm logs a few lines
		p.log.Warn("memory ceiling: announcements refused", zap.Int64("held", p.counters.Routes.Received.Load()),
			zap.Int64("share", g.share.Load()), zap.Uint64("usage", g.lastUsage.Load()), zap.Uint64("refused_total", n))
	}
	return true
}

func (g *memGuard) sample() {
	u := g.usage()
	g.lastUsage.Store(u)
	level := int32(0)
	switch {
	case u > g.cfg.Hard:
		level = 2
	case u > g.cfg.Ceiling:
		level = 1
	}
	var total, n int64
	g.srv.mu.Lock()
	for _, p := range g.srv.peers {
		if p.counters.session.Load() != nil {
			total += p.counters.Routes.Received.Load()
			n++
		}
	}
	g.srv.mu.Unlock()
	if n > 0 {
		g.share.Store(total / n)
	}
	if old := g.level.Swap(level); old != level {
		g.changes.Add(1)
		g.log.Warn("memory level changed", zap.Int32("from", old), zap.Int32("to", level), zap.Uint64("usage", u),
			zap.Uint64("ceiling", g.cfg.Ceiling), zap.Uint64("hard", g.cfg.Hard), zap.Int64("share", g.share.Load()))
	}
}

// MemoryStats returns the memory ceiling's counters (zero when there is no ceiling).
func (s *Server) MemoryStats() MemoryStats {
	g := s.mem
	if g == nil {
		return MemoryStats{}
	}
	return MemoryStats{Usage: g.lastUsage.Load(), Level: int(g.level.Load()), Share: g.share.Load(),
		RefusedUpdates: g.refused.Load(), LevelChanges: g.changes.Load()}
}
