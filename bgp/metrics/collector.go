package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// collector turns a Snapshot taken at scrape time into metrics. It holds only descriptors:
// nothing on the routing path updates it.
type collector struct {
	src *source

	peerState, peerUp, peerAdminDown, peerUptime, peerFlaps      *prometheus.Desc
	peerMsgIn, peerMsgOut, peerBytesIn, peerUpdateErrors         *prometheus.Desc
	peerReceived, peerAccepted, peerBest                         *prometheus.Desc
	schedRuns, schedRunTotal, schedRunMax                        *prometheus.Desc
	schedWaitTotal, schedWaitMax, schedQueued                    *prometheus.Desc
	attrSets, attrBytes                                          *prometheus.Desc
	riboutsOK, riboutMembers, riboutPending, riboutParked        *prometheus.Desc
	riboutEncoded, riboutPrefixes, riboutBatches, riboutRewrites *prometheus.Desc
	tableDests, tablePartitions                                  *prometheus.Desc
	memHeapInuse, memSys, memRSS, pathsReceived, bytesPerPath    *prometheus.Desc
	syncRunning, syncQueued, syncStarted, syncDelayed, syncWait  *prometheus.Desc
	connRefused, connAdmitted, unestablished                     *prometheus.Desc
	memUsage, memLevel, memRefused                               *prometheus.Desc
}

func newCollector(src *source) *collector {
	peer := []string{"peer"}
	kind := []string{"kind"}
	ro := []string{"ribout", "family", "role", "group"}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc("fanout_"+name, help, labels, nil)
	}
	return &collector{
		src:              src,
		peerState:        d("peer_state", "BGP FSM state of the peer's session: 0 Idle, 1 Connect, 2 Active, 3 OpenSent, 4 OpenConfirm, 5 Established.", peer),
		peerUp:           d("peer_up", "1 when the peer's session is Established.", peer),
		peerAdminDown:    d("peer_admin_down", "1 when the peer is administratively down.", peer),
		peerUptime:       d("peer_uptime_seconds", "Time since the session came up; 0 when it is not up.", peer),
		peerFlaps:        d("peer_flaps_total", "Times the session left Established.", peer),
		peerMsgIn:        d("peer_messages_received_total", "BGP messages received, by type.", []string{"peer", "type"}),
		peerMsgOut:       d("peer_messages_sent_total", "BGP messages queued to the peer, by type.", []string{"peer", "type"}),
		peerBytesIn:      d("peer_received_bytes_total", "Bytes of BGP messages received.", peer),
		peerUpdateErrors: d("peer_update_errors_total", "UPDATEs with an RFC 7606 attribute-discard or treat-as-withdraw error.", peer),
		peerReceived:     d("peer_prefixes_received", "Paths from the peer held in the Adj-RIB-In.", peer),
		peerAccepted:     d("peer_prefixes_accepted", "Paths from the peer that are usable.", peer),
		peerBest:         d("peer_prefixes_best", "Paths from the peer that are best.", peer),
		schedRuns:        d("sched_runs_total", "Task runs, by task kind.", kind),
		schedRunTotal:    d("sched_run_seconds_total", "Time spent running tasks, by task kind.", kind),
		schedRunMax:      d("sched_run_seconds_max", "Longest task run, by task kind.", kind),
		schedWaitTotal:   d("sched_wait_seconds_total", "Time tasks waited between becoming runnable and running, by task kind.", kind),
		schedWaitMax:     d("sched_wait_seconds_max", "Longest wait of a task, by task kind.", kind),
		schedQueued:      d("sched_queued_tasks", "Tasks queued now, by task kind.", kind),
		attrSets:         d("attr_sets", "Distinct interned attribute sets, by table (rib: received paths; export: rewritten for export).", []string{"table"}),
		attrBytes:        d("attr_bytes", "Bytes of interned attribute encodings, by table.", []string{"table"}),
		riboutsOK:        d("ribouts_scrape_ok", "1 when the RibOuts and RIB table sizes were read for this scrape (a bgp.membership task ran within the timeout).", nil),
		riboutMembers:    d("ribout_members", "Peers in the RibOut.", ro),
		riboutPending:    d("ribout_pending", "Updates queued in the RibOut.", ro),
		riboutParked:     d("ribout_parked_peers", "Peers parked at a marker (slow peers).", ro),
		riboutEncoded:    d("ribout_encoded_total", "Updates encoded by the RibOut.", ro),
		riboutPrefixes:   d("ribout_prefixes_total", "Prefixes encoded by the RibOut.", ro),
		riboutBatches:    d("ribout_batches_total", "Batches the RibOut sent.", ro),
		riboutRewrites:   d("ribout_rewrites", "Attribute rewrites held by the RibOut.", ro),
		tableDests:       d("rib_destinations", "Destinations (prefixes) in the RIB table, by family.", []string{"family"}),
		tablePartitions:  d("rib_partitions", "Partitions of the RIB table, by family.", []string{"family"}),
		memHeapInuse:     d("memory_heap_inuse_bytes", "Go heap in use (runtime.MemStats.HeapInuse).", nil),
		memSys:           d("memory_sys_bytes", "Memory obtained from the OS by the Go runtime (runtime.MemStats.Sys).", nil),
		memRSS:           d("process_resident_bytes", "Resident set size (VmRSS from /proc/self/status); 0 where unavailable.", nil),
		pathsReceived:    d("paths_received", "Paths held in the Adj-RIB-In of every peer.", nil),
		bytesPerPath:     d("bytes_per_path", "Heap in use divided by the paths received: an upper bound on the memory a stored path costs; 0 with no paths.", nil),
		syncRunning:      d("sync_walks_running", "Table walks sending peers their table (initial sync, route refresh) running now.", nil),
		syncQueued:       d("sync_walks_queued", "Sync walks waiting for a pacing slot: peers are being paced.", nil),
		syncStarted:      d("sync_walks_started_total", "Sync walks started.", nil),
		syncDelayed:      d("sync_walks_delayed_total", "Sync walks that waited for a pacing slot.", nil),
		syncWait:         d("sync_wait_seconds", "How long sync walks waited before starting: the last one and the longest.", []string{"which"}),
		connAdmitted:     d("connections_admitted_total", "Incoming connections let through admission.", nil),
		connRefused:      d("connections_refused_total", "Incoming connections refused by a limit, by reason (rate: a source over its attempt rate; cap: too many unestablished).", []string{"reason"}),
		unestablished:    d("connections_unestablished", "Accepted connections not yet Established.", nil),
		memUsage:         d("memory_ceiling_usage_bytes", "Memory as the ceiling reads it (0 without fanout.memory-ceiling).", nil),
		memLevel:         d("memory_ceiling_level", "0 under the memory ceiling, 1 over it (peers over their share refused), 2 over the hard level (all refused).", nil),
		memRefused:       d("memory_refused_updates_total", "UPDATEs whose announcements the memory ceiling refused (treated as withdrawn).", nil),
	}
}

