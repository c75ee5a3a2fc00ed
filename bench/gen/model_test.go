package gen

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fanoutd/fanout/bench/targets"
	"github.com/fanoutd/fanout/proto"
)

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// testModel has three speakers: speaker 0 and 1 overlap on 10.1.0.0/16 (speaker 1's path is
// shorter), speaker 2 announces one prefix alone.
func testModel(role targets.Role) *Model {
	mk := func(i int, asns ...uint32) *AttrSet {
		return &AttrSet{ASPath: proto.ASSeq(asns...), HasMED: i == 1, MED: 7, Communities: []uint32{65001<<16 | 5},
			LocalPref: 100, NextHop4: NextHop4(i), NextHop6: NextHop6(i)}
	}
	peers := []Peer{
		{Name: "s0", Addr: netip.MustParseAddr("127.0.1.1"), AS: 4200000000, Speaker: true, Index: 0},
		{Name: "s1", Addr: netip.MustParseAddr("127.0.1.2"), AS: 4200000001, Speaker: true, Index: 1},
		{Name: "s2", Addr: netip.MustParseAddr("127.0.1.3"), AS: 4200000002, Speaker: true, Index: 2},
	}
	m := &Model{Role: role, ClusterID: netip.MustParseAddr("10.255.0.1"), Check: CheckRouteServer}
	if role == targets.RouteReflector {
		m.Check = CheckRouteReflector
	}
	m.Speakers = []*SpeakerRIB{
		{Peer: peers[0], RIB: map[netip.Prefix]*AttrSet{mustPrefix("10.1.0.0/16"): mk(0, 4200000000, 3356, 174)}},
		{Peer: peers[1], RIB: map[netip.Prefix]*AttrSet{mustPrefix("10.1.0.0/16"): mk(1, 4200000001, 3356)}},
		{Peer: peers[2], RIB: map[netip.Prefix]*AttrSet{mustPrefix("2001:7f8::/32"): mk(2, 4200000002)}},
	}
	return m
}

