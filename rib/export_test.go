package rib

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/fanoutd/fanout/bench/mrtdata"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/sched"
)

// inputSet interns a received attribute set (canonical encoding) with next hop nh.
func inputSet(t *testing.T, at *AttrTable, a *proto.Attrs, nh netip.Addr) *Attrs {
	t.Helper()
	wire, err := proto.AppendAttrs(nil, a, &proto.SessionOptions{AS4: true})
	if err != nil {
		t.Fatal(err)
	}
	sum := summaryOf(a, nh)
	return at.Intern(InternKey(nil, wire, nh), &sum)
}

// decodeSet decodes an exported set as a peer with 4-octet AS (as4) would (as an internal
// peer, so that a LOCAL_PREF would show).
func decodeSet(t *testing.T, a *Attrs, as4 bool) *proto.Attrs {
	t.Helper()
	w := a.Wire()
	body := append([]byte{0, 0, byte(len(w) >> 8), byte(len(w))}, w...)
	var u proto.Update
	if err := proto.DecodeUpdate(body, &proto.SessionOptions{AS4: as4}, &u); err != nil {
		t.Fatalf("exported set does not decode: %v", err)
	}
	return &u.Attrs
}

func fullAttrs() *proto.Attrs {
	var a proto.Attrs
	for _, typ := range []uint8{proto.AttrOrigin, proto.AttrASPath, proto.AttrMED, proto.AttrLocalPref, proto.AttrCommunities} {
		a.Present.Set(typ)
	}
	a.ASPath = proto.ASSeq(65010, 65011)
	a.MED, a.LocalPref = 5, 200
	a.Communities = binary.BigEndian.AppendUint32(nil, 65010<<16|7)
	return &a
}

var (
	nhIn   = netip.MustParseAddr("198.18.0.1")
	selfNH = netip.MustParseAddr("192.0.2.1")
	cid    = netip.MustParseAddr("10.255.0.1")
)

// RFC 4271 §5.1: to an external peer the local AS is prepended, the next hop is ours, and
// neither LOCAL_PREF nor a MED learned from another AS is sent; route-reflection attributes
// stay inside the AS.
func TestExportEBGPRules(t *testing.T) {
	at := NewAttrTable()
	in := fullAttrs()
	in.Present.Set(proto.AttrOriginatorID)
	in.OriginatorID = netip.MustParseAddr("10.0.0.9")
	in.Present.Set(proto.AttrClusterList)
	in.ClusterList = []byte{1, 1, 1, 1}
	a := inputSet(t, at, in, nhIn)
	pol := ExportPolicy{Family: proto.IPv4Unicast, Role: RoleEBGP, LocalAS: 65000, NextHopSelf: selfNH, AS4: true}
	x := NewExporter(&pol, at)
	out := x.Export(&Path{Src: &Source{EBGP: true, AS: 65010}, Attrs: a})
	if out == nil {
		t.Fatal("not exported")
	}
	d := decodeSet(t, out, true)
	if got := d.ASPath.String(); got != "65000 65010 65011" {
		t.Errorf("AS path %q, want the local AS prepended", got)
	}
	if out.NextHop != selfNH {
		t.Errorf("next hop %v, want %v", out.NextHop, selfNH)
	}
	for _, typ := range []uint8{proto.AttrMED, proto.AttrLocalPref, proto.AttrOriginatorID, proto.AttrClusterList} {
		if d.Present.Has(typ) {
			t.Errorf("attribute %d sent to an external peer", typ)
		}
	}
	if !d.Present.Has(proto.AttrCommunities) {
		t.Error("communities dropped")
	}
	if out.PathLen != 3 || out.NeighborAS != 65000 {
		t.Errorf("summary %+v", out.Summary)
	}
	// A locally originated route keeps its MED.
	local := x.Export(&Path{Src: &Source{Local: true}, Attrs: a})
	if !decodeSet(t, local, true).Present.Has(proto.AttrMED) {
		t.Error("a local route's MED must be sent")
	}
}

// RFC 7947 §2.2: a route server passes AS path, NEXT_HOP and MED unchanged.
func TestExportRouteServerRules(t *testing.T) {
	at := NewAttrTable()
	a := inputSet(t, at, fullAttrs(), nhIn)
	pol := ExportPolicy{Family: proto.IPv4Unicast, Role: RoleRSClient, AS4: true}
	out := NewExporter(&pol, at).Export(&Path{Src: &Source{EBGP: true, RSClient: true}, Attrs: a})
	d := decodeSet(t, out, true)
	if d.ASPath.String() != "65010 65011" || out.NextHop != nhIn || !d.Present.Has(proto.AttrMED) || d.MED != 5 {
		t.Fatalf("path %v nh %v med %v/%d: must pass unchanged", d.ASPath, out.NextHop, d.Present.Has(proto.AttrMED), d.MED)
	}
	if d.Present.Has(proto.AttrLocalPref) {
		t.Fatal("LOCAL_PREF sent to an external client")
	}
}

