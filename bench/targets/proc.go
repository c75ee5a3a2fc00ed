package targets

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat. It is 100 on every Linux
// architecture Go supports; reading it needs sysconf, which Go does not expose without cgo.
const clockTicks = 100

// procKey names one process for its whole life: a pid and its start time, so a reused pid is
// never mistaken for the process that held it before.
type procKey struct {
	pid       int
	startTime uint64
}

// procStat is what accounting needs from one /proc/<pid>/stat line.
type procStat struct {
	key   procKey
	ppid  int
	pgrp  int
	state byte
	// cpuTicks is utime+stime+cutime+cstime: the process's own CPU time and that of the
	// children it has reaped.
	cpuTicks uint64
}

// parseStat parses the contents of /proc/<pid>/stat (proc(5)). The command name is skipped by
// its last ')' because it may hold spaces and parentheses.
func parseStat(b []byte) (procStat, error) {
	var st procStat
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open <= 0 || end < open {
		return st, errors.New("stat: no command field")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return st, fmt.Errorf("stat: pid: %w", err)
	}
	// Fields after the command, numbered from 3 (state) as in proc(5).
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 20 {
		return st, fmt.Errorf("stat: %d fields after the command, want at least 20", len(f))
	}
	num := func(field int) (uint64, error) {
		v, err := strconv.ParseUint(f[field-3], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: field %d: %w", field, err)
		}
		return v, nil
	}
	st.key.pid = pid
	st.state = f[0][0]
	ppid, err := num(4)
	if err != nil {
		return st, err
	}
	pgrp, err := num(5)
	if err != nil {
		return st, err
	}
	st.ppid, st.pgrp = int(ppid), int(pgrp)
	for _, field := range []int{14, 15, 16, 17} { // utime, stime, cutime, cstime
		v, err := num(field)
		if err != nil {
			return st, err
		}
		st.cpuTicks += v
	}
	if st.key.startTime, err = num(22); err != nil {
		return st, err
	}
	return st, nil
}

// readStat reads /proc/<pid>/stat under root.
func readStat(root string, pid int) (procStat, error) {
	b, err := os.ReadFile(filepath.Join(root, strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// hwmBytes reads VmHWM (the peak resident set size) from /proc/<pid>/status under root. A
// zombie has no memory and no VmHWM line; it counts as 0.
func hwmBytes(root string, pid int) (int64, error) {
	b, err := os.ReadFile(filepath.Join(root, strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("status: odd VmHWM line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status: VmHWM: %w", err)
		}
		return kb * 1024, nil
	}
	return 0, nil
}

// treeSample is one look at a process tree.
type treeSample struct {
	procs    []procStat
	cpuTicks uint64 // sum of cpuTicks over procs
	hwmBytes int64  // sum of VmHWM over procs
}

// sampleTree finds the process tree of rootPid under the proc file system at procRoot: the
// root, its descendants by parent pid, and every process still in the root's process group
// (Start makes the root a group leader, so children orphaned by an exiting parent are found
// too). Processes that vanish while being read are skipped.
func sampleTree(procRoot string, rootPid int) (treeSample, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return treeSample{}, fmt.Errorf("sample tree of %d: %w", rootPid, err)
	}
	all := make(map[int]procStat, len(ents))
	children := make(map[int][]int)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(procRoot, pid)
		if err != nil {
			continue // exited meanwhile
		}
		all[pid] = st
		children[st.ppid] = append(children[st.ppid], pid)
	}
	in := make(map[int]bool)
	var walk func(pid int)
	walk = func(pid int) {
		if in[pid] {
			return
		}
		if _, ok := all[pid]; !ok {
			return
		}
		in[pid] = true
		for _, c := range children[pid] {
			walk(c)
		}
	}
	walk(rootPid)
	for pid, st := range all {
		if st.pgrp == rootPid {
			walk(pid)
		}
	}
	var s treeSample
	for pid := range in {
		st := all[pid]
		s.procs = append(s.procs, st)
		s.cpuTicks += st.cpuTicks
		if hwm, err := hwmBytes(procRoot, pid); err == nil {
			s.hwmBytes += hwm
		}
	}
	return s, nil
}

// alive reports whether the process k still exists (a zombie counts as gone).
func alive(procRoot string, k procKey) bool {
	st, err := readStat(procRoot, k.pid)
	return err == nil && st.key == k && st.state != 'Z'
}

// listening reports whether a TCP socket in the LISTEN state is bound to addr:port, or to the
// wildcard address of addr's family at port, according to /proc/net/tcp and /proc/net/tcp6
// under procRoot.
func listening(procRoot string, addr netip.Addr, port uint16) (bool, error) {
	addr = addr.Unmap()
	var lastErr error
	for _, name := range []string{"net/tcp", "net/tcp6"} {
		b, err := os.ReadFile(filepath.Join(procRoot, name))
		if err != nil {
			lastErr = err
			continue
		}
		ok, err := parseListeners(b, addr, port)
		if err != nil {
			return false, fmt.Errorf("%s: %w", name, err)
		}
		if ok {
			return true, nil
		}
	}
	if lastErr != nil && addr.Is4() {
		return false, fmt.Errorf("read /proc/net/tcp: %w", lastErr)
	}
	return false, nil
}

// parseListeners scans a /proc/net/tcp{,6} table for a listener matching addr:port.
func parseListeners(table []byte, addr netip.Addr, port uint16) (bool, error) {
	sc := bufio.NewScanner(bytes.NewReader(table))
	first := true
	for sc.Scan() {
		if first { // header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[3] != "0A" { // TCP_LISTEN
			continue
		}
		local, lport, err := parseProcAddr(f[1])
		if err != nil {
			return false, err
		}
		if lport != port {
			continue
		}
		local = local.Unmap()
		if local == addr || (local.IsUnspecified() && (local.Is4() == addr.Is4() || local.Is6())) {
			return true, nil
		}
	}
	return false, sc.Err()
}

// parseProcAddr parses "0100007F:0050": the address as host-order 32-bit words in hex, a colon,
// and the port in hex.
func parseProcAddr(s string) (netip.Addr, uint16, error) {
	hexAddr, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return netip.Addr{}, 0, fmt.Errorf("odd socket address %q", s)
	}
	p, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("odd port in %q: %w", s, err)
	}
	raw, err := hex.DecodeString(hexAddr)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.Addr{}, 0, fmt.Errorf("odd address in %q", s)
	}
	// Each 32-bit word is in host (little-endian) order.
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	a, _ := netip.AddrFromSlice(raw)
	return a, uint16(p), nil
}

// FreePort asks the kernel for a TCP port that is free on addr at the moment of the call. The
// port is released before returning, so another process may take it; per-target loopback
// addresses make that unlikely.
func FreePort(addr netip.Addr) (uint16, error) {
	l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		return 0, fmt.Errorf("free port on %v: %w", addr, err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port), nil
}
