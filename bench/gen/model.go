package gen

import (
	"fmt"
	"net/netip"

	"github.com/fanoutd/fanout/bench/targets"
)

// Model is what the speakers announce: per speaker, its current Adj-RIB-Out (prefix →
// attribute set). Expected tables are computed from it. Owned by the workload goroutine.
type Model struct {
	Role      targets.Role
	ClusterID netip.Addr // the reflector's cluster id (route reflector only)
	Check     Check
	Speakers  []*SpeakerRIB
}

// SpeakerRIB is one speaker's announcements.
type SpeakerRIB struct {
	Peer Peer
	RIB  map[netip.Prefix]*AttrSet
}

// ErrAmbiguous means the expected table is not determined by the model: two candidate
// paths tie on AS path length, or a receiver's own route competes with others.
var ErrAmbiguous = fmt.Errorf("expected best path is ambiguous")

type candidate struct {
	set  *AttrSet
	spk  int
	ties int // other candidates of the same (best) length
}

// Expected computes the table the receiver at address self must hold (an invalid self for
// a receiver that announces nothing).
//
// Route server (RFC 7947): every route passes with AS path, next hop, MED and communities
// unchanged; among several speakers of one prefix the best path wins (RFC 4271 §9.1.2;
// the model makes the shortest AS path unique so every implementation agrees); a client's
// own routes are not sent back to it.
//
// Route reflector (RFC 4456): the same best path, with ORIGINATOR_ID set to the
// originating speaker's BGP identifier and CLUSTER_LIST to the reflector's cluster id.
//
// A prefix the receiver announces itself while others announce it too is ambiguous
// (implementations differ on whether the client then gets the second best), as is a tie
// on AS path length; both return ErrAmbiguous, which workloads avoid by construction.
func (m *Model) Expected(self netip.Addr) (Expected, error) {
	best := make(map[netip.Prefix]candidate)
	own := make(map[netip.Prefix]bool)
	for i, s := range m.Speakers {
		if s.Peer.Addr == self {
			for p := range s.RIB {
				own[p] = true
			}
			continue
		}
		for p, a := range s.RIB {
			c, ok := best[p]
			switch {
			case !ok || a.PathLen() < c.set.PathLen():
				best[p] = candidate{set: a, spk: i}
			case a.PathLen() == c.set.PathLen():
				c.ties++
				best[p] = c
			}
		}
	}
	var cluster []byte
	if m.Role == targets.RouteReflector {
		c := m.ClusterID.As4()
		cluster = c[:]
	}
	type key struct {
		set *AttrSet
		spk int
		v6  bool
	}
	fps := make(map[key]string)
	var buf []byte
	out := make(Expected, len(best))
	ambiguous, example := 0, ""
	for p, c := range best {
		if c.ties > 0 || own[p] {
			ambiguous++
			example = p.String()
			continue
		}
		k := key{c.set, c.spk, p.Addr().Is6()}
		fp, ok := fps[k]
		if !ok {
			var orig netip.Addr
			if m.Role == targets.RouteReflector {
				orig = m.Speakers[c.spk].Peer.Addr
			}
			buf = c.set.fingerprint(k.v6, m.Check, orig, cluster, buf[:0])
			fp = string(buf)
			fps[k] = fp
		}
		out[p] = fp
	}
	if ambiguous > 0 {
		return out, fmt.Errorf("%w: %d prefixes (e.g. %s)", ErrAmbiguous, ambiguous, example)
	}
	return out, nil
}

// uniqueBestWithout reports whether prefix p still has an unambiguous best path (or none)
// once speaker skip stops announcing it.
func (m *Model) uniqueBestWithout(p netip.Prefix, skip int) bool {
	bestLen, ties := 1<<30, 0
	for i, s := range m.Speakers {
		if i == skip {
			continue
		}
		a, ok := s.RIB[p]
		if !ok {
			continue
		}
		switch l := a.PathLen(); {
		case l < bestLen:
			bestLen, ties = l, 0
		case l == bestLen:
			ties++
		}
	}
	return ties == 0
}

// Prefixes counts the distinct prefixes announced.
func (m *Model) Prefixes() int {
	seen := make(map[netip.Prefix]struct{})
	for _, s := range m.Speakers {
		for p := range s.RIB {
			seen[p] = struct{}{}
		}
	}
	return len(seen)
}
