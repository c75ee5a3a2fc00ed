package bgp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/bench/targets"
	"github.com/fanoutd/fanout/proto"
)

// grGoBGPD is gobgpd with graceful restart for IPv4 unicast; restarting adds -r (its own
// restart: Restart State and F bits) and starts the neighbor admin-down, so routes can be
// added before the session comes back.
type grGoBGPD struct {
	targets.GoBGPD
	restarting bool
}

func (g grGoBGPD) Prepare(spec targets.Spec, dir string) (targets.Launch, error) {
	l, err := g.GoBGPD.Prepare(spec, dir)
	if err != nil {
		return l, err
	}
	n := spec.Neighbors[0]
	conf := fmt.Sprintf(`[global.config]
  as = %d
  router-id = %q
  port = %d
  local-address-list = [%q]
[[neighbors]]
  [neighbors.config]
    neighbor-address = %q
    peer-as = %d
    admin-down = %v
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
  [neighbors.transport.config]
    local-address = %q
    remote-port = %d
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 30
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
`, spec.AS, spec.RouterID, spec.Port, spec.ListenAddr, n.Address, n.AS, g.restarting, spec.ListenAddr, n.Port)
	if err := os.WriteFile(l.ConfigPath, []byte(conf), 0o644); err != nil {
		return l, err
	}
	if g.restarting {
		l.Args = append(l.Args, "-r")
	}
	return l, nil
}

// grFRR is FRR bgpd with graceful restart (forwarding state preserved: the F bit) that
// originates the given prefixes.
type grFRR struct {
	targets.FRR
	networks []string
}

func (f grFRR) Prepare(spec targets.Spec, dir string) (targets.Launch, error) {
	l, err := f.FRR.Prepare(spec, dir)
	if err != nil {
		return l, err
	}
	b, err := os.ReadFile(l.ConfigPath)
	if err != nil {
		return l, err
	}
	conf := strings.Replace(string(b), " no bgp network import-check\n",
		" no bgp network import-check\n bgp graceful-restart\n bgp graceful-restart preserve-fw-state\n bgp graceful-restart restart-time 30\n", 1)
	var nets strings.Builder
	for _, p := range f.networks {
		fmt.Fprintf(&nets, "  network %s\n", p)
	}
	act := fmt.Sprintf("  neighbor %s activate\n", spec.Neighbors[0].Address)
	if !strings.Contains(conf, act) {
		return l, fmt.Errorf("FRR config has no %q", act)
	}
	conf = strings.Replace(conf, act, act+nets.String(), 1)
	return l, os.WriteFile(l.ConfigPath, []byte(conf), 0o644)
}

// Interop, graceful restart helper (RFC 4724 §4.2) with real restarting peers: gobgpd and
// FRR from Debian packages announce two routes through fanout to a receiver, are killed
// (no NOTIFICATION) and restarted announcing only the first. The receiver never sees the
// first withdrawn, and sees the second withdrawn at the restarted peer's End-of-RIB.
func TestGracefulRestartInterop(t *testing.T) {
	for i, kind := range []string{"gobgpd", "frr"} {
		t.Run(kind, func(t *testing.T) { grInterop(t, kind, fmt.Sprintf("127.1.%d", 66+i)) })
	}
}

