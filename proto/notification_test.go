package proto

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// notificationCases: a NOTIFICATION is only malformed when its body cannot hold the code
// and subcode, which the header check catches (RFC 4271 §6.1).
var notificationCases = []malformedCase{
	{"RFC4271 6.1 NOTIFICATION with a 1-byte body", msg(MsgNotification, []byte{6}), 0, 1, 2, []byte{0, 20}},
}

func TestNotificationRoundTrip(t *testing.T) {
	cases := []Notification{
		{Code: CodeHoldTimer},
		{Code: CodeUpdate, Subcode: SubMalformedASPath, Data: []byte{0x40, 2, 0}},
		{Code: 200, Subcode: 99, Data: bytes.Repeat([]byte{7}, 300)},
		ShutdownNotification(SubAdminShutdown, "maintenance until 18:00 UTC, ticket #1234"),
		ShutdownNotification(SubAdminReset, ""),
	}
	for _, n := range cases {
		b := AppendNotification(nil, &n, 0)
		var d decoded
		if err := decodeMessage(b, 0, &d); err != nil {
			t.Fatalf("%v: %v", n.String(), err)
		}
		if d.note.Code != n.Code || d.note.Subcode != n.Subcode || !bytes.Equal(d.note.Data, n.Data) {
			t.Fatalf("decoded %v, want %v", d.note.String(), n.String())
		}
	}
	// Data is cut short to fit the message limit.
	big := Notification{Code: CodeUpdate, Subcode: 1, Data: make([]byte, 5000)}
	if b := AppendNotification(nil, &big, MaxMessageLen); len(b) != MaxMessageLen {
		t.Fatalf("4096 limit: %d bytes", len(b))
	}
	if b := AppendNotification(nil, &big, MaxExtendedMessage); len(b) != 21+5000 {
		t.Fatalf("extended: %d bytes", len(b))
	}
	// The decoded Data does not alias the message.
	b := AppendNotification(nil, &cases[1], 0)
	var n Notification
	if err := DecodeNotification(b[HeaderLen:], &n); err != nil {
		t.Fatal(err)
	}
	b[HeaderLen+2] = 0
	if n.Data[0] != 0x40 {
		t.Fatal("Data aliases the message")
	}
	// AppendErrorNotification sends what an *Error asks for.
	e := resetErr(CodeHeader, SubBadMessageLength, []byte{0, 18}, "x")
	if got, want := AppendErrorNotification(nil, e, 0), msg(MsgNotification, []byte{1, 2, 0, 18}); !bytes.Equal(got, want) {
		t.Fatalf("error notification %x", got)
	}
	// RFC 4271 6.1: a body too short for code and subcode, decoded directly.
	wantErr(t, DecodeNotification([]byte{6}, &n), 1, 2, []byte{0, 20})
}

// TestShutdownCommunication covers RFC 9003: encoding limits and tolerant decoding.
func TestShutdownCommunication(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	n := ShutdownNotification(SubAdminShutdown, long)
	m, ok := n.Shutdown()
	if !ok || len(m) != 254 || !utf8.Valid(m) || n.Data[0] != 254 {
		t.Fatalf("truncated communication: %d bytes, ok %v", len(m), ok)
	}
	n = ShutdownNotification(SubAdminReset, "bad \xff byte")
	if m, ok := n.Shutdown(); !ok || string(m) != "bad \uFFFD byte" {
		t.Fatalf("invalid UTF-8 not replaced: %q", m)
	}
	cases := []struct {
		name string
		n    Notification
		msg  string
		ok   bool
	}{
		{"RFC9003 2 plain", Notification{6, 2, append([]byte{5}, "hello"...)}, "hello", true},
		{"RFC9003 2 empty communication", Notification{6, 4, []byte{0}}, "", true},
		{"RFC9003 2 trailing bytes ignored", Notification{6, 2, append([]byte{2}, "hiXX"...)}, "hi", true},
		{"RFC9003 2 length beyond the data", Notification{6, 2, append([]byte{9}, "hi"...)}, "", false},
		{"RFC9003 2 invalid UTF-8", Notification{6, 2, []byte{2, 0xc3, 0x28}}, "", false},
		{"RFC9003 2 no data at all", Notification{6, 2, nil}, "", false},
		{"RFC9003 2 other Cease subcode", Notification{6, 3, append([]byte{2}, "hi"...)}, "", false},
		{"RFC9003 2 not a Cease", Notification{2, 2, append([]byte{2}, "hi"...)}, "", false},
	}
	for _, c := range cases {
		// Decoding never fails on a bad communication: the raw data is kept.
		b := AppendNotification(nil, &c.n, 0)
		var d decoded
		if err := decodeMessage(b, 0, &d); err != nil || !bytes.Equal(d.note.Data, c.n.Data) {
			t.Fatalf("%s: %v", c.name, err)
		}
		m, ok := d.note.Shutdown()
		if ok != c.ok || string(m) != c.msg {
			t.Errorf("%s: Shutdown() = %q, %v", c.name, m, ok)
		}
	}
}