func (c *collector) descs() []*prometheus.Desc {
	return []*prometheus.Desc{
		c.peerState, c.peerUp, c.peerAdminDown, c.peerUptime, c.peerFlaps,
		c.peerMsgIn, c.peerMsgOut, c.peerBytesIn, c.peerUpdateErrors,
		c.peerReceived, c.peerAccepted, c.peerBest,
		c.schedRuns, c.schedRunTotal, c.schedRunMax, c.schedWaitTotal, c.schedWaitMax, c.schedQueued,
		c.attrSets, c.attrBytes,
		c.riboutsOK, c.riboutMembers, c.riboutPending, c.riboutParked,
		c.riboutEncoded, c.riboutPrefixes, c.riboutBatches, c.riboutRewrites,
		c.tableDests, c.tablePartitions,
		c.memHeapInuse, c.memSys, c.memRSS, c.pathsReceived, c.bytesPerPath,
		c.syncRunning, c.syncQueued, c.syncStarted, c.syncDelayed, c.syncWait,
		c.connAdmitted, c.connRefused, c.unestablished, c.memUsage, c.memLevel, c.memRefused,
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one snapshot per scrape.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.collect(ch, c.src.snapshot())
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) collect(ch chan<- prometheus.Metric, s *Snapshot) {
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	counter := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, lv...)
	}
	for _, p := range s.Peers {
		gauge(c.peerState, float64(p.StateCode), p.Peer)
		gauge(c.peerUp, b2f(p.State == "Established"), p.Peer)
		gauge(c.peerAdminDown, b2f(p.AdminDown), p.Peer)
		gauge(c.peerUptime, p.UptimeSeconds, p.Peer)
		counter(c.peerFlaps, float64(p.Flaps), p.Peer)
		for typ, n := range p.MessagesIn {
			counter(c.peerMsgIn, float64(n), p.Peer, typ)
		}
		for typ, n := range p.MessagesOut {
			counter(c.peerMsgOut, float64(n), p.Peer, typ)
		}
		counter(c.peerBytesIn, float64(p.BytesIn), p.Peer)
		counter(c.peerUpdateErrors, float64(p.UpdateErrors), p.Peer)
		gauge(c.peerReceived, float64(p.PrefixesReceived), p.Peer)
		gauge(c.peerAccepted, float64(p.PrefixesAccepted), p.Peer)
		gauge(c.peerBest, float64(p.PrefixesBest), p.Peer)
	}
	for _, k := range s.Scheduler {
		counter(c.schedRuns, float64(k.Runs), k.Kind)
		counter(c.schedRunTotal, k.RunSecondsTotal, k.Kind)
		gauge(c.schedRunMax, k.RunSecondsMax, k.Kind)
		counter(c.schedWaitTotal, k.WaitSecondsTotal, k.Kind)
		gauge(c.schedWaitMax, k.WaitSecondsMax, k.Kind)
		gauge(c.schedQueued, float64(k.Queued), k.Kind)
	}
	if c.src.rib != nil {
		gauge(c.attrSets, float64(s.Attrs.Sets), "rib")
		gauge(c.attrSets, float64(s.Attrs.ExportSets), "export")
		gauge(c.attrBytes, float64(s.Attrs.Bytes), "rib")
		gauge(c.attrBytes, float64(s.Attrs.ExportBytes), "export")
		gauge(c.riboutsOK, b2f(s.RibOutsError == ""))
	}
	for _, r := range s.RibOuts {
		lv := []string{strconv.Itoa(r.Index), r.Family, r.Role, strconv.Itoa(r.Group)}
		gauge(c.riboutMembers, float64(r.Members), lv...)
		gauge(c.riboutPending, float64(r.Pending), lv...)
		gauge(c.riboutParked, float64(r.Parked), lv...)
		counter(c.riboutEncoded, float64(r.Encoded), lv...)
		counter(c.riboutPrefixes, float64(r.Prefixes), lv...)
		counter(c.riboutBatches, float64(r.Batches), lv...)
		gauge(c.riboutRewrites, float64(r.Rewrites), lv...)
	}
	for _, t := range s.Tables {
		gauge(c.tableDests, float64(t.Destinations), t.Family)
		gauge(c.tablePartitions, float64(t.Partitions), t.Family)
	}
	gauge(c.memHeapInuse, float64(s.Memory.HeapInuse))
	gauge(c.memSys, float64(s.Memory.Sys))
	gauge(c.memRSS, float64(s.Memory.RSS))
	gauge(c.pathsReceived, float64(s.Memory.PathsReceived))
	gauge(c.bytesPerPath, s.Memory.BytesPerPath)
	gauge(c.syncRunning, float64(s.Sync.WalksRunning))
	gauge(c.syncQueued, float64(s.Sync.WalksQueued))
	counter(c.syncStarted, float64(s.Sync.WalksStarted))
	counter(c.syncDelayed, float64(s.Sync.WalksDelayed))
	gauge(c.syncWait, s.Sync.LastWaitSeconds, "last")
	gauge(c.syncWait, s.Sync.LongestWaitSeconds, "longest")
	l := &s.Limits
	counter(c.connAdmitted, float64(l.ConnectionsAdmitted))
	counter(c.connRefused, float64(l.ConnectionsRateLimited), "rate")
	counter(c.connRefused, float64(l.ConnectionsOverCap), "cap")
	gauge(c.unestablished, float64(l.Unestablished))
	gauge(c.memUsage, float64(l.MemoryUsage))
	gauge(c.memLevel, float64(l.MemoryLevel))
	counter(c.memRefused, float64(l.MemoryRefusedUpdates))
}
