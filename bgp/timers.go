package bgp

import (
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Clock is time as the bgp package sees it: sessions never call time.Now or time.Sleep, so
// tests drive every timer with a FakeClock (STYLE principle 3).
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine (or, for a FakeClock, in the goroutine that
	// advances it) once d has passed. f must not block for long.
	AfterFunc(d time.Duration, f func()) ClockTimer
}

// ClockTimer is a pending AfterFunc.
type ClockTimer interface {
	// Stop prevents the call if it has not started; it reports whether it did so.
	Stop() bool
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc implements Clock.
func (SystemClock) AfterFunc(d time.Duration, f func()) ClockTimer { return time.AfterFunc(d, f) }

// FakeClock is a Clock for tests: time stands still until Advance moves it, and due
// callbacks run in Advance's goroutine in deadline order, each seeing Now at its deadline.
// mu guards every field. Cardinality: one per test.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *FakeClock
	when time.Time
	seq  uint64
	f    func()
}

// NewFakeClock returns a FakeClock reading start.
func NewFakeClock(start time.Time) *FakeClock { return &FakeClock{now: start} }

// Now implements Clock.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc implements Clock.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) ClockTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, when: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Stop implements ClockTimer.
func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.c.removeLocked(t)
}

func (c *FakeClock) removeLocked(t *fakeTimer) bool {
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return true
		}
	}
	return false
}

// Pending returns the number of callbacks waiting.
func (c *FakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Advance moves the clock forward by d, running every callback that falls due on the way.
// Callbacks armed by callbacks run too when they fall within d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	for {
		sort.Slice(c.timers, func(i, j int) bool {
			a, b := c.timers[i], c.timers[j]
			if !a.when.Equal(b.when) {
				return a.when.Before(b.when)
			}
			return a.seq < b.seq
		})
		if len(c.timers) == 0 || c.timers[0].when.After(target) {
			c.now = target
			c.mu.Unlock()
			return
		}
		t := c.timers[0]
		c.timers = c.timers[1:]
		if t.when.After(c.now) {
			c.now = t.when
		}
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
}

// timerShell runs the timers of one session over a Clock: the FSM's timers (armed and
// stopped by its actions) and the shell's own send hold check. A fired timer comes back to
// the session goroutine as a timerFired message carrying the generation it was armed with;
// a message whose generation is stale (the timer was re-armed or stopped since) is ignored,
// so a Stop racing with a firing callback is harmless.
//
// Owner: the session goroutine of its peer. Cardinality: one per session (FSM). Lifetime:
// the session's; stopAll releases it.
type timerShell struct {
	clock  Clock
	jitter func(time.Duration) time.Duration // applied to connect-retry and idle-hold
	fire   func(t Timer, gen uint64)         // posts a timerFired to the session goroutine
	t      [shellTimers]ClockTimer
	gen    [shellTimers]uint64
	dur    [shellTimers]time.Duration // duration of the last arm
}

// timerSendHold is the shell's RFC 9687 send hold check; it is not an FSM timer.
const (
	timerSendHold = timerCount
	shellTimers   = timerCount + 1
)

func (s *timerShell) arm(t Timer, d time.Duration) {
	s.stop(t)
	if (t == TimerConnectRetry || t == TimerIdleHold) && s.jitter != nil && d > 0 {
		d = s.jitter(d)
	}
	s.gen[t]++
	s.dur[t] = d
	gen := s.gen[t]
	s.t[t] = s.clock.AfterFunc(d, func() { s.fire(t, gen) })
}

func (s *timerShell) stop(t Timer) {
	if s.t[t] != nil {
		s.t[t].Stop()
		s.t[t] = nil
	}
	s.gen[t]++
}

// current reports whether a fired message with gen is the live arming of t, and marks t
// as no longer pending.
func (s *timerShell) current(t Timer, gen uint64) bool {
	if t >= shellTimers || s.gen[t] != gen || s.t[t] == nil {
		return false
	}
	s.t[t] = nil
	return true
}

func (s *timerShell) stopAll() {
	for t := Timer(0); t < shellTimers; t++ {
		s.stop(t)
	}
}

var timerEvents = [timerCount]EventKind{
	TimerConnectRetry: EvConnectRetryTimerExpires,
	TimerHold:         EvHoldTimerExpires,
	TimerKeepalive:    EvKeepaliveTimerExpires,
	TimerDelayOpen:    EvDelayOpenTimerExpires,
	TimerIdleHold:     EvIdleHoldTimerExpires,
	TimerStable:       EvStableTimerExpires,
}

func (l *peerLoop) onTimer(m timerFired) {
	s := m.s
	if (s != l.main && s != l.extra) || !s.timers.current(m.t, m.gen) {
		return
	}
	switch m.t {
	case TimerHold:
		if l.holdExtended(s) {
			return
		}
		l.step(s, Event{Kind: EvHoldTimerExpires})
	case timerSendHold:
		c := s.conn
		if c == nil {
			return
		}
		sht := l.p.cfg.SendHoldTime
		stalled := c.sb.StalledFor()
		if stalled < sht {
			s.timers.arm(timerSendHold, sht-stalled)
			return
		}
		l.log.Warn("send hold timer expired: the peer is not reading", zap.Duration("stalled", stalled))
		s.abrupt = true
		l.step(s, Event{Kind: EvSendHoldTimerExpires})
	default:
		l.step(s, Event{Kind: timerEvents[m.t]})
	}
}

// holdExtended decides a hold timer expiry in the shell: the reader records when it last
// framed a message instead of feeding every KEEPALIVE and UPDATE to the FSM, so the timer
// is re-armed for the rest of the hold time when a message came in meanwhile, and for a
// whole hold time while the reader waits in Ingest.Update: a peer's hold timer is not
// expired while its unread data is waiting on our own back-pressure.
func (l *peerLoop) holdExtended(s *fsmSession) bool {
	c := s.conn
	if c == nil {
		return false
	}
	hold := s.timers.dur[TimerHold]
	if c.shared.blockedSince.Load() != 0 {
		s.timers.arm(TimerHold, hold)
		return true
	}
	quiet := l.p.now().Sub(time.Unix(0, c.shared.lastRecv.Load()))
	if rest := hold - quiet; rest > 0 {
		s.timers.arm(TimerHold, rest)
		s.timers.dur[TimerHold] = hold
		return true
	}
	return false
}
