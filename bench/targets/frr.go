package targets

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultFRRBGPD is bgpd of the Debian frr package.
const DefaultFRRBGPD = "/usr/lib/frr/bgpd"

// frrCrashDir is where FRR's libfrr keeps a per-process crash-log directory
// (/var/tmp/frr/<daemon>.<pid>) whatever the command line says; Stop removes ours.
const frrCrashDir = "/var/tmp/frr"

// FRR runs FRR's bgpd alone: no zebra, no vty TCP port, its vty socket and pid file in the
// run directory, and the BGP listener on the spec's address and port only.
type FRR struct {
	// Binary is bgpd; empty means DefaultFRRBGPD.
	Binary string
	// VTYSH is vtysh, used for queries; empty means DefaultVTYSH.
	VTYSH string
}

// Name implements Target.
func (FRR) Name() string { return "frr" }

func (f FRR) binary() string { return orDefault(f.Binary, DefaultFRRBGPD) }

// Version implements Target: "8.4.4" from "bgpd version 8.4.4".
func (f FRR) Version(ctx context.Context) (string, error) {
	out, err := run(ctx, f.binary(), "--version")
	if err != nil {
		return "", err
	}
	first, _, _ := strings.Cut(out, "\n")
	return lastField(first), nil
}

// Prepare implements Target.
//
// -Z runs without zebra; -S skips the switch to the frr user and its capability checks (bgpd
// runs as the caller, root in CI, and reads a config the frr user could not); -P 0 turns off
// the vty TCP port (2605 otherwise); -p and -l put the BGP listener on the spec's address and
// port; --log stdout sends the log to the captured output.
func (f FRR) Prepare(spec Spec, dir string) (Launch, error) {
	conf := filepath.Join(dir, "frr.conf")
	if err := os.WriteFile(conf, FRRConfig(spec), 0o644); err != nil {
		return Launch{}, fmt.Errorf("write config: %w", err)
	}
	vtyDir := filepath.Join(dir, "vty")
	if err := os.Mkdir(vtyDir, 0o755); err != nil {
		return Launch{}, fmt.Errorf("vty dir: %w", err)
	}
	sock := filepath.Join(vtyDir, "bgpd.vty")
	return Launch{
		Path: f.binary(),
		Args: []string{
			"-Z", "-S", "-P", "0",
			"-p", strconv.Itoa(int(spec.Port)), "-l", spec.ListenAddr.String(),
			"-f", conf, "-i", filepath.Join(dir, "bgpd.pid"), "--vty_socket", vtyDir,
			"--log", "stdout",
		},
		ConfigPath: conf,
		Control:    sock,
		Ready: func(ctx context.Context) error {
			_, err := os.Stat(sock)
			return err
		},
		Cleanup: func(pid int) {
			os.RemoveAll(filepath.Join(frrCrashDir, "bgpd."+strconv.Itoa(pid)))
		},
	}, nil
}

// FRRConfig renders spec as an FRR bgpd configuration.
//
// eBGP needs no policy (no bgp ebgp-requires-policy); every family is activated explicitly;
// route-server clients are route-server-client in each family (no AS prepended, next hop
// kept); route-reflector clients are route-reflector-client with bgp cluster-id. Neighbors
// are not on a connected network as bgpd sees it without zebra, so the connected check is off.
func FRRConfig(spec Spec) []byte {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("! %s for fanout's benchmark and interop tests", spec.Role)
	w("frr defaults traditional")
	w("hostname fanout-target")
	w("log stdout informational")
	w("!")
	w("router bgp %d", spec.AS)
	w(" bgp router-id %s", spec.RouterID)
	w(" no bgp ebgp-requires-policy")
	w(" no bgp default ipv4-unicast")
	w(" no bgp network import-check")
	if spec.Role == RouteReflector {
		w(" bgp cluster-id %s", spec.clusterID())
	}
	w(" timers bgp %d %d", spec.keepaliveSeconds(), spec.holdSeconds())
	for _, n := range spec.Neighbors {
		a := n.Address
		w(" neighbor %s remote-as %d", a, n.AS)
		w(" neighbor %s update-source %s", a, spec.ListenAddr)
		w(" neighbor %s disable-connected-check", a)
		if n.Passive {
			w(" neighbor %s passive", a)
		} else {
			w(" neighbor %s port %d", a, n.remotePort())
			w(" neighbor %s timers connect 5", a)
		}
	}
	for _, f := range []Family{IPv4Unicast, IPv6Unicast} {
		af := "ipv4 unicast"
		if f == IPv6Unicast {
			af = "ipv6 unicast"
		}
		var lines []string
		for _, n := range spec.Neighbors {
			if !n.hasFamily(f) {
				continue
			}
			lines = append(lines, fmt.Sprintf("  neighbor %s activate", n.Address))
			if n.RouteServerClient {
				lines = append(lines, fmt.Sprintf("  neighbor %s route-server-client", n.Address))
			}
			if n.RouteReflectorClient {
				lines = append(lines, fmt.Sprintf("  neighbor %s route-reflector-client", n.Address))
			}
		}
		if len(lines) == 0 {
			continue
		}
		w(" !")
		w(" address-family %s", af)
		for _, l := range lines {
			w("%s", l)
		}
		w(" exit-address-family")
	}
	w("!")
	return b.Bytes()
}
