package proto

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fuzzOptions reads the session options a FuzzRoundTrip input starts with: bit 0 4-octet
// AS, bit 1 external peer, bit 2 extended messages, bits 4-7 the ADD-PATH mask.
func fuzzOptions(b byte) *SessionOptions {
	return &SessionOptions{AS4: b&1 != 0, EBGP: b&2 != 0, ExtendedMessage: b&4 != 0, AddPath: AddPathMask(b >> 4)}
}

var withdrawnLabels = regexp.MustCompile(`labels=\[[0-9 ]*\]`)

var unknownFlags = regexp.MustCompile(`^(UNKNOWN type=\d+) flags=0x[0-9a-f]+`)

// rtLines normalises a canonical attribute list for the round trip: MP lines dropped
// (compared separately), unknown attributes without flags (they are passed on with
// Partial, RFC 4271 §9), NEXT_HOP dropped unless the message has IPv4 NLRI (RFC 4760 §3:
// without IPv4 NLRI it is ignored, so the decoder discards it).
func rtLines(c *canonUpdate, keepNextHop bool) []string {
	var out []string
	for _, l := range c.Attrs {
		switch {
		case strings.HasPrefix(l, "MP_"):
			continue
		case strings.HasPrefix(l, "NEXT_HOP=") && !keepNextHop:
			continue
		}
		out = append(out, unknownFlags.ReplaceAllString(l, "$1"))
	}
	slices.Sort(out)
	return out
}

func reachLines(c *canonUpdate) []string {
	var out []string
	for _, l := range c.Attrs {
		if strings.HasPrefix(l, "MP_REACH=") {
			out = append(out, l)
		}
	}
	return out
}

// roundTrip checks decode(encode(decode(x))) == decode(x) for one UPDATE body.
func roundTrip(t *testing.T, optByte byte, body []byte) {
	opts := fuzzOptions(optByte)
	if HeaderLen+len(body) > opts.MaxLen() {
		return
	}
	var u Update
	var attrBuf []byte
	b := NewUpdateBuilder(opts)
	out, err := reencode(b, nil, body, opts, &u, &attrBuf, true)
	if err != nil {
		if _, ok := AsError(err); ok {
			return // not decodable as a usable UPDATE
		}
		t.Fatalf("re-encoding a decoded UPDATE failed: %v", err)
	}
	want := canonFromFanout(&u, opts.AddPath)
	hasIPv4 := len(want.Announced[IPv4Unicast.String()]) > 0
	wantAttrs := rtLines(&want, hasIPv4)

	var got []canonUpdate
	var gotReach []string
	for i, m := range splitMessages(t, out, opts.MaxLen()) {
		var v Update
		if err := DecodeUpdate(m.raw[HeaderLen:], opts, &v); err != nil {
			t.Fatalf("message %d of the re-encoding does not decode: %v\n% x", i, err, m.raw)
		}
		c := canonFromFanout(&v, opts.AddPath)
		got = append(got, c)
		if len(c.Announced) == 0 {
			continue
		}
		v4 := len(c.Announced[IPv4Unicast.String()]) > 0
		if g, w := rtLines(&c, v4), wantAttrs; !slices.Equal(g, w) && !(!v4 && slices.Equal(g, rtLines(&want, false))) {
			t.Fatalf("message %d attributes differ\ngot  %q\nwant %q\nre-encoded % x", i, g, w, m.raw)
		}
		gotReach = append(gotReach, reachLines(&c)...)
	}
	m, w := mergeCanon(got), mergeCanon([]canonUpdate{want})
	// A withdrawal's label field carries no stack (RFC 8277 §2.4): the builder sends the
	// withdrawal label whatever the received withdrawal held.
	for _, mm := range []map[string][]string{m.withdrawn, w.withdrawn} {
		for k, v := range mm {
			for i := range v {
				v[i] = withdrawnLabels.ReplaceAllString(v[i], "labels=[]")
			}
			slices.Sort(v)
			mm[k] = v
		}
	}
	if !mapsEqual(m.withdrawn, w.withdrawn) || !mapsEqual(m.announced, w.announced) {
		t.Fatalf("NLRI differ\ngot  %v %v\nwant %v %v\nre-encoded % x", m.withdrawn, m.announced, w.withdrawn, w.announced, out)
	}
	var wr []string // MP_REACH is re-sent only when it announced something
	for fam, v := range want.Announced {
		if fam != IPv4Unicast.String() && len(v) > 0 {
			wr = reachLines(&want)
		}
	}
	slices.Sort(gotReach)
	if gotReach = slices.Compact(gotReach); !slices.Equal(gotReach, wr) {
		t.Fatalf("MP_REACH differs: got %q want %q", gotReach, wr)
	}
}

// FuzzRoundTrip: any input fanout decodes as a usable UPDATE (no error, or attribute
// discard) re-encodes, with AppendAttrs and the UpdateBuilder, into messages that decode
// to the same content: decode(encode(decode(x))) == decode(x). The first byte selects the
// session options (fuzzOptions), the rest is the UPDATE body after the 19-byte header.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{0x01})                    // empty body
	f.Add([]byte{0x03, 0, 0, 0, 0})        // IPv4 End-of-RIB
	f.Add([]byte{0xf1, 0, 0, 0, 0, 24, 1}) // truncated NLRI
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		roundTrip(t, in[0], in[1:])
	})
}

// TestRoundTripMRT runs the round trip over real UPDATEs on every session kind.
func TestRoundTripMRT(t *testing.T) {
	n := 1500
	if testing.Short() {
		n = 150
	}
	for _, file := range mrtFiles {
		for _, mu := range loadMRTUpdates(t, file, n) {
			opt := byte(2)
			if mu.AS4 {
				opt |= 1
			}
			roundTrip(t, opt, mu.Body())
		}
	}
}
