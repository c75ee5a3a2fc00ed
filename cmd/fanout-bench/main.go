// Command fanout-bench is fanout's route-churn generator and side-by-side benchmark
// harness.
//
//	fanout-bench run --targets fanoutd,bird,frr,gobgpd,openbgpd --workloads converge,fanout,churn,storm \
//	    --repeat 3 --out results.json
//	fanout-bench report results.json > BENCHMARKS-section.md
//	fanout-bench gen --workload converge --target 127.0.0.2:1790 [--print-config]
//	fanout-bench suite [--quick] [--targets fanoutd,bird] [--md BENCHMARKS.md] [--dir bench/results]
//	fanout-bench publish [--md BENCHMARKS.md] [--dir bench/results]
//
// run starts each installed target per run through bench/targets, runs the workloads,
// stops it, and writes every run's JSON plus medians; report turns that JSON into markdown
// tables; gen runs one workload against a daemon that is already running (--print-config
// prints the gobgpd-style configuration it must have); suite is make bench (bench/suite:
// micro-benchmarks, the default workloads within a time budget, charts, and the generated
// section of BENCHMARKS.md); publish renders that section again from the suite's files.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/bench/gen"
	"github.com/fanoutd/fanout/bench/harness"
	"github.com/fanoutd/fanout/bench/targets"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage:
  fanout-bench run    [flags]   run workloads against targets it starts (see -h)
  fanout-bench report FILE      write markdown tables for a results file to stdout
  fanout-bench gen    [flags]   run one workload against a running daemon (see -h)
  fanout-bench suite  [flags]   make bench: micro-benchmarks, the default side-by-side suite,
                                charts and BENCHMARKS.md's generated section (see -h)
  fanout-bench publish [flags]  write BENCHMARKS.md's generated section again from a suite's files
