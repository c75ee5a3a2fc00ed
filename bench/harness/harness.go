// Package harness runs the generator's workloads side by side against fanoutd, BIRD 2, FRR
// bgpd, gobgpd and OpenBGPD: for each installed target and each workload it starts the
// daemon through bench/targets with an equivalent Spec on loopback (its own 127.0.0.x
// address and a free port), runs the workload once, stops the daemon and records its CPU
// time and peak RSS; it repeats that, then reports medians and spread as JSON and markdown.
//
// A daemon is started afresh for every run so that its CPU and memory figures belong to
// that run alone. Nothing here is global; Run owns every process and session it starts and
// stops them all before it returns.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/bench/gen"
	"github.com/fanoutd/fanout/bench/targets"
)

// TargetNames are the targets the harness knows, in report order.
func TargetNames() []string { return []string{"fanoutd", "bird", "frr", "gobgpd", "openbgpd"} }

// NewTarget returns the target called name; fanoutd runs the given binary. A relative
// binary path is taken from the current directory (the daemon itself starts in a
// directory of its own).
func NewTarget(name, fanoutd string) (targets.Target, error) {
	switch name {
	case "fanoutd":
		abs, err := filepath.Abs(fanoutd)
		if err != nil {
			return nil, fmt.Errorf("fanoutd binary %q: %w", fanoutd, err)
		}
		return targets.Fanoutd{Binary: abs}, nil
	case "bird":
		return targets.BIRD{}, nil
	case "frr":
		return targets.FRR{}, nil
	case "gobgpd":
		return targets.GoBGPD{}, nil
	case "openbgpd":
		return targets.OpenBGPD{}, nil
	}
	return nil, fmt.Errorf("unknown target %q (have %s)", name, strings.Join(TargetNames(), ", "))
}

// Config is one harness run.
type Config struct {
	Targets   []string              // target names; see TargetNames
	Workloads []string              // workload names; see gen.Workloads
	Repeat    int                   // runs per (target, workload); 0 means 3
	Params    map[string]gen.Params // per workload; missing means gen.DefaultParams
	Role      targets.Role
	Fanoutd   string // the fanoutd binary; empty means bin/fanoutd
	Options   targets.Options
	// ListenBase is the first target listen address; each target gets the next one.
	// Invalid means 127.0.0.2.
	ListenBase netip.Addr
	Logger     *zap.Logger
	Progress   io.Writer // progress lines and one summary line per run; nil means none
	Command    string    // the command line, for the report
	// OnResult, when set, is called after every run (to save partial results).
	OnResult func(r *Report)
	// Deadline, when set, is when the run must end: a run is not started once the time
	// left is less than its workload's timeout; it is listed in Report.NotRun instead.
	Deadline time.Time
	// KeepGoing runs every repeat even after a (target, workload) has failed; by default
	// the remaining repeats of a failed pair are listed in Report.NotRun, so a target that
	// times out costs its timeout once, not Repeat times.
	KeepGoing bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DiscardFailed removes a failed run's directory too; by default it is kept (and named
	// in Result.RunDir) to look into.
	DiscardFailed bool
}

// NotRun is a run the harness chose not to start, and why.
type NotRun struct {
	Target   string `json:"target"`
	Workload string `json:"workload"`
	Repeat   int    `json:"repeat"`
	Why      string `json:"why"`
}

// Report is everything a harness run produced.
type Report struct {
	Command  string            `json:"command"`
	Started  time.Time         `json:"started"`
	Host     Host              `json:"host"`
	Versions map[string]string `json:"versions"`
	Skipped  map[string]string `json:"skipped,omitempty"` // target → why it did not run
	Runs     []gen.Result      `json:"runs"`
	NotRun   []NotRun          `json:"not_run,omitempty"`
	Summary  []Summary         `json:"summary"`
	Finished time.Time         `json:"finished"`
}

// Host describes the machine.
type Host struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go"`
	Kernel    string `json:"kernel,omitempty"`
	CPUModel  string `json:"cpu_model,omitempty"`
	// LoadAvg is /proc/loadavg's 1, 5 and 15 minute averages when the run started: other
	// work on the machine makes the numbers noisy, and this says how busy it was.
	LoadAvg string `json:"load_average,omitempty"`
}

// Describe says in one line what the machine is ("2 CPUs (AMD EPYC), Linux 6.1, go1.26.8,
// load average 0.50 0.40 0.30 at the start").
func (h Host) Describe() string {
	s := fmt.Sprintf("%d CPUs", h.CPUs)
	if h.CPUModel != "" {
		s += " (" + h.CPUModel + ")"
	}
	s += fmt.Sprintf(", Linux %s, %s", h.Kernel, h.GoVersion)
	if h.LoadAvg != "" {
		s += ", load average " + h.LoadAvg + " at the start"
	}
	return s
}

