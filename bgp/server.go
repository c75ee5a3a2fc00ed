package bgp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/sched"
)

// Deps are the server's dependencies. Everything that touches the outside world comes in
// here, so tests run several servers in one process on loopback with a fake clock.
type Deps struct {
	Logger *zap.Logger // nil: no logging
	Clock  Clock       // nil: SystemClock
	// Listen opens a listener; nil: a plain TCP listener (listenTCP).
	Listen func(network, addr string) (net.Listener, error)
	// Dial opens an outgoing connection from laddr ("" for any) to raddr; nil: a
	// net.Dialer bound to laddr that also signs with a peer's TCP MD5 key (sockopt.go).
	Dial      func(ctx context.Context, network, laddr, raddr string) (net.Conn, error)
	Scheduler *sched.Scheduler // the task scheduler (used by the routing side)
	Routing   Routing          // nil: routes are dropped
	// OnRouteRefresh, when set, is called from the peer's session goroutine for each valid
	// ROUTE-REFRESH an Established peer sends (answering it is the export side's job).
	OnRouteRefresh func(info *SessionInfo, rr proto.RouteRefresh)
	// Jitter scales the connect-retry and idle-hold delays; nil: RFC 4271 §10 jitter, a
	// random factor between 0.75 and 1. Without it two peers that both connect retry in
	// step and can collide (RFC 4271 §6.8) again and again. Tests with a fake clock may
	// pass the identity.
	Jitter func(time.Duration) time.Duration
	// MemoryUsage reads the memory the ceiling (ServerConfig.Memory) is compared with;
	// nil: what the Go runtime holds and has not released.
	MemoryUsage func() uint64
}

// rfcJitter multiplies d by a random factor in [0.75, 1] (RFC 4271 §10).
func rfcJitter(d time.Duration) time.Duration {
	return d - time.Duration(rand.Int64N(int64(d)/4+1))
}

// Server is the root of fanout's object tree: it owns the listeners and the peers, and
// wires them to the routing side. It holds no routing logic.
//
// mu guards peers, the index pool, the listeners and the life-cycle flags. Owner: the
// program (or test) that called New. Cardinality: one per fanout instance; tests run
// several side by side. Lifetime: New to Close; Close waits for every goroutine it started.
type Server struct {
	cfg  ServerConfig
	deps Deps
	log  *zap.Logger

	mu        sync.Mutex
	peers     map[netip.Addr]*Peer
	freeIdx   []uint32
	nextIdx   uint32
	listeners []*listener
	started   bool
	closed    bool

	wg sync.WaitGroup // accept loops and peer session goroutines

	admit *admission // incoming connection limits (admission.go)
	mem   *memGuard  // the memory ceiling; nil without one (memlimit.go)

	grp groupSet // peer groups and dynamic-neighbor ranges (dynamic.go); guarded by mu

	restarting atomic.Bool // OPENs carry the Restart State bit (RFC 4724 §4.1) until RestartDone
}

// listener is one listening socket and its accept loop.
type listener struct {
	l    net.Listener
	addr netip.AddrPort
	done chan struct{} // closed by Close: the accept loop's back-off wait ends
}

// New builds a server; nothing runs until Start.
func New(cfg ServerConfig, deps Deps) (*Server, error) {
	if cfg.AS == 0 {
		return nil, errors.New("bgp: server AS is 0")
	}
	if !cfg.RouterID.Is4() || cfg.RouterID.IsUnspecified() {
		return nil, fmt.Errorf("bgp: router id %v is not a non-zero IPv4 address", cfg.RouterID)
	}
	if deps.Logger == nil {
		deps.Logger = zap.NewNop()
	}
	if deps.Jitter == nil {
		deps.Jitter = rfcJitter
	}
	if deps.Clock == nil {
		deps.Clock = SystemClock{}
	}
	if deps.Listen == nil {
		deps.Listen = listenTCP
	}
	s := &Server{cfg: cfg, deps: deps, log: deps.Logger, peers: map[netip.Addr]*Peer{},
		admit: newAdmission(cfg.Admission, deps.Clock, deps.Logger.Named("admission"))}
	s.mem = newMemGuard(cfg.Memory, deps.MemoryUsage, s)
	s.restarting.Store(cfg.Restarting)
	return s, nil
}

// RestartDone ends fanout's own graceful restart: OPENs sent from now on no longer carry
// the Restart State bit (RFC 4724 §4.1). Call it when the deferred export resumed
// (RIB.DeferExport).
func (s *Server) RestartDone() { s.restarting.Store(false) }

