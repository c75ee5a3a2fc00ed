// Package netinst runs network instances: the default instance and VRFs. Each instance has
// one actor goroutine, fed by route events, that owns all of that instance's kernel state
// (Linux bridge, routing table and rules via netlink), installs routes, reconciles them
// periodically against the kernel, and reports a status carrying the TargetVersion it has
// acknowledged.
//
// netinst must not be called synchronously from a routing task.
//
// # Parts
//
//   - Manager (manager.go): keeps the desired Config of every instance, starts one actor per
//     instance, bumps an instance's TargetVersion on every change and reports it pending
//     until the actor's Status carries that version. Apply never waits for an actor. Owned by
//     the daemon (start-up and reload); Close stops every actor and waits for it.
//   - actor (actor.go, repair.go): one goroutine per instance. It takes, in one select,
//     config versions (a 1-slot channel holding the newest), route events (its inbox), deleted
//     routes reported by the kernel watch, and its reconcile timer. It installs with
//     add-before-delete batches of at most maxBatch routes and tears down what it created when
//     the instance goes.
//   - inbox (inbox.go): route events coalesce per key (newest wins) in a mutex-guarded map with
//     a 1-buffered wake channel, so a routing task never blocks on a lagging actor; the map
//     holds at most one event per key of the RIB tables feeding it.
//   - Feed (feed.go): one db listener per RIB table; Changed runs in the partition task and
//     pushes (prefix -> best next hop, or withdrawn) into the inboxes. IPv4/IPv6 unicast feed
//     the default instance; each rib VRF's two tables (VPN routes imported by route target,
//     with their own best path) feed the VRF instance of that name. Listeners are
//     registered and unregistered in bgp.config tasks.
//   - Kernel (kernel.go): the small interface actors use. FakeKernel records state as text for
//     tests and can be slowed or made to fail; NetlinkKernel (netlink_linux.go) holds one
//     *netlink.Handle per network namespace plus one socket for batched route changes
//     (nlbatch_linux.go: 128 RTM_NEWROUTE/RTM_DELROUTE messages per sendmsg, acks matched by
//     sequence number) and implements RouteWatcher with a route subscription.
//
// # Kernel routes
//
// Routes carry protocol RouteProtocol (201) and are matched on (table, destination, gateway,
// source). Every ReconcileInterval the actor dumps its table's routes of that protocol,
// applies the events that came in meanwhile (so a route withdrawn during the dump is not put
// back), reinstalls what it believes installed but the kernel lacks, retries failed installs,
// and removes strays of its protocol. A failed dump (ENOBUFS, an interrupted dump) is retried
// after a back-off from 100 ms doubling up to the interval. Between reconciles the route
// watch puts back a deleted route at once. A route the kernel refuses because its next hop is
// unreachable is counted and reported through Deps.Unreachable.
//
// # Next hops (nexthop.go)
//
// The first time a route via a next hop is refused as unreachable the actor reports the next
// hop down through Deps.NextHop, and the daemon marks every path via it unusable in the RIB
// tables that instance's kernel speaks for (rib.Table.SetNextHopReachable), so another path
// wins or the prefix is withdrawn. It reports the next hop up again when a route via it is
// installed, when the reconcile's probe (NextHopProber: the kernel's route to the next hop
// is a connected one) says so, or when the instance goes away.
//
// # What is not done yet
//
// The rib's VRF tables are built at start-up: a vrf added by a reload gets an actor but no
// routes until fanoutd restarts.
//
// # Metrics
//
// fanout_kernel_route_reinstalls_total, fanout_kernel_route_install_failures_total and
// fanout_kernel_route_reconcile_duration_seconds (histogram), per instance; gauges read from
// the statuses at scrape time: fanout_instance_routes_desired, fanout_instance_routes_installed,
// fanout_instance_inbox_depth, fanout_instance_event_loop_lag_seconds,
// fanout_instance_pending and fanout_instance_activated.
package netinst
