package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/bench/gen"
	"github.com/fanoutd/fanout/bench/targets"
	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/config"
)

// reloadConfig is a fanoutd file on fAddr with a passive neighbor per entry of hold (address
// -> hold time in seconds), in the order given.
func reloadConfig(fAddr netip.Addr, port, apiPort uint16, as uint32, neighbors ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[global.config]\n  as = %d\n  router-id = \"%s\"\n  port = %d\n  local-address-list = [\"%s\"]\n[fanout]\n  grpc-address = \"%s:%d\"\n  http-address = \"127.0.0.1:0\"\n",
		as, fAddr, port, fAddr, fAddr, apiPort)
	for i := 0; i+1 < len(neighbors); i += 2 {
		fmt.Fprintf(&b, "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"%s\"\n    peer-as = 65100\n  [neighbors.timers.config]\n    hold-time = %s\n  [neighbors.transport.config]\n    passive-mode = true\n",
			neighbors[i], neighbors[i+1])
	}
	return b.String()
}

func freePorts(t *testing.T, a netip.Addr) (uint16, uint16) {
	t.Helper()
	p1, err := targets.FreePort(a)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := targets.FreePort(a)
	if err != nil {
		t.Fatal(err)
	}
	return p1, p2
}

// The reload check: SIGHUP applies the neighbor diff. The neighbor whose settings
// did not change keeps its session (same established-since, no flap); the changed one is
// reset and comes back with its new hold time; the added one exists. A file that does not
// validate, or that changes a key only a restart applies, changes nothing.
func TestReloadKeepsUnaffectedSessions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fAddr := netip.MustParseAddr("127.1.36.1")
	addrA, addrB, addrC := netip.MustParseAddr("127.1.36.10"), netip.MustParseAddr("127.1.36.11"), netip.MustParseAddr("127.1.36.12")
	port, apiPort := freePorts(t, fAddr)
	v1 := reloadConfig(fAddr, port, apiPort, 65000, "127.1.36.10", "90", "127.1.36.11", "90")
	p := writeConfig(t, v1)
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
	sigs := make(chan os.Signal, 1)
	done := make(chan os.Signal, 1)
	go func() { done <- r.serve(sigs) }()
	defer func() {
		select {
		case sigs <- syscall.SIGTERM:
		default:
		}
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("serve did not return on SIGTERM")
		}
	}()

	remote := netip.AddrPortFrom(fAddr, port)
	dial := func(name string, a netip.Addr) *gen.Session {
		t.Helper()
		s, err := gen.Dial(ctx, gen.SessionConfig{Name: name, Local: a, Remote: remote, AS: 65100, PeerAS: 65000,
			Table: gen.NewTable(false, gen.CheckRouteServer)}, 100*time.Millisecond)
		if err != nil {
			t.Fatalf("%s: %v; log:\n%s", name, err, out.String())
		}
		t.Cleanup(func() { s.Close(true) })
		return s
	}
	status := func(a netip.Addr) bgp.PeerStatus { st, _ := d.srv.Peer(a); return st }
	established := func(a netip.Addr) bool { return status(a).State == bgp.Established }
	dial("A", addrA)
	dial("B", addrB)
	waitFor(t, "A and B established", func() bool { return established(addrA) && established(addrB) })
	a0, b0 := status(addrA), status(addrB)
	if a0.EstablishedSince.IsZero() || b0.HoldTime != 90*time.Second {
		t.Fatalf("before reload: A %+v, B hold %v", a0.EstablishedSince, b0.HoldTime)
	}
	hup := func(want string, n int) {
		t.Helper()
		sigs <- syscall.SIGHUP
		waitFor(t, fmt.Sprintf("%d× %q logged", n, want), func() bool { return strings.Count(out.String(), want) >= n })
	}
	unaffected := func(when string) {
		t.Helper()
		a := status(addrA)
		if a.State != bgp.Established || !a.EstablishedSince.Equal(a0.EstablishedSince) || a.Flaps != a0.Flaps || a.Uptime < a0.Uptime {
			t.Fatalf("%s: A was reset: before since %v uptime %v flaps %d, now %v since %v uptime %v flaps %d",
				when, a0.EstablishedSince, a0.Uptime, a0.Flaps, a.State, a.EstablishedSince, a.Uptime, a.Flaps)
		}
	}

	// B's hold time changes and C is added.
	v2 := reloadConfig(fAddr, port, apiPort, 65000, "127.1.36.10", "90", "127.1.36.11", "60", "127.1.36.12", "90")
	if err := os.WriteFile(p, []byte(v2), 0o600); err != nil {
		t.Fatal(err)
	}
	hup(`"reload applied"`, 1)
	unaffected("after reload")
	if st, ok := d.srv.Peer(addrC); !ok || !st.Passive {
		t.Fatalf("C not added: %v %+v", ok, st)
	}
	dial("B again", addrB)
	dial("C", addrC)
	waitFor(t, "B and C established", func() bool { return established(addrB) && established(addrC) })
	if b := status(addrB); !b.EstablishedSince.After(b0.EstablishedSince) || b.HoldTime != 60*time.Second {
		t.Fatalf("B not reset with its new hold time: since %v (was %v), hold %v", b.EstablishedSince, b0.EstablishedSince, b.HoldTime)
	}
	logs := out.String()
	for _, w := range []string{`"changed":["127.1.36.11 (timers.config.hold-time, timers.config.keepalive-interval)"]`, `"added":["127.1.36.12"]`, `"unchanged":1`} {
		if !strings.Contains(logs, w) {
			t.Errorf("reload summary lacks %s:\n%s", w, logs)
		}
	}
	unaffected("after B and C came up")

	// An invalid file: the error names the key and line, and nothing changes.
	bad := strings.Replace(v2, "hold-time = 60", "hold-time = 2", 1)
	if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	hup(`"reload refused: configuration invalid`, 1)
	if logs := out.String(); !strings.Contains(logs, "neighbors[1].timers.config.hold-time") || !strings.Contains(logs, p+":") {
		t.Errorf("refusal does not name the file, line and key:\n%s", logs)
	}
	// A change only a restart applies (the AS), with a neighbor removed: nothing is applied.
	restart := reloadConfig(fAddr, port, apiPort, 65001, "127.1.36.10", "90")
	if err := os.WriteFile(p, []byte(restart), 0o600); err != nil {
		t.Fatal(err)
	}
	hup(`"reload refused: nothing applied`, 1)
	if !strings.Contains(out.String(), "global.config.as: 65000 -> 65001") {
		t.Errorf("refusal does not name the key needing a restart:\n%s", out.String())
	}
	unaffected("after refused reloads")
	if !established(addrB) || !established(addrC) {
		t.Fatalf("refused reload changed sessions: B %v, C %v", status(addrB).State, status(addrC).State)
	}
	// Back to v2 after the refusals: the running configuration was kept, so no changes.
	if err := os.WriteFile(p, []byte(v2), 0o600); err != nil {
		t.Fatal(err)
	}
	hup(`"reload: no changes"`, 1)

	// Removing a neighbor deletes it and leaves the others.
	v3 := reloadConfig(fAddr, port, apiPort, 65000, "127.1.36.10", "90", "127.1.36.11", "60")
	if err := os.WriteFile(p, []byte(v3), 0o600); err != nil {
		t.Fatal(err)
	}
	hup(`"reload applied"`, 2)
	if _, ok := d.srv.Peer(addrC); ok {
		t.Error("C still configured after its removal")
	}
	unaffected("after removing C")
	if !established(addrB) {
		t.Error("B reset by C's removal")
	}
}

