package targets

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultVTYSH is FRR's vtysh.
const DefaultVTYSH = "/usr/bin/vtysh"

// RouteCounter is implemented by the targets whose own CLI can report what they received. The
// benchmark checks the tables its receivers hold; this is for diagnostics and reports.
type RouteCounter interface {
	// ReceivedPrefixes returns, per neighbor address, how many IPv4 unicast prefixes the
	// daemon run by p holds as received from that neighbor.
	ReceivedPrefixes(ctx context.Context, p *Process) (map[netip.Addr]int, error)
}

// ReceivedPrefixes implements RouteCounter with "gobgp neighbor -j".
func (g GoBGPD) ReceivedPrefixes(ctx context.Context, p *Process) (map[netip.Addr]int, error) {
	host, port, err := net.SplitHostPort(p.Control())
	if err != nil {
		return nil, fmt.Errorf("gobgpd control %q: %w", p.Control(), err)
	}
	out, err := run(ctx, g.cli(), "-u", host, "-p", port, "neighbor", "-j")
	if err != nil {
		return nil, err
	}
	var peers []struct {
		Conf struct {
			NeighborAddress string `json:"neighbor_address"`
		} `json:"conf"`
		AfiSafis []struct {
			State struct {
				Family struct {
					Afi  int `json:"afi"`
					Safi int `json:"safi"`
				} `json:"family"`
				Received int `json:"received"`
			} `json:"state"`
		} `json:"afi_safis"`
	}
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		return nil, fmt.Errorf("gobgp neighbor -j: %w", err)
	}
	counts := make(map[netip.Addr]int, len(peers))
	for _, peer := range peers {
		a, err := netip.ParseAddr(peer.Conf.NeighborAddress)
		if err != nil {
			return nil, fmt.Errorf("gobgp neighbor -j: %w", err)
		}
		counts[a] = 0
		for _, af := range peer.AfiSafis {
			if af.State.Family.Afi == 1 && af.State.Family.Safi == 1 {
				counts[a] += af.State.Received
			}
		}
	}
	return counts, nil
}

// ReceivedPrefixes implements RouteCounter with "birdc show protocols all": the imported
// routes of each session's ipv4 channel.
func (b BIRD) ReceivedPrefixes(ctx context.Context, p *Process) (map[netip.Addr]int, error) {
	out, err := run(ctx, b.cli(), "-s", p.Control(), "show", "protocols", "all")
	if err != nil {
		return nil, err
	}
	byName := make(map[string]netip.Addr)
	for i, n := range p.Spec().Neighbors {
		byName[birdName(i, n)] = n.Address
	}
	return parseBIRDProtocols(out, byName)
}

// parseBIRDProtocols reads "show protocols all": a block per protocol starting at column 0
// with its name, "Channel ipv4" within it, then "Routes: N imported, ...".
func parseBIRDProtocols(out string, byName map[string]netip.Addr) (map[netip.Addr]int, error) {
	counts := make(map[netip.Addr]int)
	var cur netip.Addr
	inV4 := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case line != "" && line[0] != ' ' && line[0] != '\t':
			name, _, _ := strings.Cut(line, " ")
			cur, inV4 = byName[name], false
			if cur.IsValid() {
				counts[cur] = 0
			}
		case strings.HasPrefix(trimmed, "Channel "):
			inV4 = trimmed == "Channel ipv4"
		case inV4 && cur.IsValid() && strings.HasPrefix(trimmed, "Routes:"):
			f := strings.Fields(trimmed)
			if len(f) < 3 || f[2] != "imported," {
				return nil, fmt.Errorf("birdc: odd line %q", trimmed)
			}
			n, err := strconv.Atoi(f[1])
			if err != nil {
				return nil, fmt.Errorf("birdc: odd line %q: %w", trimmed, err)
			}
			counts[cur] = n
		}
	}
	return counts, sc.Err()
}

// ReceivedPrefixes implements RouteCounter with vtysh on bgpd's own vty socket.
func (f FRR) ReceivedPrefixes(ctx context.Context, p *Process) (map[netip.Addr]int, error) {
	out, err := run(ctx, orDefault(f.VTYSH, DefaultVTYSH), "--vty_socket", filepath.Dir(p.Control()),
		"-d", "bgpd", "-c", "show bgp ipv4 unicast summary json")
	if err != nil {
		return nil, err
	}
	var sum struct {
		Peers map[string]struct {
			PfxRcd int `json:"pfxRcd"`
		} `json:"peers"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		return nil, fmt.Errorf("vtysh summary json: %w", err)
	}
	counts := make(map[netip.Addr]int, len(sum.Peers))
	for addr, peer := range sum.Peers {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return nil, fmt.Errorf("vtysh summary json: %w", err)
		}
		counts[a] = peer.PfxRcd
	}
	return counts, nil
}

// ReceivedPrefixes implements RouteCounter with "bgpctl show summary": the last column is the
// prefix count of an established session and its state otherwise. It counts every family.
func (o OpenBGPD) ReceivedPrefixes(ctx context.Context, p *Process) (map[netip.Addr]int, error) {
	out, err := run(ctx, o.cli(), "-s", p.Control(), "show", "summary")
	if err != nil {
		return nil, err
	}
	counts := make(map[netip.Addr]int)
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue // the header
		}
		n, err := strconv.Atoi(f[len(f)-1])
		if err != nil {
			n = 0 // not established
		}
		counts[a] = n
	}
	return counts, sc.Err()
}
