package gen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
)

// SessionConfig describes one generator session: the active side of a BGP session from a
// loopback source address to the target.
type SessionConfig struct {
	// Name identifies the session in logs and results ("speaker-3", "receiver-0").
	Name string
	// Local is the loopback source address (127.0.0.0/8); it is also the BGP identifier.
	Local netip.Addr
	// Remote is the target's address and port (loopback).
	Remote netip.AddrPort
	// AS is the session's own AS (4-octet capable).
	AS uint32
	// PeerAS is the AS the target must announce; 0 accepts any.
	PeerAS uint32
	// HoldTime is offered in the OPEN; 0 means 90 s. KEEPALIVEs go out every third of the
	// negotiated hold time.
	HoldTime time.Duration
	// IPv6 also negotiates IPv6 unicast (carried in MP_REACH_NLRI over this IPv4 session).
	IPv6 bool
	// Table receives what the target sends; it must not be nil.
	Table *Table
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives session events; nil means none.
	Logger *zap.Logger
}

// ErrNotLoopback is returned for an address outside 127.0.0.0/8 and ::1.
var ErrNotLoopback = errors.New("address is not loopback")

// Session is one established BGP session, active side. It owns two goroutines: a reader that
// frames messages, answers nothing and feeds the Table, and a writer that sends queued chunks
// and KEEPALIVEs on a timer. The owner (one workload goroutine) sends with Send and ends it
// with Close, which waits for both.
type Session struct {
	cfg  SessionConfig
	now  func() time.Time
	log  *zap.Logger
	conn net.Conn
	opts proto.SessionOptions // negotiated; immutable after Dial
	peer proto.Open
	hold time.Duration // negotiated

	out     chan []byte   // whole messages for the writer; bounded
	closing chan struct{} // closed by Close: the writer stops, read errors are expected
	wg      sync.WaitGroup

	mu      sync.Mutex // guards the fields below
	readErr error      // why the reader stopped
	dropped string     // set when the target ended the session (not our Close)
	closed  bool
}

// Dial connects to the target and exchanges OPENs and KEEPALIVEs, retrying refused or
// reset attempts every retry until ctx ends. The returned session is Established.
func Dial(ctx context.Context, cfg SessionConfig, retry time.Duration) (*Session, error) {
	if !cfg.Local.IsLoopback() || !cfg.Remote.Addr().IsLoopback() {
		return nil, fmt.Errorf("%s: %v -> %v: %w", cfg.Name, cfg.Local, cfg.Remote, ErrNotLoopback)
	}
	if cfg.Table == nil {
		return nil, fmt.Errorf("%s: no table", cfg.Name)
	}
	if cfg.HoldTime == 0 {
		cfg.HoldTime = 90 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	var last error
	for attempt := 0; ; attempt++ {
		s, err := dialOnce(ctx, cfg)
		if err == nil {
			return s, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: no session after %d attempts: %w", cfg.Name, attempt+1, last)
		case <-time.After(retry):
		}
	}
}

func dialOnce(ctx context.Context, cfg SessionConfig) (*Session, error) {
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(cfg.Local, 0)), Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", cfg.Remote.String())
	if err != nil {
		return nil, err
	}
	s := &Session{cfg: cfg, now: cfg.Now, log: cfg.Logger.With(zap.String("session", cfg.Name)), conn: c,
		out: make(chan []byte, 8), closing: make(chan struct{})}
	deadline := time.Now().Add(15 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	c.SetDeadline(deadline)
	rd := newFramer(c)
	if err := s.handshake(rd); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.readLoop(rd)
	}()
	go func() {
		defer s.wg.Done()
		s.writeLoop()
	}()
	return s, nil
}

