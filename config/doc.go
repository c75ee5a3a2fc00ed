// Package config loads fanout's configuration with viper (TOML, YAML or JSON in gobgpd's
// schema for the features fanout supports, plus FANOUT_* environment overrides), validates it
// with errors that name the key, the value and the reason, and diffs old and new
// configurations for reload. It hands out plain validated structs (Config); viper never
// leaves this package.
//
// config must not start anything: no goroutines, listeners, signal handlers or file watches.
// Reload (SIGHUP, a --check flag printing Diff's String) belongs to the daemon.
//
// # Entry points
//
// Load(path) and LoadBytes(data, format) read a file or text; LoadDefault returns the
// built-in default (DefaultTOML: AS 65000, router-id 127.0.0.1, BGP on 127.0.0.1:1790, no
// neighbors) with the environment applied; Default returns it without. Diff(old, new)
// compares two Configs.
//
// # Schema
//
// Keys are gobgpd's (pkg/config/oc, mapstructure tags), matched case-insensitively:
//
//	global.config: as, router-id, port, local-address-list
//	neighbors[].config: neighbor-address, peer-as, description, auth-password, peer-group,
//	    admin-down, vrf (the name of a vrf in vrfs: a PE-CE session whose unicast routes
//	    go into and come from that vrf's tables)
//	peer-groups[].config: peer-group-name, peer-as, description, auth-password
//	neighbors[] and peer-groups[] (the shared settings):
//	    timers.config: hold-time, keepalive-interval, connect-retry
//	    transport.config: local-address, passive-mode, remote-port
//	    ebgp-multihop.config: enabled, multihop-ttl
//	    ttl-security.config: enabled, ttl-min
//	    route-reflector.config: route-reflector-client, route-reflector-cluster-id
//	    route-server.config: route-server-client
//	    graceful-restart.config: enabled, restart-time, helper-only, deferral-time,
//	        notification-enabled, long-lived-enabled
//	    add-paths.config: receive, send-max
//	    afi-safis[].config: afi-safi-name (ipv4-unicast, ipv6-unicast, l3vpn-ipv4-unicast,
//	        l3vpn-ipv6-unicast), enabled
//	    afi-safis[].prefix-limit.config: max-prefixes, shutdown-threshold-pct, restart-timer
//	    afi-safis[].add-paths.config: receive, send-max
//	    afi-safis[].mp-graceful-restart.config: enabled
//	    afi-safis[].long-lived-graceful-restart.config: enabled, restart-time
//	dynamic-neighbors[].config: prefix, peer-group
//	vrfs[].config: name, id, rd, import-rt-list, export-rt-list, both-rt-list
//
// and fanout's own table, for what gobgpd has no word for:
//
//	fanout: partitions, workers, http-address, grpc-address, route-reconcile-interval
//	    (a duration such as "90s", or a number of seconds; 0 disables), log-level,
//	    memory-limit (bytes, or GOMEMLIMIT's syntax: "512MiB"), memory-ceiling (the same
//	    syntax: over it, new routes from the peers holding most are refused)
//	fanout.sync: max-concurrent-walks, max-start-delay
//	fanout.admission: per-source-burst, per-source-interval, max-unestablished
//	fanout.instances[]: name ("default" or a vrf's name), table, install, netns, source-v4,
//	    source-v6, bridge, bridge-addresses, rule-priority, ports[] (name, peer, addresses):
//	    the kernel side of a network instance (instances.go); an instance without an entry
//	    installs nowhere
//
// A key outside this schema is an error: "unknown key", or "gobgpd setting not supported by
// fanout" for the rest of gobgpd's schema (policies, RPKI, BMP, zebra, ...). (viper drops a
// table with no keys in it before config sees it, so an empty unknown table goes unnoticed.)
//
// Values take gobgpd's defaults (oc/default.go): hold-time 90, keepalive-interval a third of
// the hold time, connect-retry 120, port 179, local addresses 0.0.0.0 and ::, one unicast
// family matching the neighbor's address, graceful-restart restart-time the hold time and
// deferral-time 360, multihop-ttl and ttl-min 255, a client's cluster id the router-id, vrf
// ids the smallest free, import and export route targets both-rt-list. The fanout table's
// defaults are in the Fanout type's comments.
//
// # Peer groups
//
// A neighbor's effective settings are its peer group's, overridden by every key the neighbor
// sets itself (a neighbor's own afi-safis list replaces the group's whole), then defaults for
// what neither sets; derived defaults follow the effective values (a group's hold-time 60 and
// a member's nothing give keepalive 20). Where gobgpd differs, fanout keeps the plainer rule:
// a member's own peer-as wins over its group's (gobgpd always takes the group's), a member's
// own graceful-restart keys count (gobgpd's misspelled key path drops them), and an
// afi-safi's own add-paths keys win over the neighbor's even when the list is inherited.
//
// # Environment
//
// FANOUT_ followed by the key path in upper case, with '.', '-' and list indexes turned into
// '_', overrides that key: FANOUT_GLOBAL_CONFIG_AS, FANOUT_GLOBAL_CONFIG_ROUTER_ID,
// FANOUT_FANOUT_WORKERS, FANOUT_FANOUT_SYNC_MAX_START_DELAY,
// FANOUT_NEIGHBORS_0_CONFIG_AUTH_PASSWORD (neighbors[0].config.auth-password). Lists take
// comma-separated values (FANOUT_GLOBAL_CONFIG_LOCAL_ADDRESS_LIST=127.0.0.1,::1). A list
// entry must exist in the file to be overridden. A variable under FANOUT_GLOBAL_,
// FANOUT_NEIGHBORS_, FANOUT_PEER_GROUPS_, FANOUT_DYNAMIC_NEIGHBORS_, FANOUT_VRFS_ or
// FANOUT_FANOUT_ that matches no key is an error; other FANOUT_ variables are left alone.
//
// # Errors
//
// Validation runs before anything starts and reports every problem at once, each a *KeyError
// with the file, the line (found by a light second read of the file, as viper keeps no
// positions), the exact key path, the value and why:
//
//	gobgpd.toml:42: neighbors[2].config.peer-as: 0 is not a valid AS number (1 to 4294967295)
package config
