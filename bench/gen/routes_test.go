package gen

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fanoutd/fanout/bench/targets"
	"github.com/fanoutd/fanout/proto"
)

// TestPrefixGenDeterministic: the same seed gives the same prefixes; another seed does not.
func TestPrefixGenDeterministic(t *testing.T) {
	a, b, c := NewPrefixGen(7), NewPrefixGen(7), NewPrefixGen(8)
	same := 0
	for range 1000 {
		pa, pb, pc := a.Next(0.2), b.Next(0.2), c.Next(0.2)
		if pa != pb {
			t.Fatalf("seed 7 gave %v and %v", pa, pb)
		}
		if pa == pc {
			same++
		}
	}
	if same > 10 {
		t.Errorf("seeds 7 and 8 agree on %d of 1000 prefixes", same)
	}
}

// TestPrefixGenDistribution checks uniqueness, the excluded ranges and the length mix: most
// IPv4 prefixes /24 and all within /16-/24, most IPv6 /48 and all within /32-/48.
func TestPrefixGenDistribution(t *testing.T) {
	g := NewPrefixGen(1)
	const n = 50000
	seen := make(map[netip.Prefix]bool, n)
	len4, len6 := map[int]int{}, map[int]int{}
	v6 := 0
	for range n {
		p := g.Next(0.1)
		if seen[p] {
			t.Fatalf("%v drawn twice", p)
		}
		seen[p] = true
		if p != p.Masked() {
			t.Fatalf("%v has host bits", p)
		}
		if p.Addr().Is6() {
			v6++
			len6[p.Bits()]++
			if doc6.Overlaps(p) || p.Addr().As16()[0]>>5 != 1 {
				t.Fatalf("%v outside 2000::/3 or in the documentation range", p)
			}
			continue
		}
		len4[p.Bits()]++
		if slices.ContainsFunc(excluded4, p.Overlaps) {
			t.Fatalf("%v in an excluded range", p)
		}
	}
	if f := float64(v6) / n; f < 0.08 || f > 0.12 {
		t.Errorf("IPv6 share %.3f, want about 0.1", f)
	}
	n4 := n - v6
	if f := float64(len4[24]) / float64(n4); f < 0.55 || f > 0.65 {
		t.Errorf("/24 share %.3f, want about 0.6", f)
	}
	for l := range len4 {
		if l < 16 || l > 24 {
			t.Errorf("IPv4 length /%d outside /16-/24", l)
		}
	}
	if f := float64(len6[48]) / float64(v6); f < 0.6 || f > 0.8 {
		t.Errorf("/48 share %.3f, want about 0.7", f)
	}
	for l := range len6 {
		if l < 32 || l > 48 {
			t.Errorf("IPv6 length /%d outside /32-/48", l)
		}
	}
}

// TestAttrPool: path lengths 1-8 bucketed, eBGP paths start with the speaker's AS, next hops
// in the benchmarking and documentation ranges, never loopback.
func TestAttrPool(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pool := attrPool(r, 100, 3, 4200000003, true)
	bench := netip.MustParsePrefix("198.18.0.0/15")
	for l := 1; l <= 8; l++ {
		if len(pool[l]) == 0 {
			t.Fatalf("no sets of length %d", l)
		}
		for _, a := range pool[l] {
			if a.PathLen() != l {
				t.Errorf("bucket %d holds a path of length %d", l, a.PathLen())
			}
			if first, _ := a.ASPath.First(); first != 4200000003 {
				t.Errorf("path %v does not start with the speaker's AS", a.ASPath)
			}
			if !bench.Contains(a.NextHop4) || !doc6.Contains(a.NextHop6) {
				t.Errorf("next hops %v %v", a.NextHop4, a.NextHop6)
			}
		}
	}
	ibgp := attrPool(r, 16, 3, 65000, false)
	for _, a := range ibgp[1] {
		if a.ASPath.Contains(65000) {
			t.Errorf("iBGP path %v holds the local AS", a.ASPath)
		}
	}
}

