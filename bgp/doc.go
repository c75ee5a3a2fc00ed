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
//
// bgp must not parse bytes; that is proto.
package bgp
