package gen

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/mrt"

	"github.com/fanoutd/fanout/bench/mrtdata"
	"github.com/fanoutd/fanout/proto"
)

// MRTOptions say which routes of an MRT file to take and how to rewrite them for a speaker.
type MRTOptions struct {
	// Peer is the MRT peer (collector neighbor) to take; invalid means the first one seen.
	Peer netip.Addr
	// Max stops after this many routes (RIB) or UPDATE messages (updates); 0 means all.
	Max int
	// SpeakerAS, with Prepend set, is put in front of every AS path: on an eBGP session the
	// first AS must be the speaker's (RFC 4271 §6.3).
	SpeakerAS uint32
	Prepend   bool
	// NextHop4 and NextHop6 replace every next hop (198.18.0.0/15 and 2001:db8::/32: never
	// loopback, which gobgpd treats as a withdrawal, and never a real destination).
	NextHop4, NextHop6 netip.Addr
	// IPv6 keeps IPv6 routes; without it they are skipped.
	IPv6 bool
	// AvoidAS are ASes (the target's, the generator's) that a route's path must not hold:
	// the target would drop such a route by loop detection (RFC 4271 §9.1.2). A RIB route
	// holding one is skipped; in an updates stream it becomes a withdrawal, as at the target.
	AvoidAS []uint32
}

// MRTEvent is one step of a feed: a RIB dump is one event, an updates file one event per
// UPDATE message, at its recorded offset from the first.
type MRTEvent struct {
	At       time.Duration
	Announce []Announcement
	Withdraw []netip.Prefix
}

// MRTFeed is what LoadMRT read.
type MRTFeed struct {
	Kind        string // "rib" or "updates"
	Peer        netip.Addr
	PeerAS      uint32
	Events      []MRTEvent
	Routes      int // announcements in all events
	Withdrawals int
	Looped      int // routes skipped or withdrawn because of AvoidAS
	AttrSets    int
	Span        time.Duration // recorded time from the first to the last event
}

// LoadMRT reads a TABLE_DUMP_V2 RIB or a BGP4MP / BGP4MP_ET updates file (plain, .gz or
// .bz2) with GoBGP's MRT parser and returns one peer's routes rewritten per o.
func LoadMRT(path string, o MRTOptions) (*MRTFeed, error) {
	ld := &mrtLoader{o: o, feed: &MRTFeed{Peer: o.Peer}, sets: make(map[string]*AttrSet), peerIdx: -1}
	err := mrtdata.Records(path, func(h *mrt.MRTHeader, body []byte) (bool, error) {
		if err := ld.record(*h, body); err != nil {
			return false, err
		}
		return !ld.full(), nil
	})
	if err != nil {
		return nil, err
	}
	ld.feed.AttrSets = len(ld.sets)
	if n := len(ld.feed.Events); n > 0 {
		ld.feed.Span = ld.feed.Events[n-1].At
	}
	if ld.feed.Routes+ld.feed.Withdrawals == 0 {
		return nil, fmt.Errorf("%s: no routes of peer %v", path, o.Peer)
	}
	return ld.feed, nil
}

// mrtLoader is the state of one LoadMRT.
type mrtLoader struct {
	o       MRTOptions
	feed    *MRTFeed
	sets    map[string]*AttrSet // interned by content
	peers   []*mrt.Peer
	peerIdx int // the chosen peer's index in the RIB's peer table
	first   time.Time
	msgs    int
	key     []byte
}

func (ld *mrtLoader) full() bool {
	if ld.o.Max <= 0 {
		return false
	}
	if ld.feed.Kind == "rib" {
		return ld.feed.Routes >= ld.o.Max
	}
	return ld.msgs >= ld.o.Max
}

func (ld *mrtLoader) record(h mrt.MRTHeader, body []byte) error {
	at := time.Unix(int64(h.Timestamp), 0)
	switch h.Type {
	case mrt.TABLE_DUMPv2:
		return ld.rib(h, body)
	case mrt.BGP4MP_ET:
		if len(body) < 4 {
			return nil
		}
		at = at.Add(time.Duration(binary.BigEndian.Uint32(body)) * time.Microsecond)
		body = body[4:]
		h.Type, h.Len = mrt.BGP4MP, h.Len-4
		fallthrough
	case mrt.BGP4MP:
		st := mrt.MRTSubTypeBGP4MP(h.SubType)
		if st != mrt.MESSAGE && st != mrt.MESSAGE_AS4 {
			return nil
		}
		m, err := mrt.ParseMRTBody(&h, body)
		if err != nil {
			return nil // a record GoBGP cannot read is skipped, as collectors' tools do
		}
		msg, ok := m.Body.(*mrt.BGP4MPMessage)
		if !ok || msg.BGPMessage == nil {
			return nil
		}
		u, ok := msg.BGPMessage.Body.(*bgp.BGPUpdate)
		if !ok {
			return nil
		}
		peer, _ := netip.AddrFromSlice(msg.PeerIpAddress)
		peer = peer.Unmap()
		if !ld.feed.Peer.IsValid() {
			ld.feed.Peer = peer
		}
		if peer != ld.feed.Peer {
			return nil
		}
		ld.feed.Kind, ld.feed.PeerAS = "updates", msg.PeerAS
		if ld.first.IsZero() {
			ld.first = at
		}
		ld.msgs++
		return ld.update(at.Sub(ld.first), u)
	}
	return nil
}