// RFC 4456 §8: a reflected route gets ORIGINATOR_ID (the originator's router id, unless
// present) and the cluster id prepended to CLUSTER_LIST; §6: a non-client's route is
// reflected to clients only; an external route goes to internal peers unreflected.
func TestExportReflectionRules(t *testing.T) {
	at := NewAttrTable()
	client := &Source{Client: true, RouterID: netip.MustParseAddr("10.0.0.5")}
	nonClient := &Source{RouterID: netip.MustParseAddr("10.0.0.6")}
	ext := &Source{EBGP: true, RouterID: netip.MustParseAddr("10.0.0.7")}
	toClients := ExportPolicy{Family: proto.IPv4Unicast, Role: RoleIBGPClient, ClusterID: cid, AS4: true}
	toNonClients := ExportPolicy{Family: proto.IPv4Unicast, Role: RoleIBGPNonClient, ClusterID: cid, AS4: true}
	if !toNonClients.Allows(client) || toNonClients.Allows(nonClient) || !toNonClients.Allows(ext) || !toClients.Allows(nonClient) {
		t.Fatal("RFC 4456 §6 audience rules")
	}
	a := inputSet(t, at, fullAttrs(), nhIn)
	x := NewExporter(&toClients, at)
	d := decodeSet(t, x.Export(&Path{Src: nonClient, Attrs: a}), true)
	if d.OriginatorID != nonClient.RouterID || string(d.ClusterList) != string(cid.AsSlice()) {
		t.Fatalf("originator %v cluster list %v", d.OriginatorID, d.ClusterList)
	}
	in := fullAttrs()
	in.Present.Set(proto.AttrOriginatorID)
	in.OriginatorID = netip.MustParseAddr("10.0.0.9")
	in.Present.Set(proto.AttrClusterList)
	in.ClusterList = []byte{1, 1, 1, 1}
	d = decodeSet(t, x.Export(&Path{Src: client, Attrs: inputSet(t, at, in, nhIn)}), true)
	if d.OriginatorID != in.OriginatorID || string(d.ClusterList) != string(append(cid.AsSlice(), 1, 1, 1, 1)) {
		t.Fatalf("originator %v cluster list %v: ORIGINATOR_ID kept, cluster id prepended", d.OriginatorID, d.ClusterList)
	}
	ein := fullAttrs()
	ein.Present.Clear(proto.AttrLocalPref)
	out := x.Export(&Path{Src: ext, Attrs: inputSet(t, at, ein, nhIn)})
	d = decodeSet(t, out, true)
	if d.Present.Has(proto.AttrOriginatorID) || d.Present.Has(proto.AttrClusterList) || !d.Present.Has(proto.AttrLocalPref) || out.NextHop != nhIn {
		t.Fatalf("an external route to internal peers: no reflection attributes, LOCAL_PREF set, next hop kept (%v)", out.NextHop)
	}
}

// An unknown optional transitive attribute passes with the Partial bit (RFC 4271 §9), unless
// the policy strips such attributes.
func TestExportUnknownTransitive(t *testing.T) {
	at := NewAttrTable()
	in := fullAttrs()
	in.Unknown = []proto.RawAttr{{Flags: proto.FlagOptional | proto.FlagTransitive, Type: 99, Value: []byte{1, 2, 3}}}
	a := inputSet(t, at, in, nhIn)
	pol := ExportPolicy{Family: proto.IPv4Unicast, Role: RoleRSClient, AS4: true}
	d := decodeSet(t, NewExporter(&pol, at).Export(&Path{Src: &Source{EBGP: true}, Attrs: a}), true)
	if len(d.Unknown) != 1 || d.Unknown[0].Type != 99 || d.Unknown[0].Flags&proto.FlagPartial == 0 || string(d.Unknown[0].Value) != "\x01\x02\x03" {
		t.Fatalf("unknown attributes %+v: want type 99 with Partial", d.Unknown)
	}
	pol.StripUnknown = true
	d = decodeSet(t, NewExporter(&pol, at).Export(&Path{Src: &Source{EBGP: true}, Attrs: a}), true)
	if len(d.Unknown) != 0 {
		t.Fatalf("unknown attributes %+v passed despite StripUnknown", d.Unknown)
	}
}

