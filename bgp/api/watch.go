package api

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	apipb "github.com/osrg/gobgp/v3/api"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fanoutd/fanout/bgp"
)

// errSlowWatcher ends a watch whose client does not keep up.
var errSlowWatcher = errors.New("slow watcher")

// WatchEvent streams table events (see watchTable) or peer events. Peer events: an INIT
// event per configured neighbor, END_OF_INIT, then
// a STATE event whenever a neighbor's session state or admin state changes. States are
// sampled every Deps.PollInterval, so changes that revert within one interval are not seen.
// Events wait in a bounded buffer (Deps.WatchBuffer); a watcher that lets it fill is cut off
// with ResourceExhausted rather than allowed to grow memory.
func (s *Service) WatchEvent(req *apipb.WatchEventRequest, stream apipb.GobgpApi_WatchEventServer) error {
	switch {
	case req.GetTable() != nil && req.GetPeer() != nil:
		return status.Error(codes.Unimplemented, "WatchEvent of peer and table events in one stream is not implemented; open one stream for each")
	case req.GetTable() != nil:
		return s.watchTable(req, stream)
	case req.GetPeer() == nil:
		return status.Error(codes.InvalidArgument, "WatchEvent: nothing to watch: ask for peer or table events")
	}
	last := map[netip.Addr]peerSample{}
	for _, st := range s.srv.Peers() {
		p := s.srv.Lookup(st.Addr)
		if p == nil {
			continue
		}
		last[st.Addr] = sample(st)
		if err := stream.Send(peerEvent(apipb.WatchEventResponse_PeerEvent_INIT, s.apiPeer(p.Config(), st, nil))); err != nil {
			return err
		}
	}
	if err := stream.Send(&apipb.WatchEventResponse{Event: &apipb.WatchEventResponse_Peer{
		Peer: &apipb.WatchEventResponse_PeerEvent{Type: apipb.WatchEventResponse_PeerEvent_END_OF_INIT}}}); err != nil {
		return err
	}

	ctx, cancel := context.WithCancelCause(stream.Context())
	events := make(chan *apipb.WatchEventResponse, s.deps.WatchBuffer)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.pollPeers(ctx, cancel, last, events)
	}()
	defer func() {
		cancel(nil)
		wg.Wait()
	}()
	for {
		select {
		case ev := <-events:
			if err := stream.Send(ev); err != nil {
				return err
			}
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), errSlowWatcher) {
				return status.Errorf(codes.ResourceExhausted, "WatchEvent: the watcher fell %d events behind and was cut off", cap(events))
			}
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

type peerSample struct {
	state bgp.State
	admin bool
}

func sample(st bgp.PeerStatus) peerSample { return peerSample{state: st.State, admin: st.AdminDown} }

func peerEvent(typ apipb.WatchEventResponse_PeerEvent_Type, p *apipb.Peer) *apipb.WatchEventResponse {
	return &apipb.WatchEventResponse{Event: &apipb.WatchEventResponse_Peer{Peer: &apipb.WatchEventResponse_PeerEvent{Type: typ, Peer: p}}}
}

// pollPeers samples the neighbors' states and queues a STATE event per change, until ctx
// ends; a full queue cancels the watch with errSlowWatcher. Owner: WatchEvent, which waits
// for it.
func (s *Service) pollPeers(ctx context.Context, cancel context.CancelCauseFunc, last map[netip.Addr]peerSample, events chan<- *apipb.WatchEventResponse) {
	tick := time.NewTicker(s.deps.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		seen := make(map[netip.Addr]bool, len(last))
		for _, st := range s.srv.Peers() {
			seen[st.Addr] = true
			cur := sample(st)
			if prev, ok := last[st.Addr]; ok && prev == cur {
				continue
			}
			last[st.Addr] = cur
			p := s.srv.Lookup(st.Addr)
			if p == nil {
				continue
			}
			select {
			case events <- peerEvent(apipb.WatchEventResponse_PeerEvent_STATE, s.apiPeer(p.Config(), st, nil)):
			default:
				cancel(errSlowWatcher)
				return
			}
		}
		for a := range last {
			if !seen[a] {
				delete(last, a) // deleted neighbors: a later re-add is reported afresh
			}
		}
	}
}
