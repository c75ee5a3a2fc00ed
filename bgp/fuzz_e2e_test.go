package bgp

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/fanoutd/fanout/proto"
)

// End-to-end fuzzing: arbitrary bytes from a peer, after a valid OPEN, through a real
// session of an in-process server with the real RIB and export (127.1.205.0/24), while a
// route-server client and a bystander speaker are attached. Invariants, per input:
//   - no panic anywhere in the server (a panic in any goroutine ends the fuzz process);
//   - the session does what the codec's classification of the stream says: if proto
//     frames and accepts every message (RFC 7606 errors other than session reset
//     included), a sentinel UPDATE sent after the input reaches the receiver;
//   - nothing that failed validation reaches an Adj-RIB-Out: every route the receiver
//     holds from the fuzzed peer was announced by a message the codec accepted, was not
//     withdrawn or treated as withdrawn since, and carries the decoded AS path;
//   - the receiver is never sent an UPDATE that does not decode;
//   - the server keeps serving others: the bystander's session never flaps and its route
//     stays; when the fuzzed peer goes, all of its routes go;
//   - no goroutine leak: once the fuzzed peer is deleted, the goroutine count is back to
//     what it was before the input.
//
// Seeds: testdata/fuzz/FuzzSessionStream (regenerate with
// go test -run TestWriteSessionSeeds ./bgp/ -args -write-session-seeds).

var writeSessionSeeds = flag.Bool("write-session-seeds", false, "rewrite testdata/fuzz/FuzzSessionStream")

// streamModel is what the codec says a byte stream does to a session: whether the session
// survives it, whether it ends inside a message, and the Adj-RIB-In it leaves (AS path per
// prefix and path id). Only IPv4 and IPv6 unicast are modelled: the session negotiates
// nothing else.
type streamModel struct {
	alive      bool
	incomplete bool
	routes     map[proto.NLRI]string
}

func modelStream(stream []byte, opts *proto.SessionOptions) streamModel {
	m := streamModel{alive: true, routes: map[proto.NLRI]string{}}
	var u proto.Update
	var n proto.NLRI
	for len(stream) > 0 {
		h, body, size, err := proto.NextMessage(stream, proto.MaxMessageLen)
		if err != nil {
			m.alive = false
			return m
		}
		if size == 0 {
			m.incomplete = true
			return m
		}
		stream = stream[size:]
		switch h.Type {
		case proto.MsgKeepalive:
			continue
		case proto.MsgRouteRefresh:
			var rr proto.RouteRefresh
			if proto.DecodeRouteRefresh(body, &rr) != nil {
				m.alive = false
				return m
			}
			continue
		case proto.MsgUpdate:
		default: // OPEN (an FSM error in Established) or NOTIFICATION: the session ends
			m.alive = false
			return m
		}
		err = proto.DecodeUpdate(body, opts, &u)
		perr, _ := proto.AsError(err)
		if err != nil && (perr == nil || perr.Action == proto.ActionSessionReset) {
			m.alive = false
			return m
		}
		for _, it := range []proto.NLRIIter{u.IterWithdrawn(opts), mpIter(&u, opts, false)} {
			for it.Next(&n) {
				delete(m.routes, proto.NLRI{Prefix: n.Prefix, PathID: n.PathID})
			}
		}
		withdraw := perr != nil && perr.Action == proto.ActionTreatAsWithdraw
		for _, it := range []proto.NLRIIter{u.IterNLRI(opts), mpIter(&u, opts, true)} {
			for it.Next(&n) {
				k := proto.NLRI{Prefix: n.Prefix, PathID: n.PathID}
				if withdraw {
					delete(m.routes, k)
				} else {
					m.routes[k] = u.Attrs.ASPath.String()
				}
			}
		}
	}
	return m
}

// mpIter iterates MP_REACH (reach) or MP_UNREACH NLRI when present and of a unicast family
// the session has; otherwise an iterator over nothing.
func mpIter(u *proto.Update, opts *proto.SessionOptions, reach bool) proto.NLRIIter {
	a := &u.Attrs
	fam, typ := a.MPUnreach.Family, proto.AttrMPUnreach
	if reach {
		fam, typ = a.MPReach.Family, proto.AttrMPReach
	}
	if !a.Present.Has(typ) || (fam != proto.IPv4Unicast && fam != proto.IPv6Unicast) {
		return proto.NLRIIter{}
	}
	if reach {
		return u.IterMPReach(opts)
	}
	return u.IterMPUnreach(opts)
}

// fuzzOptions turns a fuzzed mode byte into session options the sender can negotiate (the
// encoding of proto's FuzzDecodeUpdate corpus, without extended messages and VPN ADD-PATH).
func fuzzOptions(mode byte) proto.SessionOptions {
	o := updSeedOptions(mode)
	o.ExtendedMessage = false
	o.AddPath &= proto.AddPathMask(1 | 2)
	return o
}

