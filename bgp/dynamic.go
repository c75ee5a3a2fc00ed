package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
)

// Peer groups and dynamic neighbors (gobgpd's peer-groups and dynamic-neighbors).
//
// A peer group is a named template of peer settings. A dynamic-neighbor range names a group:
// a connection from an address inside the range that no configured peer has creates a
// passive peer with the group's settings, and that peer goes again once its session ends (or
// never reaches Established). Configured neighbors that name a group are merged by whoever
// configures them (config, the API); the server keeps the groups for the ranges and for
// listing.

// PeerGroup is a named template of peer settings. Template.Addr is ignored.
type PeerGroup struct {
	Name     string
	Template PeerConfig
}

// DynamicRange accepts the peers whose address falls in Prefix with the settings of peer
// group Group.
type DynamicRange struct {
	Prefix netip.Prefix
	Group  string
}

// Errors of the peer-group and dynamic-neighbor calls, for callers to branch on.
var (
	ErrNoPeerGroup     = errors.New("bgp: no such peer group")
	ErrPeerGroupExists = errors.New("bgp: peer group already exists")
	ErrPeerGroupInUse  = errors.New("bgp: peer group in use by a dynamic-neighbor range")
	ErrNoRange         = errors.New("bgp: no such dynamic-neighbor range")
	ErrRangeExists     = errors.New("bgp: dynamic-neighbor range already exists")
)

// dynamicSweep is how often a dynamic peer's watcher looks at its state, and
// dynamicIdleLooks how many looks in a row must find it without a session before it goes.
const (
	dynamicSweep     = time.Second
	dynamicIdleLooks = 2
)

// groupSet is the server's peer groups and dynamic-neighbor ranges, and the peers the
// ranges created. Guarded by Server.mu (a field of Server).
type groupSet struct {
	groups  map[string]PeerGroup
	ranges  []DynamicRange
	dynamic map[netip.Addr]string // peers created from a range, with their group
}

// checkTemplate validates a group's settings as a peer's (with a stand-in address).
func (s *Server) checkTemplate(g PeerGroup) error {
	if g.Name == "" {
		return errors.New("bgp: peer group without a name")
	}
	t := g.Template
	t.Addr = netip.IPv4Unspecified()
	t = t.withDefaults(&s.cfg)
	if err := t.validate(); err != nil {
		return fmt.Errorf("peer group %q: %w", g.Name, err)
	}
	return nil
}

// AddPeerGroup adds a peer group.
func (s *Server) AddPeerGroup(g PeerGroup) error {
	if err := s.checkTemplate(g); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.grp.groups[g.Name]; ok {
		return fmt.Errorf("%w: %q", ErrPeerGroupExists, g.Name)
	}
	if s.grp.groups == nil {
		s.grp.groups = map[string]PeerGroup{}
	}
	s.grp.groups[g.Name] = clonePeerGroup(g)
	return nil
}

// UpdatePeerGroup replaces a group's settings. Peers already created from a range keep
// their session and settings; the next ones take the new settings.
func (s *Server) UpdatePeerGroup(g PeerGroup) error {
	if err := s.checkTemplate(g); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.grp.groups[g.Name]; !ok {
		return fmt.Errorf("%w: %q", ErrNoPeerGroup, g.Name)
	}
	s.grp.groups[g.Name] = clonePeerGroup(g)
	return nil
}

// DeletePeerGroup removes a group no dynamic-neighbor range uses.
func (s *Server) DeletePeerGroup(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.grp.groups[name]; !ok {
		return fmt.Errorf("%w: %q", ErrNoPeerGroup, name)
	}
	for _, r := range s.grp.ranges {
		if r.Group == name {
			return fmt.Errorf("%w: %q is used by %v", ErrPeerGroupInUse, name, r.Prefix)
		}
	}
	delete(s.grp.groups, name)
	return nil
}

// PeerGroups returns the groups ordered by name.
func (s *Server) PeerGroups() []PeerGroup {
	s.mu.Lock()
	out := make([]PeerGroup, 0, len(s.grp.groups))
	for _, g := range s.grp.groups {
		out = append(out, clonePeerGroup(g))
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b PeerGroup) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// AddDynamicRange accepts peers from r.Prefix with the settings of group r.Group, which
// must exist and must not need a TCP MD5 key (keys are set per configured address).
func (s *Server) AddDynamicRange(r DynamicRange) error {
	if !r.Prefix.IsValid() || r.Prefix.Masked() != r.Prefix || r.Prefix.Addr().Zone() != "" {
		return fmt.Errorf("bgp: dynamic-neighbor range %v is not a masked prefix", r.Prefix)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grp.groups[r.Group]
	switch {
	case !ok:
		return fmt.Errorf("%w: %q (dynamic-neighbor range %v)", ErrNoPeerGroup, r.Group, r.Prefix)
	case g.Template.AuthPassword != "":
		return fmt.Errorf("bgp: dynamic-neighbor range %v: peer group %q has a TCP MD5 password, which fanout does not support for dynamic neighbors", r.Prefix, r.Group)
	}
	for _, x := range s.grp.ranges {
		if x.Prefix == r.Prefix {
			return fmt.Errorf("%w: %v", ErrRangeExists, r.Prefix)
		}
	}
	s.grp.ranges = append(s.grp.ranges, r)
	return nil
}

// DeleteDynamicRange stops accepting new peers from prefix; peers it created keep their
// sessions until they end.
func (s *Server) DeleteDynamicRange(prefix netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.grp.ranges, func(r DynamicRange) bool { return r.Prefix == prefix })
	if i < 0 {
		return fmt.Errorf("%w: %v", ErrNoRange, prefix)
	}
	s.grp.ranges = slices.Delete(s.grp.ranges, i, i+1)
	return nil
}

// DynamicRanges returns the ranges in the order they were added.
func (s *Server) DynamicRanges() []DynamicRange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.grp.ranges)
}