func grInterop(t *testing.T, kind, net24 string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	fAddr, dAddr := addr(net24+".1"), addr(net24+".10")
	srv, _, _ := exportServer(t, fAddr.String())
	gr := GracefulRestartConfig{Enabled: true, RestartTime: 30 * time.Second}
	port, err := targets.FreePort(dAddr)
	if err != nil {
		t.Fatal(err)
	}
	spec := targets.Spec{AS: 65001, RouterID: dAddr, ListenAddr: dAddr, Port: port, Role: targets.RouteServer,
		HoldTime: 9 * time.Second, Neighbors: []targets.Neighbor{{Address: fAddr, AS: 65000, Port: listenPort(srv), RouteServer: true}}}
	addPeer(t, srv, PeerConfig{Addr: dAddr, PeerAS: 65001, RemotePort: port, RSClient: true, Passive: true, IdleHoldTime: -1, GracefulRestart: gr})
	rcvAddr := net24 + ".20"
	addPeer(t, srv, PeerConfig{Addr: addr(rcvAddr), PeerAS: 65002, RSClient: true, Passive: true})
	rp := dialRaw(t, rcvAddr, srv.ListenAddrs()[0], 0)
	rp.handshake(65002, rcvAddr, 0, nil)
	waitState(t, srv, addr(rcvAddr), Established)
	w := &watcher{t: t, p: rp, opts: proto.SessionOptions{AS4: true, EBGP: true}, table: map[string]uint32{}}
	const p1, p2 = "10.66.1.0/24", "10.66.2.0/24"

	start := func(tg targets.Target) *targets.Process {
		p, err := targets.Start(ctx, tg, spec, targets.Options{})
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s log:\n%s", kind, p.LogTail(40))
			}
			p.Stop(context.Background())
		})
		return p
	}
	var d *targets.Process
	switch kind {
	case "gobgpd":
		d = start(grGoBGPD{})
		waitState(t, srv, dAddr, Established)
		gobgp(ctx, t, d, "global", "rib", "add", p1, "nexthop", "198.18.0.1")
		gobgp(ctx, t, d, "global", "rib", "add", p2, "nexthop", "198.18.0.1")
	case "frr":
		d = start(grFRR{networks: []string{p1, p2}})
	}
	w.until("both routes learned", func() bool { _, a := w.table[p1]; _, b := w.table[p2]; return a && b })
	st, _ := srv.Peer(dAddr)
	if st.Session == nil || !st.Session.GR.Present {
		t.Fatalf("%s announced no graceful restart: %+v", kind, st.Session)
	}

	// Killed: the TCP connection just ends.
	if err := syscall.Kill(d.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.Stop(ctx)
	eventually(t, "session down", func() bool { st, _ := srv.Peer(dAddr); return st.State != Established })
	w.pump(500 * time.Millisecond)
	if len(w.withdrawn) != 0 {
		t.Fatalf("withdrawn %v while %s restarts", w.withdrawn, kind)
	}

	switch kind {
	case "gobgpd":
		d = start(grGoBGPD{restarting: true})
		gobgp(ctx, t, d, "global", "rib", "add", p1, "nexthop", "198.18.0.1")
		gobgp(ctx, t, d, "neighbor", fAddr.String(), "enable")
	case "frr":
		d = start(grFRR{networks: []string{p1}})
	}
	waitState(t, srv, dAddr, Established)
	st, _ = srv.Peer(dAddr)
	if !grForwarding(&st.Session.GR, proto.IPv4Unicast) {
		t.Fatalf("restarted %s kept no forwarding state (F bit): %+v", kind, st.Session.GR)
	}
	w.until("the route not re-sent is withdrawn", func() bool { _, b := w.table[p2]; return !b })
	w.pump(300 * time.Millisecond)
	if _, ok := w.table[p1]; !ok || !slices.Equal(w.withdrawn, []string{p2}) {
		t.Fatalf("after %s's restart: table %v, withdrawn %v; want %s kept, only %s withdrawn", kind, w.table, w.withdrawn, p1, p2)
	}
}

// connLog records a server's TCP connections so a test can cut them all at once, as a
// crash of the process would (no NOTIFICATION).
type connLog struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (l *connLog) add(c net.Conn) net.Conn {
	l.mu.Lock()
	l.conns = append(l.conns, c)
	l.mu.Unlock()
	return c
}

func (l *connLog) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // a reset, as after a crash
		}
		c.Close()
	}
	l.conns = nil
}

type loggedListener struct {
	net.Listener
	log *connLog
}

func (l loggedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.log.add(c), nil
}

func (l *connLog) deps(d *Deps) {
	d.Listen = func(network, a string) (net.Listener, error) {
		ln, err := net.Listen(network, a)
		if err != nil {
			return nil, err
		}
		return loggedListener{ln, l}, nil
	}
	d.Dial = func(ctx context.Context, network, laddr, raddr string) (net.Conn, error) {
		dl := net.Dialer{}
		if laddr != "" {
			dl.LocalAddr = &net.TCPAddr{IP: net.ParseIP(laddr)}
		}
		c, err := dl.DialContext(ctx, network, raddr)
		if err != nil {
			return nil, err
		}
		return l.add(c), nil
	}
}

