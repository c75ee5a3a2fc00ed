package bgp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
)

// Peer is one configured neighbor: its configuration, its counters, and the session
// goroutine that runs its FSMs and timers. The fields are set by AddPeer and never change;
// the session state lives in peerLoop, owned by the session goroutine, and what others may
// read is published through counters (atomics).
//
// Owner: the Server. Cardinality: one per configured neighbor. Lifetime: from AddPeer to
// DeletePeer or Server.Close; its session goroutine and every goroutine it starts (dialers,
// readers, writers) have ended when exited is closed.
type Peer struct {
	cfg     PeerConfig // defaults applied
	srv     *Server
	log     *zap.Logger
	index   uint32
	open    *proto.Open // the OPEN we send
	openMsg []byte
	// restartMsg is the OPEN with the Restart State bit, sent while the server restarts
	// (nil without graceful restart).
	restartMsg []byte
	counters   *PeerCounters

	inbox  chan any      // to the session goroutine; every send selects on quit
	quit   chan struct{} // closed by the session goroutine when it stops reading inbox
	exited chan struct{} // closed when the session goroutine and its children have ended
	wg     sync.WaitGroup
}

// established is the published view of an Established session.
type established struct {
	info      *SessionInfo
	conn      *conn
	hold      time.Duration
	keepalive time.Duration
	caps      *proto.Capabilities
}

// Messages to the session goroutine (besides connEvent).
type (
	timerFired struct {
		s   *fsmSession
		t   Timer
		gen uint64
	}
	dialDone struct {
		s   *fsmSession
		gen uint64
		nc  net.Conn
		err error
	}
	incomingConn struct {
		nc net.Conn
		t  *admitTicket // released when the connection is Established or closed
	}
	adminReq struct {
		op    adminOp
		msg   string
		reply chan error
	}
	restartFired struct{ gen uint64 }
	stopReq      struct {
		ctx   context.Context
		cease *proto.Error
	}
)

type adminOp uint8

const (
	opEnable adminOp = iota
	opDisable
	opHardReset
	opSoftReset
	opSoftResetOut
)

// Errors of the peer administration calls.
var (
	ErrNoPeer         = errors.New("bgp: no such peer")
	ErrPeerExists     = errors.New("bgp: peer already configured")
	ErrNotEstablished = errors.New("bgp: session not established")
	ErrNoRouteRefresh = errors.New("bgp: peer does not support route refresh")
	ErrNoReadvertise  = errors.New("bgp: the session's routing side cannot re-advertise")
	ErrServerClosed   = errors.New("bgp: server closed")
)

func (p *Peer) clock() Clock   { return p.srv.deps.Clock }
func (p *Peer) now() time.Time { return p.srv.deps.Clock.Now() }

// Addr returns the peer's address.
func (p *Peer) Addr() netip.Addr { return p.cfg.Addr }

// Counters returns the peer's counters.
func (p *Peer) Counters() *PeerCounters { return p.counters }

// post hands m to the session goroutine; false when it has stopped.
func (p *Peer) post(m any) bool {
	select {
	case <-p.quit:
		return false
	default:
	}
	select {
	case p.inbox <- m:
		return true
	case <-p.quit:
		return false
	}
}

func (p *Peer) request(op adminOp, msg string) error {
	r := adminReq{op: op, msg: msg, reply: make(chan error, 1)}
	if !p.post(r) {
		return ErrServerClosed
	}
	select {
	case err := <-r.reply:
		return err
	case <-p.quit:
		return ErrServerClosed
	}
}

// SendBulk queues whole UPDATE messages to the Established session. It returns false when
// there is no Established session or the send buffer is full; in the latter case the
// function given to OnDrain is called once room frees up. It is the export side's way in
// and may be called from any goroutine.
func (p *Peer) SendBulk(msgs []byte) bool {
	e := p.counters.session.Load()
	if e == nil {
		return false
	}
	ok, err := e.conn.sb.AppendBulk(msgs)
	if !ok || err != nil {
		return false
	}
	for b := msgs; len(b) >= proto.HeaderLen; {
		h, err := proto.ParseHeader(b, proto.MaxExtendedMessage)
		if err != nil || int(h.Len) > len(b) {
			break
		}
		p.counters.countOut(h.Type)
		b = b[h.Len:]
	}
	return true
}

