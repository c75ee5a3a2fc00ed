package proto

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// writeSeeds regenerates testdata/fuzz/<FuzzName>/ from the annotated seed tables:
//
//	go test -run TestWriteSeeds -write-seeds ./proto/
var writeSeeds = flag.Bool("write-seeds", false, "rewrite the fuzz seed corpora of the non-UPDATE messages")

// seed is an annotated fuzz seed: name becomes the corpus file name, why says what it
// exercises.
type seed struct {
	name string
	why  string
	b    []byte
}

// msg builds a message with a correct header around body.
func msg(typ uint8, body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	return append(AppendHeader(nil, HeaderLen+len(b), typ), b...)
}

// hdr builds a bare header with an arbitrary length field.
func hdr(length int, typ uint8) []byte { return AppendHeader(nil, length, typ) }

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// decoded holds what decodeMessage produced for one message.
type decoded struct {
	h    Header
	open Open
	note Notification
	rr   RouteRefresh
}

// decodeMessage frames one complete message and decodes its body with the decoder of its
// type (UPDATE bodies are not decoded here: that is the UPDATE decoder's job).
func decodeMessage(b []byte, maxLen int, d *decoded) error {
	h, body, n, err := NextMessage(b, maxLen)
	if err != nil {
		return err
	}
	if n == 0 {
		return errNeedMore
	}
	d.h = h
	switch h.Type {
	case MsgOpen:
		return DecodeOpen(body, &d.open)
	case MsgNotification:
		return DecodeNotification(body, &d.note)
	case MsgKeepalive:
		return DecodeKeepalive(body)
	case MsgRouteRefresh:
		return DecodeRouteRefresh(body, &d.rr)
	}
	return nil
}

var errNeedMore = errors.New("need more")

// wantErr checks that err is a session-reset *Error with the given NOTIFICATION.
func wantErr(t *testing.T, err error, code, sub uint8, data []byte) {
	t.Helper()
	e, ok := AsError(err)
	if !ok {
		t.Fatalf("error %v, want *Error %d/%d", err, code, sub)
	}
	if e.Action != ActionSessionReset || e.Code != code || e.Subcode != sub || !bytes.Equal(e.Data, data) {
		t.Fatalf("got %v data %x, want session-reset %d/%d data %x", e, e.Data, code, sub, data)
	}
}

func TestParseHeaderValid(t *testing.T) {
	cases := []struct {
		b      []byte
		maxLen int
		want   Header
	}{
		{hdr(29, MsgOpen), MaxMessageLen, Header{29, MsgOpen}},
		{hdr(4096, MsgOpen), MaxExtendedMessage, Header{4096, MsgOpen}},
		{hdr(23, MsgUpdate), MaxMessageLen, Header{23, MsgUpdate}},
		{hdr(4096, MsgUpdate), MaxMessageLen, Header{4096, MsgUpdate}},
		{hdr(65535, MsgUpdate), MaxExtendedMessage, Header{65535, MsgUpdate}},
		{hdr(21, MsgNotification), 0, Header{21, MsgNotification}},
		{hdr(19, MsgKeepalive), MaxMessageLen, Header{19, MsgKeepalive}},
		{hdr(23, MsgRouteRefresh), MaxMessageLen, Header{23, MsgRouteRefresh}},
	}
	for _, c := range cases {
		h, err := ParseHeader(c.b, c.maxLen)
		if err != nil || h != c.want {
			t.Errorf("ParseHeader(%x) = %+v, %v; want %+v", c.b, h, err, c.want)
		}
	}
	if _, err := ParseHeader(make([]byte, 18), 0); !errors.Is(err, ErrShortHeader) {
		t.Errorf("18 bytes: %v, want ErrShortHeader", err)
	}
}

// malformedCase is one malformed message and the NOTIFICATION it must produce.
type malformedCase struct {
	name   string // cites the RFC clause checked
	b      []byte // the complete message
	maxLen int
	code   uint8
	sub    uint8
	data   []byte
}

func badMarker() []byte {
	b := msg(MsgKeepalive)
	b[5] = 0xfe
	return b
}