// Rewriting runs once per distinct input set; every result holds its own reference.
func TestExportCachePerSet(t *testing.T) {
	at := NewAttrTable()
	a := inputSet(t, at, fullAttrs(), nhIn)
	pol := ExportPolicy{Family: proto.IPv4Unicast, Role: RoleEBGP, LocalAS: 65000, NextHopSelf: selfNH, AS4: true}
	x := NewExporter(&pol, at)
	src := &Source{EBGP: true}
	first := x.Export(&Path{Src: src, Attrs: a})
	for range 99 {
		if out := x.Export(&Path{Src: src, Attrs: a}); out != first {
			t.Fatal("the same input must give the same interned output")
		}
	}
	if x.Rewrites != 1 || first.Refs(at) != 101 {
		t.Fatalf("rewrites %d, refs %d: want 1 rewrite and 100 references plus the cache's", x.Rewrites, first.Refs(at))
	}
	for range 100 {
		at.Release(first)
	}
	x.Close()
	if at.Len() != 1 {
		t.Fatalf("%d sets left, want only the input", at.Len())
	}
}

// A 2-octet peer gets AS_TRANS in AS_PATH and the real path in AS4_PATH (RFC 6793 §4.2.2).
func TestExportTwoOctet(t *testing.T) {
	at := NewAttrTable()
	in := fullAttrs()
	in.ASPath = proto.ASSeq(4200000001, 65011)
	a := inputSet(t, at, in, nhIn)
	pol := ExportPolicy{Family: proto.IPv4Unicast, Role: RoleEBGP, LocalAS: 65000, NextHopSelf: selfNH}
	ro := NewExporter(&pol, NewAttrTable())
	d := decodeSet(t, ro.Export(&Path{Src: &Source{EBGP: true}, Attrs: a}), false)
	if got := d.ASPath.String(); got != "65000 4200000001 65011" {
		t.Fatalf("AS path as a 2-octet peer reads it: %q", got)
	}
}

// The RibOut listener: split horizon, no-op changes dropped, one pending update per prefix,
// withdrawals to exactly the members that hold the route.
func TestRibOutExportDiff(t *testing.T) {
	tb, at, s := newTestTable(t)
	pol := ExportPolicy{Family: proto.IPv4Unicast, Role: RoleRSClient, AS4: true}
	ro := NewRibOut(tb, NewAttrTable(), pol)
	s1 := &Source{ID: 1, EBGP: true, RouterID: netip.MustParseAddr("10.0.0.1"), Addr: netip.MustParseAddr("10.0.0.1")}
	s2 := &Source{ID: 2, EBGP: true, RouterID: netip.MustParseAddr("10.0.0.2"), Addr: netip.MustParseAddr("10.0.0.2")}
	s3 := &Source{ID: 3, EBGP: true, RouterID: netip.MustParseAddr("10.0.0.3"), Addr: netip.MustParseAddr("10.0.0.3")}
	var m1, m2 int
	readTable(t, s, func(c *sched.Ctx) {
		if err := ro.Register(c); err != nil {
			t.Fatal(err)
		}
		m1, _ = ro.Join(c, 1, s1.RouterID)
		m2, _ = ro.Join(c, 2, s2.RouterID)
		ro.Force(c, ro.Members()) // as a sync walk starting does
	})
	a := inputSet(t, at, fullAttrs(), nhIn)
	k := keyN(7)
	add := func(src *Source) Request {
		at.Ref(a)
		return Request{Key: k, Op: Op{Kind: OpAdd, Path: Path{Src: src, Attrs: a}}}
	}
	drain := func() []BatchItem {
		var b Batch
		var items []BatchItem
		for ro.Queue.Next(&b, 100) {
			items = append(items, b.Items...)
			ro.Queue.Advance(&b, b.Peers)
		}
		return items
	}
	// From member 1: sent to member 2 only.
	enqueueAll(t, tb, []Request{add(s1)})
	readTable(t, s, func(*sched.Ctx) {})
	items := drain()
	if len(items) != 1 || items[0].Announce != set(m2) || !items[0].HasAttrs {
		t.Fatalf("items %+v, want one announcement to member %d", items, m2)
	}
	// s3 (not a member) takes over with the same attributes: member 1 now gets it too,
	// member 2 is not sent it again.
	enqueueAll(t, tb, []Request{add(s3)}) // not best (router id tie-break): nothing to send
	readTable(t, s, func(*sched.Ctx) {})
	if items = drain(); len(items) != 0 {
		t.Fatalf("items %+v for a change of a path that is not best", items)
	}
	enqueueAll(t, tb, []Request{{Key: k, Op: Op{Kind: OpWithdraw, Path: Path{Src: s1}}}})
	readTable(t, s, func(*sched.Ctx) {})
	items = drain()
	if len(items) != 1 || items[0].Announce != set(m1) || items[0].Withdraw != (PeerSet{}) {
		t.Fatalf("items %+v, want one announcement to member %d only", items, m1)
	}
	// Two changes before the sender runs: one pending update (the last state).
	enqueueAll(t, tb, []Request{{Key: k, Op: Op{Kind: OpWithdraw, Path: Path{Src: s3}}}})
	enqueueAll(t, tb, []Request{add(s2)})
	readTable(t, s, func(*sched.Ctx) {})
	if p := ro.Queue.Pending(); p != 1 {
		t.Fatalf("%d pending updates for one prefix, want 1", p)
	}
	items = drain()
	if len(items) != 1 || items[0].Announce != set(m1) || items[0].Withdraw != set(m2) {
		t.Fatalf("items %+v: member 1 keeps the route, member 2 (its source now) has it withdrawn", items)
	}
	// Withdrawn everywhere: a withdrawal to the members holding it, and the state goes.
	enqueueAll(t, tb, []Request{{Key: k, Op: Op{Kind: OpWithdraw, Path: Path{Src: s2}}}})
	readTable(t, s, func(*sched.Ctx) {})
	items = drain()
	if len(items) != 1 || items[0].HasAttrs || items[0].Withdraw != set(m1) {
		t.Fatalf("items %+v, want a withdrawal to member %d", items, m1)
	}
}