func (s *Server) routing() Routing {
	if s.deps.Routing == nil {
		return discardRouting{}
	}
	return s.deps.Routing
}

type discardRouting struct{}

func (discardRouting) SessionUp(*SessionInfo) Ingest { return discardIngest{} }

// Start opens the listeners and starts every peer added so far.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.started {
		return errors.New("bgp: server already started or closed")
	}
	for _, a := range s.cfg.ListenAddrs {
		l, err := s.deps.Listen("tcp", netip.AddrPortFrom(a, s.cfg.ListenPort).String())
		if err != nil {
			for _, ln := range s.listeners {
				ln.l.Close()
			}
			s.listeners = nil
			return fmt.Errorf("bgp: listen on %v: %w", a, err)
		}
		ln := &listener{l: l, done: make(chan struct{})}
		if ta, ok := l.Addr().(*net.TCPAddr); ok {
			ln.addr = ta.AddrPort()
		}
		s.listeners = append(s.listeners, ln)
	}
	for a, p := range s.peers {
		if p.cfg.AuthPassword == "" {
			continue
		}
		if err := s.setListenerKeysLocked(a, p.cfg.AuthPassword); err != nil {
			for _, ln := range s.listeners {
				ln.l.Close()
			}
			s.listeners = nil
			return err
		}
	}
	s.started = true
	for _, ln := range s.listeners {
		s.wg.Add(1)
		go s.accept(ln)
	}
	for _, p := range s.peers {
		p.start()
	}
	s.log.Info("server started", zap.Uint32("as", s.cfg.AS), zap.Stringer("router_id", s.cfg.RouterID),
		zap.Any("listen", s.listenAddrsLocked()))
	return nil
}

// ListenAddrs returns the addresses the server accepts on (with the ports chosen when
// ListenPort was 0).
func (s *Server) ListenAddrs() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listenAddrsLocked()
}

func (s *Server) listenAddrsLocked() []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(s.listeners))
	for _, ln := range s.listeners {
		out = append(out, ln.addr)
	}
	return out
}

// accept hands each incoming connection to the peer configured for its remote address (or
// created for it from a dynamic-neighbor range, dynamic.go) and closes the others.
func (s *Server) accept(ln *listener) {
	defer s.wg.Done()
	for {
		nc, err := ln.l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("accept failed", zap.Error(err))
			wake := make(chan struct{})
			t := s.deps.Clock.AfterFunc(100*time.Millisecond, func() { close(wake) })
			select {
			case <-wake:
			case <-ln.done:
				t.Stop()
				return
			}
			continue
		}
		s.handleAccepted(nc)
	}
}

