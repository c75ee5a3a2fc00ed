package bgp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
)

// LocalSourceID is the rib.Source ID of locally originated paths: outside the dense peer
// index space, so it never names a configured peer in a peer bitset.
const LocalSourceID = math.MaxUint32

// Errors of LocalOrigin.Update.
var (
	ErrLocalClosed  = errors.New("bgp: local origin closed")
	ErrInvalidRoute = errors.New("invalid route") // wraps the reason; nothing was applied
)

// LocalOrigin takes the routes this server originates itself (the gRPC API's AddPath and
// DeletePath) and feeds them into the RIB through the same Ingest a peer's session uses, as
// paths of one rib.Source marked Local. An UPDATE is validated as strictly as one from a
// peer, and more: any error, even one RFC 7606 would repair, refuses the whole message and
// nothing of it reaches the RIB.
//
// mu guards in and closed: the Ingest is owned by one caller at a time. Owner: the program
// part that originates (the API service). Cardinality: one per RIB. Lifetime: NewLocalOrigin
// to Close; Close withdraws every path it added.
type LocalOrigin struct {
	mu       sync.Mutex
	in       *ribIn
	closed   bool
	counters PeerCounters // Routes: the local paths held, usable and best
}

// NewLocalOrigin returns the RIB's local origin. Paths carry 4-octet AS numbers, as the
// canonical encoding does; AS_PATH may be empty.
func (r *RIB) NewLocalOrigin() *LocalOrigin {
	lo := &LocalOrigin{}
	opts := proto.SessionOptions{AS4: true, ExtendedMessage: true}
	info := &SessionInfo{
		LocalAS: r.cfg.LocalAS, PeerAS: r.cfg.LocalAS, RouterID: r.cfg.RouterID,
		Families: append([]proto.Family(nil), ribFamilies[:]...), Recv: opts, Send: opts,
		PeerIndex: LocalSourceID, Counters: &lo.counters,
	}
	in := r.SessionUp(info).(*ribIn)
	in.src.Local = true
	lo.in = in
	return lo
}

// Source returns the rib source of the local paths.
func (lo *LocalOrigin) Source() *rib.Source { return lo.in.src }

// Counters returns the local paths' counters.
func (lo *LocalOrigin) Counters() *rib.SourceCounters { return &lo.counters.Routes }

// Update applies one UPDATE body (everything after the 19-byte header). It returns an
// error wrapping proto's decode error when the message is not entirely valid, in which case
// nothing was applied; otherwise the error of queueing to the partitions (ctx ended).
func (lo *LocalOrigin) Update(ctx context.Context, body []byte) error {
	if len(body) > proto.MaxExtendedMessage-proto.HeaderLen {
		return fmt.Errorf("%w: an UPDATE of %d bytes is longer than a BGP message may be", ErrInvalidRoute, len(body))
	}
	var u proto.Update
	err := proto.DecodeUpdate(body, &lo.in.info.Recv, &u)
	var pe *proto.Error
	if errors.As(err, &pe) && pe.AttrType == proto.AttrLocalPref && pe.Action == proto.ActionTreatAsWithdraw {
		// RFC 7606 §7.5 requires LOCAL_PREF from internal peers; a local route comes from
		// no peer and may omit it (best path then reads the default), as gobgpd allows.
		opts := lo.in.info.Recv
		opts.EBGP = true
		err = proto.DecodeUpdate(body, &opts, &u)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRoute, err)
	}
	lo.mu.Lock()
	defer lo.mu.Unlock()
	if lo.closed {
		return ErrLocalClosed
	}
	_, err = lo.in.Update(ctx, &u, nil)
	return err
}

// Drop removes every local path of fam.
func (lo *LocalOrigin) Drop(ctx context.Context, fam proto.Family) error {
	t := lo.in.r.Table(fam)
	if t == nil {
		return fmt.Errorf("no table for family %v", fam)
	}
	return t.DropSource(ctx, lo.in.src)
}

// Close withdraws every local path; the LocalOrigin takes no more updates.
func (lo *LocalOrigin) Close() {
	lo.mu.Lock()
	defer lo.mu.Unlock()
	if lo.closed {
		return
	}
	lo.closed = true
	lo.in.Down()
}

// Config returns the peer's configuration with defaults applied (for the management API).
func (p *Peer) Config() PeerConfig {
	c := p.cfg
	c.Families = append([]proto.Family(nil), c.Families...)
	c.AddPathReceive = append([]proto.Family(nil), c.AddPathReceive...)
	return c
}

// Config returns the server's configuration (for the management API).
func (s *Server) Config() ServerConfig {
	c := s.cfg
	c.ListenAddrs = append([]netip.Addr(nil), c.ListenAddrs...)
	return c
}
