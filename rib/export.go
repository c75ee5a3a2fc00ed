package rib

import (
	"math"
	"net/netip"

	"github.com/fanoutd/fanout/proto"
)

// Role is how a peer is exported to: the rules that decide which routes it gets and how
// their attributes change on the way.
type Role uint8

// Export roles.
const (
	// RoleEBGP: an external peer. The local AS is prepended, the next hop is set to the
	// session's local address, LOCAL_PREF and MED are not sent (RFC 4271 §5.1.4, §5.1.5)
	// and neither are the route-reflection attributes.
	RoleEBGP Role = iota + 1
	// RoleIBGPClient: an internal route-reflector client (RFC 4456): it gets every route.
	RoleIBGPClient
	// RoleIBGPNonClient: an internal peer that is not a client (RFC 4456 §6): it gets the
	// routes of clients, external peers and local origin, never those of other non-clients.
	RoleIBGPNonClient
	// RoleRSClient: a route-server client (RFC 7947): routes pass transparently, with no
	// AS prepended and NEXT_HOP and MED unchanged.
	RoleRSClient
)

func (r Role) String() string {
	switch r {
	case RoleEBGP:
		return "ebgp"
	case RoleIBGPClient:
		return "ibgp-client"
	case RoleIBGPNonClient:
		return "ibgp-non-client"
	case RoleRSClient:
		return "rs-client"
	}
	return "role(?)"
}

// ExportPolicy is everything that changes what a peer is sent or how it is encoded. Peers
// with equal policies share one RibOut. It is a small comparable value.
type ExportPolicy struct {
	Family          proto.Family
	Role            Role
	LocalAS         uint32     // prepended for RoleEBGP
	NextHopSelf     netip.Addr // the next hop written for RoleEBGP; zero: unchanged
	ClusterID       netip.Addr // prepended to CLUSTER_LIST when reflecting (IPv4-shaped)
	AS4             bool       // the peers encode 4-octet AS numbers (RFC 6793)
	ExtendedMessage bool       // RFC 8654
	StripUnknown    bool       // drop unknown optional transitive attributes instead of passing them with Partial
	// AddPathSend is how many paths of a prefix are advertised, each with its own path
	// identifier (RFC 7911 ADD-PATH send, negotiated for Family); 0: only the best path,
	// without identifiers.
	AddPathSend uint8
	// LLGR: the peers announced long-lived graceful restart (RFC 9494), so they may be sent
	// long-lived stale routes (with LLGR_STALE); others are not sent them.
	LLGR bool
}

// Options returns the encoding options of the policy's sessions.
func (p *ExportPolicy) Options() proto.SessionOptions {
	o := proto.SessionOptions{AS4: p.AS4, ExtendedMessage: p.ExtendedMessage, EBGP: p.Role == RoleEBGP || p.Role == RoleRSClient}
	if p.AddPathSend > 0 {
		o.AddPath.Set(p.Family)
	}
	return o
}

func (p *ExportPolicy) internal() bool {
	return p.Role == RoleIBGPClient || p.Role == RoleIBGPNonClient
}

// Allows reports whether a route from src may be sent under the policy at all (split
// horizon toward the source peer itself is the RibOut's business).
func (p *ExportPolicy) Allows(src *Source) bool {
	if p.Role == RoleIBGPNonClient {
		// RFC 4456 §6: a route from a non-client internal peer is reflected to clients only.
		return src.Local || src.EBGP || src.Client
	}
	return true
}

// reflects reports whether a route from src is reflected (RFC 4456 §6): it came from an
// internal peer and goes to internal peers.
func (p *ExportPolicy) reflects(src *Source) bool {
	return p.internal() && !src.EBGP && !src.Local
}

// rewriteKey is what the attributes a policy exports depend on besides the policy: the
// input set and a few facts about its source.
type rewriteKey struct {
	in         *Attrs
	reflect    bool
	local      bool
	external   bool
	originator [4]byte // the source's router id, when it becomes ORIGINATOR_ID
	llgrStale  bool    // the path is long-lived stale: LLGR_STALE is added (RFC 9494 §4.3)
}

// exportCacheMax bounds an Exporter's cache of rewritten sets.
const exportCacheMax = 4096

