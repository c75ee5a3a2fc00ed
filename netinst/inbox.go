package netinst

import (
	"net/netip"
	"sync"
	"time"
)

// EventKey names what one route event is about: a prefix of the instance's table (the
// global unicast tables, or the VRF's own, where the rib has already chosen among the VPN
// routes bringing it). A small comparable value.
type EventKey struct {
	Prefix netip.Prefix
}

// Event says the best route of Key now goes via NextHop, or (NextHop invalid) is withdrawn.
type Event struct {
	Key     EventKey
	NextHop netip.Addr
}

// inbox is an actor's route-event inbox. Push never blocks: events coalesce per key in
// pending (the newest wins) and one token in the 1-buffered wake channel tells the actor
// there is something to take. pending holds at most one event per key the feed's tables
// hold, so it is bounded by the RIB, not by how far the actor lags.
//
// Owner: the feed pushes from routing tasks (any number at once), the actor takes in its
// goroutine. mu guards pending and since; wake is the only channel. Cardinality: one per
// actor. Lifetime: the actor's.
type inbox struct {
	clock Clock
	wake  chan struct{}

	mu      sync.Mutex
	pending map[EventKey]netip.Addr
	since   time.Time // when pending last went from empty to non-empty
}

func newInbox(clock Clock) *inbox {
	return &inbox{clock: clock, wake: make(chan struct{}, 1), pending: map[EventKey]netip.Addr{}}
}

// push records one event, replacing an untaken older one for the same key.
func (b *inbox) push(k EventKey, nh netip.Addr) {
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.since = b.clock.Now()
	}
	b.pending[k] = nh
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// take moves up to max pending events into dst (cleared first) and reports how long the
// oldest of them had waited, and whether more remain.
func (b *inbox) take(dst []Event, max int) ([]Event, time.Duration, bool) {
	dst = dst[:0]
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) == 0 {
		return dst, 0, false
	}
	lag := b.clock.Now().Sub(b.since)
	for k, nh := range b.pending {
		if len(dst) == max {
			break
		}
		dst = append(dst, Event{Key: k, NextHop: nh})
		delete(b.pending, k)
	}
	more := len(b.pending) > 0
	if more {
		b.since = b.clock.Now()
	}
	return dst, lag, more
}

// depth returns how many events are waiting.
func (b *inbox) depth() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}