// Interop, graceful restart with fanout restarting (RFC 4724 §4.1) and real helpers: gobgpd
// and FRR learn two routes from fanout; fanout crashes and restarts with the Restart State
// bit, deferring export until its peers' End-of-RIB; the speaker re-sends one route. The
// helper holds the re-sent route throughout and drops the other once fanout's End-of-RIB
// comes.
func TestGracefulRestartRestartingInterop(t *testing.T) {
	for i, kind := range []string{"gobgpd", "frr"} {
		t.Run(kind, func(t *testing.T) { grRestarting(t, kind, fmt.Sprintf("127.1.%d", 68+i)) })
	}
}

func grRestarting(t *testing.T, kind, net24 string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	fAddr, hAddr, sAddr := addr(net24+".1"), addr(net24+".10"), net24+".20"
	gr := GracefulRestartConfig{Enabled: true, RestartTime: 30 * time.Second}
	var cl connLog
	newServer := func(port uint16, restarting bool) *Server {
		r, s := newTestRIB(t, 0)
		deps := Deps{Logger: zap.NewNop(), Scheduler: s, Routing: r}
		cl.deps(&deps)
		srv, err := New(ServerConfig{AS: 65000, RouterID: fAddr, ListenAddrs: []netip.Addr{fAddr}, ListenPort: port, Restarting: restarting}, deps)
		if err != nil {
			t.Fatal(err)
		}
		if restarting {
			r.DeferExport([]netip.Addr{hAddr, addr(sAddr)}, 20*time.Second, nil, srv.RestartDone)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			c, done := context.WithTimeout(context.Background(), 5*time.Second)
			defer done()
			srv.Close(c)
		})
		return srv
	}
	srv := newServer(0, false)
	fport := listenPort(srv)
	hport, err := targets.FreePort(hAddr)
	if err != nil {
		t.Fatal(err)
	}
	addPeers := func(srv *Server) {
		addPeer(t, srv, PeerConfig{Addr: hAddr, PeerAS: 65001, RemotePort: hport, RSClient: true, IdleHoldTime: -1, ConnectRetry: time.Second, GracefulRestart: gr})
		addPeer(t, srv, PeerConfig{Addr: addr(sAddr), PeerAS: 65000, RRClient: true, Passive: true, IdleHoldTime: -1, GracefulRestart: gr})
	}
	addPeers(srv)
	spec := targets.Spec{AS: 65001, RouterID: hAddr, ListenAddr: hAddr, Port: hport, Role: targets.RouteServer,
		HoldTime: 9 * time.Second, Neighbors: []targets.Neighbor{{Address: fAddr, AS: 65000, Port: fport, RouteServer: true}}}
	var tg targets.Target = grGoBGPD{}
	if kind == "frr" {
		tg = grFRR{}
	}
	h, err := targets.Start(ctx, tg, spec, targets.Options{})
	if err != nil {
		t.Fatalf("%s: %v", kind, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", kind, h.LogTail(40))
		}
		h.Stop(context.Background())
	})
	held := func() int {
		counts, err := tg.(targets.RouteCounter).ReceivedPrefixes(ctx, h)
		if err != nil {
			t.Logf("%s: %v", kind, err)
			return -1
		}
		return counts[fAddr]
	}
	waitState(t, srv, hAddr, Established)
	spk := &grPeer{t: t, srv: srv, a: sAddr, opts: proto.SessionOptions{AS4: true}}
	spk.connect(30, true, false, false)
	spk.announce(100, "10.68.1.0/24", "10.68.2.0/24")
	spk.endOfRIB()
	eventually(t, kind+" learns both routes", func() bool { return held() == 2 })

	// Crash: every connection reset, no NOTIFICATION; the helper keeps the routes.
	cl.cut()
	srv.Close(ctx)
	srv = newServer(fport, true)
	addPeers(srv)
	spk.srv = srv
	if o := spk.connect(30, true, true, false); o.Caps.GracefulRestart.Flags&proto.GRRestartState == 0 {
		t.Fatal("restarted fanout announced no Restart State")
	}
	spk.announce(100, "10.68.1.0/24")
	// While deferred, and until the helper has swept, it holds the re-sent route.
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if n := held(); n < 1 {
			t.Fatalf("%s holds %d routes from fanout during its restart", kind, n)
		}
	}
	spk.endOfRIB()
	for end := time.Now().Add(2 * waitLimit); held() != 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s holds %d routes from fanout after its restart, want 1", kind, held())
		}
	}
	if n := held(); n != 1 {
		t.Fatalf("%s holds %d routes after the restart, want 1", kind, n)
	}
}