func hostInfo() Host {
	h := Host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			h.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return h
}

// Run runs every workload on every target Repeat times: repeat by repeat, so that a busy
// stretch of the machine spreads over the targets rather than falling on one, and so that
// a Deadline leaves every target with its first runs. A target that is not installed is
// skipped (and said so in the report); a target that fails to start is recorded as a
// failed run, never a crash. ctx ending stops the run after the current step.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Repeat <= 0 {
		cfg.Repeat = 3
	}
	if cfg.Fanoutd == "" {
		cfg.Fanoutd = "bin/fanoutd"
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	base := cfg.ListenBase
	if !base.IsValid() {
		base = netip.MustParseAddr("127.0.0.2")
	}
	if !base.IsLoopback() {
		return nil, fmt.Errorf("listen base %v: %w", base, gen.ErrNotLoopback)
	}
	rep := &Report{Command: cfg.Command, Started: cfg.Now(), Host: hostInfo(),
		Versions: map[string]string{}, Skipped: map[string]string{}}
	for _, w := range cfg.Workloads {
		if !slices.Contains(gen.Workloads(), w) {
			return nil, fmt.Errorf("unknown workload %q (have %s)", w, strings.Join(gen.Workloads(), ", "))
		}
	}
	type live struct {
		name   string
		t      targets.Target
		listen netip.Addr
	}
	var ts []live
	listen := base
	for _, name := range cfg.Targets {
		t, err := NewTarget(name, cfg.Fanoutd)
		if err != nil {
			return nil, err
		}
		vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		v, verr := t.Version(vctx)
		cancel()
		if verr != nil && name != "fanoutd" {
			rep.Skipped[name] = "not installed: " + firstLine(verr.Error())
			progress(cfg.Progress, "%s: skipped (%s)\n", name, rep.Skipped[name])
			continue
		}
		rep.Versions[name] = v
		ts = append(ts, live{name, t, listen})
		listen = listen.Next()
	}
	type pair struct{ t, w string }
	failed := map[pair]bool{}
	for rpt := 1; rpt <= cfg.Repeat; rpt++ {
		for _, tg := range ts {
			for _, w := range cfg.Workloads {
				if ctx.Err() != nil {
					rep.Finished = cfg.Now()
					return rep, ctx.Err()
				}
				p, ok := cfg.Params[w]
				if !ok {
					p = gen.DefaultParams(w)
				}
				why := ""
				switch {
				case failed[pair{tg.name, w}] && !cfg.KeepGoing:
					why = "an earlier repeat failed"
				case !cfg.Deadline.IsZero() && cfg.Deadline.Sub(cfg.Now()) < time.Duration(p.Timeout):
					why = "the time budget was spent"
				}
				if why != "" {
					rep.NotRun = append(rep.NotRun, NotRun{Target: tg.name, Workload: w, Repeat: rpt, Why: why})
					progress(cfg.Progress, "%s %s #%d: not run (%s)\n", tg.name, w, rpt, why)
					continue
				}
				res := RunOne(ctx, tg.t, tg.listen, w, p, cfg)
				res.Repeat, res.TargetVersion = rpt, rep.Versions[tg.name]
				failed[pair{tg.name, w}] = failed[pair{tg.name, w}] || !res.OK
				rep.Runs = append(rep.Runs, res)
				progress(cfg.Progress, "%s\n", res.Summary())
				if res.RunDir != "" {
					progress(cfg.Progress, "%s %s #%d: run directory kept: %s\n", tg.name, w, rpt, res.RunDir)
				}
				rep.Summary = Summarize(rep.Runs, rep.NotRun)
				if cfg.OnResult != nil {
					cfg.OnResult(rep)
				}
			}
		}
	}
	rep.Summary = Summarize(rep.Runs, rep.NotRun)
	rep.Finished = cfg.Now()
	return rep, nil
}