// TestExportUnchangedMatchesRewrite checks the route-server shortcut (Exporter.unchanged)
// against the rewrite it skips, on every attribute set of real UPDATEs: where the shortcut
// applies, rewriting gives the very same encoding and next hop; where it does not (a set
// with LOCAL_PREF, say), the rewrite runs. The shortcut must apply to most real sets, or
// it saves nothing.
func TestExportUnchangedMatchesRewrite(t *testing.T) {
	path, err := mrtdata.Path("updates", "updates.20070211.0141.routeviews-linx.gz")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := mrtdata.ReadUpdates(path, 3000)
	if err != nil {
		t.Fatal(err)
	}
	at := NewAttrTable()
	pol := ExportPolicy{Family: proto.IPv4Unicast, Role: RoleRSClient, AS4: true}
	x := NewExporter(&pol, NewAttrTable())
	src := &Source{EBGP: true, RSClient: true}
	same, rewritten := 0, 0
	var u proto.Update
	for _, m := range msgs {
		opts := &proto.SessionOptions{AS4: m.AS4, EBGP: true}
		if proto.DecodeUpdate(m.Msg[proto.HeaderLen:], opts, &u) != nil || len(u.NLRI) == 0 {
			continue
		}
		a := &u.Attrs
		for _, extra := range []bool{false, true} {
			if extra { // the same set with a LOCAL_PREF: the shortcut must not apply
				a.Present.Set(proto.AttrLocalPref)
				a.LocalPref = 300
			}
			nh := a.NextHop
			a.Present.Clear(proto.AttrNextHop)
			in := inputSet(t, at, a, nh)
			a.Present.Set(proto.AttrNextHop)
			p := &Path{Src: src, Attrs: in}
			out := x.Export(p)
			want := x.rewrite(&rewriteKey{in: in, external: true})
			if out == nil || want == nil {
				t.Fatalf("set %x: not exported (%v, %v)", in.Wire(), out, want)
			}
			if out.Wire() != want.Wire() || out.NextHop != want.NextHop || out.Summary != want.Summary {
				t.Fatalf("set %x: exported %x nh %v, the rewrite gives %x nh %v", in.Wire(), out.Wire(), out.NextHop, want.Wire(), want.NextHop)
			}
			if x.unchanged(p) {
				same++
				if out != in {
					t.Fatal("the shortcut did not hand on the set itself")
				}
			} else {
				rewritten++
				if extra && decodeSet(t, out, true).Present.Has(proto.AttrLocalPref) {
					t.Fatal("LOCAL_PREF sent to a route-server client")
				}
			}
		}
	}
	if same < 1000 || rewritten < 1000 {
		t.Fatalf("%d sets handed on, %d rewritten: the data should exercise both", same, rewritten)
	}
	t.Logf("%d sets handed on unchanged, %d rewritten", same, rewritten)
}