func (s *Session) handshake(rd *framer) error {
	as2 := uint16(s.cfg.AS)
	if s.cfg.AS > 0xffff {
		as2 = uint16(proto.ASTrans)
	}
	open := proto.Open{Version: proto.BGPVersion, AS: as2, HoldTime: uint16(s.cfg.HoldTime / time.Second), ID: s.cfg.Local}
	open.Caps.Multiprotocol = []proto.Family{proto.IPv4Unicast}
	if s.cfg.IPv6 {
		open.Caps.Multiprotocol = append(open.Caps.Multiprotocol, proto.IPv6Unicast)
	}
	open.Caps.RouteRefresh = true
	open.Caps.HasAS4, open.Caps.AS4 = true, s.cfg.AS
	b, err := proto.AppendOpen(nil, &open)
	if err != nil {
		return err
	}
	b = proto.AppendKeepalive(b) // our OPEN, then our KEEPALIVE once theirs is checked
	if _, err := s.conn.Write(b[:len(b)-proto.HeaderLen]); err != nil {
		return fmt.Errorf("send OPEN: %w", err)
	}
	h, body, err := rd.next(proto.MaxMessageLen)
	if err != nil {
		return fmt.Errorf("waiting for OPEN: %w", err)
	}
	if h.Type != proto.MsgOpen {
		return fmt.Errorf("waiting for OPEN: %s", describeMsg(h, body))
	}
	if err := proto.DecodeOpen(body, &s.peer); err != nil {
		s.notify(err)
		return fmt.Errorf("their OPEN: %w", err)
	}
	if s.cfg.PeerAS != 0 {
		if e := s.peer.CheckPeerAS(s.cfg.PeerAS); e != nil {
			s.notify(e)
			return e
		}
	}
	s.hold = min(s.cfg.HoldTime, time.Duration(s.peer.HoldTime)*time.Second)
	s.opts = proto.SessionOptions{AS4: s.peer.Caps.HasAS4, EBGP: s.peer.PeerAS() != s.cfg.AS}
	if _, err := s.conn.Write(b[len(b)-proto.HeaderLen:]); err != nil {
		return fmt.Errorf("send KEEPALIVE: %w", err)
	}
	h, body, err = rd.next(proto.MaxMessageLen)
	if err != nil {
		return fmt.Errorf("waiting for KEEPALIVE: %w", err)
	}
	if h.Type != proto.MsgKeepalive {
		return fmt.Errorf("waiting for KEEPALIVE: %s", describeMsg(h, body))
	}
	return nil
}

// notify sends the NOTIFICATION a session-reset error asks for, best effort.
func (s *Session) notify(err error) {
	if e, ok := proto.AsError(err); ok && e.Action == proto.ActionSessionReset {
		s.conn.Write(proto.AppendErrorNotification(nil, e, proto.MaxMessageLen))
	}
}

func describeMsg(h proto.Header, body []byte) string {
	if h.Type == proto.MsgNotification {
		var n proto.Notification
		proto.DecodeNotification(body, &n)
		return "NOTIFICATION " + n.String()
	}
	return proto.MessageTypeName(h.Type)
}

// Options are the negotiated session options (for encoding UPDATEs to this peer).
func (s *Session) Options() proto.SessionOptions { return s.opts }

// HoldTime is the negotiated hold time.
func (s *Session) HoldTime() time.Duration { return s.hold }

// Table is the session's table.
func (s *Session) Table() *Table { return s.cfg.Table }

// Name is the session's name.
func (s *Session) Name() string { return s.cfg.Name }

