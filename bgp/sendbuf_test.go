package bgp

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gateWriter records each Write and blocks until the test lets it proceed.
type gateWriter struct {
	mu     sync.Mutex
	writes [][]byte
	gate   chan struct{}
}

func (w *gateWriter) Write(p []byte) (int, error) {
	<-w.gate
	w.mu.Lock()
	w.writes = append(w.writes, append([]byte(nil), p...))
	w.mu.Unlock()
	return len(p), nil
}

func (w *gateWriter) all() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][]byte(nil), w.writes...)
}

func msg(tag byte, n int) []byte { return bytes.Repeat([]byte{tag}, n) }

func startWriter(t *testing.T, b *SendBuffer, w *gateWriter) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	quit := make(chan struct{})
	go func() {
		defer close(done)
		if err := b.WriteTo(w, quit); err != nil {
			t.Errorf("WriteTo: %v", err)
		}
	}()
	return func() {
		close(quit)
		b.Close()
		close(w.gate)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("writer did not stop")
		}
	}
}

func TestSendBufferUrgentAtNextBoundary(t *testing.T) {
	b := NewSendBuffer(SendBufferOptions{Limit: 1 << 20, Chunk: 100})
	w := &gateWriter{gate: make(chan struct{})}
	for i := 0; i < 5; i++ {
		if ok, err := b.AppendBulk(msg('u', 60)); !ok || err != nil {
			t.Fatalf("append %d: %v %v", i, ok, err)
		}
	}
	stop := startWriter(t, b, w)
	defer stop()
	// The writer holds the first chunk (two batches, 120 bytes: the first boundary past 100)
	// and is blocked writing it when the KEEPALIVE is queued.
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.inFlight == 120 })
	if err := b.AppendUrgent(msg('k', 19)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		w.gate <- struct{}{}
	}
	waitFor(t, func() bool { return len(w.all()) == 3 })
	got := w.all()
	if len(got[0]) != 120 || got[0][0] != 'u' {
		t.Fatalf("first write %d bytes of %q, want 120 bulk bytes", len(got[0]), got[0][0])
	}
	if !bytes.Equal(got[1], msg('k', 19)) {
		t.Fatalf("second write is %q..., want the urgent KEEPALIVE ahead of queued bulk", got[1][:1])
	}
	if len(got[2]) != 120 {
		t.Fatalf("third write %d bytes, want 120 (batch boundary)", len(got[2]))
	}
}

func TestSendBufferLimitAndDrain(t *testing.T) {
	var drained atomic.Int32
	b := NewSendBuffer(SendBufferOptions{Limit: 200, Chunk: 50, OnDrain: func() { drained.Add(1) }})
	w := &gateWriter{gate: make(chan struct{})}
	for i := 0; i < 4; i++ {
		if ok, _ := b.AppendBulk(msg('u', 50)); !ok {
			t.Fatalf("append %d refused below the limit", i)
		}
	}
	if ok, _ := b.AppendBulk(msg('u', 50)); ok {
		t.Fatal("append past the limit accepted")
	}
	if b.Queued() != 200 {
		t.Fatalf("queued %d", b.Queued())
	}
	stop := startWriter(t, b, w)
	defer stop()
	for i := 0; i < 3; i++ {
		w.gate <- struct{}{}
	}
	waitFor(t, func() bool { return drained.Load() == 1 })
	if ok, _ := b.AppendBulk(msg('u', 50)); !ok {
		t.Fatal("append refused after draining")
	}
}

func TestSendBufferOversizedBatchWhenEmpty(t *testing.T) {
	b := NewSendBuffer(SendBufferOptions{Limit: 10})
	if ok, _ := b.AppendBulk(msg('u', 100)); !ok {
		t.Fatal("an empty buffer must take one batch larger than the limit, or a big UPDATE could never be sent")
	}
}

func TestSendBufferStalledFor(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b := NewSendBuffer(SendBufferOptions{Now: clock})
	w := &gateWriter{gate: make(chan struct{})}
	if b.StalledFor() != 0 {
		t.Fatal("idle buffer reports a stall")
	}
	b.AppendBulk(msg('u', 10))
	stop := startWriter(t, b, w)
	defer stop()
	waitFor(t, func() bool {
		return b.StalledFor() == 0 && b.Queued() == 10 && func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.inFlight == 10 }()
	})
	mu.Lock()
	now = now.Add(9 * time.Minute)
	mu.Unlock()
	if got := b.StalledFor(); got != 9*time.Minute {
		t.Fatalf("StalledFor = %v, want 9m (RFC 9687 send hold timer input)", got)
	}
	w.gate <- struct{}{}
	waitFor(t, func() bool { return b.StalledFor() == 0 })
}

func TestSendBufferCloseWritesFinalNotification(t *testing.T) {
	b := NewSendBuffer(SendBufferOptions{})
	var out bytes.Buffer
	b.AppendBulk(msg('u', 10))
	b.AppendUrgent(msg('n', 21))
	b.Close()
	if err := b.WriteTo(&out, make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), msg('n', 21)) {
		t.Fatalf("wrote %q, want only the NOTIFICATION after Close", out.Bytes())
	}
	if ok, err := b.AppendBulk(msg('u', 1)); ok || err != ErrSendBufferClosed {
		t.Fatalf("append after close: %v %v", ok, err)
	}
}

func TestSendBufferLongRunKeepsOrder(t *testing.T) {
	b := NewSendBuffer(SendBufferOptions{Limit: 1 << 16, Chunk: 1000})
	var out bytes.Buffer
	var want bytes.Buffer
	quit := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- b.WriteTo(&out, quit) }()
	for i := 0; i < 5000; i++ {
		m := msg(byte(i), 1+i%300)
		for {
			ok, err := b.AppendBulk(m)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
		want.Write(m)
	}
	waitFor(t, func() bool { return b.Queued() == 0 })
	b.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) {
		t.Fatalf("bytes differ: got %d want %d", out.Len(), want.Len())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
