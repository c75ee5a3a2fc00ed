package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fanoutd/fanout/bench/harness"
	"github.com/fanoutd/fanout/bench/suite"
	"github.com/fanoutd/fanout/bench/targets"
)

// suiteFiles names the files a suite run writes in dir.
func suiteFiles(dir, md string) suite.Files {
	return suite.Files{Results: filepath.Join(dir, "results.json"), Micro: filepath.Join(dir, "micro.txt"),
		Meta: filepath.Join(dir, "suite.json"), Markdown: md, ChartDir: dir}
}

// cmdSuite is make bench: the Go micro-benchmarks, then the side-by-side workloads on every
// installed target, then the generated section of the markdown file and the charts. The
// whole run keeps within --budget: a side-by-side run that could not finish before it is
// not started (and the report says so).
func cmdSuite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("suite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "smoke run: tiny workloads, one repeat, two micro-benchmarks")
	tl := fs.String("targets", strings.Join(harness.TargetNames(), ","), "targets to run (those not installed are skipped)")
	wl := fs.String("workloads", "", "workloads to run (default: the suite's: "+strings.Join(mustNames(), ",")+")")
	repeat := fs.Int("repeat", 0, "runs per target and workload (default 3, 1 with -quick)")
	timeout := fs.Duration("timeout", 20*time.Second, "bound of each timed phase; a target that hits it is reported as timed out")
	budget := fs.Duration("budget", 18*time.Minute, "time budget of the whole suite: no run starts that could end after it")
	md := fs.String("md", "BENCHMARKS.md", "markdown file whose generated section is replaced")
	dir := fs.String("dir", "bench/results", "where results.json, micro.txt, suite.json and the charts go")
	goCmd := fs.String("go", "go", "the go command (for the micro-benchmarks)")
	fanoutd := fs.String("fanoutd", "bin/fanoutd", "the fanoutd binary")
	listen := fs.String("listen", "127.0.0.2", "first target listen address (each target takes the next)")
	micro := fs.Bool("micro", true, "run the Go micro-benchmarks")
	side := fs.Bool("side", true, "run the side-by-side workloads")
	command := fs.String("command", "", "the command a reader runs to reproduce this (default: this command line)")
	quiet := fs.Bool("q", false, "no progress lines")
	keepFailed := fs.Bool("keep-failed", false, "keep a failed run's daemon directory (config, log) to look into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("suite: unexpected arguments %q", fs.Args())
	}
	if *timeout <= 0 || *budget <= 0 {
		return fmt.Errorf("suite: -timeout and -budget must be positive")
	}
	invocation := suite.ShellJoin(append([]string{"fanout-bench", "suite"}, args...))
	if *command == "" {
		*command = invocation
	}
	var progress io.Writer = stderr
	if *quiet {
		progress = nil
	}
	start := time.Now()
	deadline := start.Add(*budget)
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	files := suiteFiles(*dir, *md)
	meta := suite.Meta{Command: *command, Invocation: invocation, Started: start, Source: suite.Source(ctx, ".")}
	pub := files
	pub.Results, pub.Micro = "", ""

	if *micro {
		ms := suite.Micros(*quick)
		for _, m := range ms {
			meta.MicroCommands = append(meta.MicroCommands, m.Command("go"))
		}
		f, err := os.Create(files.Micro)
		if err != nil {
			return err
		}
		// The micro-benchmarks get at most a third of the budget.
		mctx, cancel := context.WithDeadline(ctx, start.Add(*budget/3))
		_, err = suite.RunMicro(mctx, *goCmd, ".", ms, f, progress)
		cancel()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("micro-benchmarks: %w", err)
		}
		pub.Micro = files.Micro
	}

	var runErr error
	if *side {
		names, params := suite.Workloads(*quick, *timeout)
		if *wl != "" {
			names = splitList(*wl)
		}
		rpt := *repeat
		if rpt <= 0 {
			rpt = map[bool]int{true: 1, false: 3}[*quick]
		}
		base, err := netip.ParseAddr(*listen)
		if err != nil {
			return fmt.Errorf("-listen: %w", err)
		}
		cfg := harness.Config{Targets: splitList(*tl), Workloads: names, Repeat: rpt, Role: targets.RouteServer,
			Fanoutd: *fanoutd, ListenBase: base, Params: params, Progress: progress, Command: invocation,
			Deadline: deadline.Add(-time.Minute), Logger: newLogger(false, stderr), // a minute for the charts and markdown
			DiscardFailed: !*keepFailed}
		var saveErr error
		cfg.OnResult = func(rep *harness.Report) { saveErr = harness.Save(files.Results, rep) }
		rep, err := harness.Run(ctx, cfg)
		if rep != nil {
			if serr := harness.Save(files.Results, rep); serr != nil {
				return serr
			}
			pub.Results = files.Results
			printSummary(stdout, rep)
		}
		if err != nil {
			runErr = err // publish what there is, then report it
		} else if saveErr != nil {
			return saveErr
		}
	}
	meta.WallSeconds = time.Since(start).Seconds()
	if err := suite.SaveMeta(files.Meta, meta); err != nil {
		return err
	}
	if err := suite.Publish(pub); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "suite: %s in %s; wrote %s and %s\n", *command, time.Since(start).Round(time.Second), *md, *dir)
	return runErr
}

// cmdPublish renders the generated section again from a suite's files.
func cmdPublish(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	md := fs.String("md", "BENCHMARKS.md", "markdown file whose generated section is replaced")
	dir := fs.String("dir", "bench/results", "the suite's directory (results.json, micro.txt, suite.json; charts)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f := suiteFiles(*dir, *md)
	for _, p := range []*string{&f.Results, &f.Micro, &f.Meta} {
		if _, err := os.Stat(*p); err != nil {
			*p = ""
		}
	}
	return suite.Publish(f)
}

func printSummary(w io.Writer, rep *harness.Report) {
	for _, s := range rep.Summary {
		fmt.Fprintf(w, "%-9s %-9s %s %s  cpu %.2fs  rss %.1f MiB  updates %d  ok %d/%d  not run %d  dropped %d\n",
			s.Target, s.Workload, s.Headline, s.TimeText(), s.CPU, float64(s.RSS)/(1<<20), s.Updates, s.OK, s.Runs, s.NotRun, s.Dropped)
	}
}

func mustNames() []string {
	n, _ := suite.Workloads(false, time.Second)
	return n
}