// TestPlansDeterministic: two plans from the same parameters announce the same routes, and
// every workload builds with its defaults (replay and fanout from a small MRT sample).
func TestPlansDeterministic(t *testing.T) {
	p := DefaultParams("churn")
	p.Prefixes = 3000
	a, err := NewPlan("churn", p, targets.RouteServer)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewPlan("churn", p, targets.RouteServer)
	ea, err := a.model.Expected(netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	eb, _ := b.model.Expected(netip.Addr{})
	if len(ea) != len(eb) || len(ea) != 10*2700+300 {
		t.Fatalf("expected tables of %d and %d prefixes, want %d", len(ea), len(eb), 10*2700+300)
	}
	for k, v := range ea {
		if eb[k] != v {
			t.Fatalf("%v differs between two plans of one seed", k)
		}
	}
	for _, w := range Workloads() {
		p := DefaultParams(w)
		p.Prefixes = min(p.Prefixes, 500)
		p.MRTMax = 500
		p.MRTFile = mrtPath(t, p.MRTFile)
		if w == "fanout" {
			p.MRTFile = ""
		}
		for _, role := range []targets.Role{targets.RouteServer, targets.RouteReflector} {
			pl, err := NewPlan(w, p, role)
			if err != nil {
				t.Fatalf("%s %v: %v", w, role, err)
			}
			spec := pl.Spec(role, netip.MustParseAddrPort("127.0.0.2:1790"))
			if err := spec.Validate(); err != nil {
				t.Errorf("%s %v: spec: %v", w, role, err)
			}
			if _, err := pl.model.Expected(netip.Addr{}); err != nil {
				t.Errorf("%s %v: %v", w, role, err)
			}
		}
	}
	if _, err := NewPlan("nope", p, targets.RouteServer); err == nil {
		t.Error("an unknown workload was accepted")
	}
}

// mrtPath resolves a path relative to the repository root (tests run in bench/gen).
func mrtPath(t *testing.T, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join("..", "..", p)
}

// TestLoadMRTRib reads a few thousand routes of the jinx RIB's feed from 196.223.14.55 and
// checks the rewrites: next hop in 198.18/15, the speaker's AS first, the peer's AS second.
func TestLoadMRTRib(t *testing.T) {
	path := mrtPath(t, DefaultParams("replay").MRTFile)
	feed, err := LoadMRT(path, MRTOptions{Peer: netip.MustParseAddr("196.223.14.55"), Max: 3000,
		SpeakerAS: 4200000000, Prepend: true, NextHop4: NextHop4(0), NextHop6: NextHop6(0), AvoidAS: []uint32{65000}})
	if err != nil {
		t.Fatal(err)
	}
	if feed.Kind != "rib" || feed.Routes != 3000 || len(feed.Events) != 1 || feed.AttrSets < 100 {
		t.Fatalf("feed: kind %s, %d routes, %d events, %d attribute sets", feed.Kind, feed.Routes, len(feed.Events), feed.AttrSets)
	}
	for _, a := range feed.Events[0].Announce {
		var asns []uint32
		it := a.Attrs.ASPath.Segments()
		for seg, ok := it.Next(); ok; seg, ok = it.Next() {
			asns = seg.AppendASNs(asns)
		}
		if len(asns) < 2 || asns[0] != 4200000000 || asns[1] != feed.PeerAS {
			t.Fatalf("%v: path %v, want 4200000000 then the peer's AS %d", a.Prefix, a.Attrs.ASPath, feed.PeerAS)
		}
		if a.Attrs.NextHop4 != NextHop4(0) || !a.Prefix.Addr().Is4() || a.Attrs.ASPath.Contains(65000) {
			t.Fatalf("%v: %+v", a.Prefix, a.Attrs)
		}
	}
	t.Logf("peer %v AS %d: %d routes, %d attribute sets, %d looped", feed.Peer, feed.PeerAS, feed.Routes, feed.AttrSets, feed.Looped)
}

// TestLoadMRTUpdates reads the first messages of a full-table transfer (BGP4MP_ET).
func TestLoadMRTUpdates(t *testing.T) {
	path := mrtPath(t, "../shared/data/mrt/updates/updates.et-header.2015.fulltable-1peer.gz")
	feed, err := LoadMRT(path, MRTOptions{Max: 300, NextHop4: NextHop4(0), NextHop6: NextHop6(0)})
	if err != nil {
		t.Fatal(err)
	}
	if feed.Kind != "updates" || len(feed.Events) == 0 || feed.Routes < 1000 {
		t.Fatalf("feed: kind %s, %d events, %d routes", feed.Kind, len(feed.Events), feed.Routes)
	}
	for i := 1; i < len(feed.Events); i++ {
		if feed.Events[i].At < feed.Events[i-1].At {
			t.Fatalf("event %d at %v before event %d at %v", i, feed.Events[i].At, i-1, feed.Events[i-1].At)
		}
	}
	t.Logf("peer %v AS %d: %d events over %v, %d routes, %d withdrawals", feed.Peer, feed.PeerAS, len(feed.Events), feed.Span, feed.Routes, feed.Withdrawals)
}

// TestResultJSON: a failed run carries a null time, durations read and write as strings.
func TestResultJSON(t *testing.T) {
	r := Result{Workload: "converge", Target: "bird", Params: DefaultParams("converge"), Error: "x", Phases: []Phase{{Name: "converge"}}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"seconds":null`, `"timeout":"2m0s"`, `"ok":false`, `"workload":"converge"`} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON lacks %s: %s", want, s)
		}
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Params.Timeout != Duration(2*time.Minute) || back.Seconds != nil {
		t.Errorf("round trip: %+v", back)
	}
	ok := 1.5
	r.Seconds = &ok
	b, _ = json.Marshal(r)
	if !strings.Contains(string(b), `"seconds":1.5`) {
		t.Errorf("time missing: %s", b)
	}
}

// TestSplitMessages: the builder's output splits into whole messages whose prefix counts add
// up, and chunks end at message boundaries.
func TestSplitMessages(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pool := attrPool(r, 16, 0, 4200000000, true)
	g := NewPrefixGen(3)
	var ann []Announcement
	for range 5000 {
		ann = append(ann, Announcement{Prefix: g.Next(0.2), Attrs: pool[1+r.IntN(8)][0]})
	}
	opts := proto.SessionOptions{AS4: true, EBGP: true}
	buf, err := encodeUpdates(opts, ann, []netip.Prefix{mustPrefix("192.0.2.0/24"), mustPrefix("2001:db8:1::/48")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	spans, err := splitMessages(buf, opts, false)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, sp := range spans {
		total += sp.count
	}
	if total != 5002 {
		t.Errorf("%d prefixes in the messages, want 5002", total)
	}
	n := 0
	for _, c := range chunks(spans, buf, 4096) {
		n += len(c)
		if _, err := splitMessages(c, opts, false); err != nil {
			t.Fatalf("chunk does not hold whole messages: %v", err)
		}
	}
	if n != len(buf) {
		t.Errorf("chunks cover %d of %d bytes", n, len(buf))
	}
}
