package bgp

import (
	"context"
	"net/netip"

	"github.com/fanoutd/fanout/proto"
)

// SessionInfo describes one established session to the routing side: who the peer is and
// what was negotiated. It is immutable once the session is up.
type SessionInfo struct {
	PeerAddr  netip.Addr
	LocalAddr netip.Addr
	PeerAS    uint32
	LocalAS   uint32
	RouterID  netip.Addr // the peer's BGP identifier
	EBGP      bool
	RRClient  bool // the peer is a route-reflector client (RFC 4456)
	RSClient  bool // the peer is a route-server client (RFC 7947)
	Families  []proto.Family
	// Recv are the options for decoding what the peer sends (4-octet AS, ADD-PATH receive
	// families, extended messages); Send are the options for encoding what it is sent.
	Recv, Send proto.SessionOptions
	// EnhancedRefresh: both sides announced enhanced route refresh (RFC 7313), so
	// re-advertisements are framed by BoRR and EoRR.
	EnhancedRefresh bool
	// GR is the Graceful Restart capability the peer announced (GR.Present false when
	// none): the helper side reads its Restart Time and F bits (gr.go).
	GR proto.GracefulRestart
	// LLGR is the Long-Lived Graceful Restart capability the peer announced (RFC 9494).
	LLGR proto.LongLivedGR
	// PeerIndex is a small dense number for the peer, stable while it is configured (used
	// in peer bitsets).
	PeerIndex uint32
	// Counters are the peer's counters; the RIB side maintains Counters.Routes
	// there (atomically).
	Counters *PeerCounters
	// Peer is the session's peer: the export side queues UPDATEs with Peer.SendBulk.
	Peer *Peer
}

// Routing is the RIB side of the server as sessions see it. The server owns one; sessions
// call it from their goroutines.
type Routing interface {
	// SessionUp is called once when a session reaches Established, before its first
	// UPDATE is handed over. It returns the session's Ingest.
	SessionUp(info *SessionInfo) Ingest
}

// Ingest takes the routes of one established session. Update is called only from the
// session's reader goroutine, in message order; Down is called once, after the reader has
// stopped calling Update.
type Ingest interface {
	// Update applies one decoded UPDATE. decodeErr is DecodeUpdate's result when it was
	// not a session reset: nil, attribute-discard (apply the rest) or treat-as-withdraw
	// (withdraw every prefix of the message). It may block while the RIB's queues are full:
	// that is back-pressure to the peer; it returns ctx.Err() when ctx ends first. It
	// returns the number of prefixes the session holds in its Adj-RIB-In, for the
	// max-prefix check; the count is what the partitions have applied so far, so it lags by
	// at most what is still queued (bounded by the partition queues).
	Update(ctx context.Context, u *proto.Update, decodeErr *proto.Error) (held int, err error)
	// EndOfRIB reports the peer's End-of-RIB marker for fam (RFC 4724 §2).
	EndOfRIB(fam proto.Family)
	// Down withdraws everything the session announced and releases its memory.
	Down()
}
