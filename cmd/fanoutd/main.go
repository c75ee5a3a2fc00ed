// Command fanoutd is the fanout BGP route server and route reflector daemon.
//
// Without -f it runs on a built-in configuration that works on loopback without root:
// AS 65000, router id 127.0.0.1, BGP on 127.0.0.1:1790, no neighbors.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fanoutd/fanout/bgp/api"
	"github.com/fanoutd/fanout/config"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	os.Exit(run(os.Args[1:], os.Stderr, sigs))
}

const usage = `fanoutd: a BGP route server and route reflector.

Usage: fanoutd [flags]

Configuration is gobgpd's schema (TOML, YAML or JSON, chosen by the file's extension) for
the features fanout supports, plus a [fanout] table; environment variables FANOUT_<KEY>
override file values (FANOUT_GLOBAL_CONFIG_AS, FANOUT_FANOUT_WORKERS, ...). Without -f the
built-in default runs on loopback without root (127.0.0.1:1790, AS 65000, no neighbors).
The GoBGP v3 gRPC API listens on fanout.grpc-address (127.0.0.1:50051; -api-hosts
overrides it), so the stock CLI works: go tool gobgp -p 50051 neighbor. With -tls it is
served over TLS, and with -tls-client-ca-file clients must present a certificate (as
gobgpd's options of the same names).
SIGINT or SIGTERM stop it cleanly: every established peer gets a Cease NOTIFICATION.
SIGHUP reloads: the -f file (or the built-in default) is read again and neighbors are
added, removed or changed (changed ones are reset) according to the diff; unchanged
sessions are not touched. A file that does not load, or that changes a key only a restart
applies (AS, router id, listeners, partitions, workers), changes nothing and is logged.
-diff OLDFILE prints what such a reload from OLDFILE to the -f file would change.

Flags:
`

// run parses the flags, starts the daemon and waits for a signal; it returns the process
// exit code: 0 after a clean stop, 1 when it could not start or stop cleanly, 2 for bad
// flags or configuration.
func run(args []string, stderr io.Writer, sigs <-chan os.Signal) int {
	fs := flag.NewFlagSet("fanoutd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	file := fs.String("f", "", "configuration `file`; empty: the built-in loopback default")
	check := fs.Bool("check", false, "load and validate the configuration, print it as understood, and exit")
	diff := fs.String("diff", "", "print the changes a SIGHUP reload from the running configuration `oldfile` to the -f file (or the built-in default) would apply, one per line, and exit without applying them")
	level := fs.String("log-level", "", "log `level`: debug, info, warn or error (default: the configuration's, else info)")
	useTLS := fs.Bool("tls", false, "serve the gRPC API over TLS (as gobgpd's --tls)")
	tlsCert := fs.String("tls-cert-file", "", "the API's TLS certificate `file` (PEM)")
	tlsKey := fs.String("tls-key-file", "", "the API's TLS key `file` (PEM)")
	tlsClientCA := fs.String("tls-client-ca-file", "", "CA `file` (PEM) that API clients' certificates must chain to: mutual TLS; empty: clients are not authenticated")
	pprof := fs.Bool("pprof", false, "serve net/http/pprof under /debug/pprof/ on fanout.http-address (loopback by default)")
	apiHosts := fs.String("api-hosts", "", "gRPC API (GoBGP v3) listen `address:port`, overriding fanout.grpc-address (default 127.0.0.1:50051)")
	restarting := fs.Bool("r", false, "this start is a graceful restart (as gobgpd's -r): announce Restart State and hold back export until the graceful-restart neighbors' End-of-RIB or their deferral-time (RFC 4724 4.1)")
	var reconcile *time.Duration
	fs.Func("route-reconcile-interval", "how often network instances compare their kernel routes with what they installed and repair the difference, as a `duration` (\"30s\"); 0 disables; overrides fanout.route-reconcile-interval (default 60s)", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		if d < 0 {
			return fmt.Errorf("%v is negative (0 disables reconciliation)", d)
		}
		reconcile = &d
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "fanoutd: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var c *config.Config
	var err error
	if *file != "" {
		c, err = config.Load(*file)
	} else {
		c, err = config.LoadDefault()
	}
	if err != nil {
		fmt.Fprintf(stderr, "fanoutd: configuration refused:\n%v\n", err)
		return 2
	}
	if err := unsupported(c); err != nil {
		fmt.Fprintf(stderr, "fanoutd: configuration refused:\n%v\n", err)
		return 2
	}
	if *diff != "" {
		return printDiff(*diff, c, stderr)
	}
	if reconcile != nil {
		c.Fanout.RouteReconcileInterval = *reconcile
	}
	if *apiHosts != "" {
		ap, err := netip.ParseAddrPort(*apiHosts)
		if err != nil {
			fmt.Fprintf(stderr, "fanoutd: -api-hosts %q: want address:port: %v\n", *apiHosts, err)
			return 2
		}
		c.Fanout.GRPCAddress = ap
	}
	var o options
	o.restarting = *restarting
	if *useTLS {
		if o.tls, err = api.LoadTLS(*tlsCert, *tlsKey, *tlsClientCA); err != nil {
			fmt.Fprintf(stderr, "fanoutd: -tls: %v\n", err)
			return 2
		}
	} else if *tlsCert != "" || *tlsKey != "" || *tlsClientCA != "" {
		fmt.Fprintln(stderr, "fanoutd: TLS files given without -tls")
		return 2
	}
	if *check {
		fmt.Fprintf(stderr, "configuration ok: AS %d, router id %s, %d neighbors, BGP port %d\n",
			c.Global.AS, c.Global.RouterID, len(c.Neighbors), c.Global.Port)
		return 0
	}
	lvl := c.Fanout.LogLevel
	if *level != "" {
		lvl = *level
	}
	log, atom, err := newLogger(lvl, stderr)
	o.level = &atom
	if err != nil {
		fmt.Fprintf(stderr, "fanoutd: %v\n", err)
		return 2
	}
	defer log.Sync()

	o.pprof = *pprof
	d, err := startWith(c, log, o)
	if err != nil {
		log.Error("fanoutd did not start", zap.Error(err))
		return 1
	}
	log.Info("fanoutd running", zap.Uint32("as", c.Global.AS), zap.Stringer("router-id", c.Global.RouterID),
		zap.Any("listen", d.srv.ListenAddrs()), zap.Stringer("api", d.apiAddr), zap.Int("neighbors", len(c.Neighbors)))
	r := &reloader{d: d, log: log.Named("reload"), path: *file, cur: c, level: o.level, levelFlag: *level != ""}
	if *apiHosts != "" {
		r.grpcAddress = c.Fanout.GRPCAddress
	}
	sig := r.serve(sigs)
	log.Info("stopping", zap.Stringer("signal", sig))
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := d.stop(ctx); err != nil {
		log.Error("unclean stop", zap.Error(err))
		return 1
	}
	log.Info("stopped")
	return 0
}

// newLogger returns a structured logger writing JSON lines to w at the given level, and
// the level, which the API's SetLogLevel changes.
func newLogger(level string, w io.Writer) (*zap.Logger, zap.AtomicLevel, error) {
	lvl := zapcore.InfoLevel
	if level != "" {
		if err := lvl.UnmarshalText([]byte(level)); err != nil {
			return nil, zap.AtomicLevel{}, fmt.Errorf("log level %q: want debug, info, warn or error", level)
		}
	}
	atom := zap.NewAtomicLevelAt(lvl)
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(w), atom)
	return zap.New(core), atom, nil
}