// -diff prints what a reload would change, and exits 0 without starting anything.
func TestRunDiffFlag(t *testing.T) {
	fAddr := netip.MustParseAddr("127.1.37.1")
	old := writeConfig(t, reloadConfig(fAddr, 1790, 50051, 65000, "127.1.37.10", "90", "127.1.37.11", "90", "127.1.37.13", "90"))
	next := writeConfig(t, reloadConfig(fAddr, 1790, 50051, 65001, "127.1.37.10", "90", "127.1.37.11", "60", "127.1.37.12", "90"))
	var out safeBuffer
	if code := run([]string{"-f", next, "-diff", old}, &out, nil); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	want := "global.config.as: 65000 -> 65001 (needs a restart)\n" +
		"neighbor 127.1.37.13: removed\n" +
		"neighbor 127.1.37.12: added\n" +
		"neighbor 127.1.37.11: changed\n" +
		"    timers.config.hold-time: 1m30s -> 1m0s\n" +
		"    timers.config.keepalive-interval: 30s -> 20s\n" // derived from the hold time
	if out.String() != want {
		t.Fatalf("-diff printed:\n%s\nwant:\n%s", out.String(), want)
	}
	out = safeBuffer{}
	if code := run([]string{"-f", next, "-diff", next}, &out, nil); code != 0 || out.String() != "no changes\n" {
		t.Fatalf("same file: exit %d: %q", code, out.String())
	}
	out = safeBuffer{}
	if code := run([]string{"-f", next, "-diff", "/nonexistent/fanoutd.toml"}, &out, nil); code != 2 {
		t.Fatalf("missing old file: exit %d: %s", code, out.String())
	}
}