func progress(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// RunOne plans workload w with p, starts t on listen (a free port) with the plan's Spec,
// runs the plan, stops t and returns the result with the target's usage. It never returns
// a nil result; failures are in Result.Error.
func RunOne(ctx context.Context, t targets.Target, listen netip.Addr, w string, p gen.Params, cfg Config) gen.Result {
	fail := func(err error) gen.Result {
		return gen.Result{Workload: w, Target: t.Name(), Role: cfg.Role.String(), Params: p, Started: time.Now(), Error: err.Error()}
	}
	plan, err := gen.NewPlan(w, p, cfg.Role)
	if err != nil {
		return fail(err)
	}
	port, err := targets.FreePort(listen)
	if err != nil {
		return fail(err)
	}
	addr := netip.AddrPortFrom(listen, port)
	spec := plan.Spec(cfg.Role, addr)
	proc, err := targets.Start(ctx, t, spec, cfg.Options)
	if err != nil {
		return fail(fmt.Errorf("start: %w", err))
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	env := gen.Env{Target: addr, Role: cfg.Role, Logger: log.With(zap.String("target", t.Name())),
		Progress: cfg.Progress, Label: t.Name() + "/" + w}
	res := plan.Run(ctx, env)
	res.Target = t.Name()
	if !res.OK && !cfg.DiscardFailed {
		proc.Keep()
		res.RunDir = proc.Dir()
	}
	u, err := proc.Stop(context.Background())
	res.CPUSeconds, res.PeakRSSBytes = u.CPUSeconds, u.PeakRSSBytes
	if err != nil {
		res.Error = strings.TrimSpace(res.Error + "; stop: " + err.Error())
	}
	return *res
}

// Summary is the median and spread of the runs of one (target, workload).
type Summary struct {
	Target     string   `json:"target"`
	Workload   string   `json:"workload"`
	Headline   string   `json:"headline_phase"`
	Runs       int      `json:"runs"`
	OK         int      `json:"ok"`
	Seconds    *float64 `json:"median_seconds"` // over successful runs; null when none
	MinSeconds *float64 `json:"min_seconds"`
	MaxSeconds *float64 `json:"max_seconds"`
	CPU        float64  `json:"median_cpu_seconds"`
	RSS        int64    `json:"median_peak_rss_bytes"`
	Updates    int64    `json:"median_updates_received"`
	Prefixes   int64    `json:"median_prefixes_received"`
	Paths      int64    `json:"paths"`            // paths the target held at the end
	Dropped    int      `json:"sessions_dropped"` // over all runs
	// TimedOut is the phase timeout when a run failed by hitting it ("20s"), else empty.
	TimedOut string `json:"timed_out,omitempty"`
	// NotRun counts the repeats the harness did not start (see Report.NotRun).
	NotRun     int      `json:"not_run,omitempty"`
	LatencyP50 *float64 `json:"median_latency_p50_ms,omitempty"`
	LatencyP99 *float64 `json:"median_latency_p99_ms,omitempty"`
	Errors     []string `json:"errors,omitempty"`
}

// BytesPerPath is the median peak RSS divided by the paths the target held; 0 when
// unknown. It includes the daemon's baseline memory, so small tables overstate it.
func (s Summary) BytesPerPath() float64 {
	if s.Paths <= 0 || s.OK == 0 {
		return 0
	}
	return float64(s.RSS) / float64(s.Paths)
}

// Summarize groups runs by target and workload, in first-seen order (orders by target
// first, then workload), counting the repeats in notRun against their pair.
func Summarize(runs []gen.Result, notRun []NotRun) []Summary {
	type key struct{ t, w string }
	var order []key
	groups := map[key][]gen.Result{}
	for _, r := range runs {
		k := key{r.Target, r.Workload}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	skipped := map[key]int{}
	for _, n := range notRun {
		k := key{n.Target, n.Workload}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
			groups[k] = nil
		}
		skipped[k]++
	}
	var out []Summary
	for _, k := range order {
		rs := groups[k]
		s := Summary{Target: k.t, Workload: k.w, Runs: len(rs), NotRun: skipped[k]}
		var secs, cpu, rss, upd, pfx, paths, p50, p99 []float64
		for _, r := range rs {
			s.Dropped += len(r.Dropped)
			if r.Headline != "" {
				s.Headline = r.Headline
			}
			if r.TimedOut {
				s.TimedOut = r.Params.Timeout.String()
			}
			if !r.OK || r.Seconds == nil {
				s.Errors = append(s.Errors, firstLine(r.Error))
				continue
			}
			s.OK++
			secs = append(secs, *r.Seconds)
			cpu = append(cpu, r.CPUSeconds)
			rss = append(rss, float64(r.PeakRSSBytes))
			upd = append(upd, float64(r.Updates))
			pfx = append(pfx, float64(r.Prefixes))
			paths = append(paths, float64(r.Paths))
			if r.Latency != nil {
				p50 = append(p50, r.Latency.P50Ms)
				p99 = append(p99, r.Latency.P99Ms)
			}
		}
		if len(secs) > 0 {
			m, lo, hi := Median(secs), slices.Min(secs), slices.Max(secs)
			s.Seconds, s.MinSeconds, s.MaxSeconds = &m, &lo, &hi
			s.CPU, s.RSS = Median(cpu), int64(Median(rss))
			s.Updates, s.Prefixes = int64(Median(upd)), int64(Median(pfx))
			s.Paths = int64(Median(paths))
		}
		if len(p50) > 0 {
			a, b := Median(p50), Median(p99)
			s.LatencyP50, s.LatencyP99 = &a, &b
		}
		out = append(out, s)
	}
	return out
}

// Median returns the median of xs (the mean of the middle two for an even count).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ErrNoRuns is returned by WriteMarkdown for a report without runs.
var ErrNoRuns = errors.New("report has no runs")
