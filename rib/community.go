package rib

// Well-known communities fanout acts on (RFC 9494 §7).
const (
	CommunityLLGRStale uint32 = 0xFFFF0006 // LLGR_STALE: the route is long-lived stale
	CommunityNoLLGR    uint32 = 0xFFFF0007 // NO_LLGR: do not keep the route under LLGR
)

// HasCommunity reports whether a's COMMUNITIES attribute holds c. It reads the canonical
// encoding and stops at anything malformed (which interning never produces).
func HasCommunity(a *Attrs, c uint32) bool {
	w := a.Wire()
	for len(w) >= 3 {
		flags, typ := w[0], w[1]
		hdr, n := 3, int(w[2])
		if flags&0x10 != 0 { // extended length
			if len(w) < 4 {
				return false
			}
			hdr, n = 4, int(w[2])<<8|int(w[3])
		}
		if len(w) < hdr+n {
			return false
		}
		if typ == 8 { // COMMUNITIES
			v := w[hdr : hdr+n]
			for ; len(v) >= 4; v = v[4:] {
				if uint32(v[0])<<24|uint32(v[1])<<16|uint32(v[2])<<8|uint32(v[3]) == c {
					return true
				}
			}
			return false
		}
		w = w[hdr+n:]
	}
	return false
}