// OnDrain registers f as the current session's drain callback (see SendBulk). It is
// forgotten when the session ends. It reports whether a session was Established.
func (p *Peer) OnDrain(f func()) bool {
	e := p.counters.session.Load()
	if e == nil {
		return false
	}
	e.conn.shared.drain.Store(&f)
	return true
}

// Status returns a snapshot of the peer.
func (p *Peer) Status() PeerStatus {
	st := PeerStatus{Addr: p.cfg.Addr, PeerAS: p.cfg.PeerAS, Passive: p.cfg.Passive}
	p.counters.snapshot(&st, p.now())
	if e := p.counters.session.Load(); e != nil {
		st.Session, st.HoldTime, st.KeepaliveTime, st.PeerCapabilities = e.info, e.hold, e.keepalive, e.caps
	}
	return st
}

// peerLoop is the session goroutine's state. Owner: that goroutine alone.
type peerLoop struct {
	p          *Peer
	log        *zap.Logger
	main       *fsmSession
	extra      *fsmSession // the other connection of a collision
	adminDown  bool
	prefixHeld bool // ceased on the prefix limit; waits for the restart timer or EnablePeer
	needStart  bool // main entered Idle: start it again (automatic start) once settled
	closing    bool
	restart    ClockTimer
	restartGen uint64
	downOn     Event   // the event that took a session out of Established (gr.go decides on it)
	conns      []*conn // connections whose goroutines may still run
	connSeq    uint64
}

func (p *Peer) start() {
	l := &peerLoop{p: p, log: p.log, adminDown: p.cfg.AdminDown}
	p.counters.adminDown.Store(l.adminDown)
	p.srv.wg.Add(1)
	go func() {
		defer p.srv.wg.Done()
		defer close(p.exited)
		l.run()
	}()
}

func (l *peerLoop) newSession() *fsmSession {
	s := &fsmSession{fsm: NewFSM(l.p.cfg.fsmConfig())}
	s.timers = timerShell{clock: l.p.clock(), jitter: l.p.srv.deps.Jitter, fire: func(t Timer, gen uint64) { l.p.post(timerFired{s: s, t: t, gen: gen}) }}
	return s
}

func (l *peerLoop) run() {
	p := l.p
	l.main = l.newSession()
	if !l.adminDown {
		l.step(l.main, Event{Kind: EvManualStart})
	}
	l.settle()
	for m := range p.inbox {
		if r, ok := m.(stopReq); ok {
			l.shutdown(r)
			return
		}
		l.handle(m)
		l.settle()
	}
}

func (l *peerLoop) handle(m any) {
	switch m := m.(type) {
	case connEvent:
		l.onConnEvent(m)
	case timerFired:
		l.onTimer(m)
	case dialDone:
		l.onDial(m)
	case incomingConn:
		l.onIncoming(m.nc, m.t)
	case adminReq:
		m.reply <- l.onAdmin(m)
	case restartFired:
		if m.gen == l.restartGen && l.prefixHeld {
			l.prefixHeld = false
			if !l.adminDown && l.main.fsm.State() == Idle {
				l.step(l.main, Event{Kind: EvManualStart})
			}
		}
	}
}

// step feeds ev to s's FSM, logs the transition, and carries out the actions.
func (l *peerLoop) step(s *fsmSession, ev Event) {
	from := s.fsm.State()
	acts := s.fsm.Step(ev)
	to := s.fsm.State()
	if from != to {
		fields := []zap.Field{zap.Stringer("from", from), zap.Stringer("to", to),
			zap.String("reason", s.fsm.Reason()), zap.Stringer("event", ev.Kind)}
		if s.conn != nil {
			fields = append(fields, zap.Uint64("conn", s.conn.id))
		}
		if s != l.main {
			fields = append(fields, zap.Bool("collision", true))
		}
		l.log.Info("transition", fields...)
		if s == l.main {
			l.needStart = to == Idle
		}
	}
	for _, a := range acts {
		if a.Kind == ActDown {
			l.downOn = ev
		}
		l.act(s, a)
	}
}

