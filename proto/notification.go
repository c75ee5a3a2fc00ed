package proto

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// FSM error subcodes (RFC 6608 §3).
const (
	SubFSMUnexpectedOpenSent    uint8 = 1
	SubFSMUnexpectedOpenConfirm uint8 = 2
	SubFSMUnexpectedEstablished uint8 = 3
)

// SubBFDDown is the Cease subcode for a session closed because BFD went down (RFC 9384).
const SubBFDDown uint8 = 10

// MaxShutdownCommunication is the longest RFC 9003 shutdown communication, in bytes.
const MaxShutdownCommunication = 255

// Notification is a NOTIFICATION message (RFC 4271 §4.5). Data is copied into memory the
// Notification owns, so a decoded Notification outlives the read buffer; a Notification
// is owned by its caller and may be reused.
type Notification struct {
	Code    uint8
	Subcode uint8
	Data    []byte
}

// DecodeNotification decodes a NOTIFICATION body into n. It is tolerant by design: a
// NOTIFICATION is never answered with another (RFC 4271 §6.4), so any code, subcode and
// data are kept as received; Shutdown interprets the data later. The only error is a body
// shorter than the code and subcode, reported as 1/2 (Bad Message Length, RFC 4271 §6.1)
// for logging.
func DecodeNotification(body []byte, n *Notification) error {
	r := NewReader(body)
	n.Code = r.U8()
	n.Subcode = r.U8()
	if !r.Ok() {
		n.Data = n.Data[:0]
		return badLength(uint16(min(HeaderLen+len(body), 0xffff)), "NOTIFICATION body shorter than 2 bytes")
	}
	n.Data = append(n.Data[:0], r.Rest()...)
	return nil
}

// AppendNotification appends n as a complete NOTIFICATION message, cutting Data short so
// the message fits maxLen (4096, or up to 65535 when extended messages were negotiated,
// RFC 8654 §4; clamped to that range).
func AppendNotification(dst []byte, n *Notification, maxLen int) []byte {
	data := n.Data
	if room := clampMaxLen(maxLen) - minNotificationLen; len(data) > room {
		data = data[:room]
	}
	dst = AppendHeader(dst, minNotificationLen+len(data), MsgNotification)
	dst = append(dst, n.Code, n.Subcode)
	return append(dst, data...)
}

// AppendErrorNotification appends the NOTIFICATION that a session-reset *Error asks for.
func AppendErrorNotification(dst []byte, e *Error, maxLen int) []byte {
	return AppendNotification(dst, &Notification{Code: e.Code, Subcode: e.Subcode, Data: e.Data}, maxLen)
}

// hasShutdownCommunication reports whether (code, subcode) carries an RFC 9003 shutdown
// communication: Cease with Administrative Shutdown or Administrative Reset.
func hasShutdownCommunication(code, sub uint8) bool {
	return code == CodeCease && (sub == SubAdminShutdown || sub == SubAdminReset)
}

// Shutdown returns the RFC 9003 shutdown communication of a Cease / Administrative
// Shutdown or Administrative Reset NOTIFICATION, aliasing n.Data. ok is false when n is
// another kind, has no data, or the communication is malformed (a length beyond the data
// or invalid UTF-8); RFC 9003 §2 says to log that and carry on, so the raw Data is still
// there. Bytes after the communication are ignored.
func (n *Notification) Shutdown() (msg []byte, ok bool) {
	if !hasShutdownCommunication(n.Code, n.Subcode) {
		return nil, false
	}
	r := NewReader(n.Data)
	m := r.Bytes(int(r.U8()))
	if !r.Ok() || !utf8.Valid(m) {
		return nil, false
	}
	return m, true
}

// ShutdownNotification returns a Cease NOTIFICATION with subcode sub (SubAdminShutdown or
// SubAdminReset) carrying msg as its RFC 9003 shutdown communication. msg is made valid
// UTF-8 and cut at a character boundary to at most 255 bytes.
func ShutdownNotification(sub uint8, msg string) Notification {
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	if len(msg) > MaxShutdownCommunication {
		cut := MaxShutdownCommunication
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut]
	}
	data := make([]byte, 0, 1+len(msg))
	data = append(data, uint8(len(msg)))
	data = append(data, msg...)
	return Notification{Code: CodeCease, Subcode: sub, Data: data}
}

// String formats n for logs: names, and the shutdown communication or the data in hex.
func (n *Notification) String() string {
	s := NotificationName(n.Code, n.Subcode)
	if m, ok := n.Shutdown(); ok {
		return fmt.Sprintf("%s: %q", s, m)
	}
	if len(n.Data) > 0 {
		return fmt.Sprintf("%s (data %x)", s, n.Data)
	}
	return s
}

// NotificationName returns "code name / subcode name" for logs, e.g.
// "Cease / Administrative Shutdown"; unknown values print as numbers.
func NotificationName(code, sub uint8) string {
	c, s := codeName(code), subcodeName(code, sub)
	if s == "" {
		if sub == 0 {
			return c
		}
		s = fmt.Sprintf("subcode %d", sub)
	}
	return c + " / " + s
}

func codeName(code uint8) string {
	switch code {
	case CodeHeader:
		return "Message Header Error"
	case CodeOpen:
		return "OPEN Message Error"
	case CodeUpdate:
		return "UPDATE Message Error"
	case CodeHoldTimer:
		return "Hold Timer Expired"
	case CodeFSM:
		return "Finite State Machine Error"
	case CodeCease:
		return "Cease"
	case CodeRouteRefresh:
		return "ROUTE-REFRESH Message Error"
	case CodeSendHoldTimer:
		return "Send Hold Timer Expired"
	}
	return fmt.Sprintf("error code %d", code)
}

// subcodeName names sub within code; "" when unassigned (or "Unspecific" 0 without name).
func subcodeName(code, sub uint8) string {
	var names []string
	switch code {
	case CodeHeader:
		names = []string{1: "Connection Not Synchronized", 2: "Bad Message Length", 3: "Bad Message Type"}
	case CodeOpen:
		names = []string{0: "Unspecific", 1: "Unsupported Version Number", 2: "Bad Peer AS",
			3: "Bad BGP Identifier", 4: "Unsupported Optional Parameter",
			5: "Authentication Failure (deprecated)", 6: "Unacceptable Hold Time",
			7: "Unsupported Capability", 11: "Role Mismatch"}
	case CodeUpdate:
		names = []string{1: "Malformed Attribute List", 2: "Unrecognized Well-known Attribute",
			3: "Missing Well-known Attribute", 4: "Attribute Flags Error", 5: "Attribute Length Error",
			6: "Invalid ORIGIN Attribute", 7: "AS Routing Loop (deprecated)", 8: "Invalid NEXT_HOP Attribute",
			9: "Optional Attribute Error", 10: "Invalid Network Field", 11: "Malformed AS_PATH"}
	case CodeFSM:
		names = []string{0: "Unspecified Error", 1: "Receive Unexpected Message in OpenSent State",
			2: "Receive Unexpected Message in OpenConfirm State", 3: "Receive Unexpected Message in Established State"}
	case CodeCease:
		names = []string{1: "Maximum Number of Prefixes Reached", 2: "Administrative Shutdown",
			3: "Peer De-configured", 4: "Administrative Reset", 5: "Connection Rejected",
			6: "Other Configuration Change", 7: "Connection Collision Resolution", 8: "Out of Resources",
			9: "Hard Reset", 10: "BFD Down"}
	case CodeRouteRefresh:
		names = []string{1: "Invalid Message Length"}
	}
	if int(sub) < len(names) {
		return names[sub]
	}
	return ""
}
