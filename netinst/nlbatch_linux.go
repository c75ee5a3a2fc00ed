//go:build linux

package netinst

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// batchWindow is how many route messages go into one sendmsg before their acks are read.
// Each ack is its own skb (about a kilobyte of receive buffer however short), so a window
// of 128 stays inside the default 208 KiB receive buffer; 512 overflowed it (ENOBUFS).
const batchWindow = 128

// routeBatcher writes RTM_NEWROUTE / RTM_DELROUTE messages to a netlink socket a window at a
// time (one sendmsg per window, then the acks), instead of one request and one ack wait per
// route as netlink.Handle does. Each message asks for an ack, so every route gets its own
// result, matched by sequence number.
//
// Owner: its NetlinkKernel, whose mutex serialises calls. Lifetime: the kernel's.
type routeBatcher struct {
	s   *nl.NetlinkSocket
	seq uint32
	buf []byte
}

var native = binary.NativeEndian

// appendRouteMsg appends one route message for r to b.
func appendRouteMsg(b []byte, typ uint16, flags uint16, seq uint32, r Route) []byte {
	start := len(b)
	b = append(b, make([]byte, unix.SizeofNlMsghdr+unix.SizeofRtMsg)...)
	h := b[start:]
	native.PutUint16(h[4:], typ)
	native.PutUint16(h[6:], flags)
	native.PutUint32(h[8:], seq)
	rt := h[unix.SizeofNlMsghdr:]
	fam := byte(unix.AF_INET)
	if r.Dst.Addr().Is6() {
		fam = unix.AF_INET6
	}
	rt[0] = fam
	rt[1] = byte(r.Dst.Bits())
	if r.Table < 256 {
		rt[4] = byte(r.Table)
	} else {
		rt[4] = unix.RT_TABLE_UNSPEC
	}
	rt[5] = RouteProtocol
	if typ == unix.RTM_DELROUTE {
		rt[6] = unix.RT_SCOPE_NOWHERE
	} else {
		rt[6] = unix.RT_SCOPE_UNIVERSE
	}
	rt[7] = unix.RTN_UNICAST
	b = appendAddrAttr(b, unix.RTA_DST, r.Dst.Addr().AsSlice())
	if r.Gw.IsValid() {
		b = appendAddrAttr(b, unix.RTA_GATEWAY, r.Gw.AsSlice())
	}
	if r.Src.IsValid() {
		b = appendAddrAttr(b, unix.RTA_PREFSRC, r.Src.AsSlice())
	}
	var t [4]byte
	native.PutUint32(t[:], uint32(r.Table))
	b = appendAddrAttr(b, unix.RTA_TABLE, t[:])
	native.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

// appendAddrAttr appends one rtattr (with its padding to 4 bytes).
func appendAddrAttr(b []byte, typ uint16, val []byte) []byte {
	var h [4]byte
	native.PutUint16(h[0:], uint16(4+len(val)))
	native.PutUint16(h[2:], typ)
	b = append(b, h[:]...)
	b = append(b, val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// do sends rs as messages of type typ, a window at a time, and returns the routes the
// kernel refused; with ignore, that errno is not a failure (ESRCH for deleting a route that
// is already gone).
func (rb *routeBatcher) do(typ uint16, flags uint16, rs []Route, ignore syscall.Errno) []RouteError {
	var failed []RouteError
	for len(rs) > 0 {
		n := min(len(rs), batchWindow)
		failed = rb.window(typ, flags, rs[:n], ignore, failed)
		rs = rs[n:]
	}
	return failed
}

func (rb *routeBatcher) window(typ, flags uint16, rs []Route, ignore syscall.Errno, failed []RouteError) []RouteError {
	first := rb.seq + 1
	rb.buf = rb.buf[:0]
	for _, r := range rs {
		rb.seq++
		rb.buf = appendRouteMsg(rb.buf, typ, flags, rb.seq, r)
	}
	if err := unix.Sendto(rb.s.GetFd(), rb.buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		for _, r := range rs {
			failed = append(failed, RouteError{Route: r, Err: fmt.Errorf("netlink send: %w", err)})
		}
		return failed
	}
	acked := 0
	for acked < len(rs) {
		msgs, _, err := rb.s.Receive()
		if err != nil {
			// ENOBUFS or worse: the outcome of the rest is unknown; call them failed, and the
			// next reconcile finds out.
			for i := acked; i < len(rs); i++ {
				failed = append(failed, RouteError{Route: rs[i], Err: fmt.Errorf("netlink receive: %w", err)})
			}
			rb.drain()
			return failed
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NLMSG_ERROR || len(m.Data) < 4 {
				continue
			}
			i := int(m.Header.Seq - first)
			if i < 0 || i >= len(rs) {
				continue // an answer to an earlier window that gave up
			}
			acked++
			if errno := syscall.Errno(-int32(native.Uint32(m.Data[0:4]))); errno != 0 && errno != ignore {
				failed = append(failed, RouteError{Route: rs[i], Err: errno})
			}
		}
	}
	return failed
}

// drain discards whatever answers are still queued after a failed window, without waiting.
func (rb *routeBatcher) drain() {
	var b [1 << 16]byte
	for {
		if _, _, err := unix.Recvfrom(rb.s.GetFd(), b[:], unix.MSG_DONTWAIT); err != nil {
			return
		}
	}
}
