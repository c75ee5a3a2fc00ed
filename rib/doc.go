// Package rib keeps routes on top of db: prefix keys, paths, interned attribute sets,
// best-path selection (RFC 4271 §9.1.2 with the RFC 4456 tie-breakers), the RibOut of each
// export policy with its update queue and per-prefix advertised state, and VRF tables with
// route-target import and export.
//
// rib must not touch sockets or the kernel.
package rib
