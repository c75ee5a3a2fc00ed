package targets

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Default paths of the Debian gobgpd package.
const (
	DefaultGoBGPD = "/usr/bin/gobgpd"
	DefaultGoBGP  = "/usr/bin/gobgp"
)

// GoBGPD runs gobgpd with a TOML configuration and its gRPC API on the spec's listen address
// at a free port, pprof disabled.
type GoBGPD struct {
	// Binary is gobgpd; empty means DefaultGoBGPD.
	Binary string
	// CLI is the gobgp client used for readiness and queries; empty means DefaultGoBGP.
	CLI string
}

// Name implements Target.
func (GoBGPD) Name() string { return "gobgpd" }

func (g GoBGPD) binary() string { return orDefault(g.Binary, DefaultGoBGPD) }
func (g GoBGPD) cli() string    { return orDefault(g.CLI, DefaultGoBGP) }

// Version implements Target: "3.10.0" from "gobgpd version 3.10.0".
func (g GoBGPD) Version(ctx context.Context) (string, error) {
	out, err := run(ctx, g.binary(), "--version")
	if err != nil {
		return "", err
	}
	return lastField(out), nil
}

// Prepare implements Target.
func (g GoBGPD) Prepare(spec Spec, dir string) (Launch, error) {
	api, err := apiAddr(spec)
	if err != nil {
		return Launch{}, err
	}
	conf := filepath.Join(dir, "gobgpd.toml")
	if err := os.WriteFile(conf, GoBGPConfig(spec), 0o644); err != nil {
		return Launch{}, fmt.Errorf("write config: %w", err)
	}
	host, port, _ := net.SplitHostPort(api)
	cli := g.cli()
	return Launch{
		Path:       g.binary(),
		Args:       []string{"-f", conf, "-t", "toml", "-p", "--api-hosts", api, "--pprof-disable"},
		ConfigPath: conf,
		Control:    api,
		Ready: func(ctx context.Context) error {
			// Ready once the API answers and lists every configured neighbor.
			out, err := run(ctx, cli, "-u", host, "-p", port, "neighbor", "-j")
			if err != nil {
				return err
			}
			var peers []struct {
				Conf struct {
					NeighborAddress string `json:"neighbor_address"`
				} `json:"conf"`
			}
			if err := json.Unmarshal([]byte(out), &peers); err != nil {
				return fmt.Errorf("gobgp neighbor -j: %w", err)
			}
			if len(peers) < len(spec.Neighbors) {
				return fmt.Errorf("%d of %d neighbors configured", len(peers), len(spec.Neighbors))
			}
			return nil
		},
	}, nil
}

// Fanoutd runs fanoutd with the same gobgpd-schema TOML as GoBGPD.
type Fanoutd struct {
	// Binary is the fanoutd executable; the caller builds it.
	Binary string
	// ExtraArgs follow "-f <config>" on the command line (for example an API address flag).
	ExtraArgs []string
}

// Name implements Target.
func (Fanoutd) Name() string { return "fanoutd" }

// Version implements Target: the git description of the checkout it was built from is the
// caller's business, so this reports the binary's modification time and size as an identity.
func (f Fanoutd) Version(ctx context.Context) (string, error) {
	fi, err := os.Stat(f.Binary)
	if err != nil {
		return "", fmt.Errorf("fanoutd version: %w", err)
	}
	return fmt.Sprintf("build %s (%d bytes)", fi.ModTime().UTC().Format("2006-01-02T15:04:05Z"), fi.Size()), nil
}

// Prepare implements Target.
func (f Fanoutd) Prepare(spec Spec, dir string) (Launch, error) {
	if f.Binary == "" {
		return Launch{}, fmt.Errorf("fanoutd: no binary given")
	}
	conf := filepath.Join(dir, "fanoutd.toml")
	if err := os.WriteFile(conf, GoBGPConfig(spec), 0o644); err != nil {
		return Launch{}, fmt.Errorf("write config: %w", err)
	}
	return Launch{
		Path:       f.Binary,
		Args:       append([]string{"-f", conf}, f.ExtraArgs...),
		ConfigPath: conf,
	}, nil
}

// GoBGPConfig renders spec as a gobgpd TOML configuration, which fanoutd reads too.
func GoBGPConfig(spec Spec) []byte {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# %s for fanout's benchmark and interop tests", spec.Role)
	w("[global.config]")
	w("  as = %d", spec.AS)
	w("  router-id = %q", spec.RouterID)
	w("  port = %d", spec.Port)
	w("  local-address-list = [%q]", spec.ListenAddr)
	for _, n := range spec.Neighbors {
		w("")
		w("[[neighbors]]")
		w("  [neighbors.config]")
		w("    neighbor-address = %q", n.Address)
		w("    peer-as = %d", n.AS)
		w("  [neighbors.timers.config]")
		w("    hold-time = %d", spec.holdSeconds())
		w("    keepalive-interval = %d", spec.keepaliveSeconds())
		w("    connect-retry = 5")
		w("  [neighbors.transport.config]")
		w("    local-address = %q", spec.ListenAddr)
		if n.Passive {
			w("    passive-mode = true")
		} else {
			w("    remote-port = %d", n.remotePort())
		}
		if n.RouteServerClient {
			w("  [neighbors.route-server.config]")
			w("    route-server-client = true")
		}
		if n.RouteReflectorClient {
			w("  [neighbors.route-reflector.config]")
			w("    route-reflector-client = true")
			w("    route-reflector-cluster-id = %q", spec.clusterID())
		}
		for _, f := range n.families() {
			w("  [[neighbors.afi-safis]]")
			w("    [neighbors.afi-safis.config]")
			w("      afi-safi-name = %q", f.String())
		}
	}
	return b.Bytes()
}

// apiAddr picks host:port for a gRPC API on the spec's listen address.
func apiAddr(spec Spec) (string, error) {
	port, err := FreePort(spec.ListenAddr)
	if err != nil {
		return "", err
	}
	return netip.AddrPortFrom(spec.ListenAddr, port).String(), nil
}

// run runs a short command and returns its combined output, with the output in the error when
// it fails.
func run(ctx context.Context, path string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", path, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// lastField returns the last whitespace-separated word of s.
func lastField(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}