// Exporter computes the attributes one export policy advertises for a path, interning
// each result, and caches input set → output set so each distinct set is rewritten once.
//
// Owner: one partition's tasks (db.partition and db.walk of that instance): no lock.
// Cardinality: one per RibOut per partition. Lifetime: the RibOut's; Close releases what
// its cache holds.
type Exporter struct {
	pol   *ExportPolicy
	attrs *AttrTable
	cache map[rewriteKey]*Attrs // each value holds one reference, given back on eviction
	opts  proto.SessionOptions
	u     proto.Update
	body  []byte
	wire  []byte
	key   []byte
	path  []byte
	clist []byte
	order []int // scratch: the paths an ADD-PATH policy advertises, best first
	comm  []byte

	Rewrites int // sets rewritten (cache misses), for tests and diagnostics
}

// NewExporter returns an exporter for pol interning its results in attrs.
func NewExporter(pol *ExportPolicy, attrs *AttrTable) *Exporter {
	return &Exporter{pol: pol, attrs: attrs, cache: make(map[rewriteKey]*Attrs), opts: pol.Options()}
}

// Close releases the cached sets.
func (x *Exporter) Close() {
	for k, a := range x.cache {
		x.attrs.Release(a)
		delete(x.cache, k)
	}
}

// Export returns the attribute set the policy advertises for p, with one reference for
// the caller, or nil when the set cannot be exported (it does not decode or re-encode).
func (x *Exporter) Export(p *Path) *Attrs {
	if x.unchanged(p) {
		x.attrs.Ref(p.Attrs) // counted in the table that interned it
		return p.Attrs
	}
	k := rewriteKey{in: p.Attrs, local: p.Src.Local, external: p.Src.EBGP, llgrStale: p.Flags&FlagLLGRStale != 0}
	if x.pol.reflects(p.Src) {
		k.reflect = true
		if !p.Attrs.HasOriginatorID && p.Src.RouterID.Is4() {
			k.originator = p.Src.RouterID.As4()
		}
	}
	if out, ok := x.cache[k]; ok {
		x.attrs.Ref(out)
		return out
	}
	out := x.rewrite(&k)
	if out == nil {
		return nil
	}
	if len(x.cache) >= exportCacheMax {
		x.Close()
	}
	x.cache[k] = out
	x.attrs.Ref(out)
	return out
}

// unchanged reports whether the policy exports p's attribute set exactly as received, so
// the set itself is advertised: a route-server client's policy on a 4-octet session that
// keeps unknown attributes, for a set with none of the internal attributes it removes
// (LOCAL_PREF, ORIGINATOR_ID, CLUSTER_LIST; RFC 7947 §2.2: nothing prepended, NEXT_HOP
// and MED unchanged) on a path that is not long-lived stale. rewrite would decode and
// re-encode the canonical encoding to the same bytes (TestExportUnchangedMatchesRewrite);
// this saves the rewrite, the cache and a second copy of every set a route server sends.
func (x *Exporter) unchanged(p *Path) bool {
	pol, a := x.pol, p.Attrs
	return pol.Role == RoleRSClient && pol.AS4 && !pol.StripUnknown && p.Flags&FlagLLGRStale == 0 &&
		!a.HasLocalPref && !a.HasOriginatorID && a.ClusterLen == 0
}

