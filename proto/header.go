package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Minimum message lengths, header included (RFC 4271 §4.2–§4.5, RFC 2918 §3).
const (
	minOpenLen         = HeaderLen + 10 // version, AS, hold time, identifier, opt param length
	minUpdateLen       = HeaderLen + 4  // two 2-byte length fields
	minNotificationLen = HeaderLen + 2  // code, subcode
	keepaliveLen       = HeaderLen      // a KEEPALIVE is the header alone
	routeRefreshLen    = HeaderLen + 4  // AFI, subtype, SAFI
)

// markerLen is the length of the all-ones marker that opens every message.
const markerLen = 16

// allOnes is half of the marker, read as one uint64.
const allOnes = ^uint64(0)

// Header is a decoded message header (RFC 4271 §4.1): the total message length, header
// included, and the message type. It is a small value; Len has been checked against the
// session's limit and the type's minimum.
type Header struct {
	Len  uint16
	Type uint8
}

// BodyLen returns the length of the message body that follows the header.
func (h Header) BodyLen() int { return int(h.Len) - HeaderLen }

// ErrShortHeader is returned by ParseHeader when fewer than HeaderLen bytes are given; it is
// a caller mistake (or "read more"), not a protocol error.
var ErrShortHeader = errors.New("proto: fewer than 19 bytes for a message header")

// ErrMessageTooLong is returned by encoders when a message would exceed the length limit
// (4096 bytes, 65535 with RFC 8654 extended messages) or a length field would overflow.
var ErrMessageTooLong = errors.New("proto: message too long")

// ParseHeader decodes and checks the 19-byte header at the start of b. maxLen is the
// session's message size limit (MaxMessageLen, or MaxExtendedMessage once RFC 8654
// extended messages are negotiated); values outside that range are clamped.
//
// The checks and their errors are those of RFC 4271 §6.1, in its order, each a
// session-reset *Error with Code 1 (Message Header Error):
//   - the marker is not all ones: subcode 1 (Connection Not Synchronized), no data;
//   - the length is below 19 or above the limit, or below the minimum of its message type
//     (OPEN 29, UPDATE 23, NOTIFICATION 21), or a KEEPALIVE is not exactly 19 bytes:
//     subcode 2 (Bad Message Length), data is the 2-byte erroneous length field;
//   - the type is unknown: subcode 3 (Bad Message Type), data is the type byte.
//
// OPEN and KEEPALIVE are limited to 4096 bytes even with extended messages (RFC 8654 §4).
// A ROUTE-REFRESH of the wrong length passes here: RFC 7313 §5 makes that a ROUTE-REFRESH
// error, which DecodeRouteRefresh reports.
func ParseHeader(b []byte, maxLen int) (Header, error) {
	r := NewReader(b)
	m0, m1 := r.U64(), r.U64() // the 16-byte marker
	length := r.U16()
	typ := r.U8()
	if !r.Ok() {
		return Header{}, ErrShortHeader
	}
	if m0 != allOnes || m1 != allOnes {
		return Header{}, resetErr(CodeHeader, SubConnNotSynchronized, nil, "marker is not all ones")
	}
	h := Header{Len: length, Type: typ}
	limit := clampMaxLen(maxLen)
	if typ == MsgOpen || typ == MsgKeepalive {
		limit = MaxMessageLen
	}
	if int(length) < HeaderLen || int(length) > limit {
		return h, badLength(length, fmt.Sprintf("message length %d outside [19, %d]", length, limit))
	}
	switch typ {
	case MsgOpen:
		if length < minOpenLen {
			return h, badLength(length, fmt.Sprintf("OPEN length %d below %d", length, minOpenLen))
		}
	case MsgUpdate:
		if length < minUpdateLen {
			return h, badLength(length, fmt.Sprintf("UPDATE length %d below %d", length, minUpdateLen))
		}
	case MsgNotification:
		if length < minNotificationLen {
			return h, badLength(length, fmt.Sprintf("NOTIFICATION length %d below %d", length, minNotificationLen))
		}
	case MsgKeepalive:
		if length != keepaliveLen {
			return h, badLength(length, fmt.Sprintf("KEEPALIVE length %d is not 19", length))
		}
	case MsgRouteRefresh:
	default:
		return h, resetErr(CodeHeader, SubBadMessageType, []byte{typ}, fmt.Sprintf("unknown message type %d", typ))
	}
	return h, nil
}

