package main

import (
	"net/netip"
	"time"

	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/config"
)

// defaultDeferral is the deferral time when no graceful-restart neighbor sets one (gobgpd's
// default deferral-time).
const defaultDeferral = 360 * time.Second

// deferExport starts fanout's own graceful restart (-r, RFC 4724 §4.1): export waits for
// the End-of-RIB of every neighbor with graceful restart enabled, at most the longest of
// their deferral-time, then srv stops announcing Restart State.
func deferExport(c *config.Config, r *bgp.RIB, srv *bgp.Server) {
	peers, longest := deferralOf(c)
	r.DeferExport(peers, longest, nil, srv.RestartDone)
}

// deferralOf returns the neighbors a restart waits for and the longest it waits.
func deferralOf(c *config.Config) (peers []netip.Addr, longest time.Duration) {
	for _, n := range c.Neighbors {
		if n.GracefulRestart.Enabled {
			peers = append(peers, n.Address)
			longest = max(longest, n.GracefulRestart.DeferralTime)
		}
	}
	if longest == 0 {
		longest = defaultDeferral
	}
	return peers, longest
}