// rewrite decodes the input set, applies the policy's rules and interns the result (one
// reference, for the cache).
func (x *Exporter) rewrite(k *rewriteKey) *Attrs {
	x.Rewrites++
	in := k.in
	w := in.Wire()
	if len(w) > math.MaxUint16 {
		return nil
	}
	x.body = append(x.body[:0], 0, 0, byte(len(w)>>8), byte(len(w)))
	x.body = append(x.body, w...)
	if err := proto.DecodeUpdate(x.body, &proto.SessionOptions{AS4: true}, &x.u); err != nil {
		if e, ok := proto.AsError(err); !ok || e.Action != proto.ActionAttributeDiscard {
			return nil
		}
	}
	a := &x.u.Attrs
	nh := in.NextHop
	pol := x.pol
	switch pol.Role {
	case RoleEBGP:
		// RFC 4271 §5.1.2: prepend our AS; §5.1.3: next hop self; §5.1.5: no LOCAL_PREF;
		// §5.1.4: a MED learned from another AS is not passed to other ASes.
		x.path = prependAS(x.path[:0], a.ASPath, pol.LocalAS)
		a.ASPath = x.path
		a.Present.Set(proto.AttrASPath)
		if pol.NextHopSelf.IsValid() {
			nh = pol.NextHopSelf
		}
		a.Present.Clear(proto.AttrLocalPref)
		if !k.local {
			a.Present.Clear(proto.AttrMED)
		}
		a.Present.Clear(proto.AttrOriginatorID)
		a.Present.Clear(proto.AttrClusterList)
	case RoleRSClient:
		// RFC 7947 §2.2: no AS prepended, NEXT_HOP and MED unchanged. Internal-only
		// attributes do not cross to an external client.
		a.Present.Clear(proto.AttrLocalPref)
		a.Present.Clear(proto.AttrOriginatorID)
		a.Present.Clear(proto.AttrClusterList)
	case RoleIBGPClient, RoleIBGPNonClient:
		if k.external || k.local {
			if !a.Present.Has(proto.AttrLocalPref) {
				a.Present.Set(proto.AttrLocalPref)
				a.LocalPref = 100
			}
		}
		if k.reflect {
			// RFC 4456 §8: ORIGINATOR_ID is the originator's router id unless present;
			// our CLUSTER_ID is prepended to CLUSTER_LIST.
			if !a.Present.Has(proto.AttrOriginatorID) {
				a.Present.Set(proto.AttrOriginatorID)
				a.OriginatorID = netip.AddrFrom4(k.originator)
			}
			if pol.ClusterID.Is4() {
				id := pol.ClusterID.As4()
				old := a.ClusterList
				if !a.Present.Has(proto.AttrClusterList) {
					old = nil
				}
				x.clist = append(append(x.clist[:0], id[:]...), old...)
				a.ClusterList = x.clist
				a.Present.Set(proto.AttrClusterList)
			}
		}
	}
	if pol.StripUnknown {
		a.Unknown = nil
	}
	if k.llgrStale && !HasCommunity(in, CommunityLLGRStale) {
		x.comm = append(append(x.comm[:0], a.Communities...), 0xFF, 0xFF, 0x00, 0x06)
		if !a.Present.Has(proto.AttrCommunities) {
			x.comm = x.comm[len(x.comm)-4:]
		}
		a.Communities = x.comm
		a.Present.Set(proto.AttrCommunities)
	}
	a.Present.Clear(proto.AttrNextHop)
	var err error
	x.wire, err = proto.AppendAttrs(x.wire[:0], a, &x.opts)
	if err != nil {
		return nil
	}
	sum := summaryOf(a, nh)
	x.key = InternKey(x.key, x.wire, nh)
	return x.attrs.Intern(x.key, &sum)
}

// prependAS returns p with as prepended to its first AS_SEQUENCE, or in a new one.
func prependAS(dst []byte, p proto.ASPath, as uint32) proto.ASPath {
	if len(p) >= 2 && p[0] == proto.SegSequence && p[1] < 255 {
		dst = append(dst, proto.SegSequence, p[1]+1, byte(as>>24), byte(as>>16), byte(as>>8), byte(as))
		return append(dst, p[2:]...)
	}
	dst = append(dst, proto.SegSequence, 1, byte(as>>24), byte(as>>16), byte(as>>8), byte(as))
	return append(dst, p...)
}

// summaryOf is the Summary of a decoded attribute set with next hop nh.
func summaryOf(a *proto.Attrs, nh netip.Addr) Summary {
	s := Summary{
		NextHop:      nh,
		Origin:       a.Origin,
		HasMED:       a.Present.Has(proto.AttrMED),
		HasLocalPref: a.Present.Has(proto.AttrLocalPref),
		PathLen:      uint16(min(a.ASPath.Len(), math.MaxUint16)),
	}
	if s.HasMED {
		s.MED = a.MED
	}
	if s.HasLocalPref {
		s.LocalPref = a.LocalPref
	}
	if as, ok := a.ASPath.NeighborAS(); ok {
		s.NeighborAS = as
	}
	if a.Present.Has(proto.AttrClusterList) {
		s.ClusterLen = uint16(min(len(a.ClusterList)/4, math.MaxUint16))
	}
	if a.Present.Has(proto.AttrOriginatorID) && a.OriginatorID.Is4() {
		s.OriginatorID, s.HasOriginatorID = a.OriginatorID.As4(), true
	}
	return s
}
