package bgp

import (
	"fmt"
	"time"

	"github.com/fanoutd/fanout/proto"
)

// State is a BGP session state (RFC 4271 §8.2.2).
type State uint8

// The six states of RFC 4271 §8.2.2.
const (
	Idle State = iota
	Connect
	Active
	OpenSent
	OpenConfirm
	Established
)

var stateNames = [...]string{"Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// EventKind is an FSM event (RFC 4271 §8.1, RFC 9687 §4).
type EventKind uint8

// Events, numbered as in RFC 4271 §8.1 where the RFC numbers them.
const (
	EvNone                     EventKind = 0
	EvManualStart              EventKind = 1
	EvManualStop               EventKind = 2
	EvAutomaticStart           EventKind = 3
	EvManualStartPassive       EventKind = 4
	EvAutomaticStartPassive    EventKind = 5
	EvAutomaticStop            EventKind = 8
	EvConnectRetryTimerExpires EventKind = 9
	EvHoldTimerExpires         EventKind = 10
	EvKeepaliveTimerExpires    EventKind = 11
	EvDelayOpenTimerExpires    EventKind = 12
	EvIdleHoldTimerExpires     EventKind = 13
	EvTCPConnectionValid       EventKind = 14
	EvTCPCRInvalid             EventKind = 15
	EvTCPCRAcked               EventKind = 16 // our outgoing connection completed
	EvTCPConnectionConfirmed   EventKind = 17 // an incoming connection was accepted
	EvTCPConnectionFails       EventKind = 18
	EvBGPOpen                  EventKind = 19
	EvBGPOpenDelayOpen         EventKind = 20
	EvBGPHeaderErr             EventKind = 21
	EvBGPOpenMsgErr            EventKind = 22
	EvOpenCollisionDump        EventKind = 23
	EvNotifMsgVerErr           EventKind = 24
	EvNotifMsg                 EventKind = 25
	EvKeepAliveMsg             EventKind = 26
	EvUpdateMsg                EventKind = 27
	EvUpdateMsgErr             EventKind = 28
	EvSendHoldTimerExpires     EventKind = 29 // RFC 9687
	EvRouteRefreshMsg          EventKind = 30 // RFC 2918: a ROUTE-REFRESH in Established
	EvStableTimerExpires       EventKind = 31 // the session has been Established for StableTime
	eventKinds                           = 32
)

var eventNames = map[EventKind]string{
	EvManualStart: "ManualStart", EvManualStop: "ManualStop", EvAutomaticStart: "AutomaticStart",
	EvManualStartPassive: "ManualStartPassive", EvAutomaticStartPassive: "AutomaticStartPassive",
	EvAutomaticStop: "AutomaticStop", EvConnectRetryTimerExpires: "ConnectRetryTimerExpires",
	EvHoldTimerExpires: "HoldTimerExpires", EvKeepaliveTimerExpires: "KeepaliveTimerExpires",
	EvDelayOpenTimerExpires: "DelayOpenTimerExpires", EvIdleHoldTimerExpires: "IdleHoldTimerExpires",
	EvStableTimerExpires: "StableTimerExpires",
	EvTCPConnectionValid: "TcpConnectionValid", EvTCPCRInvalid: "TcpCRInvalid", EvTCPCRAcked: "TcpCRAcked",
	EvTCPConnectionConfirmed: "TcpConnectionConfirmed", EvTCPConnectionFails: "TcpConnectionFails",
	EvBGPOpen: "BGPOpen", EvBGPOpenDelayOpen: "BGPOpenDelayOpen", EvBGPHeaderErr: "BGPHeaderErr",
	EvBGPOpenMsgErr: "BGPOpenMsgErr", EvOpenCollisionDump: "OpenCollisionDump",
	EvNotifMsgVerErr: "NotifMsgVerErr", EvNotifMsg: "NotifMsg", EvKeepAliveMsg: "KeepAliveMsg",
	EvUpdateMsg: "UpdateMsg", EvUpdateMsgErr: "UpdateMsgErr", EvSendHoldTimerExpires: "SendHoldTimerExpires",
	EvRouteRefreshMsg: "RouteRefreshMsg",
}

func (e EventKind) String() string {
	if n, ok := eventNames[e]; ok {
		return n
	}
	return fmt.Sprintf("Event(%d)", uint8(e))
}

// Event is one input to the FSM. Err carries the NOTIFICATION to send for the error events
// (BGPHeaderErr, BGPOpenMsgErr, UpdateMsgErr with a session-reset action) and, optionally,
// the Cease to send for ManualStop and AutomaticStop (default Administrative Shutdown). HoldTime is the
// peer's hold time from its OPEN (EvBGPOpen), already validated by the caller.
type Event struct {
	Kind     EventKind
	Err      *proto.Error
	HoldTime time.Duration
}

// Timer names the FSM's timers; the shell arms and stops them on request and feeds back
// the matching Expires event.
type Timer uint8

// The session timers (RFC 4271 §10, RFC 9687).
const (
	TimerConnectRetry Timer = iota
	TimerHold
	TimerKeepalive
	TimerDelayOpen
	TimerIdleHold
	TimerStable // Established long enough: failures are no longer counted as oscillation
	timerCount
)

var timerNames = [...]string{"connect-retry", "hold", "keepalive", "delay-open", "idle-hold", "stable"}

func (t Timer) String() string {
	if int(t) < len(timerNames) {
		return timerNames[t]
	}
	return fmt.Sprintf("timer(%d)", uint8(t))
}

// ActionKind says what the shell must do.
type ActionKind uint8

// Actions, in the order the FSM emits them.
const (
	ActConnect          ActionKind = iota + 1 // initiate a TCP connection to the peer
	ActListen                                 // accept an incoming connection (passive)
	ActDropConnection                         // close the TCP connection
	ActSendOpen                               // send our OPEN
	ActSendKeepalive                          // send a KEEPALIVE
	ActSendNotification                       // send Notification, then drop
	ActArmTimer                               // (re)start Timer for Duration
	ActStopTimer                              // stop Timer
	ActEstablished                            // the session is up: join routing
	ActDown                                   // the session left Established: release its routes
	ActProcessUpdate                          // hand the UPDATE to routing
	ActProcessRefresh                         // answer a ROUTE-REFRESH
)

var actionNames = [...]string{"", "connect", "listen", "drop", "send-open", "send-keepalive",
	"send-notification", "arm", "stop", "established", "down", "process-update", "process-refresh"}

func (a ActionKind) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Action is one thing the shell must do, in order.
type Action struct {
	Kind         ActionKind
	Timer        Timer
	Duration     time.Duration
	Notification *proto.Error // for ActSendNotification: code, subcode, data
}

func (a Action) String() string {
	switch a.Kind {
	case ActArmTimer:
		return fmt.Sprintf("arm %s %s", a.Timer, a.Duration)
	case ActStopTimer:
		return fmt.Sprintf("stop %s", a.Timer)
	case ActSendNotification:
		return fmt.Sprintf("send-notification %d/%d", a.Notification.Code, a.Notification.Subcode)
	}
	return a.Kind.String()
}

// FSMConfig holds the session attributes of RFC 4271 §8.1.1 that fanout uses.
type FSMConfig struct {
	HoldTime         time.Duration // proposed hold time; 0 disables keepalives
	KeepaliveTime    time.Duration // 0: one third of the negotiated hold time
	ConnectRetryTime time.Duration
	// MaxConnectRetryTime caps the connect-retry back-off: each expiry of the connect-retry
	// timer without a session doubles the next delay up to this; Established or a manual
	// start resets it. 0: no back-off (the delay stays ConnectRetryTime).
	MaxConnectRetryTime time.Duration
	OpenHoldTime        time.Duration // hold timer while waiting for the OPEN (RFC 4271 suggests 4 min)
	Passive             bool          // never initiate connections (PassiveTcpEstablishment)
	IdleHoldTime        time.Duration // base delay before leaving Idle after an error (damping); 0 = none
	MaxIdleHoldTime     time.Duration // cap of the doubling idle-hold back-off
	// StableTime is how long a session must stay Established for its peer to count as
	// stable again: the next failure then restarts at once, without damping (a peer that
	// closes a long-lived session and reconnects is not made to wait). 0: 60 s.
	StableTime time.Duration
}

// FSM is the RFC 4271 §8 finite state machine of one BGP connection: a pure core with no
// goroutines, sockets or clocks. Step takes one event and returns the actions the shell
// must carry out, in order; timers are armed and stopped by actions and come back as
// events, so time is an input and every transition can be scripted in a test.
//
// States are code: each state is a method that handles one event and returns the next
// state and why. Step applies the transition in one place, stopping the timers a state
// does not keep.
//
// Owner: the session goroutine of its peer. Cardinality: one per connection attempt (a
// collision briefly has two). Lifetime: the peer's.
type FSM struct {
	cfg   FSMConfig
	state State
	why   string // reason of the last transition

	connectRetryCounter int
	retry               time.Duration // current connect-retry delay (back-off)
	negotiatedHold      time.Duration
	keepalive           time.Duration
	idleHold            time.Duration // current damping delay; doubles per failure
	unstable            bool          // a failure happened since the peer was last stable
	running             [timerCount]bool
	out                 []Action
}

// NewFSM returns an FSM in Idle.
func NewFSM(cfg FSMConfig) *FSM {
	if cfg.OpenHoldTime == 0 {
		cfg.OpenHoldTime = 4 * time.Minute // RFC 4271 §8.2.2: "a large value"; 4 minutes suggested
	}
	return &FSM{cfg: cfg, retry: cfg.ConnectRetryTime}
}

// backOff doubles the connect-retry delay up to its cap after a retry found no session.
func (f *FSM) backOff() {
	if f.cfg.MaxConnectRetryTime > 0 {
		f.retry = min(2*f.retry, f.cfg.MaxConnectRetryTime)
	}
}

// State returns the current state.
func (f *FSM) State() State { return f.state }

// Reason returns why the last transition happened.
func (f *FSM) Reason() string { return f.why }

// ConnectRetryCounter returns RFC 4271's ConnectRetryCounter.
func (f *FSM) ConnectRetryCounter() int { return f.connectRetryCounter }

// NegotiatedHoldTime returns the hold time agreed with the peer (valid from OpenConfirm).
func (f *FSM) NegotiatedHoldTime() time.Duration { return f.negotiatedHold }

// KeepaliveTime returns the keepalive interval in use (valid from OpenConfirm).
func (f *FSM) KeepaliveTime() time.Duration { return f.keepalive }

// Step handles one event. The returned slice is valid until the next call.
func (f *FSM) Step(ev Event) []Action {
	f.out = f.out[:0]
	// A timer whose expiry is being delivered is no longer running.
	switch ev.Kind {
	case EvConnectRetryTimerExpires:
		f.running[TimerConnectRetry] = false
	case EvHoldTimerExpires:
		f.running[TimerHold] = false
	case EvKeepaliveTimerExpires:
		f.running[TimerKeepalive] = false
	case EvDelayOpenTimerExpires:
		f.running[TimerDelayOpen] = false
	case EvIdleHoldTimerExpires:
		f.running[TimerIdleHold] = false
	case EvStableTimerExpires:
		f.running[TimerStable] = false
	}
	var next State
	var why string
	switch f.state {
	case Idle:
		next, why = f.idle(ev)
	case Connect:
		next, why = f.connect(ev)
	case Active:
		next, why = f.active(ev)
	case OpenSent:
		next, why = f.openSent(ev)
	case OpenConfirm:
		next, why = f.openConfirm(ev)
	case Established:
		next, why = f.established(ev)
	}
	if next != f.state {
		if next == Idle {
			for t := Timer(0); t < timerCount; t++ {
				if t != TimerIdleHold {
					f.stop(t)
				}
			}
		}
		f.state, f.why = next, why
	}
	return f.out
}

func (f *FSM) emit(a Action) { f.out = append(f.out, a) }

func (f *FSM) stableTime() time.Duration {
	if f.cfg.StableTime > 0 {
		return f.cfg.StableTime
	}
	return 60 * time.Second
}

func (f *FSM) arm(t Timer, d time.Duration) {
	f.running[t] = true
	f.emit(Action{Kind: ActArmTimer, Timer: t, Duration: d})
}

func (f *FSM) stop(t Timer) {
	if f.running[t] {
		f.running[t] = false
		f.emit(Action{Kind: ActStopTimer, Timer: t})
	}
}

func (f *FSM) notify(code, sub uint8) {
	f.emit(Action{Kind: ActSendNotification, Notification: &proto.Error{Action: proto.ActionSessionReset, Code: code, Subcode: sub}})
}

func (f *FSM) notifyErr(e *proto.Error) {
	if e == nil {
		e = &proto.Error{Action: proto.ActionSessionReset, Code: proto.CodeFSM}
	}
	f.emit(Action{Kind: ActSendNotification, Notification: e})
}

// notifyStop sends the Cease of a manual or automatic stop: the one the shell chose (Err:
// Administrative Reset, Peer De-configured, Maximum Number of Prefixes Reached with its
// RFC 4486 §4 data, or a shutdown communication of RFC 9003), else Administrative Shutdown.
func (f *FSM) notifyStop(e *proto.Error) {
	if e != nil {
		f.notifyErr(e)
		return
	}
	f.notify(proto.CodeCease, proto.SubAdminShutdown)
}

// fail is the common error exit to Idle: drop the connection, count the failure and grow
// the idle-hold damping delay (RFC 4271 §8.1.1 DampPeerOscillations).
func (f *FSM) fail(why string) (State, string) {
	f.emit(Action{Kind: ActDropConnection})
	f.connectRetryCounter++
	if f.cfg.IdleHoldTime > 0 {
		switch {
		case !f.unstable:
			// The first failure since the peer was stable: restart at once; the next
			// ones, until a session lasts StableTime, are damped.
			f.unstable, f.idleHold = true, 0
		case f.idleHold == 0:
			f.idleHold = f.cfg.IdleHoldTime
		case f.cfg.MaxIdleHoldTime == 0 || f.idleHold*2 <= f.cfg.MaxIdleHoldTime:
			f.idleHold *= 2
		default:
			f.idleHold = f.cfg.MaxIdleHoldTime
		}
	}
	return Idle, why
}

// stopped is the exit to Idle for a manual stop: no failure is counted.
func (f *FSM) stopped(why string) (State, string) {
	f.emit(Action{Kind: ActDropConnection})
	f.connectRetryCounter = 0
	f.idleHold, f.unstable = 0, false
	return Idle, why
}

func (f *FSM) start(passive bool) (State, string) {
	f.stop(TimerIdleHold)
	f.arm(TimerConnectRetry, f.retry)
	if passive || f.cfg.Passive {
		f.emit(Action{Kind: ActListen})
		return Active, "start, passive"
	}
	f.emit(Action{Kind: ActConnect})
	return Connect, "start"
}

// idle handles RFC 4271 §8.2.2 "Idle state".
func (f *FSM) idle(ev Event) (State, string) {
	switch ev.Kind {
	case EvManualStart, EvManualStartPassive:
		f.connectRetryCounter = 0
		f.retry = f.cfg.ConnectRetryTime
		return f.start(ev.Kind == EvManualStartPassive)
	case EvAutomaticStart, EvAutomaticStartPassive:
		if f.idleHold > 0 {
			// Peer oscillation damping: wait before the next attempt.
			f.arm(TimerIdleHold, f.idleHold)
			return Idle, "damping"
		}
		return f.start(ev.Kind == EvAutomaticStartPassive)
	case EvIdleHoldTimerExpires:
		return f.start(false)
	}
	// Every other event is ignored in Idle.
	return Idle, f.why
}

// connect handles RFC 4271 §8.2.2 "Connect State".
func (f *FSM) connect(ev Event) (State, string) {
	switch ev.Kind {
	case EvManualStart, EvAutomaticStart, EvManualStartPassive, EvAutomaticStartPassive:
		return Connect, f.why
	case EvManualStop:
		return f.stopped("manual stop")
	case EvConnectRetryTimerExpires:
		f.emit(Action{Kind: ActDropConnection})
		f.backOff()
		f.arm(TimerConnectRetry, f.retry)
		f.emit(Action{Kind: ActConnect})
		return Connect, "connect retry"
	case EvTCPConnectionValid, EvTCPCRInvalid:
		return Connect, f.why
	case EvTCPCRAcked, EvTCPConnectionConfirmed:
		return f.sendOpen()
	case EvTCPConnectionFails:
		f.stop(TimerConnectRetry)
		f.emit(Action{Kind: ActDropConnection})
		return Idle, "tcp connection failed"
	case EvBGPHeaderErr, EvBGPOpenMsgErr:
		f.notifyErr(ev.Err)
		return f.fail("bad message before OPEN")
	case EvNotifMsgVerErr:
		return f.stopped("version error from peer")
	}
	return f.fail(fmt.Sprintf("unexpected %s in Connect", ev.Kind))
}

// active handles RFC 4271 §8.2.2 "Active State".
func (f *FSM) active(ev Event) (State, string) {
	switch ev.Kind {
	case EvManualStart, EvAutomaticStart, EvManualStartPassive, EvAutomaticStartPassive:
		return Active, f.why
	case EvManualStop:
		return f.stopped("manual stop")
	case EvConnectRetryTimerExpires:
		if !f.cfg.Passive {
			f.backOff()
		}
		f.arm(TimerConnectRetry, f.retry)
		if f.cfg.Passive {
			return Active, f.why
		}
		f.emit(Action{Kind: ActConnect})
		return Connect, "connect retry"
	case EvTCPConnectionValid, EvTCPCRInvalid:
		return Active, f.why
	case EvTCPCRAcked, EvTCPConnectionConfirmed:
		return f.sendOpen()
	case EvTCPConnectionFails:
		return f.fail("tcp connection failed")
	case EvBGPHeaderErr, EvBGPOpenMsgErr:
		f.notifyErr(ev.Err)
		return f.fail("bad message before OPEN")
	case EvNotifMsgVerErr:
		return f.stopped("version error from peer")
	}
	return f.fail(fmt.Sprintf("unexpected %s in Active", ev.Kind))
}

func (f *FSM) sendOpen() (State, string) {
	f.stop(TimerConnectRetry)
	f.emit(Action{Kind: ActSendOpen})
	f.arm(TimerHold, f.cfg.OpenHoldTime)
	return OpenSent, "connected, OPEN sent"
}

// openSent handles RFC 4271 §8.2.2 "OpenSent".
func (f *FSM) openSent(ev Event) (State, string) {
	switch ev.Kind {
	case EvManualStart, EvAutomaticStart, EvManualStartPassive, EvAutomaticStartPassive, EvTCPConnectionValid, EvTCPCRAcked, EvTCPConnectionConfirmed:
		return OpenSent, f.why
	case EvManualStop:
		f.notifyStop(ev.Err)
		return f.stopped("manual stop")
	case EvAutomaticStop:
		f.notifyStop(ev.Err)
		return f.fail("automatic stop")
	case EvHoldTimerExpires:
		f.notify(proto.CodeHoldTimer, 0)
		return f.fail("hold timer expired waiting for OPEN")
	case EvSendHoldTimerExpires:
		f.notify(proto.CodeSendHoldTimer, 0)
		return f.fail("send hold timer expired")
	case EvTCPConnectionFails:
		f.emit(Action{Kind: ActDropConnection})
		f.stop(TimerHold)
		f.arm(TimerConnectRetry, f.retry)
		f.emit(Action{Kind: ActListen})
		return Active, "tcp connection failed in OpenSent"
	case EvBGPOpen:
		f.negotiatedHold = min(f.cfg.HoldTime, ev.HoldTime)
		f.keepalive = 0
		if f.negotiatedHold > 0 {
			f.keepalive = f.negotiatedHold / 3
			if f.cfg.KeepaliveTime > 0 && f.cfg.KeepaliveTime < f.keepalive {
				f.keepalive = f.cfg.KeepaliveTime
			}
		}
		f.emit(Action{Kind: ActSendKeepalive})
		if f.negotiatedHold > 0 {
			f.arm(TimerKeepalive, f.keepalive)
			f.arm(TimerHold, f.negotiatedHold)
		} else {
			f.stop(TimerHold)
		}
		return OpenConfirm, "OPEN received"
	case EvBGPHeaderErr, EvBGPOpenMsgErr:
		f.notifyErr(ev.Err)
		return f.fail("bad OPEN")
	case EvOpenCollisionDump:
		f.notify(proto.CodeCease, proto.SubCollisionResolution)
		return f.fail("connection collision")
	case EvNotifMsgVerErr:
		return f.stopped("version error from peer")
	case EvNotifMsg:
		return f.fail("NOTIFICATION received")
	}
	// RFC 6608: Receive Unexpected Message in OpenSent State.
	f.notify(proto.CodeFSM, 1)
	return f.fail(fmt.Sprintf("unexpected %s in OpenSent", ev.Kind))
}

// openConfirm handles RFC 4271 §8.2.2 "OpenConfirm State".
func (f *FSM) openConfirm(ev Event) (State, string) {
	switch ev.Kind {
	case EvManualStart, EvAutomaticStart, EvManualStartPassive, EvAutomaticStartPassive, EvTCPConnectionValid, EvTCPCRAcked, EvTCPConnectionConfirmed:
		return OpenConfirm, f.why
	case EvManualStop:
		f.notifyStop(ev.Err)
		return f.stopped("manual stop")
	case EvAutomaticStop:
		f.notifyStop(ev.Err)
		return f.fail("automatic stop")
	case EvHoldTimerExpires:
		f.notify(proto.CodeHoldTimer, 0)
		return f.fail("hold timer expired")
	case EvSendHoldTimerExpires:
		f.notify(proto.CodeSendHoldTimer, 0)
		return f.fail("send hold timer expired")
	case EvKeepaliveTimerExpires:
		f.emit(Action{Kind: ActSendKeepalive})
		f.arm(TimerKeepalive, f.keepalive)
		return OpenConfirm, f.why
	case EvTCPConnectionFails, EvNotifMsg:
		return f.fail("connection lost in OpenConfirm")
	case EvNotifMsgVerErr:
		return f.stopped("version error from peer")
	case EvBGPHeaderErr, EvBGPOpenMsgErr:
		f.notifyErr(ev.Err)
		return f.fail("bad message in OpenConfirm")
	case EvOpenCollisionDump:
		f.notify(proto.CodeCease, proto.SubCollisionResolution)
		return f.fail("connection collision")
	case EvKeepAliveMsg:
		if f.negotiatedHold > 0 {
			f.arm(TimerHold, f.negotiatedHold)
		}
		f.retry = f.cfg.ConnectRetryTime
		if f.cfg.IdleHoldTime > 0 {
			f.arm(TimerStable, f.stableTime())
		}
		f.emit(Action{Kind: ActEstablished})
		return Established, "KEEPALIVE received"
	}
	// RFC 6608: Receive Unexpected Message in OpenConfirm State.
	f.notify(proto.CodeFSM, 2)
	return f.fail(fmt.Sprintf("unexpected %s in OpenConfirm", ev.Kind))
}

// established handles RFC 4271 §8.2.2 "Established State".
func (f *FSM) established(ev Event) (State, string) {
	switch ev.Kind {
	case EvManualStart, EvAutomaticStart, EvManualStartPassive, EvAutomaticStartPassive, EvTCPConnectionValid, EvTCPCRAcked, EvTCPConnectionConfirmed:
		return Established, f.why
	case EvManualStop:
		f.notifyStop(ev.Err)
		f.emit(Action{Kind: ActDown})
		return f.stopped("manual stop")
	case EvAutomaticStop:
		f.notifyStop(ev.Err)
		f.emit(Action{Kind: ActDown})
		return f.fail("automatic stop")
	case EvHoldTimerExpires:
		f.notify(proto.CodeHoldTimer, 0)
		f.emit(Action{Kind: ActDown})
		return f.fail("hold timer expired")
	case EvSendHoldTimerExpires:
		f.notify(proto.CodeSendHoldTimer, 0)
		f.emit(Action{Kind: ActDown})
		return f.fail("send hold timer expired")
	case EvKeepaliveTimerExpires:
		f.emit(Action{Kind: ActSendKeepalive})
		f.arm(TimerKeepalive, f.keepalive)
		return Established, f.why
	case EvStableTimerExpires:
		f.idleHold, f.unstable = 0, false
		return Established, f.why
	case EvKeepAliveMsg:
		if f.negotiatedHold > 0 {
			f.arm(TimerHold, f.negotiatedHold)
		}
		return Established, f.why
	case EvUpdateMsg:
		f.emit(Action{Kind: ActProcessUpdate})
		if f.negotiatedHold > 0 {
			f.arm(TimerHold, f.negotiatedHold)
		}
		return Established, f.why
	case EvRouteRefreshMsg:
		f.emit(Action{Kind: ActProcessRefresh})
		if f.negotiatedHold > 0 {
			f.arm(TimerHold, f.negotiatedHold)
		}
		return Established, f.why
	case EvUpdateMsgErr, EvBGPHeaderErr:
		f.notifyErr(ev.Err)
		f.emit(Action{Kind: ActDown})
		return f.fail("malformed message")
	case EvOpenCollisionDump:
		f.notify(proto.CodeCease, proto.SubCollisionResolution)
		f.emit(Action{Kind: ActDown})
		return f.fail("connection collision")
	case EvTCPConnectionFails, EvNotifMsg, EvNotifMsgVerErr:
		f.emit(Action{Kind: ActDown})
		return f.fail("connection lost")
	}
	// RFC 6608: Receive Unexpected Message in Established State.
	f.notify(proto.CodeFSM, 3)
	f.emit(Action{Kind: ActDown})
	return f.fail(fmt.Sprintf("unexpected %s in Established", ev.Kind))
}
