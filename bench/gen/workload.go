package gen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/bench/targets"
)

// Duration is a time.Duration that reads and writes JSON as a string ("90s").
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// Params are the knobs of a workload; each workload reads the ones it documents. Every run
// is deterministic from Seed.
type Params struct {
	Seed       uint64   `json:"seed"`
	Speakers   int      `json:"speakers"`             // speakers (ixp: members)
	Prefixes   int      `json:"prefixes"`             // per speaker (fanout, latency: the table)
	Receivers  int      `json:"receivers"`            // receivers (ixp: unused, members receive)
	Overlap    float64  `json:"overlap"`              // fraction of a speaker's prefixes every speaker announces
	IPv6       float64  `json:"ipv6"`                 // fraction of prefixes that are IPv6
	AttrSets   int      `json:"attr_sets"`            // attribute sets per speaker; 0: prefixes/10
	Reannounce float64  `json:"reannounce"`           // churn: fraction re-announced with new attributes
	Withdraw   float64  `json:"withdraw"`             // churn: fraction withdrawn
	Rate       float64  `json:"rate"`                 // churn, latency: prefixes per second in all; 0 full speed
	MRTFile    string   `json:"mrt_file,omitempty"`   // replay, fanout: MRT RIB or updates file
	MRTPeer    string   `json:"mrt_peer,omitempty"`   // the MRT peer to take; empty: the first seen
	MRTMax     int      `json:"mrt_max,omitempty"`    // at most this many routes/events; 0 all
	Speed      float64  `json:"speed,omitempty"`      // replay: 0 full speed, 1 recorded, 2 twice as fast
	HoldTime   Duration `json:"hold_time"`            // offered hold time
	Timeout    Duration `json:"timeout"`              // bound of each timed phase
	Settle     Duration `json:"settle"`               // how long a converged table must stay put
	Parallel   int      `json:"dial_parallel"`        // sessions dialled at once (storm reconnects all at once)
	Note       string   `json:"note,omitempty"`       // free text carried into the result
	Expect     string   `json:"expect,omitempty"`     // "wrong" corrupts the expectation (tests the check)
	PeerBase   string   `json:"peer_base,omitempty"`  // first peer address; empty: 127.0.1.1
	ClusterID  string   `json:"cluster_id,omitempty"` // route reflector cluster id; empty: 10.255.0.1
	TargetAS   uint32   `json:"target_as,omitempty"`  // the target's AS; 0: 65000
}

// Workloads lists the workload names in their usual order.
func Workloads() []string {
	return []string{"converge", "churn", "fanout", "ixp", "storm", "replay", "latency"}
}

// DefaultParams returns a workload's parameters sized for a 2-core machine.
func DefaultParams(workload string) Params {
	p := Params{Seed: 1, Speakers: 10, Prefixes: 10000, Receivers: 2, HoldTime: Duration(90 * time.Second),
		Timeout: Duration(120 * time.Second), Settle: Duration(300 * time.Millisecond), Parallel: 16}
	switch workload {
	case "converge":
		p.Overlap = 0.1
	case "churn":
		p.Overlap, p.Reannounce, p.Withdraw = 0.1, 0.1, 0.05
	case "fanout":
		p.Speakers, p.Prefixes, p.Receivers = 1, 100000, 20
	case "ixp":
		p.Speakers, p.Prefixes, p.Receivers = 50, 2000, 0
	case "storm":
		p.Speakers, p.Prefixes, p.Receivers, p.Overlap = 4, 10000, 50, 0
	case "replay":
		p.Speakers, p.Receivers = 1, 1
		p.MRTFile = "../shared/data/mrt/rib/routeviews.route-views.jinx.ribs.1401487200.bz2"
		p.MRTPeer = "196.223.14.55"
	case "latency":
		p.Speakers, p.Prefixes, p.Receivers = 1, 20000, 1
	}
	return p
}

// Peer is one generator session: a speaker, a receiver, or both (an IXP member).
type Peer struct {
	Name     string     `json:"name"`
	Addr     netip.Addr `json:"addr"`
	AS       uint32     `json:"as"`
	Speaker  bool       `json:"speaker"`
	Receiver bool       `json:"receiver"`
	IPv6     bool       `json:"ipv6"`
	Index    int        `json:"index"` // speaker index (next hop), -1 for a receiver only
}