// badLength is the RFC 4271 §6.1 Bad Message Length error; its data is the length field.
func badLength(length uint16, reason string) *Error {
	var d [2]byte
	binary.BigEndian.PutUint16(d[:], length)
	return resetErr(CodeHeader, SubBadMessageLength, d[:], reason)
}

func clampMaxLen(maxLen int) int {
	switch {
	case maxLen < MaxMessageLen:
		return MaxMessageLen
	case maxLen > MaxExtendedMessage:
		return MaxExtendedMessage
	}
	return maxLen
}

// NextMessage frames the message at the start of buf, a TCP stream buffer, without
// copying. It returns the checked header, the body (aliasing buf) and n, the number of
// bytes the message occupies; the caller consumes buf[n:] next.
//
// When buf does not yet hold a complete message, n is 0 and err is nil ("need more"); if
// the header is already complete, h is filled in and h.Len says how many bytes the whole
// message needs, so the reader can size its next read. A malformed header yields the
// *Error of ParseHeader: send its NOTIFICATION and close the session.
func NextMessage(buf []byte, maxLen int) (h Header, body []byte, n int, err error) {
	if len(buf) < HeaderLen {
		return Header{}, nil, 0, nil
	}
	h, err = ParseHeader(buf, maxLen)
	if err != nil {
		return h, nil, 0, err
	}
	r := NewReader(buf)
	r.Skip(HeaderLen)
	body = r.Bytes(h.BodyLen())
	if !r.Ok() {
		return h, nil, 0, nil
	}
	return h, body, int(h.Len), nil
}

// AppendHeader appends a header for a message of the given total length (header
// included) and type. The caller guarantees 19 <= length <= 65535.
func AppendHeader(dst []byte, length int, typ uint8) []byte {
	dst = append(dst, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	dst = binary.BigEndian.AppendUint16(dst, uint16(length))
	return append(dst, typ)
}

// BeginMessage appends a header with a zero length and returns the grown buffer and the
// offset where the message starts. Append the body to b, then call EndMessage.
func BeginMessage(dst []byte, typ uint8) (b []byte, start int) {
	start = len(dst)
	return AppendHeader(dst, 0, typ), start
}

// EndMessage patches the length field of the message that starts at b[start:] to
// len(b)-start. It returns ErrMessageTooLong, leaving the field zero, when that exceeds
// maxLen (clamped to [4096, 65535] like ParseHeader's limit).
func EndMessage(b []byte, start, maxLen int) error {
	n := len(b) - start
	if start < 0 || n < HeaderLen {
		return fmt.Errorf("proto: EndMessage: no header at offset %d", start)
	}
	if n > clampMaxLen(maxLen) {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLong, n, clampMaxLen(maxLen))
	}
	binary.BigEndian.PutUint16(b[start+markerLen:], uint16(n))
	return nil
}

// AppendKeepalive appends a KEEPALIVE message (RFC 4271 §4.4): a bare 19-byte header.
func AppendKeepalive(dst []byte) []byte { return AppendHeader(dst, keepaliveLen, MsgKeepalive) }

// DecodeKeepalive checks a KEEPALIVE body, which must be empty: a KEEPALIVE whose length is
// not 19 is a Bad Message Length (RFC 4271 §6.1, data = the length field). ParseHeader
// already enforces this; DecodeKeepalive serves callers that frame messages themselves.
func DecodeKeepalive(body []byte) error {
	if len(body) != 0 {
		return badLength(uint16(min(HeaderLen+len(body), 0xffff)), "KEEPALIVE with a body")
	}
	return nil
}

// MessageTypeName returns the RFC name of a message type ("OPEN", "UPDATE", ...).
func MessageTypeName(t uint8) string {
	switch t {
	case MsgOpen:
		return "OPEN"
	case MsgUpdate:
		return "UPDATE"
	case MsgNotification:
		return "NOTIFICATION"
	case MsgKeepalive:
		return "KEEPALIVE"
	case MsgRouteRefresh:
		return "ROUTE-REFRESH"
	}
	return fmt.Sprintf("type-%d", t)
}
