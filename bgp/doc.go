// Package bgp is the server root: bgp.Server owns everything else. It holds peers, the
// RFC 4271 finite state machine, timers, capability negotiation, sessions, scheduling groups,
// the route-reflector and route-server export rules, graceful restart and reconnect-storm
// pacing.
//
// bgp must not parse bytes; that is proto.
package bgp
