package gen

import (
	"encoding/binary"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fanoutd/fanout/proto"
)

// Check says which path attributes a receiver's table is compared on. The prefix itself is
// always compared; an attribute outside the mask is ignored.
type Check uint8

// Attributes a check can cover.
const (
	CheckNextHop      Check = 1 << iota // NEXT_HOP, or the global MP_REACH next hop
	CheckASPath                         // AS_PATH, byte for byte in 4-octet form
	CheckMED                            // MULTI_EXIT_DISC (absent counts as 0)
	CheckCommunities                    // COMMUNITIES, as a set
	CheckOriginatorID                   // ORIGINATOR_ID (RFC 4456)
	CheckClusterList                    // CLUSTER_LIST (RFC 4456), in order
)

// CheckRouteServer is what an RFC 7947 route server must pass on unchanged: next hop, AS
// path (no route-server AS), MED and communities.
const CheckRouteServer = CheckNextHop | CheckASPath | CheckMED | CheckCommunities

// CheckRouteReflector adds what an RFC 4456 reflector adds: ORIGINATOR_ID (the speaker's
// BGP identifier) and CLUSTER_LIST (the reflector's cluster id).
const CheckRouteReflector = CheckRouteServer | CheckOriginatorID | CheckClusterList

// String lists the checked attributes.
func (c Check) String() string {
	var parts []string
	for i, n := range []string{"next-hop", "as-path", "med", "communities", "originator-id", "cluster-list"} {
		if c&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, ",")
}

// fpFields are the attribute values a fingerprint is made of. Communities are 4-byte values
// in any order; the fingerprint sorts them.
type fpFields struct {
	nextHop     netip.Addr
	asPath      []byte
	hasMED      bool
	med         uint32
	communities []byte
	originator  netip.Addr
	clusterList []byte
}

// Fingerprint tags; a fingerprint is a run of (tag, value) items in this order.
const (
	fpNextHop    = 'n'
	fpASPath     = 'p'
	fpMED        = 'm'
	fpComm       = 'c'
	fpOriginator = 'o'
	fpCluster    = 'l'
)

// appendFP appends the fingerprint of f restricted to c. Equal fingerprints mean the
// checked attributes are equal. sorted is scratch space for the communities.
func appendFP(dst []byte, f *fpFields, c Check, sorted []uint32) ([]byte, []uint32) {
	if c&CheckNextHop != 0 {
		a := f.nextHop.As16()
		dst = append(dst, fpNextHop)
		dst = append(dst, a[:]...)
	}
	if c&CheckASPath != 0 {
		dst = append(dst, fpASPath)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(f.asPath)))
		dst = append(dst, f.asPath...)
	}
	if c&CheckMED != 0 {
		// An absent MED counts as 0, as best-path selection treats it (RFC 4271
		// §9.1.2.2 (c)); FRR reflects a route without MED with MED 0.
		med := f.med
		if !f.hasMED {
			med = 0
		}
		dst = append(dst, fpMED)
		dst = binary.BigEndian.AppendUint32(dst, med)
	}
	if c&CheckCommunities != 0 && len(f.communities) >= 4 {
		sorted = sorted[:0]
		for b := f.communities; len(b) >= 4; b = b[4:] {
			sorted = append(sorted, binary.BigEndian.Uint32(b))
		}
		slices.Sort(sorted)
		sorted = slices.Compact(sorted)
		dst = append(dst, fpComm)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(sorted)))
		for _, v := range sorted {
			dst = binary.BigEndian.AppendUint32(dst, v)
		}
	}
	if c&CheckOriginatorID != 0 && f.originator.IsValid() {
		a := f.originator.As4()
		dst = append(dst, fpOriginator)
		dst = append(dst, a[:]...)
	}
	if c&CheckClusterList != 0 && len(f.clusterList) > 0 {
		dst = append(dst, fpCluster)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(f.clusterList)))
		dst = append(dst, f.clusterList...)
	}
	return dst, sorted
}

