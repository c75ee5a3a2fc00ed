package metrics

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/sched"
)

// Snapshot is everything one scrape reports: the JSON diagnostics document, and what the
// Prometheus collector turns into metrics. It is read at scrape time from the daemon's own
// state; nothing on the routing path updates it.
type Snapshot struct {
	Peers     []PeerSnapshot `json:"peers"`
	Scheduler []KindSnapshot `json:"scheduler"`
	Attrs     AttrSnapshot   `json:"attrs"`
	// RibOuts come from a short bgp.membership task; RibOutsError says why they are missing
	// (the task did not run within the timeout, or the scheduler is closed).
	RibOuts []RibOutSnapshot `json:"ribouts"`
	// Tables are the destinations per RIB table, read in the same task.
	Tables       []TableSnapshot `json:"tables"`
	RibOutsError string          `json:"ribouts_error,omitempty"`
	Memory       MemorySnapshot  `json:"memory"`
	Sync         SyncSnapshot    `json:"sync"`
	// Instances are the network instances' statuses (netinst.Status), when the daemon runs any.
	Instances any `json:"instances,omitempty"`
	// Limits count what the server's limits refused.
	Limits LimitsSnapshot `json:"limits"`
}

// LimitsSnapshot counts what the server's limits refused (bgp/admission.go, memlimit.go).
type LimitsSnapshot struct {
	ConnectionsAdmitted    uint64 `json:"connections_admitted"`
	ConnectionsRateLimited uint64 `json:"connections_rate_limited"` // a source over its attempt rate
	ConnectionsOverCap     uint64 `json:"connections_over_cap"`     // too many unestablished
	Unestablished          int    `json:"unestablished"`
	MemoryUsage            uint64 `json:"memory_usage_bytes"` // as the ceiling reads it; 0 without a ceiling
	MemoryLevel            int    `json:"memory_level"`       // 0 under the ceiling, 1 over, 2 over the hard level
	MemoryRefusedUpdates   uint64 `json:"memory_refused_updates"`
}

// SyncSnapshot is the state of sync pacing (bgp/pacing.go): table walks that send peers
// their table, bounded and spread out when many peers come up at once.
type SyncSnapshot struct {
	WalksRunning       int     `json:"walks_running"`
	WalksQueued        int     `json:"walks_queued"`
	WalksStarted       uint64  `json:"walks_started"`
	WalksDelayed       uint64  `json:"walks_delayed"` // started only after waiting for a slot
	LastWaitSeconds    float64 `json:"last_wait_seconds"`
	LongestWaitSeconds float64 `json:"longest_wait_seconds"`
}

// TableSnapshot is one RIB table's size.
type TableSnapshot struct {
	Family       string `json:"family"`
	Partitions   int    `json:"partitions"`
	Destinations int    `json:"destinations"`
}

// PeerSnapshot is one peer's state and counters.
type PeerSnapshot struct {
	Peer             string            `json:"peer"`
	PeerAS           uint32            `json:"peer_as"`
	State            string            `json:"state"`
	StateCode        int               `json:"state_code"` // bgp.State: 0 Idle ... 5 Established
	AdminDown        bool              `json:"admin_down"`
	UptimeSeconds    float64           `json:"uptime_seconds"`
	Flaps            uint64            `json:"flaps"`
	MessagesIn       map[string]uint64 `json:"messages_in"`  // by message type name
	MessagesOut      map[string]uint64 `json:"messages_out"` // by message type name
	BytesIn          uint64            `json:"bytes_in"`
	UpdateErrors     uint64            `json:"update_errors"`
	PrefixesReceived int64             `json:"prefixes_received"`
	PrefixesAccepted int64             `json:"prefixes_accepted"`
	PrefixesBest     int64             `json:"prefixes_best"`
}

// KindSnapshot is the scheduler's statistics for one task kind.
type KindSnapshot struct {
	Kind             string  `json:"kind"`
	Runs             uint64  `json:"runs"`
	RunSecondsTotal  float64 `json:"run_seconds_total"`
	RunSecondsMax    float64 `json:"run_seconds_max"`
	WaitSecondsTotal float64 `json:"wait_seconds_total"`
	WaitSecondsMax   float64 `json:"wait_seconds_max"`
	Queued           int     `json:"queued"`
}