func (ld *mrtLoader) rib(h mrt.MRTHeader, body []byte) error {
	m, err := mrt.ParseMRTBody(&h, body)
	if err != nil {
		return nil
	}
	switch b := m.Body.(type) {
	case *mrt.PeerIndexTable:
		ld.peers = b.Peers
	case *mrt.Rib:
		ld.feed.Kind = "rib"
		p, err := netip.ParsePrefix(b.Prefix.String())
		if err != nil || (p.Addr().Is6() && !ld.o.IPv6) {
			return nil
		}
		for _, e := range b.Entries {
			if ld.peerIdx < 0 {
				if !ld.choosePeer(int(e.PeerIndex)) {
					continue
				}
			}
			if int(e.PeerIndex) != ld.peerIdx {
				continue
			}
			if len(ld.feed.Events) == 0 {
				ld.feed.Events = append(ld.feed.Events, MRTEvent{})
			}
			ev := &ld.feed.Events[0]
			set := ld.attrs(e.PathAttributes)
			if ld.looped(set) {
				ld.feed.Looped++
				continue
			}
			ev.Announce = append(ev.Announce, Announcement{Prefix: p.Masked(), Attrs: set})
			ld.feed.Routes++
		}
	}
	return nil
}

// choosePeer decides, at the first RIB entry of peer index i, whether i is the peer to take.
func (ld *mrtLoader) choosePeer(i int) bool {
	if i >= len(ld.peers) {
		return false
	}
	a, _ := netip.AddrFromSlice(ld.peers[i].IpAddress)
	a = a.Unmap()
	if ld.o.Peer.IsValid() && a != ld.o.Peer {
		return false
	}
	ld.peerIdx, ld.feed.Peer, ld.feed.PeerAS = i, a, ld.peers[i].AS
	return true
}

func (ld *mrtLoader) update(at time.Duration, u *bgp.BGPUpdate) error {
	ev := MRTEvent{At: at}
	add := func(dst []netip.Prefix, s string) []netip.Prefix {
		p, err := netip.ParsePrefix(s)
		if err != nil || (p.Addr().Is6() && !ld.o.IPv6) {
			return dst
		}
		return append(dst, p.Masked())
	}
	for _, w := range u.WithdrawnRoutes {
		ev.Withdraw = add(ev.Withdraw, w.String())
	}
	var ann []netip.Prefix
	for _, n := range u.NLRI {
		ann = add(ann, n.String())
	}
	for _, a := range u.PathAttributes {
		switch v := a.(type) {
		case *bgp.PathAttributeMpReachNLRI:
			for _, n := range v.Value {
				ann = add(ann, n.String())
			}
		case *bgp.PathAttributeMpUnreachNLRI:
			for _, n := range v.Value {
				ev.Withdraw = add(ev.Withdraw, n.String())
			}
		}
	}
	if len(ann) > 0 {
		set := ld.attrs(u.PathAttributes)
		if ld.looped(set) {
			ld.feed.Looped += len(ann)
			ev.Withdraw = append(ev.Withdraw, ann...)
		} else {
			for _, p := range ann {
				ev.Announce = append(ev.Announce, Announcement{Prefix: p, Attrs: set})
			}
		}
	}
	if len(ev.Announce)+len(ev.Withdraw) == 0 {
		return nil
	}
	ld.feed.Routes += len(ev.Announce)
	ld.feed.Withdrawals += len(ev.Withdraw)
	ld.feed.Events = append(ld.feed.Events, ev)
	return nil
}

// looped reports whether a's path holds an AS of AvoidAS.
func (ld *mrtLoader) looped(a *AttrSet) bool {
	for _, as := range ld.o.AvoidAS {
		if a.ASPath.Contains(as) {
			return true
		}
	}
	return false
}

// attrs converts GoBGP's attributes into an interned AttrSet with the rewrites applied.
func (ld *mrtLoader) attrs(pas []bgp.PathAttributeInterface) *AttrSet {
	a := AttrSet{LocalPref: 100, NextHop4: ld.o.NextHop4, NextHop6: ld.o.NextHop6}
	var path proto.ASPath
	if ld.o.Prepend {
		path = proto.ASSeq(ld.o.SpeakerAS)
	}
	for _, pa := range pas {
		switch v := pa.(type) {
		case *bgp.PathAttributeAsPath:
			for _, seg := range v.Value {
				path = appendSegment(path, seg.GetType(), seg.GetAS())
			}
		case *bgp.PathAttributeMultiExitDisc:
			a.HasMED, a.MED = true, v.Value
		case *bgp.PathAttributeCommunities:
			a.Communities = append(a.Communities, v.Value...)
		}
	}
	a.ASPath = path
	k := ld.key[:0]
	k = binary.BigEndian.AppendUint16(k, uint16(len(path)))
	k = append(k, path...)
	if a.HasMED {
		k = binary.BigEndian.AppendUint32(append(k, 1), a.MED)
	}
	for _, c := range a.Communities {
		k = binary.BigEndian.AppendUint32(k, c)
	}
	ld.key = k
	if s, ok := ld.sets[string(k)]; ok {
		return s
	}
	s := &a
	ld.sets[string(k)] = s
	return s
}

// appendSegment appends a segment to p, merging an AS_SEQUENCE into a preceding one (so a
// prepended AS and the path's first sequence form one segment, as daemons encode it).
func appendSegment(p proto.ASPath, typ uint8, asns []uint32) proto.ASPath {
	if len(asns) == 0 {
		return p
	}
	if typ == proto.SegSequence && len(p) >= 2 {
		// Find the last segment.
		var lastAt int
		for at := 0; at < len(p); at += 2 + 4*int(p[at+1]) {
			lastAt = at
		}
		if p[lastAt] == proto.SegSequence && int(p[lastAt+1])+len(asns) <= 255 {
			p[lastAt+1] += byte(len(asns))
			for _, as := range asns {
				p = binary.BigEndian.AppendUint32(p, as)
			}
			return p
		}
	}
	return proto.AppendASSegment(p, typ, asns...)
}
