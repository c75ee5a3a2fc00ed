package bgp

import (
	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
)

// Peers bound to a VRF (PE-CE sessions)
//
// A peer whose PeerConfig.VRF names a VRF (gobgpd's neighbors.config.vrf) is a CE: its
// session's IPv4 and IPv6 unicast routes go into that VRF's unicast tables instead of the
// global ones (from there the VRF's export listener puts them into the VPN tables with the
// VRF's RD, export route targets and label), and its RibOuts are on the same VRF tables, so
// it is sent the VRF's best paths, local and imported from VPN, as plain unicast under its
// usual export policy. Routes of any other family it sends are ignored and it is sent none.
//
// Graceful restart: a VRF peer is kept out of the helper side. When its session ends, even
// in a way RFC 4724 would cover, its routes are withdrawn at once (ribIn.DownGraceful falls
// back to Down), because the retained-route bookkeeping (gr.go) walks the global tables.
// Enhanced route refresh markers (BoRR/EoRR) of a VRF peer are likewise not applied to its
// VRF tables (refresh.go marks the global ones, where it has no routes).

// sessionVRF is the name of the VRF the session's peer is bound to, "" for none.
func sessionVRF(info *SessionInfo) string {
	if info.Peer == nil {
		return ""
	}
	return info.Peer.cfg.VRF
}

// sessionTables returns the tables the session's routes go into and are exported from, by
// family: the global tables, or for a peer bound to a VRF that VRF's unicast tables (nil for
// the VPN families). ok is false when the peer's VRF does not exist; the tables are then all
// nil, so the session learns and is sent nothing.
func (r *RIB) sessionTables(info *SessionInfo) (ts *[len(ribFamilies)]*rib.Table, ok bool) {
	name := sessionVRF(info)
	if name == "" {
		return &r.tables, true
	}
	v := r.VRF(name)
	if v == nil {
		return &[len(ribFamilies)]*rib.Table{}, false
	}
	return &[len(ribFamilies)]*rib.Table{v.Table(proto.IPv4Unicast), v.Table(proto.IPv6Unicast)}, true
}

// ingestTables is sessionTables for a new session's ingest; an unknown VRF is logged.
func (r *RIB) ingestTables(info *SessionInfo) *[len(ribFamilies)]*rib.Table {
	ts, ok := r.sessionTables(info)
	if !ok {
		r.log.Error("peer bound to a vrf fanout does not have: its routes are ignored and it is sent none",
			zap.Stringer("peer", info.PeerAddr), zap.String("vrf", sessionVRF(info)))
	}
	return ts
}

// sessionTable is the table of fam the session is exported to from, nil for none.
func (r *RIB) sessionTable(info *SessionInfo, fam proto.Family) *rib.Table {
	fi := famIndex(fam)
	if fi < 0 {
		return nil
	}
	ts, _ := r.sessionTables(info)
	return ts[fi]
}

// inVRF reports whether the session's routes go to a VRF's tables rather than the global ones.
func (in *ribIn) inVRF() bool { return in.tables != &in.r.tables }