// Send queues b, whole BGP messages, for the writer. It blocks while the queue is full (the
// target reads slowly) and fails once the session is closed or ctx ends. The session keeps
// b until it is written: the caller must not change it.
func (s *Session) Send(ctx context.Context, b []byte) error {
	select {
	case s.out <- b:
		return nil
	case <-s.closing:
		return fmt.Errorf("%s: session closed", s.cfg.Name)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Dropped returns why the target ended the session, or "" while it is up or when we closed
// it.
func (s *Session) Dropped() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Close ends the session: with cease set it first sends a NOTIFICATION Cease /
// Administrative Reset (after what is already queued). It waits for both goroutines and is
// safe to call twice.
func (s *Session) Close(cease bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	if cease {
		n := proto.Notification{Code: 6, Subcode: 4} // Cease, Administrative Reset (RFC 4486)
		select {
		case s.out <- proto.AppendNotification(nil, &n, proto.MaxMessageLen):
		case <-time.After(time.Second):
		}
	}
	close(s.closing)
	s.wg.Wait()
	s.conn.Close()
}

func (s *Session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// down records that the target ended the session.
func (s *Session) down(reason string) {
	s.mu.Lock()
	closed := s.closed
	if !closed && s.dropped == "" {
		s.dropped = reason
	}
	s.mu.Unlock()
	if !closed {
		s.log.Warn("session dropped by the target", zap.String("reason", reason))
		s.cfg.Table.noteDown(reason)
	}
}

// writeLoop sends queued messages and KEEPALIVEs until Close, then drains what is queued
// (a final NOTIFICATION) and half-closes the connection so the reader sees the end.
func (s *Session) writeLoop() {
	var tick <-chan time.Time
	if s.hold > 0 {
		t := time.NewTicker(max(s.hold/3, 100*time.Millisecond))
		defer t.Stop()
		tick = t.C
	}
	ka := proto.AppendKeepalive(nil)
	write := func(b []byte) bool {
		s.conn.SetWriteDeadline(time.Now().Add(max(s.hold, 10*time.Second)))
		if _, err := s.conn.Write(b); err != nil {
			if !s.isClosed() {
				s.down("write: " + err.Error())
			}
			return false
		}
		return true
	}
	for {
		select {
		case b := <-s.out:
			if !write(b) {
				s.conn.Close()
				return
			}
		case <-tick:
			if !write(ka) {
				s.conn.Close()
				return
			}
		case <-s.closing:
			for {
				select {
				case b := <-s.out:
					s.conn.SetWriteDeadline(time.Now().Add(time.Second))
					s.conn.Write(b)
					continue
				default:
				}
				break
			}
			s.conn.Close()
			return
		}
	}
}

// readLoop frames and handles messages until the connection ends.
func (s *Session) readLoop(rd *framer) {
	dec := newUpdateDecoder(s.opts, s.cfg.Table, s.cfg.AS, s.cfg.Local)
	maxLen := s.opts.MaxLen()
	if s.hold > 0 {
		// The hold timer: each read from the socket must bring something within it.
		rd.beforeRead = func() { s.conn.SetReadDeadline(time.Now().Add(s.hold)) }
	}
	for {
		h, body, err := rd.next(maxLen)
		if err != nil {
			if !s.isClosed() {
				if errors.Is(err, io.EOF) {
					s.down("connection closed by the target")
				} else {
					s.down("read: " + err.Error())
				}
			}
			return
		}
		switch h.Type {
		case proto.MsgUpdate:
			if err := dec.apply(s.now(), body); err != nil {
				s.log.Error("malformed UPDATE; resetting", zap.Error(err))
				s.notify(err)
				s.down("malformed UPDATE from the target: " + err.Error())
				s.conn.Close()
				return
			}
		case proto.MsgNotification:
			var n proto.Notification
			proto.DecodeNotification(body, &n)
			s.down("NOTIFICATION " + n.String())
			s.conn.Close()
			return
		case proto.MsgKeepalive, proto.MsgRouteRefresh:
		default:
			s.down("unexpected " + proto.MessageTypeName(h.Type))
			s.conn.Close()
			return
		}
	}
}

// framer reads whole BGP messages from a stream through one growing buffer.
type framer struct {
	r          io.Reader
	buf        []byte
	start, end int
	beforeRead func() // called before each read from r, when set
}

func newFramer(r io.Reader) *framer { return &framer{r: r, buf: make([]byte, 256<<10)} }

// next returns the next message; body aliases the buffer until the following call.
func (f *framer) next(maxLen int) (proto.Header, []byte, error) {
	for {
		h, body, n, err := proto.NextMessage(f.buf[f.start:f.end], maxLen)
		if err != nil {
			return h, nil, err
		}
		if n > 0 {
			f.start += n
			return h, body, nil
		}
		if f.start > 0 && (f.start == f.end || len(f.buf)-f.end < proto.MaxExtendedMessage) {
			f.end = copy(f.buf, f.buf[f.start:f.end])
			f.start = 0
		}
		if f.beforeRead != nil {
			f.beforeRead()
		}
		m, err := f.r.Read(f.buf[f.end:])
		f.end += m
		if m == 0 && err != nil {
			return proto.Header{}, nil, err
		}
	}
}

// updateDecoder turns UPDATE messages into table changes; owned by one reader goroutine.
//
// Like any BGP speaker it ignores a route that loops back to it: on eBGP one whose AS path
// holds its own AS (RFC 4271 §9.1.2), on iBGP one whose ORIGINATOR_ID is its own BGP
// identifier (RFC 4456 §8). Such a route counts as a withdrawal of the prefix. FRR sends a
// client's own routes back to it; this is where they stop, as at a real client.
type updateDecoder struct {
	opts    proto.SessionOptions
	ownAS   uint32
	ownID   netip.Addr
	t       *Table
	u       proto.Update
	fp      []byte
	sorted  []uint32
	in      interner
	changes []change
}

func newUpdateDecoder(opts proto.SessionOptions, t *Table, ownAS uint32, ownID netip.Addr) *updateDecoder {
	return &updateDecoder{opts: opts, t: t, in: make(interner), ownAS: ownAS, ownID: ownID}
}

// apply decodes body and applies it to the table. It returns an error only for an UPDATE
// that resets the session (RFC 7606).
func (d *updateDecoder) apply(now time.Time, body []byte) error {
	if !d.t.keep {
		d.t.apply(now, nil, false, false, false)
		return nil
	}
	err := proto.DecodeUpdate(body, &d.opts, &d.u)
	taw := false
	if err != nil {
		e, ok := proto.AsError(err)
		if !ok || e.Action == proto.ActionSessionReset {
			return err
		}
		taw = e.Action == proto.ActionTreatAsWithdraw
	}
	u := &d.u
	_, eor := proto.EndOfRIB(u)
	d.changes = d.changes[:0]
	var n proto.NLRI
	for _, it := range []proto.NLRIIter{u.IterWithdrawn(&d.opts), u.IterMPUnreach(&d.opts)} {
		for it.Next(&n) {
			d.changes = append(d.changes, change{prefix: n.Prefix, withdraw: true})
		}
	}
	a := &u.Attrs
	f := fpFields{asPath: a.ASPath, hasMED: a.Present.Has(proto.AttrMED), med: a.MED}
	if a.Present.Has(proto.AttrCommunities) {
		f.communities = a.Communities
	}
	if a.Present.Has(proto.AttrOriginatorID) {
		f.originator = a.OriginatorID
	}
	if a.Present.Has(proto.AttrClusterList) {
		f.clusterList = a.ClusterList
	}
	looped := d.opts.EBGP && a.ASPath.Contains(d.ownAS) ||
		!d.opts.EBGP && a.Present.Has(proto.AttrOriginatorID) && a.OriginatorID == d.ownID
	for i, it := range []proto.NLRIIter{u.IterNLRI(&d.opts), u.IterMPReach(&d.opts)} {
		fp := ""
		first := true
		for it.Next(&n) {
			if first {
				first = false
				if i == 0 {
					f.nextHop = a.NextHop
				} else {
					f.nextHop = a.MPReach.NextHop
				}
				d.fp, d.sorted = appendFP(d.fp[:0], &f, d.t.check, d.sorted)
				fp = d.in.get(d.fp)
			}
			d.changes = append(d.changes, change{prefix: n.Prefix, fp: fp, withdraw: taw || looped})
		}
	}
	d.t.apply(now, d.changes, eor, taw, looped)
	return nil
}