func (l *peerLoop) act(s *fsmSession, a Action) {
	p := l.p
	switch a.Kind {
	case ActConnect:
		l.dial(s)
	case ActListen:
		// The server's listeners accept for every peer; incoming connections arrive as
		// incomingConn.
	case ActDropConnection:
		l.dropConn(s)
	case ActSendOpen:
		msg := p.openMsg
		if p.restartMsg != nil && p.srv.restarting.Load() {
			msg = p.restartMsg
		}
		l.sendUrgent(s, msg, proto.MsgOpen)
		if p.cfg.SendHoldTime > 0 && s.conn != nil {
			s.timers.arm(timerSendHold, p.cfg.SendHoldTime)
		}
	case ActSendKeepalive:
		l.sendUrgent(s, proto.AppendKeepalive(nil), proto.MsgKeepalive)
	case ActSendNotification:
		n := a.Notification
		e := p.counters.setLastError(true, n.Code, n.Subcode, n.Data, p.now())
		l.log.Warn("NOTIFICATION sent", zap.String("notification", e.Name), zap.String("reason", n.Reason))
		l.sendUrgent(s, proto.AppendErrorNotification(nil, n, proto.MaxMessageLen), proto.MsgNotification)
	case ActArmTimer:
		s.timers.arm(a.Timer, a.Duration)
	case ActStopTimer:
		s.timers.stop(a.Timer)
	case ActEstablished:
		l.established(s)
	case ActDown:
		l.down(s)
	case ActProcessUpdate, ActProcessRefresh:
		// The reader hands UPDATEs to the Ingest itself; refreshes go to the hook in
		// onConnEvent.
	}
}

func (l *peerLoop) sendUrgent(s *fsmSession, msg []byte, typ uint8) {
	if s.conn == nil {
		return
	}
	if s.conn.sb.AppendUrgent(msg) == nil {
		l.p.counters.countOut(typ)
	}
}

// onIncoming takes a connection the accept loop matched to this peer (RFC 4271 §6.8,
// §8.2.2).
func (l *peerLoop) onIncoming(nc net.Conn, t *admitTicket) {
	m := l.main
	switch {
	case l.closing || l.adminDown || l.prefixHeld || m.fsm.State() == Idle:
		t.release()
		l.refuse(nc, proto.SubConnectionRejected, "peer is down")
	case m.fsm.State() == Established || (l.extra != nil && l.extra.fsm.State() == Established):
		t.release()
		l.refuse(nc, proto.SubCollisionResolution, "session already established")
	case m.fsm.State() == Active && m.conn == nil:
		l.attach(m, nc, false)
		m.conn.ticket = t
		l.step(m, Event{Kind: EvTCPConnectionConfirmed})
	case l.extra == nil:
		// A second connection while ours is being set up: both proceed until an OPEN
		// lets the collision be resolved.
		x := l.newSession()
		l.extra = x
		l.step(x, Event{Kind: EvManualStartPassive})
		l.attach(x, nc, false)
		x.conn.ticket = t
		l.step(x, Event{Kind: EvTCPConnectionConfirmed})
	default:
		t.release()
		l.refuse(nc, proto.SubConnectionRejected, "too many connections")
	}
}

// refuse answers a connection no session takes with a Cease and closes it.
func (l *peerLoop) refuse(nc net.Conn, sub uint8, why string) {
	l.log.Info("connection refused", zap.Stringer("remote", nc.RemoteAddr()), zap.String("reason", why))
	refuseConn(nc, sub, why)
}

// refuseConn answers a connection fanout will not take with a Cease of subcode sub whose
// data says why in the form of an RFC 9003 shutdown communication, and closes it. A fresh
// socket always has room for the few bytes: the write does not block.
func refuseConn(nc net.Conn, sub uint8, why string) {
	n := proto.ShutdownNotification(sub, "fanout: "+why)
	nc.Write(proto.AppendNotification(nil, &n, proto.MaxMessageLen))
	nc.Close()
}