// AttrSnapshot sizes the interned attribute tables: the one received paths share and the
// one exported (rewritten) paths share.
type AttrSnapshot struct {
	Sets        int `json:"sets"`
	Bytes       int `json:"bytes"`
	ExportSets  int `json:"export_sets"`
	ExportBytes int `json:"export_bytes"`
}

// RibOutSnapshot is one RibOut. Index orders the RibOuts of one snapshot (by group, then
// policy); it is not stable across snapshots when RibOuts come and go.
type RibOutSnapshot struct {
	Index    int    `json:"index"`
	Family   string `json:"family"`
	Role     string `json:"role"`
	Group    int    `json:"group"`
	Members  int    `json:"members"`
	Pending  int    `json:"pending"`
	Parked   int    `json:"parked"`
	Encoded  uint64 `json:"encoded"`
	Prefixes uint64 `json:"prefixes"`
	Batches  uint64 `json:"batches"`
	Rewrites int    `json:"rewrites"`
}

// MemorySnapshot is the process's memory. BytesPerPath is heap in use divided by the
// prefixes received from every peer (0 when none): an upper bound on what a stored path
// costs, since the heap holds more than paths.
type MemorySnapshot struct {
	HeapInuse     uint64  `json:"heap_inuse_bytes"`
	Sys           uint64  `json:"sys_bytes"`
	RSS           uint64  `json:"rss_bytes"` // VmRSS from /proc/self/status; 0 where unavailable
	PathsReceived int64   `json:"paths_received"`
	BytesPerPath  float64 `json:"bytes_per_path"`
}

// source reads a Snapshot from the daemon's parts.
type source struct {
	srv     *bgp.Server
	rib     *bgp.RIB
	sched   *sched.Scheduler
	timeout time.Duration // bounds the RibOut task
	// instances returns the network instances' statuses; nil: none reported.
	instances func() any
}

// snapshot reads the state now. It waits at most s.timeout (for the RibOuts).
func (s *source) snapshot() *Snapshot {
	snap := &Snapshot{}
	if s.instances != nil {
		snap.Instances = s.instances()
	}
	if s.srv != nil {
		a, m := s.srv.AdmissionStats(), s.srv.MemoryStats()
		snap.Limits = LimitsSnapshot{ConnectionsAdmitted: a.Admitted, ConnectionsRateLimited: a.RateLimited,
			ConnectionsOverCap: a.OverCap, Unestablished: a.Unestablished,
			MemoryUsage: m.Usage, MemoryLevel: m.Level, MemoryRefusedUpdates: m.RefusedUpdates}
		for _, p := range s.srv.Peers() {
			snap.Peers = append(snap.Peers, peerSnapshot(&p))
			snap.Memory.PathsReceived += p.Counters.PrefixesReceived
		}
	}
	if s.sched != nil {
		for _, k := range s.sched.Stats() {
			snap.Scheduler = append(snap.Scheduler, KindSnapshot{
				Kind: k.Name, Runs: k.Runs,
				RunSecondsTotal: k.RunTotal.Seconds(), RunSecondsMax: k.RunMax.Seconds(),
				WaitSecondsTotal: k.WaitTotal.Seconds(), WaitSecondsMax: k.WaitMax.Seconds(),
				Queued: k.Queued,
			})
		}
	}
	if s.rib != nil {
		snap.Attrs = AttrSnapshot{Sets: s.rib.Attrs().Len(), Bytes: s.rib.Attrs().Bytes(),
			ExportSets: s.rib.ExportAttrs().Len(), ExportBytes: s.rib.ExportAttrs().Bytes()}
		ros, tables, err := s.inTask()
		if err != nil {
			snap.RibOutsError = err.Error()
		}
		snap.RibOuts, snap.Tables = ros, tables
		ss := s.rib.SyncStats()
		snap.Sync = SyncSnapshot{WalksRunning: ss.Running, WalksQueued: ss.Queued, WalksStarted: ss.Started,
			WalksDelayed: ss.Delayed, LastWaitSeconds: ss.LastWait.Seconds(), LongestWaitSeconds: ss.MaxWait.Seconds()}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	snap.Memory.HeapInuse, snap.Memory.Sys = ms.HeapInuse, ms.Sys
	snap.Memory.RSS = readRSS()
	if n := snap.Memory.PathsReceived; n > 0 {
		snap.Memory.BytesPerPath = float64(ms.HeapInuse) / float64(n)
	}
	return snap
}

func peerSnapshot(p *bgp.PeerStatus) PeerSnapshot {
	ps := PeerSnapshot{
		Peer: p.Addr.String(), PeerAS: p.PeerAS, State: p.State.String(), StateCode: int(p.State),
		AdminDown: p.AdminDown, UptimeSeconds: p.Uptime.Seconds(), Flaps: p.Flaps,
		MessagesIn: map[string]uint64{}, MessagesOut: map[string]uint64{},
		BytesIn: p.Counters.BytesIn, UpdateErrors: p.Counters.UpdateErrors,
		PrefixesReceived: p.Counters.PrefixesReceived, PrefixesAccepted: p.Counters.PrefixesAccepted,
		PrefixesBest: p.Counters.PrefixesBest,
	}
	for _, typ := range msgTypes {
		name := proto.MessageTypeName(typ)
		ps.MessagesIn[name] = p.Counters.MsgIn[typ]
		ps.MessagesOut[name] = p.Counters.MsgOut[typ]
	}
	return ps
}

// msgTypes are the message types counted per peer.
var msgTypes = []uint8{proto.MsgOpen, proto.MsgUpdate, proto.MsgNotification, proto.MsgKeepalive, proto.MsgRouteRefresh}

var errRibOutTimeout = errors.New("bgp.membership task did not run within the scrape timeout")

// tableFamilies are the RIB's tables, in the order reported.
var tableFamilies = []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast, proto.VPNv4, proto.VPNv6}