func FuzzSessionStream(f *testing.F) {
	env := newSuiteEnv(f, "127.1.205")
	const senderAddr = "127.1.205.10"
	f.Fuzz(func(t *testing.T, mode byte, stream []byte) {
		opts := fuzzOptions(mode)
		base := runtime.NumGoroutine()
		m := modelStream(stream, &opts)
		snd := newSender(t, env.srv, senderAddr, opts)
		snd.r.send(stream)
		if m.alive && !m.incomplete {
			snd.r.send(baselineUpdate(t, &opts, snd.as, []proto.NLRI{{Prefix: sentinelPrefix, PathID: 7}}, nil))
			env.rcv.wait(t, "the sentinel after an input the codec accepts", func(tab map[netip.Prefix]routeSeen) bool {
				_, ok := tab[sentinelPrefix]
				return ok
			})
			env.rcv.check(func(tab map[netip.Prefix]routeSeen) bool {
				for p, r := range tab {
					if p == sentinelPrefix || p == bystanderPrefix {
						continue
					}
					if !m.holds(p, r.asPath) {
						t.Errorf("the receiver holds %v with path %q, which no accepted announcement left", p, r.asPath)
					}
				}
				return true
			})
		}
		snd.r.nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := env.srv.DeletePeer(ctx, snd.addr); err != nil {
			t.Fatal(err)
		}
		env.rcv.wait(t, "the fuzzed peer's routes gone", func(tab map[netip.Prefix]routeSeen) bool {
			_, ok := tab[bystanderPrefix]
			return ok && len(tab) == 1
		})
		env.intact(t, "127.1.205.3")
		eventually(t, "goroutines back to where they were", func() bool { return runtime.NumGoroutine() <= base })
	})
}

// holds reports whether the model holds prefix p (under any path id) with AS path path.
func (m *streamModel) holds(p netip.Prefix, path string) bool {
	for k, v := range m.routes {
		if k.Prefix == p && v == path {
			return true
		}
	}
	return false
}

// sessionSeed is one annotated seed of FuzzSessionStream.
type sessionSeed struct {
	name   string
	mode   byte
	stream []byte
}

// sessionSeeds builds the seeds: every malformed UPDATE of proto's corpus after a valid
// announcement of the same prefixes, its header seeds, and streams that exercise the rest of
// a session's input (withdrawals, End-of-RIB, ROUTE-REFRESH, KEEPALIVE, OPEN and
// NOTIFICATION in Established, a message cut short).
func sessionSeeds(t testing.TB) []sessionSeed {
	var out []sessionSeed
	for _, s := range loadCorpus(t, "../proto/testdata/fuzz/FuzzDecodeUpdate", "malformed-") {
		mode := s.values[1][0]
		opts := fuzzOptions(mode)
		body := []byte(s.values[0])
		var u proto.Update
		proto.DecodeUpdate(body, &opts, &u)
		v4, v6 := prefixesOf(&u, &opts)
		var b []byte
		if len(v4)+len(v6) > 0 {
			b = baselineUpdate(t, &opts, 65001, v4, v6)
		}
		b = append(b, proto.AppendHeader(nil, proto.HeaderLen+len(body), proto.MsgUpdate)...)
		out = append(out, sessionSeed{name: "update-" + s.name, mode: mode, stream: append(b, body...)})
	}
	for _, s := range loadCorpus(t, "../proto/testdata/fuzz/FuzzHeader", "") {
		out = append(out, sessionSeed{name: "header-" + s.name, mode: 3, stream: []byte(s.values[0])})
	}
	opts := proto.SessionOptions{AS4: true, EBGP: true}
	ps := []proto.NLRI{{Prefix: netip.MustParsePrefix("10.1.0.0/16")}, {Prefix: netip.MustParsePrefix("10.2.0.0/24")}}
	ann := baselineUpdate(t, &opts, 65001, ps, []proto.NLRI{{Prefix: netip.MustParsePrefix("2001:db8:1::/48")}})
	w := proto.NewUpdateBuilder(&opts)
	w.Withdraw(proto.IPv4Unicast, ps[0])
	wd, err := w.AppendMessages(nil)
	if err != nil {
		t.Fatal(err)
	}
	eor := proto.AppendHeader(nil, proto.HeaderLen+4, proto.MsgUpdate)
	eor = append(eor, 0, 0, 0, 0)
	rr := proto.AppendRouteRefresh(nil, proto.RouteRefresh{Family: proto.IPv4Unicast})
	notif := proto.AppendNotification(nil, &proto.Notification{Code: proto.CodeCease, Subcode: proto.SubAdminShutdown}, proto.MaxMessageLen)
	open := proto.AppendHeader(nil, proto.HeaderLen+10, proto.MsgOpen)
	open = append(open, 4, 0xfd, 0xe9, 0, 90, 10, 0, 0, 1, 0)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	out = append(out,
		sessionSeed{name: "announce-withdraw-eor", mode: 3, stream: cat(ann, wd, eor, proto.AppendKeepalive(nil))},
		sessionSeed{name: "announce-refresh", mode: 3, stream: cat(ann, rr)},
		sessionSeed{name: "announce-notification", mode: 3, stream: cat(ann, notif)},
		sessionSeed{name: "announce-open", mode: 3, stream: cat(ann, open)},
		sessionSeed{name: "announce-cut-short", mode: 3, stream: cat(ann, wd[:len(wd)-2])},
		sessionSeed{name: "internal-announce", mode: 1, stream: baselineUpdate(t, &proto.SessionOptions{AS4: true}, 65001, ps, nil)},
		sessionSeed{name: "addpath-announce", mode: 0x13, stream: baselineUpdate(t, &proto.SessionOptions{AS4: true, EBGP: true, AddPath: 1},
			65001, []proto.NLRI{{Prefix: ps[0].Prefix, PathID: 1}, {Prefix: ps[0].Prefix, PathID: 2}}, nil)},
	)
	return out
}

// TestWriteSessionSeeds writes sessionSeeds as FuzzSessionStream's corpus (only with
// -write-session-seeds); the checked-in corpus is what `go test` runs.
func TestWriteSessionSeeds(t *testing.T) {
	if !*writeSessionSeeds {
		return
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzSessionStream")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range sessionSeeds(t) {
		content := fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", rune(s.mode), s.stream)
		if err := os.WriteFile(filepath.Join(dir, s.name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
