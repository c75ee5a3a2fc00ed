package bgp

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
)

// The malformed-input suite over real TCP (127.1.202.0/24, 127.1.203.0/24). A raw test
// peer sends every malformed message the codec classifies through a real session into a
// server with the real RIB and export, while a route-server client receives what the
// server exports and a bystander speaker keeps a route. The cases are proto's own: its
// fuzz seed corpus holds the malformed UPDATE table (proto/malformed_test.go, each case with
// its RFC clause, in the same order) with the session options of each case, and the header
// and OPEN seeds. The codec's classification of each message (RFC 7606 §2 actions, RFC
// 4271 §6 NOTIFICATIONs) is proto's test; this suite checks that a live session carries it
// out exactly:
//   - session reset (RFC 7606 §2 "session reset", RFC 4271 §6): the NOTIFICATION received
//     is byte for byte the one for the error, and the sender's routes are withdrawn from
//     the other peers;
//   - treat-as-withdraw (RFC 7606 §2): the message's prefixes are withdrawn from the other
//     peers and the session stays up;
//   - attribute discard (RFC 7606 §2) and valid messages: the route replaces the previous
//     one without the discarded attributes, with the AS path, origin and next hop decoded;
//   - always: every UPDATE another peer is sent decodes cleanly, and the bystander's route
//     and session are untouched.

// corpusSeed is one file of a Go fuzz corpus: its name and values.
type corpusSeed struct {
	name   string
	values []string // each value's Go literal, unquoted: []byte and byte as strings
}

// loadCorpus reads the "go test fuzz v1" files of dir whose names start with prefix. It
// understands the []byte("..."), byte('.') and bool(...) lines proto's corpora use.
func loadCorpus(t testing.TB, dir, prefix string) []corpusSeed {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("seed corpus: %v", err)
	}
	var out []corpusSeed
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) < 2 || lines[0] != "go test fuzz v1" {
			t.Fatalf("%s: not a fuzz corpus file", e.Name())
		}
		s := corpusSeed{name: e.Name()}
		for _, l := range lines[1:] {
			open, close := strings.IndexByte(l, '('), strings.LastIndexByte(l, ')')
			if open < 0 || close < open {
				t.Fatalf("%s: cannot read %q", e.Name(), l)
			}
			lit := l[open+1 : close]
			if strings.HasPrefix(lit, `"`) || strings.HasPrefix(lit, `'`) {
				v, err := strconv.Unquote(lit)
				if err != nil {
					t.Fatalf("%s: %q: %v", e.Name(), lit, err)
				}
				if strings.HasPrefix(lit, `'`) {
					v = string([]byte{byte([]rune(v)[0])})
				}
				lit = v
			}
			s.values = append(s.values, lit)
		}
		out = append(out, s)
	}
	return out
}

// updSeedOptions decodes the mode byte of proto's FuzzDecodeUpdate corpus.
func updSeedOptions(mode byte) proto.SessionOptions {
	return proto.SessionOptions{AS4: mode&1 != 0, EBGP: mode&2 != 0, ExtendedMessage: mode&4 != 0, AddPath: proto.AddPathMask(mode >> 4)}
}

// routeSeen is what the receiver holds for one prefix.
type routeSeen struct {
	origin  uint8
	asPath  string
	nextHop netip.Addr
	comms   []byte
	present proto.AttrMask
}

// receiver is a route-server client built from a raw peer: one goroutine reads what the
// server exports into table and records anything that does not decode. Owner: the test;
// the goroutine ends when the connection closes (cleanup waits for it).
type receiver struct {
	r    *rawPeer
	opts proto.SessionOptions
	mu   sync.Mutex
	tab  map[netip.Prefix]routeSeen
	bad  []string // UPDATEs that failed to decode, or anything else unexpected
	done chan struct{}
}

func newReceiver(t testing.TB, srv *Server, a string, as uint32) *receiver {
	t.Helper()
	if err := srv.AddPeer(PeerConfig{Addr: addr(a), PeerAS: as, RSClient: true, Passive: true,
		Families: []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast}}); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, a, srv.ListenAddrs()[0], 0)
	r.handshake(as, a, 0, func(c *proto.Capabilities) { c.Multiprotocol = []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast} })
	waitState(t, srv, addr(a), Established)
	rc := &receiver{r: r, opts: proto.SessionOptions{AS4: true, EBGP: true}, tab: map[netip.Prefix]routeSeen{}, done: make(chan struct{})}
	go rc.run()
	t.Cleanup(func() { r.nc.Close(); <-rc.done })
	return rc
}

func (rc *receiver) run() {
	defer close(rc.done)
	for {
		typ, body, err := rc.r.read(time.Hour)
		if err != nil {
			return
		}
		if typ != proto.MsgUpdate {
			continue
		}
		var u proto.Update
		rc.mu.Lock()
		if err := proto.DecodeUpdate(body, &rc.opts, &u); err != nil {
			rc.bad = append(rc.bad, fmt.Sprintf("UPDATE %x: %v", body, err))
			rc.mu.Unlock()
			continue
		}
		var n proto.NLRI
		for _, it := range []proto.NLRIIter{u.IterWithdrawn(&rc.opts), u.IterMPUnreach(&rc.opts)} {
			for it.Next(&n) {
				delete(rc.tab, n.Prefix)
			}
		}
		a := &u.Attrs
		seen := routeSeen{origin: a.Origin, asPath: a.ASPath.String(), comms: slices.Clone(a.Communities), present: a.Present}
		for it := u.IterNLRI(&rc.opts); it.Next(&n); {
			s := seen
			s.nextHop = a.NextHop
			rc.tab[n.Prefix] = s
		}
		for it := u.IterMPReach(&rc.opts); it.Next(&n); {
			s := seen
			s.nextHop = a.MPReach.NextHop
			rc.tab[n.Prefix] = s
		}
		rc.mu.Unlock()
	}
}

// check runs f on the table under the lock.
func (rc *receiver) check(f func(tab map[netip.Prefix]routeSeen) bool) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return f(rc.tab)
}

func (rc *receiver) wait(t testing.TB, what string, f func(tab map[netip.Prefix]routeSeen) bool) {
	t.Helper()
	eventually(t, what, func() bool { return rc.check(f) })
}

func (rc *receiver) badUpdates() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.bad)
}

// Prefixes that frame each case: the bystander's route, and a sentinel a case's sender
// announces after the malformed message to show the server has read past it.
var (
	bystanderPrefix = netip.MustParsePrefix("203.0.113.0/24")
	sentinelPrefix  = netip.MustParsePrefix("198.51.100.0/24")
	markerCommunity = []byte{0xff, 0xfe, 0, 1} // on the baseline routes only
)

// suiteEnv is one server with its receiver and bystander, shared by a suite's cases.
type suiteEnv struct {
	srv       *Server
	rcv       *receiver
	bystander *rawPeer
}

// startServer builds and starts a server; cleanup closes it.
func startServer(t testing.TB, cfg ServerConfig, deps Deps) *Server {
	t.Helper()
	srv, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(ctx)
	})
	return srv
}

// newSuiteEnv starts a server with the real RIB at net24.1 (AS 65000, no per-source
// connection rate limit: the suites reconnect from one address many times), a receiver at
// .2 and a bystander at .3 holding bystanderPrefix. mods change the server's Deps.
func newSuiteEnv(t testing.TB, net24 string, mods ...func(*Deps)) *suiteEnv {
	r, sch := newTestRIB(t, 0)
	deps := Deps{Logger: zap.NewNop(), Scheduler: sch, Routing: r}
	for _, m := range mods {
		m(&deps)
	}
	srv := startServer(t, ServerConfig{AS: 65000, RouterID: addr("10.255.0.1"), ListenAddrs: []netip.Addr{addr(net24 + ".1")},
		Admission: AdmissionConfig{PerSourceBurst: -1}}, deps)
	env := &suiteEnv{srv: srv, rcv: newReceiver(t, srv, net24+".2", 65099)}
	if err := srv.AddPeer(PeerConfig{Addr: addr(net24 + ".3"), PeerAS: 65003, Passive: true}); err != nil {
		t.Fatal(err)
	}
	env.bystander = dialRaw(t, net24+".3", srv.ListenAddrs()[0], 0)
	env.bystander.handshake(65003, net24+".3", 0, nil)
	waitState(t, srv, addr(net24+".3"), Established)
	opts := proto.SessionOptions{AS4: true, EBGP: true}
	env.bystander.send(baselineUpdate(t, &opts, 65003, []proto.NLRI{{Prefix: bystanderPrefix}}, nil))
	env.rcv.wait(t, "the bystander's route", func(tab map[netip.Prefix]routeSeen) bool { _, ok := tab[bystanderPrefix]; return ok })
	return env
}

// intact fails the test unless the bystander's session never flapped and its route is held
// by the receiver, and the receiver was sent nothing that does not decode.
func (env *suiteEnv) intact(t testing.TB, bystander string) {
	t.Helper()
	st, _ := env.srv.Peer(addr(bystander))
	if st.State != Established || st.Flaps != 0 {
		t.Fatalf("bystander: %v, %d flaps", st.State, st.Flaps)
	}
	if !env.rcv.check(func(tab map[netip.Prefix]routeSeen) bool { _, ok := tab[bystanderPrefix]; return ok }) {
		t.Fatal("bystander's route lost")
	}
	if bad := env.rcv.badUpdates(); len(bad) > 0 {
		t.Fatalf("the receiver was sent what does not decode: %v", bad)
	}
}

// baselineUpdate announces ns (IPv4 or IPv6, with their path ids under ADD-PATH) with AS
// path [as], ORIGIN IGP, the marker community and, on an internal session, LOCAL_PREF.
func baselineUpdate(t testing.TB, opts *proto.SessionOptions, as uint32, v4, v6 []proto.NLRI) []byte {
	t.Helper()
	a := proto.Attrs{Origin: proto.OriginIGP, ASPath: proto.ASSeq(as), NextHop: addr("192.0.2.1"), Communities: markerCommunity, LocalPref: 100}
	for _, typ := range []uint8{proto.AttrOrigin, proto.AttrASPath, proto.AttrCommunities} {
		a.Present.Set(typ)
	}
	if !opts.EBGP {
		a.Present.Set(proto.AttrLocalPref)
	}
	b := proto.NewUpdateBuilder(opts)
	if len(v4) > 0 {
		a.Present.Set(proto.AttrNextHop)
		ab, err := proto.AppendAttrs(nil, &a, opts)
		if err != nil {
			t.Fatal(err)
		}
		b.Announce(proto.IPv4Unicast, ab, proto.MPNextHop{}, v4...)
		a.Present.Clear(proto.AttrNextHop)
	}
	if len(v6) > 0 {
		ab, err := proto.AppendAttrs(nil, &a, opts)
		if err != nil {
			t.Fatal(err)
		}
		b.Announce(proto.IPv6Unicast, ab, proto.MPNextHop{Addr: addr("2001:db8::1")}, v6...)
	}
	msgs, err := b.AppendMessages(nil)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// sender is one case's raw speaker, configured on the server with the case's session
// options: internal (peer AS = ours) or external AS 65001, 2- or 4-octet AS, ADD-PATH.
type sender struct {
	r    *rawPeer
	addr netip.Addr
	as   uint32
	opts proto.SessionOptions
}

func newSender(t testing.TB, srv *Server, a string, opts proto.SessionOptions) *sender {
	t.Helper()
	as := uint32(65001)
	peerAS := as // the routes' origin AS stays 65001: 65000 would be a loop
	if !opts.EBGP {
		peerAS = 65000
	}
	cfg := PeerConfig{Addr: addr(a), PeerAS: peerAS, Passive: true, IdleHoldTime: -1,
		Families: []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast}}
	var ap []proto.AddPathFamily
	for _, f := range []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast} {
		if opts.AddPath.Has(f) {
			cfg.AddPathReceive = append(cfg.AddPathReceive, f)
			ap = append(ap, proto.AddPathFamily{Family: f, Mode: proto.AddPathSend})
		}
	}
	if err := srv.AddPeer(cfg); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, a, srv.ListenAddrs()[0], 0)
	r.handshake(peerAS, a, 0, func(c *proto.Capabilities) {
		c.Multiprotocol = []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast}
		c.HasAS4 = opts.AS4
		c.AddPath = ap
	})
	waitState(t, srv, addr(a), Established)
	return &sender{r: r, addr: addr(a), as: as, opts: opts}
}

// prefixesOf returns the IPv4 and IPv6 prefixes an UPDATE announces or withdraws, as far
// as the decoder could locate them.
func prefixesOf(u *proto.Update, opts *proto.SessionOptions) (v4, v6 []proto.NLRI) {
	var n proto.NLRI
	for _, it := range []proto.NLRIIter{u.IterWithdrawn(opts), u.IterNLRI(opts), u.IterMPUnreach(opts), u.IterMPReach(opts)} {
		for it.Next(&n) {
			if n.Prefix.Addr().Is4() {
				v4 = append(v4, proto.NLRI{Prefix: n.Prefix, PathID: n.PathID})
			} else {
				v6 = append(v6, proto.NLRI{Prefix: n.Prefix, PathID: n.PathID})
			}
		}
	}
	return v4, v6
}

// TestMalformedUpdatesOverTCP drives every malformed UPDATE of proto's table through a
// real session.
func TestMalformedUpdatesOverTCP(t *testing.T) {
	seeds := loadCorpus(t, "../proto/testdata/fuzz/FuzzDecodeUpdate", "malformed-")
	if len(seeds) < 60 {
		t.Fatalf("%d malformed UPDATE seeds, want proto's whole table", len(seeds))
	}
	env := newSuiteEnv(t, "127.1.202")
	actions := map[proto.Action]int{}
	for i, s := range seeds {
		body, opts := []byte(s.values[0]), updSeedOptions(s.values[1][0])
		var u proto.Update
		perr, _ := proto.AsError(proto.DecodeUpdate(body, &opts, &u))
		msg := append(proto.AppendHeader(nil, proto.HeaderLen+len(body), proto.MsgUpdate), body...)
		if _, _, _, err := proto.NextMessage(msg, proto.MaxMessageLen); err != nil {
			// Too short to be an UPDATE at all: the header check comes first (RFC 4271 §6.1).
			perr, _ = proto.AsError(err)
		}
		action := proto.ActionNone
		if perr != nil {
			action = perr.Action
		}
		actions[action]++
		t.Run(fmt.Sprintf("%s/%v", s.name, action), func(t *testing.T) {
			runMalformedCase(t, env, fmt.Sprintf("127.1.202.%d", 20+i), body, opts, &u, perr)
		})
		if t.Failed() {
			break
		}
	}
	env.intact(t, "127.1.202.3")
	t.Logf("%d cases over TCP: %v", len(seeds), actions)
}

func runMalformedCase(t *testing.T, env *suiteEnv, a string, body []byte, opts proto.SessionOptions, u *proto.Update, perr *proto.Error) {
	snd := newSender(t, env.srv, a, opts)
	defer func() {
		snd.r.nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		env.srv.DeletePeer(ctx, snd.addr)
		env.rcv.wait(t, "the case's routes gone", func(tab map[netip.Prefix]routeSeen) bool { return len(tab) == 1 })
	}()
	// A baseline for every prefix the message mentions, marked, so a change shows.
	v4, v6 := prefixesOf(u, &opts)
	decodedAttrs := u.Attrs // copy: u is not used for anything else
	if len(v4)+len(v6) > 0 {
		snd.r.send(baselineUpdate(t, &opts, snd.as, v4, v6))
		env.rcv.wait(t, "baseline routes", func(tab map[netip.Prefix]routeSeen) bool {
			for _, n := range slices.Concat(v4, v6) {
				if r, ok := tab[n.Prefix]; !ok || !bytes.Equal(r.comms, markerCommunity) {
					return false
				}
			}
			return true
		})
	}
	snd.r.send(append(proto.AppendHeader(nil, proto.HeaderLen+len(body), proto.MsgUpdate), body...))

	if perr != nil && perr.Action == proto.ActionSessionReset {
		// RFC 7606 §2 / RFC 4271 §6.3: the NOTIFICATION for exactly this error.
		expectExactNotification(t, snd.r, perr)
		env.rcv.wait(t, "the reset session's routes withdrawn", func(tab map[netip.Prefix]routeSeen) bool {
			for _, n := range slices.Concat(v4, v6) {
				if _, ok := tab[n.Prefix]; ok {
					return false
				}
			}
			return true
		})
		return
	}
	// The session reads on: a sentinel sent after the message arrives.
	sopts := opts
	sentinel := []proto.NLRI{{Prefix: sentinelPrefix, PathID: 1}}
	snd.r.send(baselineUpdate(t, &sopts, snd.as, sentinel, nil))
	env.rcv.wait(t, "the sentinel", func(tab map[netip.Prefix]routeSeen) bool { _, ok := tab[sentinelPrefix]; return ok })
	if st, _ := env.srv.Peer(snd.addr); st.State != Established {
		t.Fatalf("session %v after a %v error", st.State, perr)
	}
	withdrawn := map[netip.Prefix]bool{}
	var n proto.NLRI
	for _, it := range []proto.NLRIIter{u.IterWithdrawn(&opts), u.IterMPUnreach(&opts)} {
		for it.Next(&n) {
			withdrawn[n.Prefix] = true
		}
	}
	env.rcv.check(func(tab map[netip.Prefix]routeSeen) bool {
		for _, n := range slices.Concat(v4, v6) {
			r, ok := tab[n.Prefix]
			switch {
			case perr != nil && perr.Action == proto.ActionTreatAsWithdraw || withdrawn[n.Prefix]:
				if ok {
					t.Errorf("%v: still held after %v: %+v", n.Prefix, perr, r)
				}
			case !ok:
				t.Errorf("%v: not held", n.Prefix)
			default:
				checkRoute(t, n.Prefix, r, &decodedAttrs)
			}
		}
		return true
	})
}

// checkRoute compares what the route-server client holds with the decoded UPDATE: the
// marker of the baseline is gone, the AS path, origin and next hop are as decoded (RFC
// 7947 §2.2 leaves them unchanged), and no discarded attribute reached it.
func checkRoute(t *testing.T, p netip.Prefix, r routeSeen, a *proto.Attrs) {
	t.Helper()
	if bytes.Equal(r.comms, markerCommunity) {
		t.Errorf("%v: the baseline route was not replaced", p)
		return
	}
	nh := a.NextHop
	if p.Addr().Is6() {
		nh = a.MPReach.NextHop
	}
	if r.asPath != a.ASPath.String() || r.origin != a.Origin || r.nextHop != nh {
		t.Errorf("%v: received path %q origin %d next hop %v, decoded %q %d %v", p, r.asPath, r.origin, r.nextHop, a.ASPath.String(), a.Origin, nh)
	}
	for typ := range 256 {
		if a.Discarded.Has(uint8(typ)) && r.present.Has(uint8(typ)) {
			t.Errorf("%v: discarded attribute %d was exported", p, typ)
		}
	}
}

// TestMalformedFramingOverTCP: proto's header seeds that do not frame are sent inside an
// Established session and get exactly their NOTIFICATION (RFC 4271 §6.1); its OPEN seeds
// that do not decode are sent as the first message and get theirs (RFC 4271 §6.2, RFC 5492
// §3, RFC 9072); its ROUTE-REFRESH seeds that do not decode get theirs (RFC 7313 §5); every
// NOTIFICATION seed, well formed or not, ends the session without a NOTIFICATION in answer
// (RFC 4271 §6.4: none is sent for a NOTIFICATION). The bystander is untouched.
func TestMalformedFramingOverTCP(t *testing.T) {
	env := newSuiteEnv(t, "127.1.203")
	n := 0
	opts := proto.SessionOptions{AS4: true, EBGP: true}
	// Each case's peer has an address of its own: 127.1.203.20 and up.
	next := 19
	nextAddr := func() string {
		next++
		if next > 254 {
			t.Fatal("more cases than addresses in 127.1.203.0/24")
		}
		return fmt.Sprintf("127.1.203.%d", next)
	}
	for _, s := range loadCorpus(t, "../proto/testdata/fuzz/FuzzHeader", "") {
		b := []byte(s.values[0])
		_, _, _, err := proto.NextMessage(b, proto.MaxMessageLen)
		perr, ok := proto.AsError(err)
		if !ok {
			continue // frames (or waits for more): not a malformed header
		}
		n++
		a := nextAddr()
		t.Run("header/"+s.name, func(t *testing.T) {
			snd := newSender(t, env.srv, a, opts)
			defer snd.r.nc.Close()
			snd.r.send(b)
			expectExactNotification(t, snd.r, perr)
		})
	}
	for _, s := range loadCorpus(t, "../proto/testdata/fuzz/FuzzOpen", "") {
		body := []byte(s.values[0])
		var o proto.Open
		perr, ok := proto.AsError(proto.DecodeOpen(body, &o))
		if !ok {
			continue // decodes: negotiation is another test's subject
		}
		n++
		a := nextAddr()
		t.Run("open/"+s.name, func(t *testing.T) {
			if err := env.srv.AddPeer(PeerConfig{Addr: addr(a), PeerAS: 65001, Passive: true, IdleHoldTime: -1}); err != nil {
				t.Fatal(err)
			}
			waitState(t, env.srv, addr(a), Active)
			r := dialRaw(t, a, env.srv.ListenAddrs()[0], 0)
			defer r.nc.Close()
			r.send(append(proto.AppendHeader(nil, proto.HeaderLen+len(body), proto.MsgOpen), body...))
			r.expect(proto.MsgOpen)
			expectExactNotification(t, r, perr)
		})
	}
	for _, s := range loadCorpus(t, "../proto/testdata/fuzz/FuzzRouteRefresh", "") {
		body := []byte(s.values[0])
		var rr proto.RouteRefresh
		perr, ok := proto.AsError(proto.DecodeRouteRefresh(body, &rr))
		if !ok {
			continue // well formed: answered or ignored, another test's subject
		}
		n++
		a := nextAddr()
		t.Run("route-refresh/"+s.name, func(t *testing.T) {
			snd := newSender(t, env.srv, a, opts)
			defer snd.r.nc.Close()
			snd.r.send(append(proto.AppendHeader(nil, proto.HeaderLen+len(body), proto.MsgRouteRefresh), body...))
			expectExactNotification(t, snd.r, perr)
		})
	}
	for _, s := range loadCorpus(t, "../proto/testdata/fuzz/FuzzNotification", "") {
		body := []byte(s.values[0])
		msg := append(proto.AppendHeader(nil, proto.HeaderLen+len(body), proto.MsgNotification), body...)
		n++
		a := nextAddr()
		t.Run("notification/"+s.name, func(t *testing.T) {
			snd := newSender(t, env.srv, a, opts)
			defer snd.r.nc.Close()
			snd.r.send(msg)
			if _, _, _, err := proto.NextMessage(msg, proto.MaxMessageLen); err != nil {
				// Shorter than any NOTIFICATION: the header check (RFC 4271 §6.1) answers
				// before the message is known to be one.
				perr, _ := proto.AsError(err)
				expectExactNotification(t, snd.r, perr)
				return
			}
			for range 1000 {
				typ, _, err := snd.r.read(waitLimit)
				if err != nil {
					break // closed, nothing said
				}
				if typ == proto.MsgNotification {
					t.Fatal("a NOTIFICATION was answered with one")
				}
			}
			waitState(t, env.srv, snd.addr, Active)
		})
	}
	if n < 15 {
		t.Fatalf("only %d malformed framing, OPEN, ROUTE-REFRESH and NOTIFICATION seeds", n)
	}
	env.intact(t, "127.1.203.3")
}

// expectExactNotification skips what the session was sending anyway (UPDATEs, KEEPALIVEs)
// and fails unless the NOTIFICATION that comes is byte for byte the one for perr.
func expectExactNotification(t *testing.T, r *rawPeer, perr *proto.Error) {
	t.Helper()
	want := proto.AppendErrorNotification(nil, perr, proto.MaxMessageLen)[proto.HeaderLen:]
	for range 1000 {
		typ, got, err := r.read(waitLimit)
		if err != nil {
			t.Fatalf("waiting for NOTIFICATION %x (%v): %v", want, perr, err)
		}
		if typ == proto.MsgUpdate || typ == proto.MsgKeepalive {
			continue
		}
		if typ != proto.MsgNotification || !bytes.Equal(got, want) {
			t.Fatalf("got type %d body %x, want NOTIFICATION %x (%v)", typ, got, want, perr)
		}
		return
	}
	t.Fatal("no NOTIFICATION")
}

// TestSplitAndCoalescedOverTCP: the same stream of messages (UPDATEs, a KEEPALIVE, an
// End-of-RIB) reaches the same state whether the sender writes it split at every byte
// boundary, a byte at a time, or coalesced into one write (RFC 4271 §4.1: TCP is a byte
// stream; framing never depends on segments). A malformed UPDATE split at every boundary
// gets the same NOTIFICATION every time.
func TestSplitAndCoalescedOverTCP(t *testing.T) {
	env := newSuiteEnv(t, "127.1.204")
	opts := proto.SessionOptions{AS4: true, EBGP: true}
	snd := newSender(t, env.srv, "127.1.204.10", opts)
	// Round k announces 10.204.k.0/24 and withdraws the previous round's prefix: every
	// round is the same length, and after it the receiver holds exactly one of them.
	round := func(k int) []byte {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 204, byte(k), 0}), 24)
		b := baselineUpdate(t, &opts, 65001, []proto.NLRI{{Prefix: p}}, nil)
		b = append(b, proto.AppendKeepalive(nil)...)
		w := proto.NewUpdateBuilder(&opts)
		w.Withdraw(proto.IPv4Unicast, proto.NLRI{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 204, byte(k - 1), 0}), 24)})
		wd, err := w.AppendMessages(nil)
		if err != nil {
			t.Fatal(err)
		}
		return append(b, wd...)
	}
	holdsOnly := func(k int) func(map[netip.Prefix]routeSeen) bool {
		want := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 204, byte(k), 0}), 24)
		return func(tab map[netip.Prefix]routeSeen) bool {
			n := 0
			for p := range tab {
				if p.Addr().As4()[1] == 204 {
					n++
				}
			}
			_, ok := tab[want]
			return ok && n == 1
		}
	}
	l := len(round(1))
	k := 1
	for cut := 1; cut < l; cut++ { // split at every boundary
		b := round(k)
		snd.r.send(b[:cut])
		time.Sleep(time.Millisecond) // lets the server read the first part on its own
		snd.r.send(b[cut:])
		k++
	}
	env.rcv.wait(t, "state after every split", holdsOnly(k-1))
	for _, c := range round(k) { // a byte at a time
		snd.r.send([]byte{c})
	}
	env.rcv.wait(t, "state after byte-at-a-time", holdsOnly(k))
	var all []byte // coalesced: many rounds in one write
	for range 20 {
		k++
		all = append(all, round(k)...)
	}
	snd.r.send(all)
	env.rcv.wait(t, "state after coalesced rounds", holdsOnly(k))
	if st, _ := env.srv.Peer(snd.addr); st.State != Established || st.Flaps != 0 || st.Counters.UpdateErrors != 0 {
		t.Fatalf("sender after the stream: %v flaps %d errors %d", st.State, st.Flaps, st.Counters.UpdateErrors)
	}

	// A session-reset UPDATE (NLRI prefix length 33, RFC 7606 §5.3) split at every
	// boundary, each on a fresh session, after a valid message in the same write.
	bad := append(proto.AppendHeader(nil, proto.HeaderLen+len(badNLRIBody), proto.MsgUpdate), badNLRIBody...)
	var u proto.Update
	perr, _ := proto.AsError(proto.DecodeUpdate(badNLRIBody, &opts, &u))
	if perr == nil || perr.Action != proto.ActionSessionReset {
		t.Fatalf("the malformed UPDATE decodes as %v", perr)
	}
	stream := append(proto.AppendKeepalive(nil), bad...)
	for cut := 1; cut < len(stream); cut++ {
		a := fmt.Sprintf("127.1.204.%d", 20+cut)
		s := newSender(t, env.srv, a, opts)
		s.r.send(stream[:cut])
		time.Sleep(time.Millisecond)
		s.r.send(stream[cut:])
		expectExactNotification(t, s.r, perr)
		s.r.nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		env.srv.DeletePeer(ctx, s.addr)
		cancel()
	}
	env.intact(t, "127.1.204.3")
}

// badNLRIBody is an UPDATE body whose NLRI has prefix length 33.
var badNLRIBody = func() []byte {
	attrs := []byte{0x40, proto.AttrOrigin, 1, 0, 0x40, proto.AttrASPath, 6, 2, 1, 0, 0, 0xfd, 0xe9, 0x40, proto.AttrNextHop, 4, 192, 0, 2, 1}
	b := binary.BigEndian.AppendUint16(nil, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(attrs)))
	b = append(b, attrs...)
	return append(b, 33, 10, 0, 0, 0, 0)
}()