workloads: %s
targets:   %s
`

// run executes the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, strings.Join(gen.Workloads(), ", "), strings.Join(harness.TargetNames(), ", "))
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], stdout, stderr)
	case "report":
		err = cmdReport(args[1:], stdout)
	case "suite":
		err = cmdSuite(ctx, args[1:], stdout, stderr)
	case "publish":
		err = cmdPublish(args[1:], stderr)
	case "gen":
		err = cmdGen(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintf(stdout, usage, strings.Join(gen.Workloads(), ", "), strings.Join(harness.TargetNames(), ", "))
		return 0
	default:
		fmt.Fprintf(stderr, usage, strings.Join(gen.Workloads(), ", "), strings.Join(harness.TargetNames(), ", "))
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "fanout-bench:", err)
		return 1
	}
	return 0
}

// paramFlags registers the workload parameter flags; apply copies the ones given on the
// command line over a workload's defaults.
type paramFlags struct {
	fs  *flag.FlagSet
	p   gen.Params
	set map[string]bool
}

func newParamFlags(fs *flag.FlagSet) *paramFlags {
	pf := &paramFlags{fs: fs}
	p := &pf.p
	fs.Uint64Var(&p.Seed, "seed", 1, "random seed (runs are deterministic from it)")
	fs.IntVar(&p.Speakers, "speakers", 0, "speakers (ixp: members)")
	fs.IntVar(&p.Prefixes, "prefixes", 0, "prefixes per speaker (fanout, latency: the table)")
	fs.IntVar(&p.Receivers, "receivers", 0, "receivers")
	fs.Float64Var(&p.Overlap, "overlap", 0, "fraction of each speaker's prefixes all speakers announce")
	fs.Float64Var(&p.IPv6, "ipv6", 0, "fraction of IPv6 prefixes (MP_REACH over the IPv4 sessions)")
	fs.IntVar(&p.AttrSets, "attr-sets", 0, "attribute sets per speaker (0: prefixes/10)")
	fs.Float64Var(&p.Reannounce, "reannounce", 0, "churn: fraction re-announced with new attributes")
	fs.Float64Var(&p.Withdraw, "withdraw", 0, "churn: fraction withdrawn")
	fs.Float64Var(&p.Rate, "rate", 0, "churn, latency: prefixes per second (0: full speed)")
	fs.StringVar(&p.MRTFile, "mrt", "", "replay, fanout: MRT RIB or updates file")
	fs.StringVar(&p.MRTPeer, "mrt-peer", "", "the MRT peer to take (empty: the first)")
	fs.IntVar(&p.MRTMax, "mrt-max", 0, "at most this many MRT routes or messages (0: all)")
	fs.Float64Var(&p.Speed, "speed", 0, "replay speed: 0 full speed, 1 recorded, 2 twice as fast")
	fs.Var((*durationFlag)(&p.HoldTime), "hold", "hold time offered (default 90s)")
	fs.Var((*durationFlag)(&p.Timeout), "timeout", "bound of each timed phase (default 120s)")
	fs.Var((*durationFlag)(&p.Settle), "settle", "how long a converged table must stay put (default 300ms)")
	fs.IntVar(&p.Parallel, "dial-parallel", 0, "sessions dialled at once (default 16)")
	fs.StringVar(&p.PeerBase, "peer-base", "", "first generator address (default 127.0.1.1)")
	fs.StringVar(&p.Expect, "expect", "", `"wrong" corrupts the expectation, to see the check fail`)
	return pf
}

// apply returns d with the flags given on the command line.
func (pf *paramFlags) apply(d gen.Params) gen.Params {
	if pf.set == nil {
		pf.set = map[string]bool{}
		pf.fs.Visit(func(f *flag.Flag) { pf.set[f.Name] = true })
	}
	p, s := pf.p, pf.set
	type kv struct {
		name string
		set  func()
	}
	for _, x := range []kv{
		{"seed", func() { d.Seed = p.Seed }}, {"speakers", func() { d.Speakers = p.Speakers }},
		{"prefixes", func() { d.Prefixes = p.Prefixes }}, {"receivers", func() { d.Receivers = p.Receivers }},
		{"overlap", func() { d.Overlap = p.Overlap }}, {"ipv6", func() { d.IPv6 = p.IPv6 }},
		{"attr-sets", func() { d.AttrSets = p.AttrSets }}, {"reannounce", func() { d.Reannounce = p.Reannounce }},
		{"withdraw", func() { d.Withdraw = p.Withdraw }}, {"rate", func() { d.Rate = p.Rate }},
		{"mrt", func() { d.MRTFile = p.MRTFile }}, {"mrt-peer", func() { d.MRTPeer = p.MRTPeer }},
		{"mrt-max", func() { d.MRTMax = p.MRTMax }}, {"speed", func() { d.Speed = p.Speed }},
		{"hold", func() { d.HoldTime = p.HoldTime }}, {"timeout", func() { d.Timeout = p.Timeout }},
		{"settle", func() { d.Settle = p.Settle }}, {"dial-parallel", func() { d.Parallel = p.Parallel }},
		{"peer-base", func() { d.PeerBase = p.PeerBase }}, {"expect", func() { d.Expect = p.Expect }},
	} {
		if s[x.name] {
			x.set()
		}
	}
	return d
}

type durationFlag gen.Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }
func (d *durationFlag) Set(s string) error {
	v, err := time.ParseDuration(s)
	*d = durationFlag(v)
	return err
}

func parseRole(s string) (targets.Role, error) {
	switch s {
	case "rs", "route-server":
		return targets.RouteServer, nil
	case "rr", "route-reflector":
		return targets.RouteReflector, nil
	}
	return 0, fmt.Errorf("role %q: want rs or rr", s)
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func newLogger(verbose bool, stderr io.Writer) *zap.Logger {
	if !verbose {
		return zap.NewNop()
	}
	cfg := zap.NewDevelopmentConfig()
	l, err := cfg.Build()
	if err != nil {
		fmt.Fprintln(stderr, "logger:", err)
		return zap.NewNop()
	}
	return l
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tl := fs.String("targets", strings.Join(harness.TargetNames(), ","), "targets to run")
	wl := fs.String("workloads", "converge,fanout,churn,storm", "workloads to run")
	repeat := fs.Int("repeat", 3, "runs per target and workload")
	out := fs.String("out", "results.json", "results file (JSON), rewritten after every run")
	role := fs.String("role", "rs", "target role: rs (route server) or rr (route reflector)")
	fanoutd := fs.String("fanoutd", "bin/fanoutd", "the fanoutd binary")
	listen := fs.String("listen", "127.0.0.2", "first target listen address (each target takes the next)")
	keep := fs.Bool("keep", false, "keep each daemon's run directory")
	verbose := fs.Bool("v", false, "log session events")
	quiet := fs.Bool("q", false, "no progress lines")
	cpuprofile := fs.String("cpuprofile", "", "write the generator's CPU profile here")
	pf := newParamFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	r, err := parseRole(*role)
	if err != nil {
		return err
	}
	base, err := netip.ParseAddr(*listen)
	if err != nil {
		return err
	}
	cfg := harness.Config{Targets: splitList(*tl), Workloads: splitList(*wl), Repeat: *repeat, Role: r,
		Fanoutd: *fanoutd, ListenBase: base, Logger: newLogger(*verbose, stderr), Params: map[string]gen.Params{},
		Options: targets.Options{KeepDir: *keep}, Command: "fanout-bench run " + strings.Join(args, " ")}
	if !*quiet {
		cfg.Progress = stderr
	}
	for _, w := range cfg.Workloads {
		cfg.Params[w] = pf.apply(gen.DefaultParams(w))
	}
	var saveErr error
	cfg.OnResult = func(rep *harness.Report) { saveErr = harness.Save(*out, rep) }
	rep, err := harness.Run(ctx, cfg)
	if rep != nil {
		if serr := harness.Save(*out, rep); serr != nil {
			return serr
		}
		printSummary(stdout, rep)
		fmt.Fprintf(stdout, "results: %s\n", *out)
	}
	if err != nil {
		return err
	}
	return saveErr
}

func cmdReport(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: fanout-bench report results.json")
	}
	rep, err := harness.Load(args[0])
	if err != nil {
		return err
	}
	return harness.WriteMarkdown(stdout, rep)
}

func cmdGen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wl := fs.String("workload", "converge", "workload")
	target := fs.String("target", "", "the running daemon's BGP address:port (loopback)")
	role := fs.String("role", "rs", "target role: rs or rr")
	printCfg := fs.Bool("print-config", false, "print the gobgpd-style configuration the daemon needs and exit")
	verbose := fs.Bool("v", false, "log session events")
	pf := newParamFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := parseRole(*role)
	if err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(*target)
	if err != nil {
		return fmt.Errorf("--target: %w", err)
	}
	plan, err := gen.NewPlan(*wl, pf.apply(gen.DefaultParams(*wl)), r)
	if err != nil {
		return err
	}
	if *printCfg {
		_, err := stdout.Write(targets.GoBGPConfig(plan.Spec(r, ap)))
		return err
	}
	res := plan.Run(ctx, gen.Env{Target: ap, Role: r, Logger: newLogger(*verbose, stderr), Progress: stderr, Label: *wl})
	res.Target = ap.String()
	fmt.Fprintln(stderr, res.Summary())
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return err
	}
	if !res.OK {
		return errors.New(res.Error)
	}
	return nil
}