// inTask reads the RibOuts and the table sizes in a one-shot bgp.membership task, which
// excludes the partition, walk and send tasks RIB.RibOuts and Table.Len require (it holds
// routing off for as long as it takes to count); it gives up after s.timeout (the task then
// still runs once and its result is dropped).
func (s *source) inTask() ([]RibOutSnapshot, []TableSnapshot, error) {
	if s.sched == nil {
		return nil, nil, errors.New("no scheduler")
	}
	type result struct {
		ros    []bgp.RibOutStatus
		tables []TableSnapshot
	}
	ch := make(chan result, 1) // buffered: a late task never blocks
	err := s.sched.Run(sched.BGPMembership, 0, func(c *sched.Ctx) sched.Result {
		var res result
		res.ros = s.rib.RibOuts(c)
		for _, f := range tableFamilies {
			if t := s.rib.Table(f); t != nil {
				res.tables = append(res.tables, TableSnapshot{Family: f.String(), Partitions: t.Partitions(), Destinations: t.DB().Len(c)})
			}
		}
		ch <- res
		return sched.Done
	})
	if err != nil {
		return nil, nil, fmt.Errorf("bgp.membership task: %w", err)
	}
	t := time.NewTimer(s.timeout)
	defer t.Stop()
	var res result
	select {
	case res = <-ch:
	case <-t.C:
		return nil, nil, errRibOutTimeout
	}
	st := res.ros
	out := make([]RibOutSnapshot, len(st))
	for i, r := range st {
		out[i] = RibOutSnapshot{Family: r.Policy.Family.String(), Role: r.Policy.Role.String(), Group: r.Group,
			Members: r.Members, Pending: r.Pending, Parked: r.Parked, Encoded: r.Encoded, Prefixes: r.Prefixes,
			Batches: r.Batches, Rewrites: r.Rewrites}
	}
	slices.SortFunc(out, func(a, b RibOutSnapshot) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Family, b.Family), cmp.Compare(a.Role, b.Role))
	})
	for i := range out {
		out[i].Index = i
	}
	return out, res.tables, nil
}

// readRSS returns VmRSS from /proc/self/status in bytes, 0 when it cannot be read.
func readRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest) // "123456 kB"
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0
		}
		kb, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return 0
		}
		return kb * 1024
	}
	return 0
}
