package main

import (
	"errors"
	"fmt"

	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/config"
)

// syncGroups makes the server's peer groups and dynamic-neighbor ranges those of cur, given
// that they were those of old (nil at start): groups and ranges old had and cur has not are
// removed, changed ones replaced, new ones added. Groups and ranges added through the API
// are left alone. Errors name the configuration key; what could be applied is.
func syncGroups(srv *bgp.Server, old, cur *config.Config) error {
	var errs []error
	inCur := map[string]bool{}
	for i := range cur.PeerGroups {
		inCur[cur.PeerGroups[i].Name] = true
	}
	rangeIn := func(c *config.Config, d config.DynamicNeighbor) bool {
		for _, x := range c.DynamicNeighbors {
			if x == d {
				return true
			}
		}
		return false
	}
	if old != nil {
		// Ranges first, so the groups they name can go.
		for _, d := range old.DynamicNeighbors {
			if !rangeIn(cur, d) {
				if err := srv.DeleteDynamicRange(d.Prefix); err != nil && !errors.Is(err, bgp.ErrNoRange) {
					errs = append(errs, fmt.Errorf("dynamic-neighbors (%s): %w", d.Prefix, err))
				}
			}
		}
		for _, g := range old.PeerGroups {
			if !inCur[g.Name] {
				if err := srv.DeletePeerGroup(g.Name); err != nil && !errors.Is(err, bgp.ErrNoPeerGroup) {
					errs = append(errs, fmt.Errorf("peer-groups (%s): %w", g.Name, err))
				}
			}
		}
	}
	for i := range cur.PeerGroups {
		g := &cur.PeerGroups[i]
		pg := bgp.PeerGroup{Name: g.Name, Template: peerConfig(cur, &config.Neighbor{PeerSettings: g.PeerSettings})}
		err := srv.AddPeerGroup(pg)
		if errors.Is(err, bgp.ErrPeerGroupExists) {
			err = srv.UpdatePeerGroup(pg)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("peer-groups[%d] (%s): %w", i, g.Name, err))
		}
	}
	for i, d := range cur.DynamicNeighbors {
		if old != nil && rangeIn(old, d) {
			continue
		}
		if err := srv.AddDynamicRange(bgp.DynamicRange{Prefix: d.Prefix, Group: d.PeerGroup}); err != nil {
			errs = append(errs, fmt.Errorf("dynamic-neighbors[%d] (%s): %w", i, d.Prefix, err))
		}
	}
	return errors.Join(errs...)
}
