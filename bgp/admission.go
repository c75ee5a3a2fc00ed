package bgp

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
)

// AdmissionConfig bounds incoming connection attempts before any BGP is spoken: a source
// address that reconnects in a loop, or a flood of connections that never reach
// Established, costs a closed socket and a counter, not a session.
type AdmissionConfig struct {
	// PerSourceBurst is how many connection attempts one source address may make at once;
	// 0: 32; negative: no per-source limit.
	PerSourceBurst int
	// PerSourceInterval is how often one more attempt is allowed after the burst; 0: 250 ms.
	PerSourceInterval time.Duration
	// MaxSources bounds the source addresses remembered for the rate limit; 0: 4096.
	MaxSources int
	// MaxUnestablished caps the accepted connections not yet Established (counted from
	// accept until Established or closed); 0: 512; negative: no cap.
	MaxUnestablished int
}

func (c AdmissionConfig) withDefaults() AdmissionConfig {
	// A peer retries every few seconds at most (connect retry, idle hold); collisions
	// add one more. A flood is thousands a second.
	if c.PerSourceBurst == 0 {
		c.PerSourceBurst = 32
	}
	if c.PerSourceInterval <= 0 {
		c.PerSourceInterval = 250 * time.Millisecond
	}
	if c.MaxSources <= 0 {
		c.MaxSources = 4096
	}
	if c.MaxUnestablished == 0 {
		c.MaxUnestablished = 512
	}
	return c
}

// AdmissionStats are the admission counters, for metrics.
type AdmissionStats struct {
	Admitted      uint64 // connections let through to the peer lookup
	RateLimited   uint64 // refused: the source exceeded its attempt rate
	OverCap       uint64 // refused: MaxUnestablished connections were pending
	Unestablished int    // connections admitted and not yet Established or closed
}

// admission is the incoming-connection gate. mu guards every field below it. Owner: the
// Server (its accept loops call admit; session goroutines release tickets). Cardinality:
// one per Server. Lifetime: the Server's.
type admission struct {
	cfg   AdmissionConfig
	clock Clock
	log   *zap.Logger

	mu      sync.Mutex
	sources map[netip.Addr]bucket
	stats   AdmissionStats
}

// bucket is one source's token bucket: tokens available at last.
type bucket struct {
	tokens  float64
	last    time.Time
	limited bool // the last attempt was refused (logged once per episode)
}

func newAdmission(cfg AdmissionConfig, clock Clock, log *zap.Logger) *admission {
	return &admission{cfg: cfg.withDefaults(), clock: clock, log: log, sources: map[netip.Addr]bucket{}}
}

// admitTicket is one admitted connection's place under MaxUnestablished; release gives it
// back once (further calls do nothing). A nil ticket is valid and releases nothing. Owner:
// whoever holds the connection (accept loop, then the peer's session goroutine).
type admitTicket struct {
	a    *admission
	done atomic.Bool
}

func (t *admitTicket) release() {
	if t == nil || !t.done.CompareAndSwap(false, true) {
		return
	}
	t.a.mu.Lock()
	t.a.stats.Unestablished--
	t.a.mu.Unlock()
}

// admit decides on a connection from src: a ticket, or nil and the reason it is refused.
func (a *admission) admit(src netip.Addr) (*admitTicket, string) {
	now := a.clock.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cfg.PerSourceBurst > 0 && !a.takeLocked(src, now) {
		a.stats.RateLimited++
		return nil, "connection attempt rate exceeded for this source"
	}
	if a.cfg.MaxUnestablished > 0 && a.stats.Unestablished >= a.cfg.MaxUnestablished {
		a.stats.OverCap++
		if n := a.stats.OverCap; n&(n-1) == 0 { // 1, 2, 4, ...: a flood logs a few lines
			a.log.Warn("too many unestablished connections: refusing", zap.Int("cap", a.cfg.MaxUnestablished),
				zap.Uint64("refused_total", n), zap.Stringer("remote", src))
		}
		return nil, "too many unestablished connections"
	}
	a.stats.Admitted++
	a.stats.Unestablished++
	return &admitTicket{a: a}, ""
}

// takeLocked takes one token from src's bucket, refilled for the time since its last use.
func (a *admission) takeLocked(src netip.Addr, now time.Time) bool {
	burst := float64(a.cfg.PerSourceBurst)
	b, ok := a.sources[src]
	if !ok {
		a.makeRoomLocked(now)
		b = bucket{tokens: burst, last: now}
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(burst, b.tokens+float64(el)/float64(a.cfg.PerSourceInterval))
	}
	b.last = now
	allowed := b.tokens >= 1
	if allowed {
		b.tokens--
		b.limited = false
	} else if !b.limited {
		b.limited = true
		a.log.Warn("connection attempts from this source rate-limited", zap.Stringer("remote", src),
			zap.Int("burst", a.cfg.PerSourceBurst), zap.Duration("interval", a.cfg.PerSourceInterval))
	}
	a.sources[src] = b
	return allowed
}

// makeRoomLocked keeps the source table under MaxSources: it forgets sources whose bucket
// has refilled (they are the same as new ones), and when none has, an arbitrary one.
func (a *admission) makeRoomLocked(now time.Time) {
	if len(a.sources) < a.cfg.MaxSources {
		return
	}
	full := time.Duration(a.cfg.PerSourceBurst) * a.cfg.PerSourceInterval
	for src, b := range a.sources {
		if now.Sub(b.last) >= full {
			delete(a.sources, src)
		}
	}
	for src := range a.sources {
		if len(a.sources) < a.cfg.MaxSources {
			break
		}
		delete(a.sources, src)
	}
}

// Stats returns a snapshot of the counters.
func (a *admission) Stats() AdmissionStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// AdmissionStats returns the incoming-connection admission counters.
func (s *Server) AdmissionStats() AdmissionStats { return s.admit.Stats() }

// handleAccepted admits an accepted connection, applies its peer's socket options, and
// hands it to the peer configured for its remote address; everything else is closed.
func (s *Server) handleAccepted(nc net.Conn) {
	var remote netip.Addr
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		remote = ta.AddrPort().Addr().Unmap()
	}
	t, why := s.admit.admit(remote)
	if t == nil {
		s.log.Debug("connection refused", zap.Stringer("remote", nc.RemoteAddr()), zap.String("reason", why))
		s.mu.Lock()
		known := s.peers[remote] != nil
		s.mu.Unlock()
		if known {
			// A configured peer is told why (Cease / Connection Rejected); a stranger is not.
			refuseConn(nc, proto.SubConnectionRejected, why)
		} else {
			nc.Close()
		}
		return
	}
	s.mu.Lock()
	p := s.peers[remote]
	s.mu.Unlock()
	if p == nil {
		p = s.acceptDynamic(remote) // dynamic.go: nil unless a dynamic-neighbor range holds remote
	}
	if p != nil {
		if err := p.cfg.sockOpts().applyAccepted(nc, remote); err != nil {
			p.log.Warn("connection refused: socket options", zap.Error(err))
			t.release()
			nc.Close()
			return
		}
	}
	if p == nil || !p.post(incomingConn{nc: nc, t: t}) {
		s.log.Info("connection from an unknown address closed", zap.Stringer("remote", nc.RemoteAddr()))
		t.release()
		nc.Close()
	}
}