// DescribeFP renders a fingerprint for people: "nh=198.18.0.1 path=[4200000001 3356] med=5".
func DescribeFP(fp string) string {
	if fp == "" {
		return "(absent)"
	}
	r := proto.NewReader([]byte(fp))
	var parts []string
	for !r.Empty() {
		switch r.U8() {
		case fpNextHop:
			var a [16]byte
			r.Copy(a[:])
			parts = append(parts, "nh="+netip.AddrFrom16(a).Unmap().String())
		case fpASPath:
			p := proto.ASPath(r.Bytes(int(r.U16())))
			parts = append(parts, "path=["+p.String()+"]")
		case fpMED:
			parts = append(parts, fmt.Sprintf("med=%d", r.U32()))
		case fpComm:
			n := int(r.U16())
			var cs []string
			for range n {
				v := r.U32()
				cs = append(cs, fmt.Sprintf("%d:%d", v>>16, v&0xffff))
			}
			parts = append(parts, "comm="+strings.Join(cs, ","))
		case fpOriginator:
			var a [4]byte
			r.Copy(a[:])
			parts = append(parts, "originator="+netip.AddrFrom4(a).String())
		case fpCluster:
			b := r.Bytes(int(r.U16()))
			var cs []string
			for ; len(b) >= 4; b = b[4:] {
				cs = append(cs, netip.AddrFrom4([4]byte(b[:4])).String())
			}
			parts = append(parts, "cluster=["+strings.Join(cs, " ")+"]")
		default:
			return strings.Join(parts, " ") + " (corrupt)"
		}
		if !r.Ok() {
			return strings.Join(parts, " ") + " (truncated)"
		}
	}
	return strings.Join(parts, " ")
}

// interner keeps one copy of each fingerprint string. Owned by one goroutine.
type interner map[string]string

func (in interner) get(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}

// Expected is the exact table a receiver must hold: prefix → fingerprint. It is read-only
// once built and may be shared by the tables of several receivers.
type Expected map[netip.Prefix]string

// Table is what one session received: with keep set, the exact table it holds (prefix →
// fingerprint, withdrawals applied) compared continuously against an Expected; always the
// counts of UPDATEs and prefixes and the times of the last change and of End-of-RIB.
//
// Owner: the session's reader goroutine writes it; the workload runner reads it and swaps
// the expectation. mu guards every field below it.
type Table struct {
	keep  bool
	check Check

	mu       sync.Mutex
	routes   map[netip.Prefix]string
	expect   Expected
	except   map[netip.Prefix]*AttrSet // prefixes of expect this receiver must not hold (its own)
	expectN  int                       // len(expect) minus the excepted prefixes in it
	matched  int                       // prefixes in routes whose fingerprint equals expect's
	equalAt  time.Time                 // when routes last became equal to expect; zero while they differ
	arrivals map[netip.Prefix]time.Time
	stats    TableStats
}

// TableStats are a table's counters. Counts are cumulative over the table's life.
type TableStats struct {
	Updates     int64     // UPDATE messages (End-of-RIB markers included)
	Announced   int64     // prefixes announced to us
	Withdrawn   int64     // prefixes withdrawn from us
	Held        int       // prefixes held now
	LastChange  time.Time // when the last UPDATE arrived
	EndOfRIB    time.Time // when the last End-of-RIB marker arrived
	EndOfRIBs   int       // how many arrived
	Equal       bool      // the held table equals the expectation
	EqualAt     time.Time // when it last became equal
	Expected    int       // size of the expectation
	Matched     int       // held prefixes that match the expectation
	TreatAsWdr  int64     // UPDATEs applied as withdrawals after an RFC 7606 error
	Looped      int64     // UPDATEs ignored because the AS path holds our own AS
	SessionDown string    // why the session went down, when the target ended it
}

// NewTable returns a table that keeps routes (keep) compared on check, or only counts.
func NewTable(keep bool, check Check) *Table {
	t := &Table{keep: keep, check: check}
	if keep {
		t.routes = make(map[netip.Prefix]string)
	}
	return t
}

// Expect sets the table the receiver must hold, e without the prefixes in except (a
// member's own routes, which a route server does not send back), and recounts the matches.
// now is when the expectation starts to count (the table may already be equal to it).
func (t *Table) Expect(e Expected, except map[netip.Prefix]*AttrSet, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expect, t.except = e, except
	if t.keep && len(t.routes) == 0 && len(e) > 1024 {
		t.routes = make(map[netip.Prefix]string, len(e)) // no rehashing while the table fills
	}
	t.expectN = len(e)
	for p := range except {
		if _, ok := e[p]; ok {
			t.expectN--
		}
	}
	t.matched = 0
	for p, fp := range t.routes {
		if w, ok := t.want(p); ok && w == fp {
			t.matched++
		}
	}
	t.equalAt = time.Time{}
	if t.equalLocked() {
		t.equalAt = now
	}
}

// RecordArrivals makes the table remember, per prefix, the first time it held the expected
// route (for the latency workload).
func (t *Table) RecordArrivals() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.arrivals = make(map[netip.Prefix]time.Time)
}

// Arrivals returns the arrival times recorded since RecordArrivals.
func (t *Table) Arrivals() map[netip.Prefix]time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.arrivals)
}

