package bgp

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/fanoutd/fanout/proto"
)

// Admission tests: the gate's arithmetic on a fake clock, then the same limits on real
// connections (127.1.200.0/24).

func TestAdmissionRateLimitPerSource(t *testing.T) {
	clock := NewFakeClock(epoch)
	a := newAdmission(AdmissionConfig{PerSourceBurst: 3, PerSourceInterval: time.Second, MaxUnestablished: -1}, clock, zap.NewNop())
	x, y := addr("192.0.2.1"), addr("192.0.2.2")
	for i := range 3 {
		tk, why := a.admit(x)
		if tk == nil {
			t.Fatalf("attempt %d within the burst refused: %s", i, why)
		}
		tk.release()
	}
	if tk, _ := a.admit(x); tk != nil {
		t.Fatal("4th attempt in the same instant admitted")
	}
	if tk, _ := a.admit(y); tk == nil {
		t.Fatal("another source is limited by x's attempts")
	}
	clock.Advance(999 * time.Millisecond)
	if tk, _ := a.admit(x); tk != nil {
		t.Fatal("admitted before a token refilled")
	}
	clock.Advance(time.Millisecond)
	if tk, _ := a.admit(x); tk == nil {
		t.Fatal("refused after a token refilled")
	}
	// A long pause refills the burst, never more.
	clock.Advance(time.Hour)
	n := 0
	for range 10 {
		if tk, _ := a.admit(x); tk != nil {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("after an hour %d attempts admitted at once, want the burst 3", n)
	}
	if st := a.Stats(); st.RateLimited != 1+1+7 || st.Admitted != 3+1+1+3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestAdmissionUnestablishedCap(t *testing.T) {
	a := newAdmission(AdmissionConfig{PerSourceBurst: -1, MaxUnestablished: 2}, NewFakeClock(epoch), zap.NewNop())
	t1, _ := a.admit(addr("192.0.2.1"))
	t2, _ := a.admit(addr("192.0.2.2"))
	if t1 == nil || t2 == nil {
		t.Fatal("refused under the cap")
	}
	if tk, why := a.admit(addr("192.0.2.3")); tk != nil || why == "" {
		t.Fatal("admitted over the cap")
	}
	t1.release()
	t1.release() // a second release gives nothing back
	if st := a.Stats(); st.Unestablished != 1 || st.OverCap != 1 {
		t.Fatalf("stats %+v", st)
	}
	t3, _ := a.admit(addr("192.0.2.3"))
	if t3 == nil {
		t.Fatal("refused after a release")
	}
	if tk, _ := a.admit(addr("192.0.2.4")); tk != nil {
		t.Fatal("double release let a third connection in")
	}
	var nilTicket *admitTicket
	nilTicket.release()
}

func TestAdmissionSourcesBounded(t *testing.T) {
	clock := NewFakeClock(epoch)
	a := newAdmission(AdmissionConfig{PerSourceBurst: 1, PerSourceInterval: time.Second, MaxSources: 8, MaxUnestablished: -1}, clock, zap.NewNop())
	for i := range 1000 {
		src := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		if tk, _ := a.admit(src); tk == nil {
			t.Fatalf("first attempt of source %v refused", src)
		}
		if i%100 == 0 {
			clock.Advance(time.Second)
		}
		a.mu.Lock()
		n := len(a.sources)
		a.mu.Unlock()
		if n > 8 {
			t.Fatalf("%d sources remembered, bound 8", n)
		}
	}
}

// TestAdmissionOverTCP: a source that connects in a loop is refused past its burst (an
// unknown source's socket closes without a word); connections held open without an OPEN
// count against the cap until one reaches Established; a configured peer refused for a
// limit is told why.
func TestAdmissionOverTCP(t *testing.T) {
	s := startServer(t, ServerConfig{AS: 65000, RouterID: addr("10.0.0.1"), ListenAddrs: []netip.Addr{addr("127.1.200.1")},
		Admission: AdmissionConfig{PerSourceBurst: 3, PerSourceInterval: time.Hour, MaxUnestablished: 2}},
		Deps{Logger: zaptest.NewLogger(t), Routing: newTestRouting()})
	for i := 2; i <= 4; i++ {
		addPeer(t, s, PeerConfig{Addr: addr(fmt.Sprintf("127.1.200.%d", i)), PeerAS: 65010, Passive: true, IdleHoldTime: -1})
	}
	// refused: the connection is closed, at most after a Cease / Connection Rejected
	// (RFC 4486 §4); no OPEN.
	refused := func(r *rawPeer) bool {
		typ, body, err := r.read(waitLimit)
		if err != nil {
			return err == io.EOF
		}
		var n proto.Notification
		if typ != proto.MsgNotification || proto.DecodeNotification(body, &n) != nil || n.Code != proto.CodeCease || n.Subcode != proto.SubConnectionRejected {
			return false
		}
		_, _, err = r.read(waitLimit)
		return err == io.EOF
	}
	// An unknown source reconnecting: three attempts reach the lookup, the rest do not.
	for range 5 {
		r := dialRaw(t, "127.1.200.99", s.ListenAddrs()[0], 0)
		if !refused(r) {
			t.Fatal("unknown source: connection not closed")
		}
	}
	if st := s.AdmissionStats(); st.RateLimited != 2 || st.Admitted != 3 || st.Unestablished != 0 {
		t.Fatalf("after a reconnect loop: %+v", st)
	}
	// Two configured peers connect and say nothing: the cap (2) is reached.
	r2 := dialRaw(t, "127.1.200.2", s.ListenAddrs()[0], 0)
	r3 := dialRaw(t, "127.1.200.3", s.ListenAddrs()[0], 0)
	eventually(t, "two unestablished", func() bool { return s.AdmissionStats().Unestablished == 2 })
	r4 := dialRaw(t, "127.1.200.4", s.ListenAddrs()[0], 0)
	// A configured peer is told why: Cease / Connection Rejected with a communication.
	if n := r4.expectNotification(waitLimit); n.Code != proto.CodeCease || n.Subcode != proto.SubConnectionRejected ||
		!strings.Contains(string(n.Data), "fanout: ") {
		t.Fatalf("third unestablished connection refused with %v (data %q)", n.String(), n.Data)
	}
	if st := s.AdmissionStats(); st.OverCap != 1 {
		t.Fatalf("over the cap: %+v", st)
	}
	// One establishes, one gives up: both places are free again.
	r2.handshake(65010, "10.0.0.2", 90, nil)
	waitState(t, s, addr("127.1.200.2"), Established)
	r3.nc.Close()
	eventually(t, "places released", func() bool { return s.AdmissionStats().Unestablished == 0 })
	r4 = dialRaw(t, "127.1.200.4", s.ListenAddrs()[0], 0)
	r4.sendOpen(65010, "10.0.0.4", 90, nil)
	r4.expect(proto.MsgOpen)
}
