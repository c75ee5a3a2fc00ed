package targets

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Default paths of the Debian bird2 package.
const (
	DefaultBIRD  = "/usr/sbin/bird"
	DefaultBIRDC = "/usr/sbin/birdc"
)

// BIRD runs BIRD 2 in the foreground with its control socket in the run directory.
type BIRD struct {
	// Binary is bird; empty means DefaultBIRD.
	Binary string
	// CLI is birdc; empty means DefaultBIRDC.
	CLI string
}

// Name implements Target.
func (BIRD) Name() string { return "bird" }

func (b BIRD) binary() string { return orDefault(b.Binary, DefaultBIRD) }
func (b BIRD) cli() string    { return orDefault(b.CLI, DefaultBIRDC) }

// Version implements Target: "2.0.12" from "BIRD version 2.0.12" (printed on stderr).
func (b BIRD) Version(ctx context.Context) (string, error) {
	out, err := run(ctx, b.binary(), "--version")
	if err != nil {
		return "", err
	}
	return lastField(out), nil
}

// Prepare implements Target.
func (b BIRD) Prepare(spec Spec, dir string) (Launch, error) {
	conf := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(conf, BIRDConfig(spec), 0o644); err != nil {
		return Launch{}, fmt.Errorf("write config: %w", err)
	}
	sock := filepath.Join(dir, "bird.ctl")
	cli := b.cli()
	return Launch{
		Path:       b.binary(),
		Args:       []string{"-f", "-c", conf, "-s", sock, "-P", filepath.Join(dir, "bird.pid")},
		ConfigPath: conf,
		Control:    sock,
		Ready: func(ctx context.Context) error {
			_, err := run(ctx, cli, "-s", sock, "show", "status")
			return err
		},
	}, nil
}

// BIRDConfig renders spec as a BIRD 2 configuration.
//
// BIRD refuses a directly connected neighbor on the loopback interface ("Invalid remote
// address"), so every session is multihop; strict bind makes BIRD listen on the local address
// only instead of the wildcard, so several instances can share a port number. Route-server
// clients are "rs client" (no AS prepended, next hop kept); route-reflector clients are
// "rr client" with the spec's cluster id. Routes go through the master tables with import all
// and export all.
func BIRDConfig(spec Spec) []byte {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# %s for fanout's benchmark and interop tests", spec.Role)
	w("router id %s;", spec.RouterID)
	w("log stderr all;")
	w("")
	w("protocol device {}")
	for i, n := range spec.Neighbors {
		w("")
		w("protocol bgp %s {", birdName(i, n))
		w("  local %s port %d as %d;", spec.ListenAddr, spec.Port, spec.AS)
		if n.Passive {
			w("  neighbor %s as %d;", n.Address, n.AS)
			w("  passive on;")
		} else {
			w("  neighbor %s port %d as %d;", n.Address, n.remotePort(), n.AS)
			w("  connect retry time 5;")
		}
		w("  strict bind on;")
		w("  multihop;")
		w("  hold time %d;", spec.holdSeconds())
		w("  keepalive time %d;", spec.keepaliveSeconds())
		if n.RouteServerClient {
			w("  rs client;")
		}
		if n.RouteReflectorClient {
			w("  rr client;")
			w("  rr cluster id %s;", spec.clusterID())
		}
		for _, f := range n.families() {
			ch := "ipv4"
			if f == IPv6Unicast {
				ch = "ipv6"
			}
			w("  %s { import all; export all; };", ch)
		}
		w("}")
	}
	return b.Bytes()
}

// birdName is a protocol name for neighbor i: BIRD names are symbols, so no dots or colons.
func birdName(i int, n Neighbor) string {
	r := strings.NewReplacer(".", "_", ":", "_")
	return fmt.Sprintf("n%d_%s", i, r.Replace(n.Address.String()))
}
