package targets

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// A command with spaces and a ')' in it, as proc(5) allows.
	line := "4242 (bgpd: (x) y) S 1 4242 4242 0 -1 4194560 300 0 0 0 17 5 3 2 20 0 1 0 987654 12345678 900 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	st, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := procStat{key: procKey{pid: 4242, startTime: 987654}, ppid: 1, pgrp: 4242, state: 'S', cpuTicks: 17 + 5 + 3 + 2}
	if st != want {
		t.Errorf("got %+v, want %+v", st, want)
	}
	for _, bad := range []string{"", "12 no parens", "12 (x) S 1 2"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
}

func TestParseListeners(t *testing.T) {
	tcp := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100427F:45ED 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0200427F:45EE 0300427F:0050 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
`
	a := netip.MustParseAddr
	for _, c := range []struct {
		addr netip.Addr
		port uint16
		want bool
	}{
		{a("127.66.0.1"), 0x45ED, true},
		{a("127.66.0.2"), 0x45ED, false},
		{a("127.66.0.2"), 0x45EE, false}, // established, not listening
		{a("127.9.9.9"), 0x1F90, true},   // wildcard
	} {
		got, err := parseListeners([]byte(tcp), c.addr, c.port)
		if err != nil || got != c.want {
			t.Errorf("%v:%d: got %v, %v; want %v", c.addr, c.port, got, err, c.want)
		}
	}
	tcp6 := `  sl  local_address                         remote_address                        st
   0: 00000000000000000000000001000000:4E20 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0 100 0 0 10 0
`
	if got, err := parseListeners([]byte(tcp6), a("::1"), 0x4E20); err != nil || !got {
		t.Errorf("::1: got %v, %v", got, err)
	}
}

func TestListeningLive(t *testing.T) {
	addr, _, _ := testNet(201)
	l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	if ok, err := listening(procRoot, addr, port); !ok || err != nil {
		t.Errorf("listening on own socket: %v, %v", ok, err)
	}
	l.Close()
	if ok, _ := listening(procRoot, addr, port); ok {
		t.Error("listening after close")
	}
}

// fakeTarget runs a shell script as the daemon.
type fakeTarget struct{ script string }

func (fakeTarget) Name() string                            { return "fake" }
func (fakeTarget) Version(context.Context) (string, error) { return "0", nil }
func (f fakeTarget) Prepare(spec Spec, dir string) (Launch, error) {
	conf := filepath.Join(dir, "fake.conf")
	if err := os.WriteFile(conf, []byte("x\n"), 0o644); err != nil {
		return Launch{}, err
	}
	return Launch{Path: "/bin/sh", Args: []string{"-c", f.script}, ConfigPath: conf}, nil
}

// fakeSpec returns a spec on a fresh address and, when listen is set, a listener the test
// holds on the spec's address and port, standing in for the daemon's.
func fakeSpec(t *testing.T, k int, listen bool) Spec {
	addr, a1, _ := testNet(k)
	port, err := FreePort(addr)
	if err != nil {
		t.Fatal(err)
	}
	if listen {
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, port)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
	}
	return Spec{AS: 65000, RouterID: addr, ListenAddr: addr, Port: port,
		Neighbors: []Neighbor{{Address: a1, AS: 65001, Passive: true}}}
}

func TestStartFailsWithLogTail(t *testing.T) {
	dir := t.TempDir()
	_, err := Start(context.Background(), fakeTarget{script: "echo config is bad >&2; exit 3"},
		fakeSpec(t, 202, false), Options{Dir: dir, ReadyTimeout: 5 * time.Second})
	if err == nil {
		t.Fatal("Start succeeded")
	}
	if !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "config is bad") {
		t.Errorf("error lacks the cause or the log tail: %v", err)
	}
	// The run directory is kept for diagnosis.
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("run directories: %v", ents)
	}
}

func TestStartTimesOut(t *testing.T) {
	start := time.Now()
	_, err := Start(context.Background(), fakeTarget{script: "echo waiting; exec sleep 30"},
		fakeSpec(t, 203, false), Options{Dir: t.TempDir(), ReadyTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "not ready") || !strings.Contains(err.Error(), "waiting") {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestStopKillsTree runs a "daemon" that ignores SIGTERM and forks a child that ignores it
// too; Stop must escalate to SIGKILL, leave nothing running, and account for the CPU the tree
// burnt.
func TestStopKillsTree(t *testing.T) {
	dir := t.TempDir()
	script := `trap '' TERM
(trap '' TERM; i=0; while [ $i -lt 5000 ]; do i=$((i+1)); done; exec sleep 30) &
i=0; while [ $i -lt 5000 ]; do i=$((i+1)); done
sleep 30 & wait`
	p, err := Start(context.Background(), fakeTarget{script: script}, fakeSpec(t, 204, true),
		Options{Dir: dir, StopTimeout: 300 * time.Millisecond, SampleInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(p.Alive()) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(p.Alive()); n < 3 {
		t.Fatalf("tree has %d processes, want at least 3 (sh, subshell, sleeps)", n)
	}
	time.Sleep(200 * time.Millisecond) // let the loops burn some CPU
	u, err := p.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if left := p.Alive(); len(left) != 0 {
		t.Errorf("alive after Stop: %v", left)
	}
	if !p.Killed() {
		t.Error("Killed() = false for a daemon that ignores SIGTERM")
	}
	if u.CPUSeconds <= 0 || u.PeakRSSBytes <= 0 {
		t.Errorf("usage %+v", u)
	}
	if p.Usage() != u {
		t.Errorf("Usage() after Stop = %+v, want %+v", p.Usage(), u)
	}
	if _, err := os.Stat(p.Dir()); !os.IsNotExist(err) {
		t.Errorf("run directory not removed: %v", err)
	}
	if u2, err := p.Stop(context.Background()); err != nil || u2 != u {
		t.Errorf("second Stop: %+v, %v", u2, err)
	}
}

func TestStopKeep(t *testing.T) {
	p, err := Start(context.Background(), fakeTarget{script: "exec sleep 30"}, fakeSpec(t, 205, true),
		Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	p.Keep()
	if _, err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.LogPath()); err != nil {
		t.Errorf("log not kept: %v", err)
	}
}

// TestPeakRSSIsTheDaemons: the peak RSS is the daemon's own, not this process's. A large
// resident heap here must not show up in the figure for a small daemon (Linux carries a
// vfork parent's resident set into the child's rusage maxrss at exec).
func TestPeakRSSIsTheDaemons(t *testing.T) {
	ballast := make([]byte, 96<<20)
	for i := range ballast {
		if i%4096 == 0 {
			ballast[i] = 1 // make every page resident
		}
	}
	p, err := Start(context.Background(), fakeTarget{script: "exec sleep 30"}, fakeSpec(t, 206, true),
		Options{Dir: t.TempDir(), SampleInterval: 20 * time.Millisecond})
	runtime.KeepAlive(ballast)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	u, err := p.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if u.PeakRSSBytes <= 0 || u.PeakRSSBytes > 32<<20 {
		t.Errorf("peak RSS of a sleeping shell = %d bytes, want between 1 byte and 32 MiB", u.PeakRSSBytes)
	}
}
