package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/fanoutd/fanout/bench/gen"
)

// Load reads a report written as JSON.
func Load(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(r.Summary) == 0 {
		r.Summary = Summarize(r.Runs)
	}
	return &r, nil
}

// Save writes r as indented JSON to path.
func Save(path string, r *Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// WriteMarkdown writes the report as a BENCHMARKS.md section: the machine and the command,
// then one table per workload with a row per target (median time and spread, CPU seconds,
// peak RSS, UPDATEs and prefixes received, sessions dropped), then the target versions.
func WriteMarkdown(w io.Writer, r *Report) error {
	if len(r.Runs) == 0 {
		return ErrNoRuns
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("## Side-by-side benchmark\n\n")
	p("Machine: %d CPUs", r.Host.CPUs)
	if r.Host.CPUModel != "" {
		p(" (%s)", r.Host.CPUModel)
	}
	p(", Linux %s, %s. Started %s.\n\n", r.Host.Kernel, r.Host.GoVersion, r.Started.UTC().Format("2006-01-02 15:04 UTC"))
	if r.Command != "" {
		p("Command:\n\n```\n%s\n```\n\n", r.Command)
	}
	p("Times are medians over the successful runs, with the fastest and slowest in brackets; a run that did not\n")
	p("converge to the exact expected table within its timeout has no time. CPU and peak RSS are the target's\n")
	p("whole process tree; UPDATEs and prefixes are what all receivers got in the timed phase.\n\n")
	byWorkload := map[string][]Summary{}
	var order []string
	for _, s := range r.Summary {
		if _, ok := byWorkload[s.Workload]; !ok {
			order = append(order, s.Workload)
		}
		byWorkload[s.Workload] = append(byWorkload[s.Workload], s)
	}
	for _, wl := range order {
		ss := byWorkload[wl]
		p("### %s\n\n", wl)
		if par, ok := paramsOf(r.Runs, wl); ok {
			p("%s\n\n", describeParams(wl, par))
		}
		hasLat := false
		for _, s := range ss {
			hasLat = hasLat || s.LatencyP50 != nil
		}
		p("| target | %s time (s) | CPU (s) | peak RSS (MiB) | UPDATEs rcvd | prefixes rcvd | dropped | runs ok |", headline(ss))
		if hasLat {
			p(" p50 / p99 (ms) |")
		}
		p("\n|---|---:|---:|---:|---:|---:|---:|---:|")
		if hasLat {
			p("---:|")
		}
		p("\n")
		for _, s := range ss {
			t := "—"
			if s.Seconds != nil {
				t = fmt.Sprintf("%.3f [%.3f–%.3f]", *s.Seconds, *s.MinSeconds, *s.MaxSeconds)
			}
			cpu, rss, upd, pfx := "—", "—", "—", "—"
			if s.OK > 0 {
				cpu = fmt.Sprintf("%.2f", s.CPU)
				rss = fmt.Sprintf("%.1f", float64(s.RSS)/(1<<20))
				upd = fmt.Sprintf("%d", s.Updates)
				pfx = fmt.Sprintf("%d", s.Prefixes)
			}
			p("| %s | %s | %s | %s | %s | %s | %d | %d/%d |", s.Target, t, cpu, rss, upd, pfx, s.Dropped, s.OK, s.Runs)
			if hasLat {
				if s.LatencyP50 != nil {
					p(" %.1f / %.1f |", *s.LatencyP50, *s.LatencyP99)
				} else {
					p(" — |")
				}
			}
			p("\n")
		}
		var errs []string
		for _, s := range ss {
			for _, e := range uniq(s.Errors) {
				errs = append(errs, fmt.Sprintf("- %s: %s", s.Target, e))
			}
		}
		if len(errs) > 0 {
			p("\nFailures:\n\n%s\n", strings.Join(errs, "\n"))
		}
		p("\n")
	}
	p("### Versions\n\n| target | version |\n|---|---|\n")
	names := make([]string, 0, len(r.Versions))
	for n := range r.Versions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p("| %s | %s |\n", n, r.Versions[n])
	}
	for n, why := range r.Skipped {
		p("| %s | skipped: %s |\n", n, why)
	}
	return nil
}

func headline(ss []Summary) string {
	for _, s := range ss {
		if s.Headline != "" {
			return s.Headline
		}
	}
	return "run"
}

func paramsOf(runs []gen.Result, w string) (gen.Params, bool) {
	for _, r := range runs {
		if r.Workload == w {
			return r.Params, true
		}
	}
	return gen.Params{}, false
}

// describeParams says in one line what a workload's parameters were.
func describeParams(w string, p gen.Params) string {
	var s string
	switch w {
	case "converge", "churn", "storm":
		s = fmt.Sprintf("%d speakers × %d prefixes (overlap %.0f%%, IPv6 %.0f%%) → %d receivers", p.Speakers, p.Prefixes, 100*p.Overlap, 100*p.IPv6, p.Receivers)
		if w == "churn" {
			s += fmt.Sprintf("; then %.0f%% re-announced, %.0f%% withdrawn", 100*p.Reannounce, 100*p.Withdraw)
			if p.Rate > 0 {
				s += fmt.Sprintf(" at %.0f prefixes/s", p.Rate)
			}
		}
		if w == "storm" {
			s += "; then all receivers disconnect and reconnect at once"
		}
	case "fanout":
		src := fmt.Sprintf("%d synthetic prefixes", p.Prefixes)
		if p.MRTFile != "" {
			src = "the table of " + p.MRTFile
		}
		s = fmt.Sprintf("1 speaker with %s → %d receivers", src, p.Receivers)
	case "ixp":
		s = fmt.Sprintf("%d members × %d prefixes, every member a receiver", p.Speakers, p.Prefixes)
	case "replay":
		s = fmt.Sprintf("replay of %s (peer %s) → %d receivers, speed %g (0: full speed)", p.MRTFile, p.MRTPeer, p.Receivers, p.Speed)
	case "latency":
		s = fmt.Sprintf("1 speaker → 1 receiver, %d prefixes, rate %g/s (0: full speed)", p.Prefixes, p.Rate)
	}
	return s + fmt.Sprintf("; seed %d, timeout %v.", p.Seed, p.Timeout.String())
}

func uniq(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