// headerCases are the framing and KEEPALIVE malformations.
var headerCases = []malformedCase{
	{"RFC4271 6.1 marker not all ones", badMarker(), 0, 1, 1, nil},
	{"RFC4271 6.1 length 18 below header", hdr(18, MsgKeepalive), 0, 1, 2, []byte{0, 18}},
	{"RFC4271 6.1 length 0", hdr(0, MsgUpdate), 0, 1, 2, []byte{0, 0}},
	{"RFC4271 6.1 length 4097 above 4096 without RFC8654", hdr(4097, MsgUpdate), MaxMessageLen, 1, 2, []byte{0x10, 0x01}},
	{"RFC8654 4 OPEN above 4096 even with extended messages", hdr(4097, MsgOpen), MaxExtendedMessage, 1, 2, []byte{0x10, 0x01}},
	{"RFC4271 6.1 OPEN length 28 below minimum 29", hdr(28, MsgOpen), 0, 1, 2, []byte{0, 28}},
	{"RFC4271 6.1 UPDATE length 22 below minimum 23", hdr(22, MsgUpdate), 0, 1, 2, []byte{0, 22}},
	{"RFC4271 6.1 NOTIFICATION length 20 below minimum 21", hdr(20, MsgNotification), 0, 1, 2, []byte{0, 20}},
	{"RFC4271 6.1 KEEPALIVE length 20 not 19", hdr(20, MsgKeepalive), 0, 1, 2, []byte{0, 20}},
	{"RFC4271 6.1+RFC8654 4 KEEPALIVE length 5000 with extended messages", hdr(5000, MsgKeepalive), MaxExtendedMessage, 1, 2, []byte{0x13, 0x88}},
	{"RFC4271 6.1 message type 0", hdr(19, 0), 0, 1, 3, []byte{0}},
	{"RFC4271 6.1 message type 6", hdr(19, 6), 0, 1, 3, []byte{6}},
	{"RFC4271 6.1 message type 255", hdr(40, 255), 0, 1, 3, []byte{255}},
}

// allMalformed gathers the malformed cases of every non-UPDATE message type.
func allMalformed() []malformedCase {
	var all []malformedCase
	for _, cs := range [][]malformedCase{headerCases, openCases, capabilityCases, notificationCases, routeRefreshCases} {
		all = append(all, cs...)
	}
	return all
}

func TestMalformed(t *testing.T) {
	all := allMalformed()
	seen := map[string]bool{}
	for _, c := range all {
		if seen[string(c.b)] {
			t.Errorf("%s: duplicate input", c.name)
		}
		seen[string(c.b)] = true
		t.Run(c.name, func(t *testing.T) {
			var d decoded
			// Pad with the next message: framing must not depend on the buffer's end.
			err := decodeMessage(append(bytes.Clone(c.b), msg(MsgKeepalive)...), c.maxLen, &d)
			wantErr(t, err, c.code, c.sub, c.data)
		})
	}
	if len(all) < 20 {
		t.Errorf("%d malformed cases, want at least 20", len(all))
	}
	t.Logf("%d distinct malformed non-UPDATE messages", len(all))
}

func TestNextMessageStream(t *testing.T) {
	open := mustAppendOpen(t, sampleOpen())
	stream := cat(open, AppendKeepalive(nil), AppendRouteRefresh(nil, RouteRefresh{Family: IPv6Unicast, Subtype: RefreshBoRR}),
		AppendNotification(nil, &Notification{Code: 6, Subcode: 2}, 0))
	wantTypes := []uint8{MsgOpen, MsgKeepalive, MsgRouteRefresh, MsgNotification}

	// Every prefix of the stream frames the complete messages it holds and asks for more.
	for cut := 0; cut <= len(stream); cut++ {
		buf := stream[:cut]
		var got []uint8
		for {
			h, body, n, err := NextMessage(buf, MaxMessageLen)
			if err != nil {
				t.Fatalf("cut %d: %v", cut, err)
			}
			if n == 0 {
				if len(buf) >= HeaderLen && int(h.Len) <= len(buf) {
					t.Fatalf("cut %d: need-more with a complete message of %d bytes", cut, h.Len)
				}
				break
			}
			if n != int(h.Len) || len(body) != n-HeaderLen || len(body) > 0 && &body[0] != &buf[HeaderLen] {
				t.Fatalf("cut %d: n %d, header %+v, body %d bytes", cut, n, h, len(body))
			}
			got = append(got, h.Type)
			buf = buf[n:]
		}
		if !bytes.Equal(got, wantTypes[:len(got)]) {
			t.Fatalf("cut %d: types %v", cut, got)
		}
		if cut == len(stream) && len(got) != len(wantTypes) {
			t.Fatalf("whole stream: %d messages", len(got))
		}
	}
}

func TestBeginEndMessage(t *testing.T) {
	b, start := BeginMessage([]byte("prefix"), MsgUpdate)
	b = append(b, 0, 0, 0, 0)
	if err := EndMessage(b, start, 0); err != nil {
		t.Fatal(err)
	}
	h, err := ParseHeader(b[start:], 0)
	if err != nil || h != (Header{23, MsgUpdate}) || string(b[:start]) != "prefix" {
		t.Fatalf("header %+v, %v", h, err)
	}
	b = append(b, make([]byte, 4096)...)
	if err := EndMessage(b, start, 0); !errors.Is(err, ErrMessageTooLong) {
		t.Fatalf("4119-byte message: %v", err)
	}
	if err := EndMessage(b, start, MaxExtendedMessage); err != nil {
		t.Fatalf("extended: %v", err)
	}
	if err := EndMessage(b, len(b)-3, 0); err == nil {
		t.Fatal("EndMessage without a header succeeded")
	}
}

