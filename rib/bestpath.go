package rib

import "net/netip"

// BestOptions are the knobs of best-path selection.
type BestOptions struct {
	// AlwaysCompareMED compares MED between paths from different neighbouring ASes.
	AlwaysCompareMED bool
	// DeterministicMED groups paths by neighbouring AS, picks the best of each group with
	// MED, then compares the group winners, so the result does not depend on arrival order.
	DeterministicMED bool
	// MissingMEDWorst treats a path without MED as having the worst MED instead of 0.
	MissingMEDWorst bool
	// DefaultLocalPref is assumed for paths without LOCAL_PREF (eBGP-learned); 0 means 100.
	DefaultLocalPref uint32
}

// Reason names the step of the decision process that chose between two paths.
type Reason uint8

// Decision steps, in the order they are applied.
const (
	ReasonNone       Reason = iota
	ReasonUsable            // one path is unusable (next hop, loop)
	ReasonLLGRStale         // RFC 9494 §4.3: LLGR-stale paths are least preferred
	ReasonLocalPref         // RFC 4271 §9.1.2.1: highest degree of preference
	ReasonLocal             // a locally originated path beats a learned one
	ReasonASPathLen         // §9.1.2.2 (a)
	ReasonOrigin            // §9.1.2.2 (b)
	ReasonMED               // §9.1.2.2 (c)
	ReasonEBGP              // §9.1.2.2 (d)
	ReasonClusterLen        // RFC 4456 §9: shorter CLUSTER_LIST
	ReasonRouterID          // §9.1.2.2 (f), with ORIGINATOR_ID in place of the identifier (RFC 4456 §9)
	ReasonPeerAddr          // §9.1.2.2 (g)
	ReasonPathID            // last resort between ADD-PATH paths of one peer
)

var reasonNames = [...]string{"none", "usable", "llgr-stale", "local-pref", "local", "as-path-length",
	"origin", "med", "ebgp", "cluster-list-length", "router-id", "peer-address", "path-id"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

func (o *BestOptions) localPref(a *Attrs) uint32 {
	if a.HasLocalPref {
		return a.LocalPref
	}
	if o.DefaultLocalPref != 0 {
		return o.DefaultLocalPref
	}
	return 100
}

func (o *BestOptions) med(a *Attrs) uint32 {
	if a.HasMED {
		return a.MED
	}
	if o.MissingMEDWorst {
		return ^uint32(0)
	}
	return 0
}

// compare returns <0 when a is better than b, >0 when b is better, and the deciding step.
// withMED says whether MED may be compared at all (deterministic MED compares group
// winners without it).
func (o *BestOptions) compare(a, b *Path, withMED bool) (int, Reason) {
	if ua, ub := a.Usable(), b.Usable(); ua != ub {
		return pick(ua), ReasonUsable
	}
	if sa, sb := a.Flags&FlagLLGRStale == 0, b.Flags&FlagLLGRStale == 0; sa != sb {
		return pick(sa), ReasonLLGRStale
	}
	aa, ba := a.Attrs, b.Attrs
	if la, lb := o.localPref(aa), o.localPref(ba); la != lb {
		return pick(la > lb), ReasonLocalPref
	}
	if a.Src.Local != b.Src.Local {
		return pick(a.Src.Local), ReasonLocal
	}
	if aa.PathLen != ba.PathLen {
		return pick(aa.PathLen < ba.PathLen), ReasonASPathLen
	}
	if aa.Origin != ba.Origin {
		return pick(aa.Origin < ba.Origin), ReasonOrigin
	}
	if withMED && (o.AlwaysCompareMED || aa.NeighborAS == ba.NeighborAS) {
		if ma, mb := o.med(aa), o.med(ba); ma != mb {
			return pick(ma < mb), ReasonMED
		}
	}
	if a.Src.EBGP != b.Src.EBGP {
		return pick(a.Src.EBGP), ReasonEBGP
	}
	if aa.ClusterLen != ba.ClusterLen {
		return pick(aa.ClusterLen < ba.ClusterLen), ReasonClusterLen
	}
	ida, idb := a.Src.RouterID, b.Src.RouterID
	if aa.HasOriginatorID {
		ida = netip.AddrFrom4(aa.OriginatorID)
	}
	if ba.HasOriginatorID {
		idb = netip.AddrFrom4(ba.OriginatorID)
	}
	if c := ida.Compare(idb); c != 0 {
		return c, ReasonRouterID
	}
	if c := a.Src.Addr.Compare(b.Src.Addr); c != 0 {
		return c, ReasonPeerAddr
	}
	if a.ID != b.ID {
		return pick(a.ID < b.ID), ReasonPathID
	}
	return 0, ReasonNone
}

func pick(aBetter bool) int {
	if aBetter {
		return -1
	}
	return 1
}

// Compare reports whether path a is preferred to path b and the step that decided.
func (o *BestOptions) Compare(a, b *Path) (aBetter bool, why Reason) {
	c, r := o.compare(a, b, true)
	return c < 0, r
}

// SelectBest returns the index of the best usable path in paths, or -1 when none is usable.
// It does not allocate.
func (o *BestOptions) SelectBest(paths []Path) int {
	best := -1
	if !o.DeterministicMED || o.AlwaysCompareMED {
		for i := range paths {
			if !paths[i].Usable() {
				continue
			}
			if best < 0 {
				best = i
				continue
			}
			if c, _ := o.compare(&paths[i], &paths[best], true); c < 0 {
				best = i
			}
		}
		return best
	}
	// Deterministic MED: for each neighbouring AS, the best of its group (with MED); the
	// overall best is the best group winner compared without MED. A group's winner is found
	// when its first member is met, so the scan is quadratic only in the number of groups.
	for i := range paths {
		if !paths[i].Usable() || !o.firstOfGroup(paths, i) {
			continue
		}
		w := o.groupWinner(paths, i)
		if best < 0 {
			best = w
			continue
		}
		if c, _ := o.compare(&paths[w], &paths[best], false); c < 0 {
			best = w
		}
	}
	return best
}

func (o *BestOptions) firstOfGroup(paths []Path, i int) bool {
	as := paths[i].Attrs.NeighborAS
	for j := 0; j < i; j++ {
		if paths[j].Usable() && paths[j].Attrs.NeighborAS == as {
			return false
		}
	}
	return true
}

func (o *BestOptions) groupWinner(paths []Path, first int) int {
	as := paths[first].Attrs.NeighborAS
	w := first
	for j := first + 1; j < len(paths); j++ {
		if !paths[j].Usable() || paths[j].Attrs.NeighborAS != as {
			continue
		}
		if c, _ := o.compare(&paths[j], &paths[w], true); c < 0 {
			w = j
		}
	}
	return w
}
