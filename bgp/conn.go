package bgp

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
)

const (
	readBufSize = 64 << 10        // one read; holds any message (65535 bytes at most)
	lingerTime  = 5 * time.Second // how long a dropped connection may take to flush its NOTIFICATION
)

// longAgo is a deadline in the past: setting it as a read deadline makes a blocked Read
// return at once. It is a constant, not a reading of the clock.
var longAgo = time.Unix(1, 0)

// conn is one TCP connection of a peer: its reader goroutine (framing, decoding, handing
// UPDATEs to the session's Ingest), its writer goroutine (draining the SendBuffer to the
// socket) and the handles the session goroutine uses to drop it.
//
// Fields are set before the goroutines start and never change, except the conn-owned
// ones the session goroutine alone touches (marked). Shared mutable state lives in shared
// (atomics only). Owner: the session goroutine of its peer, which drops it and waits for
// its goroutines. Cardinality: at most two per peer (a collision). Lifetime: one TCP
// connection.
type conn struct {
	p          *Peer
	nc         net.Conn
	id         uint64
	outgoing   bool // fanout dialled it
	sb         *SendBuffer
	ctx        context.Context // cancelled when the connection is dropped
	cancel     context.CancelFunc
	reply      chan connReply // capacity 1: answers to the reader's synchronous events
	abort      chan struct{}  // closed to stop the writer without flushing
	readerDone chan struct{}
	writerDone chan struct{}
	shared     *connShared

	ticket  *admitTicket // its place among unestablished connections; session goroutine only
	dropped bool         // session goroutine only
	aborted bool         // session goroutine only
}

// connShared is what the reader, the writer, the session goroutine and the export side
// share about one connection. Atomics only.
type connShared struct {
	lastRecv     atomic.Int64 // Clock time (Unix ns) the reader last framed a message
	blockedSince atomic.Int64 // Clock time the reader entered Ingest.Update; 0 when not in it
	drain        atomic.Pointer[func()]
}

// connEvent is a message from a reader (or writer) to the session goroutine. A sync event
// is answered on conn.reply before the reader reads on.
type connEvent struct {
	c    *conn
	ev   Event
	open *proto.Open
	rr   proto.RouteRefresh
	sync bool
}

// connReply tells the reader what the session goroutine decided.
type connReply struct {
	stop     bool                  // the connection is being dropped: stop reading
	recv     *proto.SessionOptions // set once the OPEN is accepted
	families []proto.Family
	ingest   Ingest // set when the session reached Established
}

func (p *Peer) newConn(nc net.Conn, id uint64, outgoing bool) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{p: p, nc: nc, id: id, outgoing: outgoing, ctx: ctx, cancel: cancel,
		reply: make(chan connReply, 1), abort: make(chan struct{}),
		readerDone: make(chan struct{}), writerDone: make(chan struct{}), shared: &connShared{}}
	c.shared.lastRecv.Store(p.now().UnixNano())
	sh := c.shared
	c.sb = NewSendBuffer(SendBufferOptions{Limit: p.cfg.SendBufferLimit, Now: p.now, OnDrain: func() {
		if f := sh.drain.Load(); f != nil {
			(*f)()
		}
	}})
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		defer close(c.readerDone)
		r := reader{c: c, maxLen: proto.MaxMessageLen, log: p.log.With(zap.Uint64("conn", id))}
		r.run()
	}()
	go func() {
		defer p.wg.Done()
		defer close(c.writerDone)
		err := c.sb.WriteTo(nc, c.abort)
		nc.Close()
		if err != nil {
			c.post(connEvent{ev: Event{Kind: EvTCPConnectionFails}})
		}
	}()
	return c
}

// fsmSession is one FSM with its timers and, from Connect or Active on, its connection or dial
// attempt. The peer's main session lives as long as the peer (it keeps the FSM's
// connect-retry counter and damping); a second session exists only during a connection
// collision (RFC 4271 §6.8). Owner: the session goroutine.
type fsmSession struct {
	fsm        *FSM
	timers     timerShell
	conn       *conn
	dialCancel context.CancelFunc
	dialGen    uint64
	neg        negotiated   // valid from OpenConfirm
	ingest     Ingest       // while Established
	info       *SessionInfo // while Established
	abrupt     bool         // drop without flushing (send hold timer expired)
}

