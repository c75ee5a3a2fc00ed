package bgp

import (
	"errors"
	"io"
	"sync"
	"time"
)

// ErrSendBufferClosed is returned by writes after Close.
var ErrSendBufferClosed = errors.New("send buffer closed")

// SendBuffer is the bounded queue of encoded messages between the routing side of one peer
// (the send task of its scheduling group, and its session goroutine) and that peer's writer
// goroutine, which drains it to TCP.
//
// Two lanes: bulk (UPDATE messages, bounded by Limit bytes; a full buffer refuses the batch
// and the caller parks the peer at its queue marker) and urgent (KEEPALIVE, NOTIFICATION,
// ROUTE-REFRESH; never refused). The writer sends urgent messages first, and between bulk
// chunks, which always end on a message boundary, so liveness traffic waits at most for one
// chunk already handed to the kernel.
//
// It is one of the synchronised hand-off points of the design: mu guards every field below
// it. Owner: the peer. Cardinality: one per established session. Lifetime: the session's.
type SendBuffer struct {
	limit    int
	chunk    int
	onDrain  func() // called (without mu) when bulk space frees up after a refusal
	now      func() time.Time
	wake     chan struct{}
	mu       sync.Mutex
	bulk     []byte    // guarded by mu; bulk[head:] is not yet handed to the writer
	head     int       // guarded by mu
	bounds   []int     // guarded by mu; end offsets in bulk of appended batches past head (message boundaries)
	bhead    int       // guarded by mu; first live entry of bounds
	urgent   []byte    // guarded by mu
	closed   bool      // guarded by mu
	refused  bool      // guarded by mu; a bulk append was refused since the last drain callback
	stalled  time.Time // guarded by mu; when the writer last started waiting on a write that has not finished (zero: none)
	inFlight int       // guarded by mu; bytes the writer holds
}

// SendBufferOptions configure a SendBuffer.
type SendBufferOptions struct {
	Limit   int              // bulk bytes held before refusing; default 4 MiB
	Chunk   int              // preferred bytes per write; default 64 KiB
	OnDrain func()           // woken when space frees after a refused append
	Now     func() time.Time // clock; default time.Now
}

// NewSendBuffer returns an empty buffer.
func NewSendBuffer(o SendBufferOptions) *SendBuffer {
	if o.Limit <= 0 {
		o.Limit = 4 << 20
	}
	if o.Chunk <= 0 {
		o.Chunk = 64 << 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &SendBuffer{limit: o.Limit, chunk: o.Chunk, onDrain: o.OnDrain, now: o.Now, wake: make(chan struct{}, 1)}
}

func (b *SendBuffer) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// AppendBulk queues msgs (one or more whole messages) unless that would pass the limit;
// it reports whether they were queued. A refused append arranges for OnDrain to be called
// once the writer has made room.
func (b *SendBuffer) AppendBulk(msgs []byte) (bool, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false, ErrSendBufferClosed
	}
	if q := len(b.bulk) - b.head + b.inFlight; q > 0 && q+len(msgs) > b.limit {
		b.refused = true
		b.mu.Unlock()
		return false, nil
	}
	b.bulk = append(b.bulk, msgs...)
	b.bounds = append(b.bounds, len(b.bulk))
	b.mu.Unlock()
	b.signal()
	return true, nil
}

// AppendUrgent queues a message that goes out ahead of queued bulk messages.
func (b *SendBuffer) AppendUrgent(msg []byte) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrSendBufferClosed
	}
	b.urgent = append(b.urgent, msg...)
	b.mu.Unlock()
	b.signal()
	return nil
}

// Queued returns the bulk bytes waiting, including what the writer holds.
func (b *SendBuffer) Queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.bulk) - b.head + b.inFlight
}

// StalledFor returns how long the writer has been blocked in one write with data pending:
// the RFC 9687 send hold timer compares it with the send hold time. Zero when not blocked.
func (b *SendBuffer) StalledFor() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stalled.IsZero() {
		return 0
	}
	return b.now().Sub(b.stalled)
}

// Close stops the buffer: appends fail and the writer returns after the urgent lane (a
// final NOTIFICATION) is written.
func (b *SendBuffer) Close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.signal()
}

// take returns the next bytes to write: all urgent bytes, or else bulk bytes up to about
// one chunk ending at a batch boundary. done reports that the buffer is closed and the
// urgent lane is empty.
func (b *SendBuffer) take(spare []byte) (out []byte, urgent bool, done bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.urgent) > 0 {
		out = append(spare[:0], b.urgent...)
		b.urgent = b.urgent[:0]
		b.stalled = b.now()
		return out, true, false
	}
	if b.closed {
		return nil, false, true
	}
	if b.head == len(b.bulk) {
		return nil, false, false
	}
	// The first boundary at least one chunk ahead, so a write always ends on a message
	// boundary and is not much larger than a chunk.
	end := len(b.bulk)
	for b.bhead < len(b.bounds) {
		e := b.bounds[b.bhead]
		b.bhead++
		if e-b.head >= b.chunk {
			end = e
			break
		}
	}
	out = append(spare[:0], b.bulk[b.head:end]...)
	b.head = end
	switch {
	case b.head == len(b.bulk):
		b.bulk, b.head = b.bulk[:0], 0
		b.bounds, b.bhead = b.bounds[:0], 0
	case b.head > cap(b.bulk)/2:
		// Compact once the consumed prefix is half the buffer: amortised O(1) per byte.
		n := copy(b.bulk, b.bulk[b.head:])
		b.bulk = b.bulk[:n]
		k := copy(b.bounds, b.bounds[b.bhead:])
		b.bounds = b.bounds[:k]
		for i := range b.bounds {
			b.bounds[i] -= b.head
		}
		b.head, b.bhead = 0, 0
	}
	b.inFlight = len(out)
	b.stalled = b.now()
	return out, false, false
}

// wrote records that the writer finished a write and runs the drain callback when a
// refused producer is waiting and the buffer has fallen below half its limit.
func (b *SendBuffer) wrote() {
	b.mu.Lock()
	b.inFlight = 0
	b.stalled = time.Time{}
	call := b.refused && len(b.bulk)-b.head < b.limit/2
	if call {
		b.refused = false
	}
	b.mu.Unlock()
	if call && b.onDrain != nil {
		b.onDrain()
	}
}

// WriteTo drains the buffer into w until the buffer is closed (after writing the final
// urgent bytes), w fails, or stop is closed. It is the body of the peer's writer goroutine.
func (b *SendBuffer) WriteTo(w io.Writer, stop <-chan struct{}) error {
	var buf []byte
	for {
		out, _, done := b.take(buf)
		if done {
			return nil
		}
		if len(out) == 0 {
			select {
			case <-b.wake:
				continue
			case <-stop:
				return nil
			}
		}
		buf = out
		_, err := w.Write(out)
		b.wrote()
		if err != nil {
			return err
		}
	}
}