func (t *Table) equalLocked() bool {
	return t.expect != nil && t.matched == t.expectN && len(t.routes) == t.expectN
}

// want returns the expected fingerprint of p.
func (t *Table) want(p netip.Prefix) (string, bool) {
	w, ok := t.expect[p]
	if ok && t.except != nil {
		if _, own := t.except[p]; own {
			return "", false
		}
	}
	return w, ok
}

// Stats returns the counters and the comparison state.
func (t *Table) Stats() TableStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Held = len(t.routes)
	s.Equal = t.equalLocked()
	s.EqualAt = t.equalAt
	s.Expected = t.expectN
	s.Matched = t.matched
	return s
}

// change is one prefix of an UPDATE: an announcement with fingerprint fp, or a withdrawal.
type change struct {
	prefix   netip.Prefix
	fp       string
	withdraw bool
}

// apply applies one UPDATE's changes received at now.
func (t *Table) apply(now time.Time, changes []change, eor, treatAsWithdraw, looped bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stats.Updates++
	t.stats.LastChange = now
	if eor {
		t.stats.EndOfRIB = now
		t.stats.EndOfRIBs++
	}
	if treatAsWithdraw {
		t.stats.TreatAsWdr++
	}
	if looped {
		t.stats.Looped++
	}
	for i := range changes {
		c := &changes[i]
		if c.withdraw {
			t.stats.Withdrawn++
		} else {
			t.stats.Announced++
		}
		if !t.keep {
			continue
		}
		old, had := t.routes[c.prefix]
		want, expected := t.want(c.prefix)
		if had && expected && old == want {
			t.matched--
		}
		if c.withdraw {
			delete(t.routes, c.prefix)
			continue
		}
		t.routes[c.prefix] = c.fp
		if expected && c.fp == want {
			t.matched++
			if t.arrivals != nil {
				if _, seen := t.arrivals[c.prefix]; !seen {
					t.arrivals[c.prefix] = now
				}
			}
		}
	}
	if !t.keep {
		return
	}
	eq := t.equalLocked()
	switch {
	case eq && t.equalAt.IsZero():
		t.equalAt = now
	case !eq:
		t.equalAt = time.Time{}
	}
}

// noteDown records why the target ended the session.
func (t *Table) noteDown(reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stats.SessionDown == "" {
		t.stats.SessionDown = reason
	}
}

// Reset empties the table's routes (a new session starts from nothing) and keeps the
// counters and the expectation.
func (t *Table) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.keep {
		t.routes = make(map[netip.Prefix]string)
	}
	t.matched = 0
	t.equalAt = time.Time{}
	t.stats.SessionDown = ""
}

// Diff compares the held table with the expectation and returns the counts and up to
// maxExamples described differences, sorted.
func (t *Table) Diff(maxExamples int) CheckResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	want := t.expect
	if len(t.except) > 0 {
		want = make(Expected, t.expectN)
		for p, fp := range t.expect {
			if _, own := t.except[p]; !own {
				want[p] = fp
			}
		}
	}
	return diffTables(t.routes, want, maxExamples)
}

// CheckResult is the outcome of comparing a held table with the expected one.
type CheckResult struct {
	OK       bool     `json:"ok"`
	Expected int      `json:"expected"`
	Held     int      `json:"held"`
	Missing  int      `json:"missing"`
	Extra    int      `json:"extra"`
	Wrong    int      `json:"wrong"`
	Examples []string `json:"examples,omitempty"`
}

func diffTables(held map[netip.Prefix]string, want Expected, maxExamples int) CheckResult {
	r := CheckResult{Expected: len(want), Held: len(held)}
	var ex []string
	note := func(s string) {
		if len(ex) < maxExamples*4 {
			ex = append(ex, s)
		}
	}
	for p, w := range want {
		g, ok := held[p]
		switch {
		case !ok:
			r.Missing++
			note(fmt.Sprintf("missing %v: want %s", p, DescribeFP(w)))
		case g != w:
			r.Wrong++
			note(fmt.Sprintf("wrong %v: got %s, want %s", p, DescribeFP(g), DescribeFP(w)))
		}
	}
	for p, g := range held {
		if _, ok := want[p]; !ok {
			r.Extra++
			note(fmt.Sprintf("extra %v: %s", p, DescribeFP(g)))
		}
	}
	sort.Strings(ex)
	if len(ex) > maxExamples {
		ex = ex[:maxExamples]
	}
	r.Examples = ex
	r.OK = r.Missing == 0 && r.Extra == 0 && r.Wrong == 0
	return r
}