func (l *peerLoop) dial(s *fsmSession) {
	p := l.p
	if s.dialCancel != nil {
		s.dialCancel()
	}
	s.dialGen++
	gen := s.dialGen
	ctx, cancel := context.WithCancel(context.Background())
	s.dialCancel = cancel
	laddr := ""
	if p.cfg.LocalAddr.IsValid() {
		laddr = netip.AddrPortFrom(p.cfg.LocalAddr, 0).String()
	}
	raddr := netip.AddrPortFrom(p.cfg.Addr, p.cfg.RemotePort)
	opts := p.cfg.sockOpts()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		nc, err := p.srv.dial(ctx, laddr, raddr, opts)
		if !p.post(dialDone{s: s, gen: gen, nc: nc, err: err}) && nc != nil {
			nc.Close()
		}
	}()
}

func (l *peerLoop) onDial(m dialDone) {
	s := m.s
	if (s != l.main && s != l.extra) || m.gen != s.dialGen || s.fsm.State() != Connect || s.conn != nil {
		if m.nc != nil {
			m.nc.Close()
		}
		return
	}
	s.dialCancel = nil
	if m.err != nil {
		// The connect-retry timer tries again (RFC 4271 §8.2.2 Connect state).
		l.log.Info("connect failed", zap.Error(m.err))
		return
	}
	l.attach(s, m.nc, true)
	l.step(s, Event{Kind: EvTCPCRAcked})
}

func (l *peerLoop) attach(s *fsmSession, nc net.Conn, outgoing bool) {
	l.connSeq++
	c := l.p.newConn(nc, l.connSeq, outgoing)
	s.conn = c
	l.conns = append(l.conns, c)
	l.log.Info("connection", zap.Uint64("conn", c.id), zap.Bool("outgoing", outgoing),
		zap.Stringer("local", nc.LocalAddr()), zap.Stringer("remote", nc.RemoteAddr()))
}

func (l *peerLoop) dropConn(s *fsmSession) {
	if s.dialCancel != nil {
		s.dialCancel()
		s.dialCancel = nil
	}
	s.dialGen++
	if c := s.conn; c != nil {
		s.timers.stop(timerSendHold)
		c.drop(s.abrupt)
		s.conn = nil
	}
	s.abrupt = false
	// Forget connections whose goroutines have ended.
	live := l.conns[:0]
	for _, c := range l.conns {
		select {
		case <-c.writerDone:
			if isDone(c.readerDone) {
				continue
			}
		default:
		}
		live = append(live, c)
	}
	clear(l.conns[len(live):])
	l.conns = live
}

