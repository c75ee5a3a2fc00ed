package bgp

import "github.com/fanoutd/fanout/proto"

// AddPathSend configures ADD-PATH send (RFC 7911) for one family: fanout announces the
// Send capability and, toward a peer that announced Receive, advertises up to Max paths
// per prefix (gobgpd's add-paths.config.send-max).
type AddPathSend struct {
	Family proto.Family
	Max    uint8
}

// AddPathSendMax is how many paths per prefix cfg sends for fam (0: ADD-PATH send off).
func (cfg *PeerConfig) AddPathSendMax(fam proto.Family) uint8 {
	for _, a := range cfg.AddPathSend {
		if a.Family == fam {
			return a.Max
		}
	}
	return 0
}

// AddPathMode is the ADD-PATH mode fanout announces for fam.
func (cfg *PeerConfig) AddPathMode(fam proto.Family) proto.AddPathMode {
	var m proto.AddPathMode
	if hasFamily(cfg.AddPathReceive, fam) {
		m |= proto.AddPathReceive
	}
	if cfg.AddPathSendMax(fam) > 0 {
		m |= proto.AddPathSend
	}
	return m
}
