package db

import (
	"context"
	"sync"
)

// Request is one keyed operation offered to a table; the table's Apply function interprets
// Op against the entry of Key.
//
// A request with All set is a sweep: Op is applied to every entry of the partition, in
// queue order with the partition's other requests (everything queued before it is applied
// first, everything after it waits until it is done). Key is ignored. Sweeps are how a
// peer's whole contribution is dropped with one request per partition.
type Request[K comparable, R any] struct {
	Key K
	Op  R
	All bool
}

// inQueue is one partition's bounded input queue: the hand-off point between producers (any
// goroutine, typically a peer's reader) and the partition's db.partition task. One per
// partition, alive as long as its table. mu guards every field below it; producers that
// find it full wait on space.
type inQueue[K comparable, R any] struct {
	mu      sync.Mutex
	space   sync.Cond
	buf     []Request[K, R] // ring of len(buf) slots
	head, n int
	waiters int
}

func newInQueue[K comparable, R any](capacity int) *inQueue[K, R] {
	q := &inQueue[K, R]{buf: make([]Request[K, R], capacity)}
	q.space.L = &q.mu
	return q
}

// waker is the consumer a queue wakes: the partition's drain task.
type waker interface{ Wake() error }

// push appends reqs, waiting for space while the queue is full, until all are queued or ctx
// ends. The consumer is woken whenever the queue goes from empty to non-empty, before any
// wait, so it is always running or queued while producers wait for it. It returns how many
// requests were queued.
func (q *inQueue[K, R]) push(ctx context.Context, reqs []Request[K, R], consumer waker) (int, error) {
	done := 0
	var stop func() bool // unregisters the wake-up on ctx's end, once registered
	for done < len(reqs) {
		q.mu.Lock()
		for q.n == len(q.buf) {
			if err := ctx.Err(); err != nil {
				q.mu.Unlock()
				unregister(stop)
				return done, err
			}
			if stop == nil {
				stop = context.AfterFunc(ctx, q.wakeWaiters)
			}
			q.waiters++
			q.space.Wait()
			q.waiters--
		}
		wasEmpty := q.n == 0
		for done < len(reqs) && q.n < len(q.buf) {
			q.buf[(q.head+q.n)%len(q.buf)] = reqs[done]
			q.n++
			done++
		}
		q.mu.Unlock()
		if wasEmpty {
			if err := consumer.Wake(); err != nil {
				unregister(stop)
				return done, err
			}
		}
	}
	unregister(stop)
	return done, nil
}

func unregister(stop func() bool) {
	if stop != nil {
		stop()
	}
}

// wakeWaiters wakes every waiting producer so it can notice its context ended.
func (q *inQueue[K, R]) wakeWaiters() {
	q.mu.Lock()
	q.space.Broadcast()
	q.mu.Unlock()
}

// take moves up to max requests into dst and reports whether more remain. It stops after a
// sweep (All) request, so a sweep is always the last request of a batch.
func (q *inQueue[K, R]) take(dst []Request[K, R], max int) ([]Request[K, R], bool) {
	var zero Request[K, R]
	q.mu.Lock()
	for i := 0; i < max && q.n > 0; i++ {
		r := q.buf[q.head]
		dst = append(dst, r)
		q.buf[q.head] = zero
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		if r.All {
			break
		}
	}
	more := q.n > 0
	if q.waiters > 0 {
		q.space.Broadcast()
	}
	q.mu.Unlock()
	return dst, more
}

func (q *inQueue[K, R]) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