func (l *peerLoop) sessionOf(c *conn) *fsmSession {
	for _, s := range []*fsmSession{l.main, l.extra} {
		if s != nil && s.conn == c {
			return s
		}
	}
	return nil
}

func (l *peerLoop) other(s *fsmSession) *fsmSession {
	if s == l.main {
		return l.extra
	}
	return l.main
}

func (l *peerLoop) onConnEvent(ce connEvent) {
	s := l.sessionOf(ce.c)
	if s == nil {
		ce.c.answer(ce, connReply{stop: true})
		return
	}
	switch ce.ev.Kind {
	case EvBGPOpen:
		l.onOpen(s, ce)
		return
	case EvRouteRefreshMsg:
		if s.fsm.State() == Established {
			if h := l.p.srv.deps.OnRouteRefresh; h != nil && s.info != nil {
				h(s.info, ce.rr)
			}
			if r, ok := s.ingest.(refresher); ok {
				r.RouteRefresh(ce.rr)
			}
			return
		}
	case EvAutomaticStop:
		if s.fsm.State() == Established {
			l.prefixHeld = true
			if d := l.p.cfg.MaxPrefixes.RestartAfter; d > 0 {
				l.restartGen++
				gen := l.restartGen
				l.restart = l.p.clock().AfterFunc(d, func() { l.p.post(restartFired{gen: gen}) })
			}
		}
	}
	l.step(s, ce.ev)
	rep := connReply{stop: s.conn != ce.c}
	if !rep.stop && s.fsm.State() == Established {
		rep.ingest = s.ingest
	}
	ce.c.answer(ce, rep)
}

// onOpen validates a peer's OPEN, resolves a connection collision (RFC 4271 §6.8) and
// feeds the FSM.
func (l *peerLoop) onOpen(s *fsmSession, ce connEvent) {
	if s.fsm.State() != OpenSent {
		l.step(s, ce.ev) // an OPEN out of turn: the FSM's error
		ce.c.answer(ce, connReply{stop: true})
		return
	}
	neg, perr := negotiate(&l.p.cfg, l.p.open, ce.open)
	if perr != nil {
		l.log.Warn("OPEN refused", zap.Error(perr))
		l.step(s, Event{Kind: EvBGPOpenMsgErr, Err: perr})
		ce.c.answer(ce, connReply{stop: true})
		return
	}
	s.neg = neg
	if o := l.other(s); o != nil && o.conn != nil {
		switch o.fsm.State() {
		case Established:
			l.step(s, Event{Kind: EvOpenCollisionDump})
			ce.c.answer(ce, connReply{stop: true})
			return
		case OpenSent, OpenConfirm:
			// RFC 4271 §6.8 examines connections in OpenConfirm, and in OpenSent when the
			// peer's identifier is known: this OPEN just told us. Deciding at the first
			// OPEN of either connection makes both speakers pick the same connection;
			// waiting for OpenConfirm lets each side establish a different one.
			keep := l.collisionWinner(s, o, neg.routerID, neg.peerAS)
			l.log.Info("connection collision", zap.Stringer("peer_id", neg.routerID),
				zap.Uint64("kept_conn", keep.conn.id), zap.Bool("kept_outgoing", keep.conn.outgoing))
			if keep != s {
				l.step(s, Event{Kind: EvOpenCollisionDump})
				ce.c.answer(ce, connReply{stop: true})
				return
			}
			l.step(o, Event{Kind: EvOpenCollisionDump})
		}
	}
	l.step(s, ce.ev)
	rep := connReply{stop: s.conn != ce.c}
	if !rep.stop {
		rep.recv, rep.families = &s.neg.recv, s.neg.families
	}
	ce.c.answer(ce, rep)
}

