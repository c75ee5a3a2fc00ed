// Package targets starts real BGP daemons on loopback with equivalent configurations, waits
// until they are ready, accounts for the CPU time and memory of their process trees, and stops
// them. The interop tests and the side-by-side benchmark harness use it to run fanoutd, gobgpd,
// BIRD 2, FRR bgpd and OpenBGPD under the same Spec.
//
// A Spec describes one run (local AS, router id, listen address and port, role and
// neighbors). A Target turns a Spec into one daemon's native configuration; Start writes it into
// a fresh temporary directory, starts the daemon as a child process in the foreground with its
// output captured to a log file, and waits until it listens. The returned *Process is owned by
// the caller: it samples the process tree in one goroutine it owns and releases everything in
// Stop. Nothing here is global, so any number of targets can run side by side as long as each
// Spec has its own listen address and port.
//
// Everything listens on loopback (127.0.0.0/8 or ::1); Spec.Validate rejects anything else.
// IPv6 routes travel over IPv4 sessions (::1 is a single address, so it cannot tell a daemon
// from its neighbors).
//
// Things a caller must know:
//   - gobgpd treats an UPDATE whose NEXT_HOP is in 127.0.0.0/8 as a withdraw, so speakers must
//     announce next hops outside loopback (the tests use 198.18.0.0/15, RFC 2544); no target
//     here needs the next hop to resolve.
//   - OpenBGPD must run as root: it chroots its three children into /run/openbgpd (the home of
//     the package's _openbgpd user), which Prepare creates when systemd has not.
//   - FRR's libfrr always makes /var/tmp/frr/bgpd.<pid>; Stop removes it.
//   - Process.Usage samples /proc every Options.SampleInterval; CPU time of a child that is
//     orphaned and exits between two samples is lost, which none of these daemons does.
package targets