func TestKeepalive(t *testing.T) {
	b := AppendKeepalive(nil)
	want := cat(bytes.Repeat([]byte{0xff}, 16), []byte{0, 19, 4})
	if !bytes.Equal(b, want) {
		t.Fatalf("keepalive %x", b)
	}
	// RFC 4271 6.1: a KEEPALIVE with a body, decoded directly.
	wantErr(t, DecodeKeepalive([]byte{0}), 1, 2, []byte{0, 20})
	if err := DecodeKeepalive(nil); err != nil {
		t.Fatal(err)
	}
	if MessageTypeName(MsgRouteRefresh) != "ROUTE-REFRESH" || MessageTypeName(9) != "type-9" {
		t.Fatal("MessageTypeName")
	}
}

var headerSeeds = []seed{
	{"keepalive", "the smallest valid message", msg(MsgKeepalive)},
	{"two-messages", "a stream holding two messages: framing stops after the first", cat(msg(MsgKeepalive), msg(MsgKeepalive))},
	{"partial-body", "a complete header whose body has not arrived yet", hdr(40, MsgUpdate)},
	{"short-header", "18 bytes: need more", bytes.Repeat([]byte{0xff}, 18)},
	{"bad-marker", "RFC 4271 6.1 Connection Not Synchronized", badMarker()},
	{"length-18", "RFC 4271 6.1 length below the header", hdr(18, MsgUpdate)},
	{"length-65535", "largest extended UPDATE header", hdr(65535, MsgUpdate)},
	{"open-too-short", "OPEN below its 29-byte minimum", hdr(28, MsgOpen)},
	{"type-7", "unknown message type", hdr(19, 7)},
	{"routerefresh-short", "ROUTE-REFRESH framed with a 3-byte body", msg(MsgRouteRefresh, []byte{0, 1, 0})},
}

// FuzzHeader frames arbitrary streams: no panic, every framed message lies inside the
// buffer and its header re-encodes to the same bytes, and an error is a header *Error.
func FuzzHeader(f *testing.F) {
	for _, s := range headerSeeds {
		f.Add(s.b, true)
	}
	f.Fuzz(func(t *testing.T, b []byte, ext bool) {
		maxLen := MaxMessageLen
		if ext {
			maxLen = MaxExtendedMessage
		}
		for len(b) > 0 {
			h, body, n, err := NextMessage(b, maxLen)
			if err != nil {
				if e, ok := AsError(err); !ok || e.Code != CodeHeader || e.Action != ActionSessionReset {
					t.Fatalf("non-header error %v", err)
				}
				return
			}
			if n == 0 {
				return
			}
			if n > len(b) || n != int(h.Len) || len(body) != n-HeaderLen {
				t.Fatalf("framed %d bytes of %d, header %+v, body %d", n, len(b), h, len(body))
			}
			if re := append(AppendHeader(nil, int(h.Len), h.Type), body...); !bytes.Equal(re, b[:n]) {
				t.Fatalf("re-encoded %x, framed %x", re, b[:n])
			}
			b = b[n:]
		}
	})
}

// TestWriteSeeds writes the seed tables as go-fuzz corpus files (only with -write-seeds).
func TestWriteSeeds(t *testing.T) {
	if !*writeSeeds {
		return
	}
	write := func(target string, seeds []seed, extra func(seed) string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, s := range seeds {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n%s", s.b, extra(s))
			if err := os.WriteFile(filepath.Join(dir, s.name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	none := func(seed) string { return "" }
	write("FuzzHeader", headerSeeds, func(s seed) string { return fmt.Sprintf("bool(%v)\n", s.name == "length-65535") })
	write("FuzzOpen", openSeeds, none)
	write("FuzzNotification", notificationSeeds, none)
	write("FuzzRouteRefresh", routeRefreshSeeds, none)
	// The malformed-message tables too, so that the fuzzers start from every RFC case and
	// bgp's malformed-input suite sends each one over a real session: whole messages for
	// the header, bodies for the others.
	asSeeds := func(kind string, cs []malformedCase, body bool) []seed {
		var out []seed
		for i, c := range cs {
			b := c.b
			if body {
				b = b[HeaderLen:]
			}
			out = append(out, seed{name: fmt.Sprintf("malformed-%s-%02d", kind, i), why: c.name, b: b})
		}
		return out
	}
	write("FuzzHeader", asSeeds("header", headerCases, false), func(s seed) string { return "bool(false)\n" })
	write("FuzzOpen", asSeeds("open", append(append([]malformedCase(nil), openCases...), capabilityCases...), true), none)
	write("FuzzNotification", asSeeds("notification", notificationCases, true), none)
	write("FuzzRouteRefresh", asSeeds("route-refresh", routeRefreshCases, true), none)
}
