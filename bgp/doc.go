// Package bgp is the server root: bgp.Server owns everything else. It holds peers, the
// RFC 4271 finite state machine, timers, capability negotiation, sessions, scheduling groups,
// the route-reflector and route-server export rules, graceful restart and reconnect-storm
// pacing.
//
// How it is built:
//   - fsm.go is the FSM as a pure core (events in, actions out; scripts in testdata/fsm);
//     peer.go and conn.go are its shell: one goroutine per peer owns its FSMs, timers and
//     collisions, and each connection has a reader and a writer goroutine.
//   - Session work (OPEN handling, FSM events, keepalives) runs on those per-peer goroutines
//     rather than as bgp.session scheduler tasks: a peer's liveness then never waits for a
//     scheduler worker, which is what the bgp.session kind's high priority was for.
//   - The reader decodes UPDATEs and hands them to the routing side (routing.go's Ingest;
//     ribin.go is the RIB's), which interns attributes and enqueues one request per
//     partition, blocking when a partition queue is full: the peer's back-pressure. The hold
//     timer is not expired while the reader waits on it.
//   - sendbuf.go is the per-peer bounded send buffer whose urgent lane puts KEEPALIVE and
//     NOTIFICATION ahead of queued UPDATEs at a message boundary.
//   - group.go and send.go are export: sessions join one RibOut per family (rib.RibOut), a
//     bgp.membership task keeps membership and scheduling groups, a bgp.send task per group
//     encodes each UPDATE once for all the members in sync. While routing is busy the send
//     task holds back until a RibOut's queue has gathered enough (sendHold), so what the
//     partitions export for one received UPDATE is packed together. addpath.go: ADD-PATH
//     send.
//   - pacing.go decides when the table walks that sync a session (initial sync, ROUTE-
//     REFRESH answers from refresh.go) start: one at a time per RibOut, a bounded number at
//     once, each after a random delay; the walks are low-priority db.walk tasks, so liveness
//     (the per-peer goroutines above) and routing (db.partition) always go first.
//   - gr.go is graceful restart as a helper (RFC 4724, RFC 8538 N bit, RFC 9494 long-lived)
//     and gr_defer.go fanout's own restart (export deferred until the peers' End-of-RIB).
//   - admission.go and memlimit.go bound what peers can make fanout hold: connection
//     attempts per source, unestablished connections, memory; sockopt*.go is TCP MD5 and
//     GTSM.
//
// bgp must not parse bytes; that is proto.
package bgp