// collisionWinner picks the connection to keep (RFC 4271 §6.8): the one initiated by the
// speaker with the higher BGP Identifier; with equal identifiers (possible between
// external peers) the one initiated by the speaker with the larger AS (RFC 6286 §2.3).
// Two connections of the same direction (a peer reconnecting) keep the newer one, a.
func (l *peerLoop) collisionWinner(a, b *fsmSession, remoteID netip.Addr, remoteAS uint32) *fsmSession {
	if a.conn.outgoing == b.conn.outgoing {
		return a
	}
	local, remote := l.p.srv.cfg.RouterID.As4(), remoteID.As4()
	cmp := compareBytes(local[:], remote[:])
	localWins := cmp > 0 || (cmp == 0 && l.p.cfg.LocalAS > remoteAS)
	if a.conn.outgoing == localWins {
		return a
	}
	return b
}

func compareBytes(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func (l *peerLoop) established(s *fsmSession) {
	p := l.p
	c := s.conn
	c.ticket.release()
	info := &SessionInfo{
		PeerAddr: p.cfg.Addr, PeerAS: s.neg.peerAS, LocalAS: p.cfg.LocalAS, RouterID: s.neg.routerID,
		EBGP: s.neg.recv.EBGP, RRClient: p.cfg.RRClient, RSClient: p.cfg.RSClient,
		Families: s.neg.families, Recv: s.neg.recv, Send: s.neg.send, PeerIndex: p.index, EnhancedRefresh: s.neg.enhRefresh,
		Counters: p.counters, Peer: p,
	}
	if s.neg.peerCaps != nil {
		info.GR = s.neg.peerCaps.GracefulRestart
		info.GR.Families = slices.Clone(info.GR.Families)
		info.LLGR = s.neg.peerCaps.LongLivedGR
		info.LLGR.Families = slices.Clone(info.LLGR.Families)
	}
	if ta, ok := c.nc.LocalAddr().(*net.TCPAddr); ok {
		info.LocalAddr = ta.AddrPort().Addr().Unmap()
	}
	// Published before SessionUp: the export side the routing joins the session to sends
	// with SendBulk and registers OnDrain, which need the Established session.
	p.counters.establishAt.Store(p.now().UnixNano())
	p.counters.session.Store(&established{info: info, conn: c, hold: s.fsm.NegotiatedHoldTime(),
		keepalive: s.fsm.KeepaliveTime(), caps: s.neg.peerCaps})
	ing := p.srv.routing().SessionUp(info)
	if ing == nil {
		ing = discardIngest{}
	}
	s.ingest, s.info = ing, info
	l.log.Info("session established", zap.Uint32("peer_as", info.PeerAS), zap.Stringer("peer_id", info.RouterID),
		zap.Any("families", info.Families), zap.Bool("as4", info.Recv.AS4), zap.Bool("extended_message", info.Recv.ExtendedMessage),
		zap.Duration("hold", s.fsm.NegotiatedHoldTime()))
}

// down ends an Established session: the reader stops (its Ingest.Update is cancelled),
// then the Ingest releases the session's routes.
func (l *peerLoop) down(s *fsmSession) {
	p := l.p
	if e := p.counters.session.Load(); e != nil && e.conn == s.conn {
		p.counters.session.Store(nil)
	}
	if c := s.conn; c != nil {
		c.cancel()
		c.nc.SetReadDeadline(longAgo)
		<-c.readerDone
	}
	if s.ingest != nil {
		g, ok := s.ingest.(gracefulIngest)
		if plan, keep := l.graceful(s, l.downOn); ok && keep {
			g.DownGraceful(plan)
		} else {
			s.ingest.Down()
		}
	}
	s.ingest, s.info = nil, nil
	p.counters.Flaps.Add(1)
	p.counters.establishAt.Store(0)
}

// settle resolves what a step left behind: a collision partner to promote or dump, and a
// main session to restart after it fell to Idle.
func (l *peerLoop) settle() {
	for range 4 {
		if x := l.extra; x != nil {
			ms, xs := l.main.fsm.State(), x.fsm.State()
			switch {
			case xs == Idle:
				l.discard(x)
				l.extra = nil
				continue
			case ms == Idle || (xs == Established && l.main.conn == nil):
				l.discard(l.main)
				l.main, l.extra = x, nil
				l.needStart = false
				continue
			case xs == Established:
				l.step(l.main, Event{Kind: EvOpenCollisionDump})
				continue
			case ms == Established:
				l.step(x, Event{Kind: EvOpenCollisionDump})
				continue
			}
		}
		if l.needStart && l.main.fsm.State() == Idle {
			l.needStart = false
			if !l.adminDown && !l.prefixHeld && !l.closing {
				l.step(l.main, Event{Kind: EvAutomaticStart})
				continue
			}
		}
		break
	}
	l.p.counters.state.Store(uint32(l.main.fsm.State()))
}

func (l *peerLoop) stopRestart() {
	l.restartGen++
	if l.restart != nil {
		l.restart.Stop()
		l.restart = nil
	}
}

func (l *peerLoop) stopAll(cease *proto.Error) {
	for _, s := range []*fsmSession{l.extra, l.main} {
		if s != nil {
			l.step(s, Event{Kind: EvManualStop, Err: cease})
		}
	}
}

func (l *peerLoop) onAdmin(r adminReq) error {
	p := l.p
	switch r.op {
	case opEnable:
		l.adminDown, l.prefixHeld = false, false
		p.counters.adminDown.Store(false)
		l.stopRestart()
		if l.main.fsm.State() == Idle {
			l.step(l.main, Event{Kind: EvManualStart})
		}
	case opDisable:
		l.adminDown = true
		p.counters.adminDown.Store(true)
		l.stopRestart()
		l.stopAll(ceaseErr(proto.SubAdminShutdown, r.msg))
	case opHardReset:
		l.stopAll(ceaseErr(proto.SubAdminReset, r.msg))
		if !l.adminDown {
			l.settle()
			if l.main.fsm.State() == Idle {
				l.step(l.main, Event{Kind: EvManualStart})
			}
		}
	case opSoftReset:
		s := l.main
		if s.fsm.State() != Established {
			return ErrNotEstablished
		}
		if !s.neg.routeRefresh {
			return ErrNoRouteRefresh
		}
		// Soft reset inbound (RFC 2918): ask the peer to send its routes again.
		for _, f := range s.neg.families {
			l.sendUrgent(s, proto.AppendRouteRefresh(nil, proto.RouteRefresh{Family: f}), proto.MsgRouteRefresh)
		}
	case opSoftResetOut:
		s := l.main
		if s.fsm.State() != Established {
			return ErrNotEstablished
		}
		r, ok := s.ingest.(refresher)
		if !ok {
			return ErrNoReadvertise
		}
		r.SoftResetOut()
	}
	return nil
}

func ceaseErr(sub uint8, msg string) *proto.Error {
	var data []byte
	if msg != "" {
		data = proto.ShutdownNotification(sub, msg).Data
	}
	return &proto.Error{Action: proto.ActionSessionReset, Code: proto.CodeCease, Subcode: sub, Data: data, Reason: msg}
}

// shutdown stops every session with a Cease, stops reading the inbox, and waits (until
// ctx ends, then without flushing) for every goroutine the peer started.
func (l *peerLoop) shutdown(r stopReq) {
	p := l.p
	l.closing = true
	l.stopRestart()
	l.stopAll(r.cease)
	for _, s := range []*fsmSession{l.extra, l.main} {
		if s != nil {
			l.discard(s)
		}
	}
	p.counters.state.Store(uint32(Idle))
	close(p.quit)
	for _, c := range l.conns {
		select {
		case <-c.writerDone:
		case <-r.ctx.Done():
			c.kill()
		}
	}
	p.wg.Wait()
	// Close what raced into the inbox before quit.
	for {
		select {
		case m := <-p.inbox:
			switch m := m.(type) {
			case incomingConn:
				m.t.release()
				m.nc.Close()
			case dialDone:
				if m.nc != nil {
					m.nc.Close()
				}
			case adminReq:
				m.reply <- ErrServerClosed
			}
		default:
			return
		}
	}
}

// discardIngest drops routes; it stands in when the Routing returns no Ingest.
type discardIngest struct{}

func (discardIngest) Update(context.Context, *proto.Update, *proto.Error) (int, error) { return 0, nil }
func (discardIngest) EndOfRIB(proto.Family)                                            {}
func (discardIngest) Down()                                                            {}
