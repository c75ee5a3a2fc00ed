// Package api serves GoBGP's v3 gRPC API (github.com/osrg/gobgp/v3/api) on top of a
// bgp.Server and its RIB, so the stock gobgp CLI and existing automation manage fanout
// unchanged.
//
// Implemented: GetBgp; ListPeer (advertised counts per family with EnableAdvertised, from
// the RibOuts' maintained counts), AddPeer, DeletePeer, UpdatePeer (a changed neighbor is
// deleted and re-added, which resets its session), ResetPeer (hard, soft in and out),
// ShutdownPeer, EnablePeer, DisablePeer; AddPeerGroup, DeletePeerGroup, UpdatePeerGroup,
// ListPeerGroup (members added with a group take its settings where they give none);
// AddDynamicNeighbor, DeleteDynamicNeighbor, ListDynamicNeighbor (ranges the bgp.Server
// accepts unconfigured peers from); ListPath (global table, per-neighbor Adj-RIB-In and
// Adj-RIB-Out of IPv4 and IPv6 unicast, prefix filters exact / longest match / longer /
// shorter, sorted by prefix), AddPath, AddPathStream, DeletePath (the global table, through
// bgp.LocalOrigin: validated as an UPDATE from a peer would be, and refused whole on any
// error), GetTable; WatchEvent (peer state events, and best-path table events) with bounded
// queues that cut off a slow watcher; SetLogLevel; ListVrf (the configured VRFs) and ListPath
// of a VRF's table, AddPath and DeletePath in a VRF through the RIB's per-VRF local origin
// (vrf.go); ListPath of the VPN tables (whole) and of a route-server client's local RIB;
// StartBgp, StopBgp, AddVrf, DeleteVrf, ListPolicy, ListDefinedSet and ListPolicyAssignment
// as they apply to a daemon started from its configuration and without routing policies
// (admin.go). Every other RPC answers codes.Unimplemented with a sentence naming it, and so
// do the parts of implemented RPCs that need what this build lacks (prefix filters on VPN
// tables, DeletePath of every path of a VRF).
//
// Adj-RIB-Out is read, not recomputed: a listing finds the neighbor's RibOut slot per family
// (bgp.RIB.AdjOut) and its walk reads what the RibOut keeps for that slot on each entry.
//
// Reading the RIB never blocks routing: a listing registers a db listener for one walk,
// whose low-priority db.walk tasks copy entries in bounded slices; lookups run one short
// db.walk task per partition. TLS and mutual TLS take gobgpd's options (LoadTLS).
package api
