package bgp

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
)

// msgTypes bounds the per-type message counters (types 1-5; index 0 counts unknown types,
// which framing refuses, so it stays zero).
const msgTypes = 6

// PeerCounters are one peer's counters and status, written by its session goroutine, its
// reader and writer goroutines, and the RIB side (Routes, through SessionInfo.Counters),
// and read by Snapshot at any time. Every field is atomic; there is
// no lock.
//
// Owner: the Peer. Cardinality: one per configured peer. Lifetime: the peer's (it survives
// sessions, so flaps and the last error accumulate).
type PeerCounters struct {
	MsgIn, MsgOut [msgTypes]atomic.Uint64 // by message type (proto.MsgOpen ... proto.MsgRouteRefresh)
	BytesIn       atomic.Uint64
	UpdateErrors  atomic.Uint64 // UPDATEs with an RFC 7606 attribute-discard or treat-as-withdraw error

	// Routes are maintained by the RIB's partitions as the peer's paths come and go: paths
	// held in the Adj-RIB-In, usable ones, and best ones (the counts `gobgp neighbor` shows).
	Routes rib.SourceCounters

	Flaps atomic.Uint64 // times the session left Established

	RefreshesAnswered  atomic.Uint64 // re-advertisements started for ROUTE-REFRESH or soft reset out (per family)
	RefreshesCoalesced atomic.Uint64 // requests merged into a running or waiting one (the rate limit)

	state       atomic.Uint32 // State of the peer's main session
	adminDown   atomic.Bool
	establishAt atomic.Int64 // Clock time in Unix nanoseconds when the session came up; 0 when not up
	lastErr     atomic.Pointer[LastError]
	session     atomic.Pointer[established] // the Established session, nil when none
}

// LastError is the last NOTIFICATION sent to or received from the peer.
type LastError struct {
	Sent     bool // fanout sent it (otherwise the peer did)
	Code     uint8
	Subcode  uint8
	Name     string // proto.NotificationName
	Data     []byte
	Shutdown string // RFC 9003 shutdown communication, when present
	At       time.Time
}

func (c *PeerCounters) setLastError(sent bool, code, sub uint8, data []byte, at time.Time) *LastError {
	n := proto.Notification{Code: code, Subcode: sub, Data: data}
	e := &LastError{Sent: sent, Code: code, Subcode: sub, Name: proto.NotificationName(code, sub),
		Data: append([]byte(nil), data...), At: at}
	if msg, ok := n.Shutdown(); ok {
		e.Shutdown = string(msg)
	}
	c.lastErr.Store(e)
	return e
}

// countOut counts one message of type typ queued to the peer.
func (c *PeerCounters) countOut(typ uint8) {
	if int(typ) < msgTypes {
		c.MsgOut[typ].Add(1)
	}
}

// CounterSnapshot is a copy of PeerCounters' numbers.
type CounterSnapshot struct {
	MsgIn, MsgOut    [msgTypes]uint64
	BytesIn          uint64
	UpdateErrors     uint64
	PrefixesReceived int64
	PrefixesAccepted int64
	PrefixesBest     int64
	// RefreshesAnswered and RefreshesCoalesced: see PeerCounters.
	RefreshesAnswered, RefreshesCoalesced uint64
	// FamilyReceived and FamilyAccepted split PrefixesReceived and PrefixesAccepted by
	// family, indexed by rib.FamilySlot.
	FamilyReceived, FamilyAccepted [rib.FamilySlots]int64
}

// Family returns the received and accepted counts of fam (0, 0 for a family not counted).
func (s *CounterSnapshot) Family(fam proto.Family) (received, accepted int64) {
	if i := rib.FamilySlot(fam); i >= 0 {
		return s.FamilyReceived[i], s.FamilyAccepted[i]
	}
	return 0, 0
}

// UpdatesIn returns the UPDATE messages received.
func (s *CounterSnapshot) UpdatesIn() uint64 { return s.MsgIn[proto.MsgUpdate] }

// UpdatesOut returns the UPDATE messages queued to the peer.
func (s *CounterSnapshot) UpdatesOut() uint64 { return s.MsgOut[proto.MsgUpdate] }

// PeerStatus is a snapshot of one peer for the API and metrics.
type PeerStatus struct {
	Addr      netip.Addr
	PeerAS    uint32
	Passive   bool
	AdminDown bool
	State     State
	// EstablishedSince is when the session came up (zero when it is not); Uptime is the
	// time since.
	EstablishedSince time.Time
	Uptime           time.Duration
	Flaps            uint64
	LastError        *LastError // nil when none
	Counters         CounterSnapshot
	// Session is what was negotiated, nil unless Established.
	Session                 *SessionInfo
	HoldTime, KeepaliveTime time.Duration // negotiated, when Established
	PeerCapabilities        *proto.Capabilities
}

// snapshot fills the counter and status parts of a PeerStatus.
func (c *PeerCounters) snapshot(st *PeerStatus, now time.Time) {
	for i := range c.MsgIn {
		st.Counters.MsgIn[i] = c.MsgIn[i].Load()
		st.Counters.MsgOut[i] = c.MsgOut[i].Load()
	}
	st.Counters.BytesIn = c.BytesIn.Load()
	st.Counters.UpdateErrors = c.UpdateErrors.Load()
	st.Counters.PrefixesReceived = c.Routes.Received.Load()
	st.Counters.PrefixesAccepted = c.Routes.Accepted.Load()
	for i := range c.Routes.ByFamily {
		st.Counters.FamilyReceived[i] = c.Routes.ByFamily[i].Received.Load()
		st.Counters.FamilyAccepted[i] = c.Routes.ByFamily[i].Accepted.Load()
	}
	st.Counters.PrefixesBest = c.Routes.Best.Load()
	st.Counters.RefreshesAnswered = c.RefreshesAnswered.Load()
	st.Counters.RefreshesCoalesced = c.RefreshesCoalesced.Load()
	st.Flaps = c.Flaps.Load()
	st.State = State(c.state.Load())
	st.AdminDown = c.adminDown.Load()
	st.LastError = c.lastErr.Load()
	if at := c.establishAt.Load(); at != 0 {
		st.EstablishedSince = time.Unix(0, at)
		st.Uptime = now.Sub(st.EstablishedSince)
	}
}
