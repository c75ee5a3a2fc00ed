// Package proto is the BGP-4 wire format: message framing, OPEN and its capabilities,
// UPDATE with its path attributes and NLRI (IPv4/IPv6 unicast, VPNv4/VPNv6 with route
// distinguisher and label stack, ADD-PATH identifiers), NOTIFICATION, KEEPALIVE and
// ROUTE-REFRESH, End-of-RIB markers, and an UPDATE builder that packs NLRI.
//
// Every decoder reads through one bounds-checked Reader, so no decoder indexes a slice by
// hand and malformed input becomes an error, never a panic. Errors in UPDATE messages are
// classified per RFC 7606 (session reset, treat-as-withdraw, attribute discard); OPEN and
// framing errors carry the RFC 4271 §6 NOTIFICATION code, subcode and data.
//
// Decoders write into memory the caller owns: iterating the prefixes of an UPDATE does not
// allocate, and attributes decode into a struct the caller reuses. Encoders append to a
// caller's buffer.
//
// proto must not know about peers, tables or sockets.
package proto
