package rib

import (
	"net/netip"

	"github.com/fanoutd/fanout/proto"
)

// Source describes where paths come from: one BGP session of one peer, or the local
// origin (the API). It is immutable and shared by every path of that session; a new session
// gets a new Source, so paths of a dead session are recognised by pointer.
//
// Owner: the peer that created it (or the server for Local). Lifetime: until the last path
// referring to it is removed.
type Source struct {
	ID       uint32     // small dense number of the peer, used in peer bitsets
	Addr     netip.Addr // the peer's address (RFC 4271 §9.1.2.2 (g) last tie-breaker)
	RouterID netip.Addr // the peer's BGP identifier (§9.1.2.2 (f))
	AS       uint32
	EBGP     bool // external peer (§9.1.2.2 (d))
	Client   bool // route-reflector client (RFC 4456)
	RSClient bool // route-server client (RFC 7947)
	Local    bool // originated by this server (API, static), not learned

	// Counters are updated by the partitions as this source's paths come and go.
	Counters *SourceCounters
}

// Path flags.
const (
	// FlagStale: kept for a restarting peer (RFC 4724 §4.2) until refreshed or swept.
	FlagStale uint8 = 1 << iota
	// FlagLLGRStale: kept under long-lived graceful restart (RFC 9494 §4.3); least preferred.
	FlagLLGRStale
	// FlagNextHopUnreachable: the next hop cannot be used; the path is kept but never best.
	FlagNextHopUnreachable
	// FlagASLoop: the AS path holds our AS, or ORIGINATOR_ID / CLUSTER_LIST show a
	// reflection loop (RFC 4456 §8); kept for Adj-RIB-In, never best.
	FlagASLoop
)

// Path is one peer's path to a prefix: a small value stored in its entry. Attributes are
// interned and shared; per-path data (path id, labels, flags) stays here.
//
// Owner: the db.partition task of its entry's partition.
type Path struct {
	Src    *Source
	Attrs  *Attrs
	ID     uint32 // ADD-PATH path identifier as received (0 without ADD-PATH)
	Labels proto.LabelStack
	Flags  uint8
}

// Usable reports whether the path may be selected as best.
func (p *Path) Usable() bool { return p.Flags&(FlagNextHopUnreachable|FlagASLoop) == 0 }
