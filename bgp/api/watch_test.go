package api

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	apipb "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"google.golang.org/grpc/codes"

	"github.com/fanoutd/fanout/bgp"
)

func TestWatchPeerEvents(t *testing.T) {
	f := newFixture(t, 84, Deps{PollInterval: 10 * time.Millisecond})
	if err := f.srv.AddPeer(bgp.PeerConfig{Addr: netip.MustParseAddr("127.1.84.20"), PeerAS: 65020, Passive: true}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	st, err := f.c.WatchEvent(ctx, &apipb.WatchEventRequest{Peer: &apipb.WatchEventRequest_Peer{}})
	if err != nil {
		t.Fatal(err)
	}
	next := func() *apipb.WatchEventResponse_PeerEvent {
		t.Helper()
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return r.GetPeer()
	}
	if ev := next(); ev.Type != apipb.WatchEventResponse_PeerEvent_INIT || ev.Peer.Conf.NeighborAddress != "127.1.84.20" {
		t.Fatalf("first event %v", ev)
	}
	if ev := next(); ev.Type != apipb.WatchEventResponse_PeerEvent_END_OF_INIT {
		t.Fatalf("second event %v", ev)
	}
	if err := f.srv.DisablePeer(netip.MustParseAddr("127.1.84.20"), ""); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Type != apipb.WatchEventResponse_PeerEvent_STATE || ev.Peer.State.AdminState != apipb.PeerState_DOWN {
		t.Fatalf("state event %v", ev)
	}
	s2, err := f.c.WatchEvent(f.ctx, &apipb.WatchEventRequest{Table: &apipb.WatchEventRequest_Table{
		Filters: []*apipb.WatchEventRequest_Table_Filter{{Type: apipb.WatchEventRequest_Table_Filter_ADJIN}}}})
	if err == nil {
		_, err = s2.Recv()
	}
	wantCode(t, err, codes.Unimplemented, "ADJIN")
}

// A watcher whose queue is full is cut off, not buffered without bound.
func TestSlowWatcherIsCutOff(t *testing.T) {
	f := newFixture(t, 85, Deps{PollInterval: time.Millisecond})
	if err := f.srv.AddPeer(bgp.PeerConfig{Addr: netip.MustParseAddr("127.1.85.20"), PeerAS: 65020, Passive: true}); err != nil {
		t.Fatal(err)
	}
	events := make(chan *apipb.WatchEventResponse, 1)
	events <- nil // nobody reads: the queue is full
	ctx, cancel := context.WithCancelCause(f.ctx)
	defer cancel(nil)
	done := make(chan struct{})
	go func() { defer close(done); f.svc.pollPeers(ctx, cancel, map[netip.Addr]peerSample{}, events) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the poller did not give up on a full queue")
	}
	if !errors.Is(context.Cause(ctx), errSlowWatcher) {
		t.Fatalf("cause %v", context.Cause(ctx))
	}
}

// Best-path events: the current best paths first (Init), then changes, withdrawals
// included.
func TestWatchBestPaths(t *testing.T) {
	f := newFixture(t, 86, Deps{})
	f.connectSpeaker(2)
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	st, err := f.c.WatchEvent(ctx, &apipb.WatchEventRequest{Table: &apipb.WatchEventRequest_Table{
		Filters: []*apipb.WatchEventRequest_Table_Filter{{Type: apipb.WatchEventRequest_Table_Filter_BEST, Init: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	next := func() *apipb.Path {
		t.Helper()
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		ps := r.GetTable().GetPaths()
		if len(ps) != 1 {
			t.Fatalf("event %v", r)
		}
		return ps[0]
	}
	nlriOf := func(p *apipb.Path) string {
		n, err := apiutil.GetNativeNlri(p)
		if err != nil {
			t.Fatal(err)
		}
		return n.String()
	}
	var initial []string
	for range 4 {
		initial = append(initial, nlriOf(next()))
	}
	if strings.Join(initial, " ") != "10.1.0.0/24 10.1.1.0/24 2001:db8::/48 2001:db8:1::/48" {
		t.Fatalf("initial best paths %v", initial)
	}
	p := apiPath(t, "10.66.0.0/16", gobgp.NewPathAttributeOrigin(0), gobgp.NewPathAttributeNextHop("192.0.2.66"))
	if _, err := f.c.AddPath(f.ctx, &apipb.AddPathRequest{TableType: apipb.TableType_GLOBAL, Path: p}); err != nil {
		t.Fatal(err)
	}
	if ev := next(); nlriOf(ev) != "10.66.0.0/16" || ev.IsWithdraw || !strings.Contains(describe(t, ev), "nh 192.0.2.66") {
		t.Fatalf("add event %v", ev)
	}
	if _, err := f.c.DeletePath(f.ctx, &apipb.DeletePathRequest{TableType: apipb.TableType_GLOBAL, Path: p}); err != nil {
		t.Fatal(err)
	}
	if ev := next(); nlriOf(ev) != "10.66.0.0/16" || !ev.IsWithdraw {
		t.Fatalf("withdraw event %v", ev)
	}
}

// A best-path watcher that does not read is cut off once its queue is full.
func TestSlowTableWatcherIsCutOff(t *testing.T) {
	f := newFixture(t, 87, Deps{WatchBuffer: 4})
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	st, err := f.c.WatchEvent(ctx, &apipb.WatchEventRequest{Table: &apipb.WatchEventRequest_Table{
		Filters: []*apipb.WatchEventRequest_Table_Filter{{Type: apipb.WatchEventRequest_Table_Filter_BEST}}}})
	if err != nil {
		t.Fatal(err)
	}
	// 6000 best paths come, then go when the speaker leaves: far more events than the
	// queue and the stream's flow-control window hold, whenever the listener registered.
	f.connectSpeaker(3000)
	f.speaker.Close(true)
	for {
		_, err := st.Recv()
		if err != nil {
			wantCode(t, err, codes.ResourceExhausted, "cut off")
			return
		}
	}
}
