// Package gen is fanout's route-churn generator: it opens many real BGP sessions to a
// target daemon, each from its own loopback source address, speaks BGP with fanout's own
// codec (package proto), and times named workloads while checking that every receiver ends
// with exactly the table the target's role requires.
//
// Sessions (Session, Dial) are the active side of BGP: OPEN with 4-octet AS, route refresh
// and IPv4 (and optionally IPv6) unicast, KEEPALIVEs on a timer, a framing read buffer,
// NOTIFICATIONs logged and recorded. A session is a speaker (announces, churns; what it
// receives is only counted), a receiver (keeps its exact table in a Table: prefix →
// attribute fingerprint, withdrawals applied, compared continuously against an Expected
// table), or both (an IXP member).
//
// A workload is a Plan: peers and routes built deterministically from a seed before the
// target starts (NewPlan), then run once against a target (Plan.Run) to produce a Result
// with per-phase times, UPDATE and prefix counts, the correctness check and the sessions
// the target dropped. Workloads: converge, churn, fanout, ixp, storm, replay, latency (see
// scenarios.go). Expected tables come from the Model: for a route server (RFC 7947) the
// best path per prefix with AS path, next hop, MED and communities unchanged and a
// client's own routes not sent back; for a route reflector (RFC 4456) the same plus
// ORIGINATOR_ID and CLUSTER_LIST. Overlapping prefixes always have one strictly shortest
// AS path, so every implementation picks the same best path.
//
// Addresses: sessions only ever use 127.0.0.0/8; announced next hops are in 198.18.0.0/15
// (RFC 2544) and 2001:db8::/32 (RFC 3849), attribute values that are never dialled
// (gobgpd treats a loopback NEXT_HOP as a withdrawal).
//
// Nothing here is global: a Plan, its runner and its sessions are owned by the goroutine
// that runs it, and every goroutine a step starts is waited for before the step returns.
package gen
