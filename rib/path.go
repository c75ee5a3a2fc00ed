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

// Path is one peer's path to a prefix: a small value (24 bytes) stored in its entry.
// Attributes are interned and shared; per-path data (path id, label, flags) stays here.
//
// Owner: the db.partition task of its entry's partition.
type Path struct {
	Src   *Source
	Attrs *Attrs
	ID    uint32 // ADD-PATH path identifier as received (0 without ADD-PATH)
	Label Label  // the path's MPLS label (VPN families), or none
	Flags uint8
}

// Usable reports whether the path may be selected as best.
func (p *Path) Usable() bool { return p.Flags&(FlagNextHopUnreachable|FlagASLoop) == 0 }

// Label is the one MPLS label the RIB keeps per path, or none (the zero Label).
//
// Why one: the families fanout stores that carry labels are VPNv4 and VPNv6, where RFC 4364
// §4.3.4 (and RFC 4659) binds one label to a route; fanout supports no labeled-unicast
// family (RFC 8277), whose multi-label stacks would need more. The codec still parses and
// builds stacks (proto.LabelStack); the RIB keeps the top label of a received stack
// (LabelOf) and export re-encodes it as a stack of one (Stack). Keeping it in three bytes
// keeps a Path at 24 bytes, one allocation class below what a whole stack costs.
type Label struct {
	b [3]byte // the 20-bit label value, and labelSet in the top bit
}

const labelSet = 1 << 23

// MakeLabel returns the label with value v (its low 20 bits).
func MakeLabel(v uint32) Label {
	v = v&0xfffff | labelSet
	return Label{b: [3]byte{byte(v), byte(v >> 8), byte(v >> 16)}}
}

// LabelOf returns the top label of stack s, or no label for an empty stack.
func LabelOf(s proto.LabelStack) Label {
	if s.N == 0 {
		return Label{}
	}
	return MakeLabel(s.Labels[0])
}

// IsSet reports whether there is a label.
func (l Label) IsSet() bool { return l.b[2]&(labelSet>>16) != 0 }

// Value returns the label's 20-bit value (0 when there is none).
func (l Label) Value() uint32 {
	return (uint32(l.b[0]) | uint32(l.b[1])<<8 | uint32(l.b[2])<<16) & 0xfffff
}

// Stack returns the label as a stack for encoding: one label, or an empty stack.
func (l Label) Stack() proto.LabelStack {
	if !l.IsSet() {
		return proto.LabelStack{}
	}
	return proto.Label1(l.Value())
}
