package targets

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Default paths of the Debian openbgpd package.
const (
	DefaultOpenBGPD = "/usr/sbin/bgpd"
	DefaultBGPCTL   = "/usr/sbin/bgpctl"
)

// openBGPDChroot is the home directory of the _openbgpd user the Debian package creates:
// bgpd's unprivileged processes chroot into it. systemd creates it (RuntimeDirectory=); without
// systemd nothing does, so Prepare does.
const openBGPDChroot = "/run/openbgpd"

// OpenBGPD runs OpenBGPD's bgpd in the foreground (-d), with its control socket in the run
// directory and the kernel routing table left alone. bgpd must run as root: it chroots its
// session engine, route decision engine and RTR process (three forked children) into
// /run/openbgpd and drops to the _openbgpd user.
type OpenBGPD struct {
	// Binary is bgpd; empty means DefaultOpenBGPD.
	Binary string
	// CLI is bgpctl; empty means DefaultBGPCTL.
	CLI string
}

// Name implements Target.
func (OpenBGPD) Name() string { return "openbgpd" }

func (o OpenBGPD) binary() string { return orDefault(o.Binary, DefaultOpenBGPD) }
func (o OpenBGPD) cli() string    { return orDefault(o.CLI, DefaultBGPCTL) }

// Version implements Target: bgpd -V, or the Debian package version when that fails.
func (o OpenBGPD) Version(ctx context.Context) (string, error) {
	if out, err := run(ctx, o.binary(), "-V"); err == nil && strings.TrimSpace(out) != "" {
		return lastField(out), nil
	}
	out, err := run(ctx, "dpkg-query", "-W", "-f", "${Version}", "openbgpd")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out), nil
}

// Prepare implements Target.
func (o OpenBGPD) Prepare(spec Spec, dir string) (Launch, error) {
	if err := os.MkdirAll(openBGPDChroot, 0o755); err != nil {
		return Launch{}, fmt.Errorf("openbgpd chroot %s: %w", openBGPDChroot, err)
	}
	sock := filepath.Join(dir, "bgpd.sock")
	conf := filepath.Join(dir, "bgpd.conf")
	if err := os.WriteFile(conf, OpenBGPDConfig(spec, sock), 0o600); err != nil {
		return Launch{}, fmt.Errorf("write config: %w", err)
	}
	cli := o.cli()
	return Launch{
		Path:       o.binary(),
		Args:       []string{"-d", "-f", conf},
		ConfigPath: conf,
		Control:    sock,
		Ready: func(ctx context.Context) error {
			_, err := run(ctx, cli, "-s", sock, "show", "summary")
			return err
		},
	}, nil
}

// OpenBGPDConfig renders spec as an OpenBGPD bgpd.conf with its control socket at sock.
//
// OpenBGPD's filters deny by default, so everything is allowed in both directions;
// fib-update no keeps the kernel routing table untouched. A route server sets transparent-as
// yes (no AS prepended) and nexthop no-modify on multihop sessions; route-reflector clients are route-reflector
// with the spec's cluster id.
func OpenBGPDConfig(spec Spec, sock string) []byte {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# %s for fanout's benchmark and interop tests", spec.Role)
	w("AS %d", spec.AS)
	w("router-id %s", spec.RouterID)
	w("listen on %s port %d", spec.ListenAddr, spec.Port)
	w("socket %q", sock)
	w("fib-update no")
	w("holdtime %d", spec.holdSeconds())
	if spec.Role == RouteServer {
		w("transparent-as yes")
	}
	for _, n := range spec.Neighbors {
		w("")
		w("neighbor %s {", n.Address)
		w("  remote-as %d", n.AS)
		w("  local-address %s", spec.ListenAddr)
		if n.Passive {
			w("  passive")
		} else {
			w("  port %d", n.remotePort())
		}
		for _, f := range []Family{IPv4Unicast, IPv6Unicast} {
			name := "IPv4"
			if f == IPv6Unicast {
				name = "IPv6"
			}
			if n.hasFamily(f) {
				w("  announce %s unicast", name)
			} else {
				w("  announce %s none", name)
			}
		}
		if n.RouteServerClient {
			// nexthop no-modify only holds on multihop sessions; on a directly connected
			// one OpenBGPD keeps a third-party next hop only when it is on the shared
			// network, and nothing is shared on loopback.
			w("  multihop 64")
			w("  set nexthop no-modify")
		}
		if n.RouteReflectorClient {
			w("  route-reflector %s", spec.clusterID())
		}
		if n.RouteServer {
			w("  enforce neighbor-as no")
		}
		w("}")
	}
	w("")
	w("allow from any")
	w("allow to any")
	return b.Bytes()
}