// AddPeer configures a neighbor; it starts at once when the server is running (unless
// cfg.AdminDown).
func (s *Server) AddPeer(cfg PeerConfig) error {
	cfg = cfg.withDefaults(&s.cfg)
	if err := cfg.validate(); err != nil {
		return err
	}
	cfg.Families = slices.Clone(cfg.Families)
	cfg.AddPathReceive = slices.Clone(cfg.AddPathReceive)
	cfg.AddPathSend = slices.Clone(cfg.AddPathSend)
	open, err := localOpen(&cfg, s.cfg.RouterID)
	if err != nil {
		return err
	}
	msg, _ := proto.AppendOpen(nil, open)
	p := &Peer{cfg: cfg, srv: s, log: s.log.With(zap.Stringer("peer", cfg.Addr)), open: open, openMsg: msg, restartMsg: restartOpen(open),
		counters: &PeerCounters{}, inbox: make(chan any, 64), quit: make(chan struct{}), exited: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	if s.peers[cfg.Addr] != nil {
		return fmt.Errorf("%w: %v", ErrPeerExists, cfg.Addr)
	}
	if s.started && cfg.AuthPassword != "" {
		if err := s.setListenerKeysLocked(cfg.Addr, cfg.AuthPassword); err != nil {
			s.setListenerKeysLocked(cfg.Addr, "")
			return err
		}
	}
	if n := len(s.freeIdx); n > 0 {
		p.index, s.freeIdx = s.freeIdx[n-1], s.freeIdx[:n-1]
	} else {
		p.index = s.nextIdx
		s.nextIdx++
	}
	s.peers[cfg.Addr] = p
	if s.started {
		p.start()
	}
	return nil
}

// DeletePeer stops a neighbor with Cease / Peer De-configured and waits for its goroutines;
// ctx bounds the wait for the NOTIFICATION to be flushed.
func (s *Server) DeletePeer(ctx context.Context, addr netip.Addr) error {
	s.mu.Lock()
	p := s.peers[addr]
	delete(s.peers, addr)
	started := s.started
	if p != nil && p.cfg.AuthPassword != "" && started {
		if err := s.setListenerKeysLocked(addr, ""); err != nil {
			s.log.Warn("removing a TCP MD5 key failed", zap.Error(err))
		}
	}
	s.mu.Unlock()
	if p == nil {
		return fmt.Errorf("%w: %v", ErrNoPeer, addr)
	}
	if started {
		p.stop(ctx, ceaseErr(proto.SubPeerDeconfigured, ""))
	}
	s.mu.Lock()
	s.freeIdx = append(s.freeIdx, p.index)
	s.mu.Unlock()
	return nil
}

// stop asks the session goroutine to end and waits until it and its children have.
func (p *Peer) stop(ctx context.Context, cease *proto.Error) {
	p.post(stopReq{ctx: ctx, cease: cease})
	<-p.exited
}

// Close sends a Cease to every peer, closes the listeners and waits for every goroutine.
// When ctx ends first, connections are closed without waiting for their NOTIFICATION to
// be flushed; Close still waits for the goroutines and then returns ctx's error.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	lns := s.listeners
	peers := make([]*Peer, 0, len(s.peers))
	for _, p := range s.peers {
		peers = append(peers, p)
	}
	started := s.started
	s.mu.Unlock()
	for _, ln := range lns {
		close(ln.done)
		ln.l.Close()
	}
	if started {
		for _, p := range peers {
			p.post(stopReq{ctx: ctx, cease: nil})
		}
		for _, p := range peers {
			<-p.exited
		}
	}
	s.wg.Wait()
	s.log.Info("server closed")
	return ctx.Err()
}

// Lookup returns the peer configured at addr, nil when none.
func (s *Server) Lookup(addr netip.Addr) *Peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peers[addr]
}

// Peer returns a snapshot of the peer at addr.
func (s *Server) Peer(addr netip.Addr) (PeerStatus, bool) {
	p := s.Lookup(addr)
	if p == nil {
		return PeerStatus{}, false
	}
	return p.Status(), true
}

// Peers returns a snapshot of every peer, ordered by address.
func (s *Server) Peers() []PeerStatus {
	s.mu.Lock()
	ps := make([]*Peer, 0, len(s.peers))
	for _, p := range s.peers {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	slices.SortFunc(ps, func(a, b *Peer) int { return a.cfg.Addr.Compare(b.cfg.Addr) })
	out := make([]PeerStatus, len(ps))
	for i, p := range ps {
		out[i] = p.Status()
	}
	return out
}

func (s *Server) admin(addr netip.Addr, op adminOp, msg string) error {
	s.mu.Lock()
	p, started := s.peers[addr], s.started
	s.mu.Unlock()
	switch {
	case p == nil:
		return fmt.Errorf("%w: %v", ErrNoPeer, addr)
	case !started:
		return errors.New("bgp: server not started")
	}
	return p.request(op, msg)
}

// EnablePeer starts a peer that was administratively down or stopped at its prefix limit.
func (s *Server) EnablePeer(addr netip.Addr) error { return s.admin(addr, opEnable, "") }

// DisablePeer stops a peer with Cease / Administrative Shutdown carrying msg as the RFC 9003
// shutdown communication (none when empty); it stays down until EnablePeer.
func (s *Server) DisablePeer(addr netip.Addr, msg string) error {
	return s.admin(addr, opDisable, msg)
}

// SoftResetOut re-sends the established session of addr everything it is to hold, as
// answering a ROUTE-REFRESH for each of its families does (refresh.go).
func (s *Server) SoftResetOut(addr netip.Addr) error {
	return s.admin(addr, opSoftResetOut, "")
}

// ResetPeer resets a session. Hard: Cease / Administrative Reset, then a new session.
// Soft: ask the peer to send its routes again with ROUTE-REFRESH (RFC 2918; SoftResetOut
// is the outbound direction).

func (s *Server) ResetPeer(addr netip.Addr, soft bool) error {
	if soft {
		return s.admin(addr, opSoftReset, "")
	}
	return s.admin(addr, opHardReset, "")
}
