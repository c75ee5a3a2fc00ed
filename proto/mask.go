package proto

import "math/bits"

// Prefix masks by length, so the hot paths of NLRI decoding and encoding clear host bits
// with a load and an AND instead of variable shifts (which Go guards against counts of
// the word size and more). The tables are constant after package initialisation.

// mask4 returns the mask of the leading bits (at most 32) of an IPv4 address; 0 for
// lengths past 32.
func mask4(bits uint) uint32 { return masks4[bits&63] }

// mask4wire is mask4 in wire byte order (for a word loaded little-endian).
func mask4wire(bits uint8) uint32 { return masks4wire[bits] }

// mask6 returns the masks of the high and low words of an IPv6 prefix of bits bits (at
// most 128); 0 for lengths past 128.
func mask6(bits uint) mask128 { return masks6[bits&255] }

// mask128 is an IPv6 prefix mask as two big-endian words.
type mask128 struct{ hi, lo uint64 }

var masks4 = func() (m [64]uint32) {
	for i := range 33 {
		m[i] = uint32(^uint64(0) << (32 - i))
	}
	return m
}()

var masks4wire = func() (m [256]uint32) {
	for i := range 33 {
		m[i] = bits.ReverseBytes32(masks4[i])
	}
	return m
}()

var masks6 = func() (m [256]mask128) {
	for i := range 129 {
		m[i] = mask128{^uint64(0) << (64 - min(i, 64)), ^uint64(0) << (128 - max(i, 64))}
	}
	return m
}()