func TestNotificationNames(t *testing.T) {
	cases := map[[2]uint8]string{
		{6, 2}:   "Cease / Administrative Shutdown",
		{1, 3}:   "Message Header Error / Bad Message Type",
		{2, 0}:   "OPEN Message Error / Unspecific",
		{2, 11}:  "OPEN Message Error / Role Mismatch",
		{3, 11}:  "UPDATE Message Error / Malformed AS_PATH",
		{4, 0}:   "Hold Timer Expired",
		{5, 3}:   "Finite State Machine Error / Receive Unexpected Message in Established State",
		{7, 1}:   "ROUTE-REFRESH Message Error / Invalid Message Length",
		{8, 0}:   "Send Hold Timer Expired",
		{6, 99}:  "Cease / subcode 99",
		{42, 1}:  "error code 42 / subcode 1",
		{2, 200}: "OPEN Message Error / subcode 200",
	}
	for k, want := range cases {
		if got := NotificationName(k[0], k[1]); got != want {
			t.Errorf("NotificationName(%d, %d) = %q, want %q", k[0], k[1], got, want)
		}
	}
	n := ShutdownNotification(SubAdminShutdown, "bye")
	if s := n.String(); s != `Cease / Administrative Shutdown: "bye"` {
		t.Errorf("String() = %s", s)
	}
	n = Notification{Code: 3, Subcode: 1, Data: []byte{0xab}}
	if s := n.String(); s != "UPDATE Message Error / Malformed Attribute List (data ab)" {
		t.Errorf("String() = %s", s)
	}
}

var notificationSeeds = []seed{
	{"cease-shutdown", "RFC 9003 shutdown communication", ShutdownNotification(SubAdminShutdown, "maintenance").Data},
	{"hold-timer", "code and subcode only", []byte{4, 0}},
	{"bad-length", "RFC 9003 communication length beyond the data", []byte{6, 2, 40, 'h', 'i'}},
	{"bad-utf8", "RFC 9003 communication that is not UTF-8", []byte{6, 4, 2, 0xc3, 0x28}},
	{"one-byte", "body too short for the subcode", []byte{6}},
	{"update-error", "UPDATE error with the attribute as data", []byte{3, 5, 0x40, 1, 2, 0, 0}},
}

func init() {
	// The first seed is a whole body: code, subcode, data.
	notificationSeeds[0].b = append([]byte{CodeCease, SubAdminShutdown}, notificationSeeds[0].b...)
}

// FuzzNotification decodes arbitrary NOTIFICATION bodies: no panic, decoding fails only on
// a body shorter than 2 bytes, and decode(encode(decode(x))) == decode(x).
func FuzzNotification(f *testing.F) {
	for _, s := range notificationSeeds {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var n Notification
		if err := DecodeNotification(body, &n); err != nil {
			if len(body) >= 2 {
				t.Fatalf("%x: %v", body, err)
			}
			return
		}
		_, _ = n.Shutdown()
		_ = n.String()
		b := AppendNotification(nil, &n, MaxExtendedMessage)
		var d decoded
		if err := decodeMessage(b, MaxExtendedMessage, &d); err != nil {
			t.Fatalf("re-encoded %x: %v", b, err)
		}
		if d.note.Code != n.Code || d.note.Subcode != n.Subcode || !bytes.Equal(d.note.Data, n.Data) {
			t.Fatalf("round trip: %v vs %v", d.note.String(), n.String())
		}
	})
}