// run itself reloads on SIGHUP (the wiring main uses) and still stops on SIGTERM.
func TestRunReloadsOnSIGHUP(t *testing.T) {
	fAddr := netip.MustParseAddr("127.1.38.1")
	port, apiPort := freePorts(t, fAddr)
	p := writeConfig(t, reloadConfig(fAddr, port, apiPort, 65000))
	sigs := make(chan os.Signal, 1)
	var out safeBuffer
	done := make(chan int, 1)
	go func() { done <- run([]string{"-f", p}, &out, sigs) }()
	waitFor(t, "running", func() bool { return strings.Contains(out.String(), `"fanoutd running"`) })
	if err := os.WriteFile(p, []byte(reloadConfig(fAddr, port, apiPort, 65000, "127.1.38.10", "90")), 0o600); err != nil {
		t.Fatal(err)
	}
	sigs <- syscall.SIGHUP
	waitFor(t, "reload applied", func() bool {
		return strings.Contains(out.String(), `"reload applied"`) && strings.Contains(out.String(), `"added":["127.1.38.10"]`)
	})
	sigs <- syscall.SIGTERM
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(out.String(), `"stopped"`) {
			t.Fatalf("exit %d: %s", code, out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("fanoutd did not stop on SIGTERM")
	}
}

// A reload that adds a peer group and a dynamic-neighbor range applies them to the server
// (no session is touched; no running daemon is needed to show it).
func TestReloadAddsDynamicNeighbors(t *testing.T) {
	fAddr := netip.MustParseAddr("127.1.38.1")
	p := writeConfig(t, reloadConfig(fAddr, 1790, 50051, 65000, "127.1.38.10", "90"))
	c, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(reloadConfig(fAddr, 1790, 50051, 65000, "127.1.38.10", "90")+
		"[[peer-groups]]\n  [peer-groups.config]\n    peer-group-name = \"clients\"\n    peer-as = 65200\n"+
		"[[dynamic-neighbors]]\n  [dynamic-neighbors.config]\n    prefix = \"198.51.100.128/25\"\n    peer-group = \"clients\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := bgp.New(serverConfig(c), bgp.Deps{Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	var out safeBuffer
	log, _, _ := newLogger("info", &out)
	r := &reloader{log: log, path: p, cur: c, d: &daemon{srv: srv}}
	if err := r.reload(); err != nil {
		t.Fatalf("reload: %v; log:\n%s", err, out.String())
	}
	if rs := srv.DynamicRanges(); len(rs) != 1 || rs[0].Group != "clients" || len(srv.PeerGroups()) != 1 {
		t.Fatalf("ranges %v, groups %v", rs, srv.PeerGroups())
	}
}
