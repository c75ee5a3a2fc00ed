//go:build linux

package bgp

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/fanoutd/fanout/bench/targets"
	"github.com/fanoutd/fanout/proto"
)

// GTSM (RFC 5082) and TCP MD5 (RFC 2385) against a real BIRD 2 (the Debian package) over a
// veth link between two network namespaces the test creates: fanout listens in one, BIRD
// runs in the other as a directly connected external peer and connects to it. A session with
// the right password establishes, a wrong password does not; with ttl-security a BIRD that
// sends with TTL 255 establishes and one that sends with TTL 1 (its default for a direct
// external peer) does not. No traffic leaves the two namespaces.

const (
	secFanoutAddr = "198.51.100.1"
	secBIRDAddr   = "198.51.100.2"
)

// secNetns creates the namespaces <base>-f (fanout) and <base>-b (BIRD) joined by a veth
// pair with 198.51.100.1/30 and .2/30; cleanup deletes both (and the veth with them).
func secNetns(t *testing.T) (fns, bns string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (CI and make test run as root)")
	}
	base := fmt.Sprintf("fanout-sec-%d", os.Getpid())
	fns, bns = base+"-f", base+"-b"
	for _, ns := range []string{fns, bns} {
		_ = exec.Command("ip", "netns", "del", ns).Run() // left by a killed run
		secRun(t, "ip", "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v: %s", ns, err, out)
			}
		})
		secRun(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	secRun(t, "ip", "link", "add", "fsecf", "netns", fns, "type", "veth", "peer", "name", "fsecb", "netns", bns)
	secRun(t, "ip", "-n", fns, "addr", "add", secFanoutAddr+"/30", "dev", "fsecf")
	secRun(t, "ip", "-n", bns, "addr", "add", secBIRDAddr+"/30", "dev", "fsecb")
	secRun(t, "ip", "-n", fns, "link", "set", "fsecf", "up")
	secRun(t, "ip", "-n", bns, "link", "set", "fsecb", "up")
	return fns, bns
}

func secRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// listenInNetns returns a Deps.Listen that opens its listener inside namespace ns: a
// goroutine locks its thread, enters ns, listens and ends without unlocking, so the runtime
// retires that thread instead of reusing it in the wrong namespace. The socket stays in ns.
func listenInNetns(ns string) func(network, addr string) (net.Listener, error) {
	return func(network, addr string) (net.Listener, error) {
		type result struct {
			l   net.Listener
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			f, err := os.Open(filepath.Join("/var/run/netns", ns))
			if err != nil {
				ch <- result{err: err}
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- result{err: fmt.Errorf("setns %s: %w", ns, err)}
				return
			}
			l, err := listenTCP(network, addr)
			ch <- result{l, err}
		}()
		r := <-ch
		return r.l, r.err
	}
}

// startBIRD runs BIRD in namespace ns with one external session to fanout (AS 65000) and
// the given extra protocol lines; cleanup stops it.
func startBIRD(t *testing.T, ns string, extra ...string) {
	t.Helper()
	dir := t.TempDir()
	var conf bytes.Buffer
	fmt.Fprintf(&conf, "router id %s;\nlog stderr all;\nprotocol device {}\n", secBIRDAddr)
	fmt.Fprintf(&conf, "protocol bgp fanout {\n  local %s as 65002;\n  neighbor %s as 65000;\n", secBIRDAddr, secFanoutAddr)
	fmt.Fprintf(&conf, "  hold time 9;\n  connect retry time 1;\n  error wait time 1, 2;\n")
	for _, l := range extra {
		fmt.Fprintf(&conf, "  %s\n", l)
	}
	fmt.Fprintf(&conf, "  ipv4 { import all; export all; };\n}\n")
	cf := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(cf, conf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command("ip", "netns", "exec", ns, targets.DefaultBIRD, "-f", "-c", cf, "-s", filepath.Join(dir, "bird.ctl"), "-P", filepath.Join(dir, "bird.pid"))
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start BIRD: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("BIRD config:\n%s\nBIRD log:\n%s", conf.String(), log.String())
		}
	})
}

func TestSecurityAgainstBIRD(t *testing.T) {
	if _, err := os.Stat(targets.DefaultBIRD); err != nil {
		t.Fatalf("BIRD is needed (Debian bird2, installed by make deps): %v", err)
	}
	fns, bns := secNetns(t)
	srv := startServer(t, ServerConfig{AS: 65000, RouterID: addr("10.255.0.1"), ListenAddrs: []netip.Addr{addr(secFanoutAddr)}, ListenPort: 179},
		Deps{Logger: zap.NewNop(), Listen: listenInNetns(fns)})
	bird := addr(secBIRDAddr)
	cases := []struct {
		name   string
		cfg    PeerConfig
		bird   []string
		want   bool
		noConn bool // the TCP handshake itself fails: fanout never accepts a connection
	}{
		{name: "md5 right password", cfg: PeerConfig{AuthPassword: "fanout-md5-key"}, bird: []string{`password "fanout-md5-key";`}, want: true},
		{name: "md5 wrong password", cfg: PeerConfig{AuthPassword: "fanout-md5-key"}, bird: []string{`password "another-key";`}, noConn: true},
		{name: "md5 none from the peer", cfg: PeerConfig{AuthPassword: "fanout-md5-key"}, noConn: true},
		{name: "gtsm ttl 255", cfg: PeerConfig{TTLSecurity: 255}, bird: []string{"ttl security on;"}, want: true},
		// BIRD's connections are accepted (TCP has no minimum TTL on the listener), but what
		// it sends after is dropped: never Established.
		{name: "gtsm ttl 1", cfg: PeerConfig{TTLSecurity: 255}},
		{name: "gtsm and md5", cfg: PeerConfig{TTLSecurity: 255, AuthPassword: "both"}, bird: []string{"ttl security on;", `password "both";`}, want: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Addr, c.cfg.PeerAS, c.cfg.Passive, c.cfg.HoldTime = bird, 65002, true, 9*time.Second
			if err := srv.AddPeer(c.cfg); err != nil {
				t.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				srv.DeletePeer(ctx, bird)
			}()
			accepted := srv.AdmissionStats().Admitted
			startBIRD(t, bns, c.bird...)
			if c.want {
				eventually(t, "the session with BIRD", func() bool { return state(srv, bird) == Established })
				return
			}
			// BIRD retries every second: give it several tries.
			for end := time.Now().Add(6 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
				st, _ := srv.Peer(bird)
				if st.State == Established {
					t.Fatal("established")
				}
				if c.noConn && (st.Counters.MsgIn[proto.MsgOpen] != 0 || srv.AdmissionStats().Admitted != accepted) {
					t.Fatalf("a connection got through: %+v", st.Counters)
				}
			}
			if !c.noConn && srv.AdmissionStats().Admitted == accepted {
				t.Fatal("BIRD never connected: the refusal shows nothing")
			}
		})
	}
}