// Env is where a workload runs: the target and its role, and the generator's surroundings.
type Env struct {
	// Target is the target's BGP address and port (loopback).
	Target netip.AddrPort
	// Role is the target's role; it decides ASes (eBGP or iBGP), expectations and checks.
	Role targets.Role
	// Check is what receivers compare; 0 means CheckRouteServer or CheckRouteReflector.
	Check Check
	// Logger receives session events; nil means none.
	Logger *zap.Logger
	// Progress receives a progress line a second while a phase runs; nil means none.
	Progress io.Writer
	// Label prefixes progress lines ("bird/converge").
	Label string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (e *Env) defaults() {
	if e.Logger == nil {
		e.Logger = zap.NewNop()
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Check == 0 {
		e.Check = CheckRouteServer
		if e.Role == targets.RouteReflector {
			e.Check = CheckRouteReflector
		}
	}
}

// Plan is a workload made concrete: its peers and its routes, built before the target
// starts so that nothing of it is timed. Run executes it once.
type Plan struct {
	Workload string
	Params   Params
	Peers    []Peer
	TargetAS uint32
	Cluster  netip.Addr

	model *Model
	run   func(ctx context.Context, r *runner) error
	setup func(env Env) error // finishes the model once the role's check is known
}

// NewPlan builds workload name with p for a target in role.
func NewPlan(name string, p Params, role targets.Role) (*Plan, error) {
	if p.Speakers < 0 || p.Prefixes < 0 || p.Receivers < 0 || p.Overlap < 0 || p.Overlap > 1 ||
		p.IPv6 < 0 || p.IPv6 > 1 || p.Reannounce < 0 || p.Withdraw < 0 || p.Reannounce+p.Withdraw > 1 {
		return nil, fmt.Errorf("%s: parameters out of range: %+v", name, p)
	}
	if p.Timeout == 0 {
		p.Timeout = Duration(120 * time.Second)
	}
	if p.HoldTime == 0 {
		p.HoldTime = Duration(90 * time.Second)
	}
	if p.Parallel <= 0 {
		p.Parallel = 16
	}
	pl := &Plan{Workload: name, Params: p, TargetAS: p.TargetAS, Cluster: netip.MustParseAddr("10.255.0.1")}
	if pl.TargetAS == 0 {
		pl.TargetAS = 65000
	}
	if p.ClusterID != "" {
		c, err := netip.ParseAddr(p.ClusterID)
		if err != nil || !c.Is4() {
			return nil, fmt.Errorf("%s: cluster id %q: not IPv4", name, p.ClusterID)
		}
		pl.Cluster = c
	}
	base := netip.MustParseAddr("127.0.1.1")
	if p.PeerBase != "" {
		b, err := netip.ParseAddr(p.PeerBase)
		if err != nil || !b.Is4() || !b.IsLoopback() {
			return nil, fmt.Errorf("%s: peer base %q: %w", name, p.PeerBase, ErrNotLoopback)
		}
		base = b
	}
	pl.model = &Model{Role: role, ClusterID: pl.Cluster}
	var err error
	switch name {
	case "converge":
		err = planConverge(pl, base, role, false)
	case "churn":
		err = planConverge(pl, base, role, true)
	case "storm":
		err = planStorm(pl, base, role)
	case "fanout":
		err = planFanout(pl, base, role)
	case "ixp":
		err = planIXP(pl, base, role)
	case "latency":
		err = planLatency(pl, base, role)
	case "replay":
		err = planReplay(pl, base, role)
	default:
		return nil, fmt.Errorf("unknown workload %q (have %s)", name, strings.Join(Workloads(), ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return pl, nil
}

// peerAddrs returns n loopback addresses from base on, skipping .0 and .255.
func peerAddrs(base netip.Addr, n int) []netip.Addr {
	out := make([]netip.Addr, 0, n)
	for a := base; len(out) < n; a = a.Next() {
		if b := a.As4(); b[3] == 0 || b[3] == 255 {
			continue
		}
		out = append(out, a)
	}
	return out
}

// addPeers appends speakers then receivers (or members that are both) with their ASes.
func (pl *Plan) addPeers(base netip.Addr, role targets.Role, speakers, receivers int, both bool, v6 bool) {
	addrs := peerAddrs(base, speakers+receivers)
	for i, a := range addrs {
		p := Peer{Addr: a, IPv6: v6, Index: -1}
		switch {
		case both:
			p.Name, p.Speaker, p.Receiver, p.Index = fmt.Sprintf("member-%d", i), true, true, i
		case i < speakers:
			p.Name, p.Speaker, p.Index = fmt.Sprintf("speaker-%d", i), true, i
		default:
			p.Name, p.Receiver = fmt.Sprintf("receiver-%d", i-speakers), true
		}
		p.AS = 4200000000 + uint32(i)
		if role == targets.RouteReflector {
			p.AS = pl.TargetAS
		}
		pl.Peers = append(pl.Peers, p)
	}
}

// Neighbors returns the target's neighbor list for the plan: every peer passive (the
// generator connects), a route-server or route-reflector client.
func (pl *Plan) Neighbors(role targets.Role) []targets.Neighbor {
	var ns []targets.Neighbor
	for _, p := range pl.Peers {
		n := targets.Neighbor{Address: p.Addr, AS: p.AS, Passive: true,
			RouteServerClient: role == targets.RouteServer, RouteReflectorClient: role == targets.RouteReflector}
		if p.IPv6 {
			n.Families = []targets.Family{targets.IPv4Unicast, targets.IPv6Unicast}
		}
		ns = append(ns, n)
	}
	return ns
}

// Spec returns a targets.Spec for the plan with the target at listen.
func (pl *Plan) Spec(role targets.Role, listen netip.AddrPort) targets.Spec {
	s := targets.Spec{AS: pl.TargetAS, RouterID: listen.Addr(), ListenAddr: listen.Addr(), Port: listen.Port(),
		Role: role, HoldTime: time.Duration(pl.Params.HoldTime), Neighbors: pl.Neighbors(role)}
	if role == targets.RouteReflector {
		s.ClusterID = pl.Cluster
	}
	return s
}

// ReceiverStats is one receiver's view of a phase.
type ReceiverStats struct {
	Name      string   `json:"name"`
	Seconds   *float64 `json:"seconds,omitempty"` // until it held the expected table
	Updates   int64    `json:"updates"`           // UPDATE messages received in the phase
	Announced int64    `json:"announced"`         // prefixes announced to it in the phase
	Withdrawn int64    `json:"withdrawn"`         // prefixes withdrawn from it in the phase
	Held      int      `json:"held"`
	EndOfRIB  *float64 `json:"end_of_rib,omitempty"` // seconds until End-of-RIB, when one came
}

// Phase is one timed step of a workload.
type Phase struct {
	Name      string          `json:"name"`
	Seconds   *float64        `json:"seconds"` // null when the phase did not converge
	Sent      int             `json:"sent_prefixes"`
	Updates   int64           `json:"updates"`   // UPDATEs received by all receivers
	Prefixes  int64           `json:"prefixes"`  // prefixes (announced + withdrawn) received by all receivers
	Receivers []ReceiverStats `json:"receivers"` // per receiver (first 20)
	Check     CheckResult     `json:"check"`
}

// Latency summarises per-prefix propagation times.
type Latency struct {
	Samples int     `json:"samples"`
	P50Ms   float64 `json:"p50_ms"`
	P90Ms   float64 `json:"p90_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
}

// Result is the outcome of one run of a workload against one target.
type Result struct {
	Workload      string    `json:"workload"`
	Target        string    `json:"target"`
	TargetVersion string    `json:"target_version,omitempty"`
	Role          string    `json:"role"`
	Params        Params    `json:"params"`
	Checked       string    `json:"checked_attributes"`
	Repeat        int       `json:"repeat"`
	Started       time.Time `json:"started"`
	OK            bool      `json:"ok"`
	Error         string    `json:"error,omitempty"`
	// Seconds is the workload's headline time (converge, churn, reconnect...); null when
	// the run failed: no time is reported for a run that did not converge.
	Seconds  *float64 `json:"seconds"`
	Headline string   `json:"headline_phase"`
	Phases   []Phase  `json:"phases"`
	Sessions int      `json:"sessions"`
	Dropped  []string `json:"sessions_dropped,omitempty"`
	// TimedOut is set when a phase did not converge within Params.Timeout (as opposed to
	// a stall, a wrong table or a send error).
	TimedOut bool `json:"timed_out,omitempty"`
	// Paths is the number of paths the target holds from the speakers at the end of the
	// run (every speaker's announcements, each prefix once per speaker).
	Paths         int64    `json:"paths"`
	Updates       int64    `json:"updates_received"`  // in the headline phase, all receivers
	Prefixes      int64    `json:"prefixes_received"` // in the headline phase, all receivers
	Latency       *Latency `json:"latency,omitempty"`
	CPUSeconds    float64  `json:"target_cpu_seconds"`
	PeakRSSBytes  int64    `json:"target_peak_rss_bytes"`
	GenCPUSeconds float64  `json:"generator_cpu_seconds"`
	// RunDir is the target's run directory when it was kept (a failed run) to look into.
	RunDir      string  `json:"run_dir,omitempty"`
	WallSeconds float64 `json:"wall_seconds"`
}

// Summary is a one-line human summary of r.
func (r *Result) Summary() string {
	status := "ok"
	t := "—"
	if r.Seconds != nil {
		t = fmt.Sprintf("%.3fs", *r.Seconds)
	}
	if !r.OK {
		status = "FAILED: " + r.Error
	}
	s := fmt.Sprintf("%-8s %-9s #%d %s: %s  cpu %.2fs  rss %.1f MiB  updates %d  prefixes %d  dropped %d  %s",
		r.Target, r.Workload, r.Repeat, r.Headline, t, r.CPUSeconds, float64(r.PeakRSSBytes)/(1<<20),
		r.Updates, r.Prefixes, len(r.Dropped), status)
	if r.Latency != nil {
		s += fmt.Sprintf("  latency p50 %.1fms p99 %.1fms", r.Latency.P50Ms, r.Latency.P99Ms)
	}
	return s
}

// percentile returns the q-quantile (0..1) of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)-1) + 0.5)
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func summarizeLatency(d []time.Duration) *Latency {
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
	if len(d) == 0 {
		return &Latency{}
	}
	return &Latency{Samples: len(d), P50Ms: ms(percentile(d, 0.5)), P90Ms: ms(percentile(d, 0.9)),
		P99Ms: ms(percentile(d, 0.99)), MaxMs: ms(d[len(d)-1])}
}

// sortedNames returns the keys of m sorted.
func sortedNames(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }
