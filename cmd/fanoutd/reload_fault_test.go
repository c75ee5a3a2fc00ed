package main

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fanoutd/fanout/bench/gen"
	"github.com/fanoutd/fanout/bench/targets"
	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/config"
	"github.com/fanoutd/fanout/proto"
)

// Reloads that fail keep the running configuration, and nothing is lost: a speaker's routes
// stay exactly in a receiver's table and neither session flaps, after a file that does not
// parse, one that does not validate (a hold time under 3 s, an 81-byte TCP MD5 key,
// ttl-security with ebgp-multihop) and one that changes what only a restart applies. A valid
// reload that gives the receiver a TCP MD5 password then resets only the receiver, never
// shows the password in the log, and the receiver (which signs nothing) can no longer
// connect: the kernel drops its unsigned SYNs (RFC 2385). (127.1.211.0/24.)
func TestReloadFaultsKeepRunningConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	fAddr := netip.MustParseAddr("127.1.211.1")
	addrA, addrB := netip.MustParseAddr("127.1.211.10"), netip.MustParseAddr("127.1.211.11")
	port, apiPort := freePorts(t, fAddr)
	base := reloadConfig(fAddr, port, apiPort, 65000)
	for _, n := range []struct{ addr, as string }{{"127.1.211.10", "65101"}, {"127.1.211.11", "65102"}} {
		base += "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"" + n.addr + "\"\n    peer-as = " + n.as + "\n" +
			"  [neighbors.timers.config]\n    hold-time = 90\n  [neighbors.transport.config]\n    passive-mode = true\n" +
			"  [neighbors.route-server.config]\n    route-server-client = true\n"
	}
	p := writeConfig(t, base)
	c, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	var out safeBuffer
	log, _, err := newLogger("info", &out)
	if err != nil {
		t.Fatal(err)
	}
	d, err := start(c, log)
	if err != nil {
		t.Fatal(err)
	}
	defer d.stop(context.Background())
	r := &reloader{d: d, log: log.Named("reload"), path: p, cur: c}

	remote := netip.AddrPortFrom(fAddr, port)
	dial := func(name string, a netip.Addr, as uint32) *gen.Session {
		t.Helper()
		s, err := gen.Dial(ctx, gen.SessionConfig{Name: name, Local: a, Remote: remote, AS: as, PeerAS: 65000,
			Table: gen.NewTable(true, gen.CheckRouteServer)}, 100*time.Millisecond)
		if err != nil {
			t.Fatalf("%s: %v; log:\n%s", name, err, out.String())
		}
		t.Cleanup(func() { s.Close(true) })
		return s
	}
	spk, rcv := dial("A", addrA, 65101), dial("B", addrB, 65102)
	status := func(a netip.Addr) bgp.PeerStatus { st, _ := d.srv.Peer(a); return st }
	waitFor(t, "A and B established", func() bool {
		return status(addrA).State == bgp.Established && status(addrB).State == bgp.Established
	})

	// A announces 200 routes; B must hold exactly them.
	model := &gen.Model{Role: targets.RouteServer, Check: gen.CheckRouteServer,
		Speakers: []*gen.SpeakerRIB{{Peer: gen.Peer{Addr: addrA}, RIB: map[netip.Prefix]*gen.AttrSet{}}}}
	set := &gen.AttrSet{ASPath: proto.ASSeq(65101, 64999), HasMED: true, MED: 7, Communities: []uint32{65101<<16 | 1}, NextHop4: netip.MustParseAddr("198.18.0.1")}
	var at proto.Attrs
	for _, typ := range []uint8{proto.AttrOrigin, proto.AttrASPath, proto.AttrMED, proto.AttrCommunities} {
		at.Present.Set(typ)
	}
	at.ASPath, at.MED, at.Communities = set.ASPath, set.MED, []byte{0xfe, 0x4d, 0, 1}
	opts := spk.Options()
	wire, err := proto.AppendAttrs(nil, &at, &opts)
	if err != nil {
		t.Fatal(err)
	}
	b := proto.NewUpdateBuilder(&opts)
	for i := range 200 {
		pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 211, byte(i), 0}), 24)
		model.Speakers[0].RIB[pfx] = set
		b.Announce(proto.IPv4Unicast, wire, proto.MPNextHop{Addr: set.NextHop4}, proto.NLRI{Prefix: pfx})
	}
	msgs, err := b.AppendMessages(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := spk.Send(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	want, err := model.Expected(addrB)
	if err != nil {
		t.Fatal(err)
	}
	rcv.Table().Expect(want, nil, time.Now())
	exact := func(when string) {
		t.Helper()
		waitFor(t, when+": B holds exactly A's routes", func() bool { return rcv.Table().Stats().Equal })
	}
	exact("before the reloads")
	a0, b0 := status(addrA), status(addrB)

	for _, bad := range []struct{ name, text, want string }{
		{"syntax error", base + "[[neighbors\n", "fanoutd.toml"},
		{"hold time under 3 s", strings.Replace(base, "hold-time = 90", "hold-time = 2", 1), "hold-time"},
		{"81-byte TCP MD5 key", strings.Replace(base, "peer-as = 65101\n", "peer-as = 65101\n    auth-password = \""+strings.Repeat("k", 81)+"\"\n", 1), "auth-password"},
		{"ttl-security with ebgp-multihop", base + "  [neighbors.ttl-security.config]\n    enabled = true\n" +
			"  [neighbors.ebgp-multihop.config]\n    enabled = true\n", "ttl-security"},
		{"router id (restart only)", strings.Replace(base, `router-id = "127.1.211.1"`, `router-id = "127.1.211.2"`, 1), "restart"},
	} {
		if err := os.WriteFile(p, []byte(bad.text), 0o600); err != nil {
			t.Fatal(err)
		}
		err := r.reload()
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Fatalf("%s: reload error %v, want one naming %q", bad.name, err, bad.want)
		}
		if r.cur != c {
			t.Fatalf("%s: the running configuration was replaced", bad.name)
		}
		for _, x := range []struct {
			a    netip.Addr
			was  bgp.PeerStatus
			name string
		}{{addrA, a0, "A"}, {addrB, b0, "B"}} {
			if st := status(x.a); st.State != bgp.Established || st.Flaps != x.was.Flaps || !st.EstablishedSince.Equal(x.was.EstablishedSince) {
				t.Fatalf("%s: %s was reset: %v, flaps %d", bad.name, x.name, st.State, st.Flaps)
			}
		}
		exact("after a refused reload (" + bad.name + ")")
	}

	// A valid reload: B gets a TCP MD5 password. Only B is reset; the password is not logged.
	const secret = "reload-md5-secret"
	withKey := strings.Replace(base, "neighbor-address = \"127.1.211.11\"\n", "neighbor-address = \"127.1.211.11\"\n    auth-password = \""+secret+"\"\n", 1)
	if err := os.WriteFile(p, []byte(withKey), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.reload(); err != nil {
		t.Fatalf("valid reload: %v", err)
	}
	waitFor(t, "B reset", func() bool { return status(addrB).State != bgp.Established })
	if st := status(addrA); st.State != bgp.Established || st.Flaps != a0.Flaps {
		t.Fatalf("A was reset by B's change: %v", st.State)
	}
	if strings.Contains(out.String(), secret) {
		t.Fatal("the TCP MD5 password is in the log")
	}
	// B reconnects without signing: its SYNs are dropped, it never gets back.
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if status(addrB).State == bgp.Established {
			t.Fatal("B re-established without the TCP MD5 key")
		}
	}
}