// IsDynamic reports whether the peer at addr was created from a dynamic-neighbor range,
// and the group whose settings it took.
func (s *Server) IsDynamic(addr netip.Addr) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grp.dynamic[addr]
	return g, ok
}

// dynamicConfigLocked returns the settings of a peer at a created from the longest range
// holding a; false when none does. s.mu is held.
func (s *Server) dynamicConfigLocked(a netip.Addr) (PeerConfig, string, bool) {
	best := -1
	for i, r := range s.grp.ranges {
		if r.Prefix.Contains(a) && (best < 0 || r.Prefix.Bits() > s.grp.ranges[best].Prefix.Bits()) {
			best = i
		}
	}
	if best < 0 {
		return PeerConfig{}, "", false
	}
	g, ok := s.grp.groups[s.grp.ranges[best].Group]
	if !ok {
		return PeerConfig{}, "", false
	}
	pc := clonePeerGroup(g).Template
	pc.Addr, pc.Passive = a, true
	if len(pc.Families) == 0 && a.Is6() {
		pc.Families = []proto.Family{proto.IPv6Unicast}
	}
	return pc, g.Name, true
}

// acceptDynamic returns the peer for a connection from a that no configured peer has:
// a new passive peer when a dynamic-neighbor range holds a, else nil. The accept path
// (handleAccepted) calls it.
func (s *Server) acceptDynamic(a netip.Addr) *Peer {
	s.mu.Lock()
	pc, group, ok := s.dynamicConfigLocked(a)
	s.mu.Unlock()
	if !ok {
		return nil
	}
	if err := s.AddPeer(pc); err != nil && !errors.Is(err, ErrPeerExists) {
		s.log.Warn("dynamic neighbor refused", zap.Stringer("peer", a), zap.String("peer_group", group), zap.Error(err))
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peers[a]
	if p == nil || s.closed {
		return nil
	}
	if _, ok := s.grp.dynamic[a]; !ok {
		if s.grp.dynamic == nil {
			s.grp.dynamic = map[netip.Addr]string{}
		}
		s.grp.dynamic[a] = group
		s.log.Info("dynamic neighbor accepted", zap.Stringer("peer", a), zap.String("peer_group", group))
		s.wg.Add(1)
		go s.watchDynamic(p, group)
	}
	return p
}

// watchDynamic removes dynamic peer p once it is without a session: when dynamicIdleLooks
// looks in a row (one every dynamicSweep) find it before OpenSent, so a session slow to
// start is not taken for one that ended. It was created with a connection in hand, so
// that means its session ended (or never got past the connection). Owner: the server (wg);
// it ends with the peer.
func (s *Server) watchDynamic(p *Peer, group string) {
	defer s.wg.Done()
	idle := 0
	for {
		tick := make(chan struct{})
		t := s.deps.Clock.AfterFunc(dynamicSweep, func() { close(tick) })
		select {
		case <-p.exited:
			t.Stop()
			s.forgetDynamic(p)
			return
		case <-tick:
		}
		if State(p.counters.state.Load()) >= OpenSent {
			idle = 0
			continue
		}
		if idle++; idle < dynamicIdleLooks {
			continue
		}
		if s.Lookup(p.cfg.Addr) != p {
			s.forgetDynamic(p) // deleted (and maybe configured anew) meanwhile
			return
		}
		p.log.Info("dynamic neighbor removed: its session ended", zap.String("peer_group", group))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.DeletePeer(ctx, p.cfg.Addr)
		cancel()
		if err != nil && !errors.Is(err, ErrNoPeer) {
			p.log.Warn("removing a dynamic neighbor failed", zap.Error(err))
		}
		s.forgetDynamic(p)
		return
	}
}

// forgetDynamic drops p from the dynamic peers unless another peer took its address.
func (s *Server) forgetDynamic(p *Peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peers[p.cfg.Addr] == nil || s.peers[p.cfg.Addr] == p {
		delete(s.grp.dynamic, p.cfg.Addr)
	}
}

func clonePeerGroup(g PeerGroup) PeerGroup {
	g.Template.Families = slices.Clone(g.Template.Families)
	g.Template.AddPathReceive = slices.Clone(g.Template.AddPathReceive)
	g.Template.AddPathSend = slices.Clone(g.Template.AddPathSend)
	return g
}
