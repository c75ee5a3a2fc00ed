package proto

import (
	"encoding/binary"
	"fmt"
)

// ROUTE-REFRESH message subtypes, carried in the former Reserved octet (RFC 7313 §3.2).
const (
	RefreshNormal uint8 = 0 // a plain route refresh request (RFC 2918)
	RefreshBoRR   uint8 = 1 // Beginning of Route Refresh
	RefreshEoRR   uint8 = 2 // End of Route Refresh
)

// RouteRefresh is a ROUTE-REFRESH message (RFC 2918 §3, RFC 7313 §3.2): a small value.
type RouteRefresh struct {
	Family  Family
	Subtype uint8
}

// KnownSubtype reports whether the subtype is one RFC 7313 defines. A message with any
// other subtype MUST be ignored (RFC 7313 §5), not answered with a NOTIFICATION.
func (rr RouteRefresh) KnownSubtype() bool { return rr.Subtype <= RefreshEoRR }

// String formats rr for logs.
func (rr RouteRefresh) String() string {
	switch rr.Subtype {
	case RefreshNormal:
		return "route-refresh " + rr.Family.String()
	case RefreshBoRR:
		return "BoRR " + rr.Family.String()
	case RefreshEoRR:
		return "EoRR " + rr.Family.String()
	}
	return fmt.Sprintf("route-refresh subtype %d %v", rr.Subtype, rr.Family)
}

// DecodeRouteRefresh decodes a ROUTE-REFRESH body into rr. A body that is not exactly 4
// bytes (a message length other than 23) is a session-reset *Error 7/1 (ROUTE-REFRESH
// Message Error / Invalid Message Length) whose data is the complete message (RFC 7313
// §5). RFC 7313 requires this for subtypes 1 and 2; fanout applies it to every subtype,
// since RFC 2918 §3 fixes the message at 4 body bytes. The family and subtype are returned
// as sent; the caller ignores unknown subtypes (KnownSubtype) and families it did not
// announce (RFC 2918 §4).
func DecodeRouteRefresh(body []byte, rr *RouteRefresh) error {
	r := NewReader(body)
	afi := AFI(r.U16())
	sub := r.U8()
	safi := SAFI(r.U8())
	if !r.Ok() || !r.Empty() {
		var data []byte
		if HeaderLen+len(body) <= MaxExtendedMessage {
			data = AppendHeader(make([]byte, 0, HeaderLen+len(body)), HeaderLen+len(body), MsgRouteRefresh)
			data = append(data, body...)
		}
		e := resetErr(CodeRouteRefresh, SubInvalidRouteRefreshLength, nil, fmt.Sprintf("ROUTE-REFRESH length %d, want 23", HeaderLen+len(body)))
		e.Data = data
		return e
	}
	*rr = RouteRefresh{Family: Family{AFI: afi, SAFI: safi}, Subtype: sub}
	return nil
}

// AppendRouteRefresh appends rr as a complete 23-byte ROUTE-REFRESH message.
func AppendRouteRefresh(dst []byte, rr RouteRefresh) []byte {
	dst = AppendHeader(dst, routeRefreshLen, MsgRouteRefresh)
	dst = binary.BigEndian.AppendUint16(dst, uint16(rr.Family.AFI))
	return append(dst, rr.Subtype, uint8(rr.Family.SAFI))
}
