package proto

import (
	"errors"
	"fmt"
)

// NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313, RFC 9687).
const (
	CodeHeader        uint8 = 1
	CodeOpen          uint8 = 2
	CodeUpdate        uint8 = 3
	CodeHoldTimer     uint8 = 4
	CodeFSM           uint8 = 5
	CodeCease         uint8 = 6
	CodeRouteRefresh  uint8 = 7
	CodeSendHoldTimer uint8 = 8
)

// Message header error subcodes (RFC 4271 §6.1).
const (
	SubConnNotSynchronized uint8 = 1
	SubBadMessageLength    uint8 = 2
	SubBadMessageType      uint8 = 3
)

// OPEN message error subcodes (RFC 4271 §6.2, RFC 5492, RFC 9234).
const (
	SubUnsupportedVersion    uint8 = 1
	SubBadPeerAS             uint8 = 2
	SubBadBGPIdentifier      uint8 = 3
	SubUnsupportedOptParam   uint8 = 4
	SubUnacceptableHoldTime  uint8 = 6
	SubUnsupportedCapability uint8 = 7
	SubRoleMismatch          uint8 = 11
)

// UPDATE message error subcodes (RFC 4271 §6.3).
const (
	SubMalformedAttrList     uint8 = 1
	SubUnrecognizedWellKnown uint8 = 2
	SubMissingWellKnown      uint8 = 3
	SubAttrFlags             uint8 = 4
	SubAttrLength            uint8 = 5
	SubInvalidOrigin         uint8 = 6
	SubInvalidNextHop        uint8 = 8
	SubOptionalAttr          uint8 = 9
	SubInvalidNetworkField   uint8 = 10
	SubMalformedASPath       uint8 = 11
)

// Cease subcodes (RFC 4486, RFC 8538).
const (
	SubMaxPrefixes         uint8 = 1
	SubAdminShutdown       uint8 = 2
	SubPeerDeconfigured    uint8 = 3
	SubAdminReset          uint8 = 4
	SubConnectionRejected  uint8 = 5
	SubOtherConfigChange   uint8 = 6
	SubCollisionResolution uint8 = 7
	SubOutOfResources      uint8 = 8
	SubHardReset           uint8 = 9
)

// ROUTE-REFRESH message error subcode (RFC 7313 §5).
const SubInvalidRouteRefreshLength uint8 = 1

// Action is what the receiver of a malformed message must do, from least to most severe.
type Action uint8

const (
	// ActionNone: no error.
	ActionNone Action = iota
	// ActionAttributeDiscard: drop the malformed attribute and process the rest of the
	// UPDATE (RFC 7606 §2, "attribute discard").
	ActionAttributeDiscard
	// ActionTreatAsWithdraw: treat every prefix of the UPDATE as withdrawn (RFC 7606 §2,
	// "treat-as-withdraw").
	ActionTreatAsWithdraw
	// ActionSessionReset: send the NOTIFICATION carried by the error and close the session
	// (RFC 4271 §6, RFC 7606 §2 "session reset").
	ActionSessionReset
)

func (a Action) String() string {
	switch a {
	case ActionNone:
		return "none"
	case ActionAttributeDiscard:
		return "attribute-discard"
	case ActionTreatAsWithdraw:
		return "treat-as-withdraw"
	case ActionSessionReset:
		return "session-reset"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Error is a classified protocol error. Action says what to do; Code, Subcode and Data
// are the NOTIFICATION to send when the action is a session reset (and what would have
// been sent, for logging, when it is not). AttrType names the path attribute at fault,
// 0 when the error is not about one attribute.
type Error struct {
	Action   Action
	Code     uint8
	Subcode  uint8
	AttrType uint8
	Data     []byte // NOTIFICATION data; owned by the Error (never aliases input)
	Reason   string // a short human sentence, for logs
}

func (e *Error) Error() string {
	if e.AttrType != 0 {
		return fmt.Sprintf("%s (attribute %d, notification %d/%d): %s", e.Action, e.AttrType, e.Code, e.Subcode, e.Reason)
	}
	return fmt.Sprintf("%s (notification %d/%d): %s", e.Action, e.Code, e.Subcode, e.Reason)
}

// AsError returns err as a *Error when it is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// resetErr builds a session-reset error; data is copied so the error never aliases input.
func resetErr(code, sub uint8, data []byte, reason string) *Error {
	return &Error{Action: ActionSessionReset, Code: code, Subcode: sub, Data: cloneBytes(data), Reason: reason}
}

// attrErr builds an error about one path attribute with the given action; data (usually the
// whole malformed attribute, RFC 4271 §6.3) is copied.
func attrErr(action Action, sub, attrType uint8, data []byte, reason string) *Error {
	return &Error{Action: action, Code: CodeUpdate, Subcode: sub, AttrType: attrType, Data: cloneBytes(data), Reason: reason}
}

// Worse returns the more severe of a and b (either may be nil). Per RFC 7606 §3 (j) when
// several errors are found in one UPDATE the most severe action applies.
func Worse(a, b *Error) *Error {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case b.Action > a.Action:
		return b
	}
	return a
}

func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