func isDone(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// discard forgets a session that is no longer wanted (Idle, or superseded by the other
// connection of a collision).
func (l *peerLoop) discard(s *fsmSession) {
	s.timers.stopAll()
	if s.conn != nil {
		s.abrupt = false
	}
	l.dropConn(s)
}

// post hands an event to the session goroutine unless the connection was dropped or the
// peer stopped.
func (c *conn) post(ce connEvent) bool {
	if c.ctx.Err() != nil {
		return false
	}
	ce.c = c
	select {
	case c.p.inbox <- ce:
		return true
	case <-c.ctx.Done():
	case <-c.p.quit:
	}
	return false
}

// call posts a sync event and waits for the answer.
func (c *conn) call(ce connEvent) connReply {
	ce.sync = true
	if !c.post(ce) {
		return connReply{stop: true}
	}
	select {
	case rep := <-c.reply:
		return rep
	case <-c.ctx.Done():
	case <-c.p.quit:
	}
	return connReply{stop: true}
}

// answer replies to a sync event; the reader waits for exactly one answer per call.
func (c *conn) answer(ce connEvent, rep connReply) {
	if ce.sync {
		c.reply <- rep
	}
}

// drop closes the connection: the reader stops at once (its pending Ingest.Update is
// cancelled), the writer flushes the urgent lane (a final NOTIFICATION) and closes the
// socket. abrupt skips the flush: the peer is not reading (RFC 9687), so nothing more
// would get through. A flush that takes longer than lingerTime is cut short.
func (c *conn) drop(abrupt bool) {
	if c.dropped {
		return
	}
	c.dropped = true
	c.ticket.release()
	c.cancel()
	c.nc.SetReadDeadline(longAgo)
	c.sb.Close()
	if abrupt {
		c.kill()
		return
	}
	nc := c.nc
	c.p.clock().AfterFunc(lingerTime, func() { nc.Close() })
}

// kill closes the socket without flushing.
func (c *conn) kill() {
	if !c.aborted {
		c.aborted = true
		close(c.abort)
	}
	c.nc.Close()
}

// reader is the state of one connection's reader goroutine; nothing else touches it.
type reader struct {
	c        *conn
	log      *zap.Logger
	maxLen   int
	recv     proto.SessionOptions
	families []proto.Family
	ingest   Ingest // nil until Established
	upd      proto.Update
	notif    proto.Notification
	warned   bool // the max-prefix warning was logged
}

func (r *reader) now() int64 { return r.c.p.now().UnixNano() }

func (r *reader) run() {
	c := r.c
	cnt := c.p.counters
	buf := make([]byte, readBufSize)
	start, end := 0, 0
	for {
		framed := false
		for {
			h, body, n, err := proto.NextMessage(buf[start:end], r.maxLen)
			if err != nil {
				e, _ := proto.AsError(err)
				r.log.Warn("bad message header", zap.Error(err))
				c.post(connEvent{ev: Event{Kind: EvBGPHeaderErr, Err: e}})
				return
			}
			if n == 0 {
				break
			}
			framed = true
			cnt.MsgIn[h.Type%msgTypes].Add(1)
			if !r.handle(h, body) {
				return
			}
			start += n
		}
		if framed {
			c.shared.lastRecv.Store(r.now())
		}
		if start > 0 {
			end = copy(buf, buf[start:end])
			start = 0
		}
		nr, err := c.nc.Read(buf[end:])
		end += nr
		cnt.BytesIn.Add(uint64(nr))
		if err != nil && nr == 0 {
			if c.ctx.Err() == nil {
				if errors.Is(err, io.EOF) {
					r.log.Info("connection closed by peer")
				} else {
					r.log.Info("connection read failed", zap.Error(err))
				}
				c.post(connEvent{ev: Event{Kind: EvTCPConnectionFails}})
			}
			return
		}
	}
}

// handle processes one framed message and reports whether to read on.
func (r *reader) handle(h proto.Header, body []byte) bool {
	c := r.c
	switch h.Type {
	case proto.MsgOpen:
		o := new(proto.Open) // the session goroutine keeps it: one per connection
		if err := proto.DecodeOpen(body, o); err != nil {
			e, _ := proto.AsError(err)
			r.log.Warn("bad OPEN", zap.Error(err))
			c.call(connEvent{ev: Event{Kind: EvBGPOpenMsgErr, Err: e}})
			return false
		}
		rep := c.call(connEvent{ev: Event{Kind: EvBGPOpen, HoldTime: time.Duration(o.HoldTime) * time.Second}, open: o})
		if rep.stop {
			return false
		}
		if rep.recv != nil {
			r.recv, r.families = *rep.recv, rep.families
			r.maxLen = r.recv.MaxLen()
		}
		return true
	case proto.MsgKeepalive:
		if r.ingest != nil {
			return true // Established: only liveness, which lastRecv records
		}
		rep := c.call(connEvent{ev: Event{Kind: EvKeepAliveMsg}})
		r.ingest = rep.ingest
		return !rep.stop
	case proto.MsgUpdate:
		if r.ingest == nil {
			// Before Established an UPDATE is an FSM error (RFC 6608).
			return !c.call(connEvent{ev: Event{Kind: EvUpdateMsg}}).stop
		}
		return r.update(body)
	case proto.MsgNotification:
		if err := proto.DecodeNotification(body, &r.notif); err != nil {
			r.log.Warn("malformed NOTIFICATION", zap.Error(err))
		}
		e := c.p.counters.setLastError(false, r.notif.Code, r.notif.Subcode, r.notif.Data, c.p.now())
		fields := []zap.Field{zap.String("notification", e.Name)}
		if e.Shutdown != "" {
			fields = append(fields, zap.String("shutdown_message", e.Shutdown))
		} else if len(e.Data) > 0 {
			fields = append(fields, zap.Binary("data", e.Data))
		}
		r.log.Warn("NOTIFICATION received", fields...)
		kind := EvNotifMsg
		if r.notif.Code == proto.CodeOpen && r.notif.Subcode == proto.SubUnsupportedVersion {
			kind = EvNotifMsgVerErr
		}
		c.post(connEvent{ev: Event{Kind: kind, Err: &proto.Error{Code: r.notif.Code, Subcode: r.notif.Subcode}}})
		return false
	case proto.MsgRouteRefresh:
		var rr proto.RouteRefresh
		err := proto.DecodeRouteRefresh(body, &rr)
		if r.ingest == nil {
			return !c.call(connEvent{ev: Event{Kind: EvRouteRefreshMsg}, rr: rr}).stop
		}
		if err != nil {
			e, _ := proto.AsError(err)
			r.log.Warn("bad ROUTE-REFRESH", zap.Error(err))
			c.post(connEvent{ev: Event{Kind: EvUpdateMsgErr, Err: e}})
			return false
		}
		// RFC 7313 §5: unknown subtypes are ignored; RFC 2918 §4: so are families not
		// negotiated.
		if rr.KnownSubtype() && hasFamily(r.families, rr.Family) {
			if m, ok := r.ingest.(refreshMarker); ok && rr.Subtype != proto.RefreshNormal {
				// BoRR / EoRR frame the peer's re-advertisement: applied here, in order with
				// the UPDATEs between them (refresh.go).
				m.RefreshMarker(rr)
			}
			c.post(connEvent{ev: Event{Kind: EvRouteRefreshMsg}, rr: rr})
		}
		return true
	}
	return true
}

// update decodes one UPDATE in Established and hands it to the Ingest; it reports whether
// to read on.
func (r *reader) update(body []byte) bool {
	c := r.c
	cnt := c.p.counters
	var perr *proto.Error
	if err := proto.DecodeUpdate(body, &r.recv, &r.upd); err != nil {
		var ok bool
		if perr, ok = proto.AsError(err); !ok {
			perr = &proto.Error{Action: proto.ActionSessionReset, Code: proto.CodeUpdate, Subcode: proto.SubMalformedAttrList, Reason: err.Error()}
		}
		if perr.Action == proto.ActionSessionReset {
			r.log.Warn("malformed UPDATE: session reset", zap.Error(perr))
			c.post(connEvent{ev: Event{Kind: EvUpdateMsgErr, Err: perr}})
			return false
		}
		cnt.UpdateErrors.Add(1)
		r.log.Warn("malformed UPDATE", zap.Stringer("action", perr.Action), zap.Error(perr))
	}
	if perr == nil {
		if fam, ok := proto.EndOfRIB(&r.upd); ok {
			r.ingest.EndOfRIB(fam)
			return true
		}
	}
	if (perr == nil || perr.Action != proto.ActionTreatAsWithdraw) && c.p.srv.mem.refuse(c.p) {
		perr = memRefusal // over the memory ceiling: withdrawals only
	}
	r.dropUnnegotiated()
	sh := c.shared
	sh.blockedSince.Store(r.now())
	held, err := r.ingest.Update(c.ctx, &r.upd, perr)
	now := r.now()
	sh.blockedSince.Store(0)
	// Time spent waiting on our own back-pressure is not the peer's silence.
	sh.lastRecv.Store(now)
	if err != nil {
		return false
	}
	return r.checkMaxPrefix(held)
}

// dropUnnegotiated discards MP_REACH_NLRI / MP_UNREACH_NLRI of a family the session did not
// negotiate (RFC 4760 §6: such routes are not to be used).
func (r *reader) dropUnnegotiated() {
	a := &r.upd.Attrs
	if a.Present.Has(proto.AttrMPReach) && !hasFamily(r.families, a.MPReach.Family) {
		a.Present.Clear(proto.AttrMPReach)
		a.Discarded.Set(proto.AttrMPReach)
	}
	if a.Present.Has(proto.AttrMPUnreach) && !hasFamily(r.families, a.MPUnreach.Family) {
		a.Present.Clear(proto.AttrMPUnreach)
		a.Discarded.Set(proto.AttrMPUnreach)
	}
}

// checkMaxPrefix applies the peer's prefix limit to the Adj-RIB-In size held: a warning
// at the threshold, and over the limit a Cease / Maximum Number of Prefixes Reached whose
// data is the AFI, SAFI and limit (RFC 4486 §4).
func (r *reader) checkMaxPrefix(held int) bool {
	mp := &r.c.p.cfg.MaxPrefixes
	if mp.Limit == 0 {
		return true
	}
	if held > mp.Limit {
		fam := proto.IPv4Unicast
		if r.upd.Attrs.Present.Has(proto.AttrMPReach) {
			fam = r.upd.Attrs.MPReach.Family
		}
		data := binary.BigEndian.AppendUint16(nil, uint16(fam.AFI))
		data = append(data, uint8(fam.SAFI))
		data = binary.BigEndian.AppendUint32(data, uint32(min(mp.Limit, 1<<32-1)))
		r.log.Warn("prefix limit exceeded", zap.Int("held", held), zap.Int("limit", mp.Limit))
		r.c.post(connEvent{ev: Event{Kind: EvAutomaticStop, Err: &proto.Error{Action: proto.ActionSessionReset,
			Code: proto.CodeCease, Subcode: proto.SubMaxPrefixes, Data: data, Reason: "prefix limit exceeded"}}})
		return false
	}
	over := held*100 >= mp.Limit*mp.WarnPct
	if over && !r.warned {
		r.log.Warn("prefix count reached the warning threshold", zap.Int("held", held), zap.Int("limit", mp.Limit), zap.Int("warn_pct", mp.WarnPct))
	}
	r.warned = over
	return true
}