// TestExpectedRouteServer checks RFC 7947 expectations: the shortest AS path wins among
// overlapping speakers, attributes pass unchanged, IPv6 routes carry the IPv6 next hop.
func TestExpectedRouteServer(t *testing.T) {
	m := testModel(targets.RouteServer)
	e, err := m.Expected(netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if len(e) != 2 {
		t.Fatalf("expected %d prefixes, want 2", len(e))
	}
	got := DescribeFP(e[mustPrefix("10.1.0.0/16")])
	want := "nh=198.18.0.1 path=[4200000001 3356] med=7 comm=65001:5"
	if got != want {
		t.Errorf("10.1.0.0/16: %s, want %s", got, want)
	}
	got = DescribeFP(e[mustPrefix("2001:7f8::/32")])
	want = "nh=2001:db8::2 path=[4200000002] med=0 comm=65001:5" // absent MED counts as 0
	if got != want {
		t.Errorf("2001:7f8::/32: %s, want %s", got, want)
	}
}

// TestExpectedRouteReflector checks RFC 4456 §8 additions: ORIGINATOR_ID is the originating
// client's BGP identifier and CLUSTER_LIST the reflector's cluster id.
func TestExpectedRouteReflector(t *testing.T) {
	m := testModel(targets.RouteReflector)
	e, err := m.Expected(netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	got := DescribeFP(e[mustPrefix("10.1.0.0/16")])
	want := "nh=198.18.0.1 path=[4200000001 3356] med=7 comm=65001:5 originator=127.0.1.2 cluster=[10.255.0.1]"
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestExpectedOwnAndTies: a client's own routes are not expected back (RFC 7947 §2.2 and
// every implementation), so a prefix it shares with others is ambiguous; so is a tie on
// path length.
func TestExpectedOwnAndTies(t *testing.T) {
	m := testModel(targets.RouteServer)
	e, err := m.Expected(m.Speakers[2].Peer.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e[mustPrefix("2001:7f8::/32")]; ok || len(e) != 1 {
		t.Errorf("speaker 2 expects its own route back: %v", e)
	}
	if _, err := m.Expected(m.Speakers[0].Peer.Addr); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("speaker 0 shares 10.1.0.0/16 with speaker 1: err %v, want ErrAmbiguous", err)
	}
	m.Speakers[0].RIB[mustPrefix("10.1.0.0/16")].ASPath = proto.ASSeq(4200000000, 3356)
	if _, err := m.Expected(netip.Addr{}); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("tie on path length: err %v, want ErrAmbiguous", err)
	}
	if m.uniqueBestWithout(mustPrefix("10.1.0.0/16"), 2) {
		t.Errorf("uniqueBestWithout: a tie remains without speaker 2")
	}
	if !m.uniqueBestWithout(mustPrefix("10.1.0.0/16"), 1) {
		t.Errorf("uniqueBestWithout: speaker 0 alone is unique")
	}
}

// TestTableTracksExpectation applies announcements and withdrawals and checks the equality
// bookkeeping, the time it became equal, and the diff.
func TestTableTracksExpectation(t *testing.T) {
	m := testModel(targets.RouteServer)
	e, _ := m.Expected(netip.Addr{})
	tb := NewTable(true, CheckRouteServer)
	t0 := time.Unix(1000, 0)
	tb.Expect(e, nil, t0)
	p1, p2 := mustPrefix("10.1.0.0/16"), mustPrefix("2001:7f8::/32")
	tb.apply(t0.Add(time.Second), []change{{prefix: p1, fp: e[p1]}}, false, false, false)
	if st := tb.Stats(); st.Equal || st.Matched != 1 {
		t.Fatalf("after one of two: %+v", st)
	}
	tb.apply(t0.Add(2*time.Second), []change{{prefix: p2, fp: e[p2]}, {prefix: mustPrefix("192.0.2.0/24"), fp: "x"}}, false, false, false)
	if st := tb.Stats(); st.Equal {
		t.Fatalf("an extra prefix is held, yet equal: %+v", st)
	}
	d := tb.Diff(5)
	if d.OK || d.Extra != 1 || !strings.Contains(strings.Join(d.Examples, "\n"), "extra 192.0.2.0/24") {
		t.Errorf("diff %+v", d)
	}
	tb.apply(t0.Add(3*time.Second), []change{{prefix: mustPrefix("192.0.2.0/24"), withdraw: true}}, true, false, false)
	st := tb.Stats()
	if !st.Equal || !st.EqualAt.Equal(t0.Add(3*time.Second)) || st.EndOfRIBs != 1 || st.Updates != 3 || st.Announced != 3 || st.Withdrawn != 1 {
		t.Fatalf("after the withdrawal: %+v", st)
	}
	// A changed attribute breaks equality; the diff names the prefix and both values.
	tb.apply(t0.Add(4*time.Second), []change{{prefix: p1, fp: e[p2]}}, false, false, false)
	if d := tb.Diff(5); d.OK || d.Wrong != 1 || !strings.Contains(d.Examples[0], "wrong 10.1.0.0/16") {
		t.Errorf("diff after a wrong attribute: %+v", d)
	}
	// A member's own prefixes are excepted from the expectation.
	tb2 := NewTable(true, CheckRouteServer)
	tb2.Expect(e, m.Speakers[2].RIB, t0)
	tb2.apply(t0, []change{{prefix: p1, fp: e[p1]}}, false, false, false)
	if st := tb2.Stats(); !st.Equal || st.Expected != 1 {
		t.Errorf("with an exception: %+v", st)
	}
}

// TestFingerprintFromWire encodes a route with fanout's codec, decodes it as a receiver
// does, and checks that the fingerprint equals the expected one.
func TestFingerprintFromWire(t *testing.T) {
	m := testModel(targets.RouteServer)
	e, _ := m.Expected(netip.Addr{})
	opts := proto.SessionOptions{AS4: true, EBGP: true}
	var ann []Announcement
	for _, s := range m.Speakers {
		for p, a := range s.RIB {
			if p == mustPrefix("10.1.0.0/16") && s.Peer.Index == 0 {
				continue // the loser
			}
			ann = append(ann, Announcement{Prefix: p, Attrs: a})
		}
	}
	buf, err := encodeUpdates(opts, ann, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tb := NewTable(true, CheckRouteServer)
	tb.Expect(e, nil, time.Now())
	dec := newUpdateDecoder(opts, tb, 4200000099, netip.MustParseAddr("127.0.2.1"))
	spans, err := splitMessages(buf, opts, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range spans {
		if err := dec.apply(time.Now(), buf[sp.off+proto.HeaderLen:sp.end]); err != nil {
			t.Fatal(err)
		}
	}
	if d := tb.Diff(5); !d.OK {
		t.Errorf("table after decoding our own UPDATEs: %+v", d)
	}
	// A route holding the receiver's AS is ignored (loop detection).
	dec = newUpdateDecoder(opts, tb, 4200000001, netip.MustParseAddr("127.0.2.1"))
	for _, sp := range spans {
		dec.apply(time.Now(), buf[sp.off+proto.HeaderLen:sp.end])
	}
	if st := tb.Stats(); st.Looped == 0 || st.Held != 1 {
		t.Errorf("loop detection: %+v", st)
	}
}
