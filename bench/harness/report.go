package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
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
		r.Summary = Summarize(r.Runs, r.NotRun)
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

// MarkdownOptions shape WriteMarkdownOpts's output.
type MarkdownOptions struct {
	// Level is the heading level of the section ("##"); workloads are one level deeper.
	// 0 means 2.
	Level int
	// Charts maps a workload to the path of its chart (relative to the markdown file),
	// shown under the workload's table.
	Charts map[string]string
	// NoHeader leaves out the section heading, machine and command lines (for a caller
	// that writes its own).
	NoHeader bool
}

// WriteMarkdown writes the report as a BENCHMARKS.md section with the default options.
func WriteMarkdown(w io.Writer, r *Report) error { return WriteMarkdownOpts(w, r, MarkdownOptions{}) }

// WriteMarkdownOpts writes the report as a BENCHMARKS.md section: the machine and the
// command, then one table per workload with a row per target (median time and spread, CPU
// seconds, peak RSS, bytes per path, UPDATEs and prefixes received, sessions dropped, runs),
// the failures and the runs not started, then the target versions.
func WriteMarkdownOpts(w io.Writer, r *Report, o MarkdownOptions) error {
	if len(r.Runs) == 0 {
		return ErrNoRuns
	}
	if o.Level <= 0 {
		o.Level = 2
	}
	h1, h2 := strings.Repeat("#", o.Level), strings.Repeat("#", o.Level+1)
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	if !o.NoHeader {
		p("%s Side-by-side benchmark\n\n", h1)
		p("Machine: %s. Started %s.\n\n", r.Host.Describe(), r.Started.UTC().Format("2006-01-02 15:04 UTC"))
		if r.Command != "" {
			p("Command:\n\n```\n%s\n```\n\n", r.Command)
		}
	}
	p("Times are medians over the successful runs, with the fastest and slowest in brackets; a run that did not\n")
	p("converge to the exact expected table within its timeout has no time. CPU and peak RSS are the target's\n")
	p("whole process tree (medians); bytes/path is that peak RSS over the paths the target held at the end, so it\n")
	p("includes the daemon's baseline memory and overstates small tables. UPDATEs and prefixes are what all\n")
	p("receivers got in the timed phase.\n\n")
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
		p("%s %s\n\n", h2, wl)
		if par, ok := paramsOf(r.Runs, wl); ok {
			p("%s\n\n", describeParams(wl, par))
		}
		writeTable(w, ss)
		var errs []string
		for _, s := range ss {
			for _, e := range uniq(s.Errors) {
				errs = append(errs, fmt.Sprintf("- %s: %s", s.Target, e))
			}
		}
		for _, n := range r.NotRun {
			if n.Workload == wl {
				errs = append(errs, fmt.Sprintf("- %s: repeat %d not run: %s", n.Target, n.Repeat, n.Why))
			}
		}
		if len(errs) > 0 {
			p("\nFailures and runs not started:\n\n%s\n", strings.Join(errs, "\n"))
		}
		if c := o.Charts[wl]; c != "" {
			p("\n![%s: time, CPU, peak RSS and UPDATEs per target](%s)\n", wl, c)
		}
		p("\n")
	}
	p("%s Versions\n\n| target | version |\n|---|---|\n", h2)
	for _, n := range slices.Sorted(maps.Keys(r.Versions)) {
		p("| %s | %s |\n", n, r.Versions[n])
	}
	for _, n := range slices.Sorted(maps.Keys(r.Skipped)) {
		p("| %s | skipped: %s |\n", n, r.Skipped[n])
	}
	return nil
}

// TimeText is the time cell of s: "0.450 [0.410–0.620]" (median, fastest, slowest), or
// why there is none ("timed out after 20s", "not run", "failed").
func (s Summary) TimeText() string {
	switch {
	case s.Seconds != nil:
		return fmt.Sprintf("%.3f [%.3f–%.3f]", *s.Seconds, *s.MinSeconds, *s.MaxSeconds)
	case s.TimedOut != "":
		return "timed out after " + s.TimedOut
	case s.Runs == 0:
		return "not run"
	}
	return "failed"
}

// writeTable writes one workload's table, a row per target.
func writeTable(w io.Writer, ss []Summary) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	hasLat := false
	for _, s := range ss {
		hasLat = hasLat || s.LatencyP50 != nil
	}
	p("| target | %s time (s) | CPU (s) | peak RSS (MiB) | bytes/path | UPDATEs rcvd | prefixes rcvd | dropped | runs ok |", headline(ss))
	if hasLat {
		p(" p50 / p99 (ms) |")
	}
	p("\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	if hasLat {
		p("---:|")
	}
	p("\n")
	for _, s := range ss {
		t := s.TimeText()
		cpu, rss, bpp, upd, pfx := "—", "—", "—", "—", "—"
		if s.OK > 0 {
			cpu = fmt.Sprintf("%.2f", s.CPU)
			rss = fmt.Sprintf("%.1f", float64(s.RSS)/(1<<20))
			upd = fmt.Sprintf("%d", s.Updates)
			pfx = fmt.Sprintf("%d", s.Prefixes)
			if b := s.BytesPerPath(); b > 0 {
				bpp = fmt.Sprintf("%.0f", b)
			}
		}
		runs := fmt.Sprintf("%d/%d", s.OK, s.Runs)
		if s.NotRun > 0 {
			runs += fmt.Sprintf(" (+%d not run)", s.NotRun)
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %d | %s |", s.Target, t, cpu, rss, bpp, upd, pfx, s.Dropped, runs)
		if hasLat {
			if s.LatencyP50 != nil {
				p(" %.1f / %.1f |", *s.LatencyP50, *s.LatencyP99)
			} else {
				p(" — |")
			}
		}
		p("\n")
	}
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
	return DescribeSize(w, p) + fmt.Sprintf("; seed %d, timeout %v.", p.Seed, p.Timeout.String())
}

// DescribeSize says in a few words how big workload w is with p ("10 speakers × 10000
// prefixes (overlap 10%, IPv6 0%) → 2 receivers").
func DescribeSize(w string, p gen.Params) string {
	var s string
	switch w {
	case "converge", "churn", "storm":
		s = fmt.Sprintf("%s × %d prefixes (overlap %.0f%%, IPv6 %.0f%%) → %s", count(p.Speakers, "speaker"), p.Prefixes, 100*p.Overlap, 100*p.IPv6, count(p.Receivers, "receiver"))
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
			src = "the table of " + filepath.Base(p.MRTFile)
		}
		s = fmt.Sprintf("1 speaker with %s → %s", src, count(p.Receivers, "receiver"))
	case "ixp":
		s = fmt.Sprintf("%d members × %d prefixes, every member a receiver", p.Speakers, p.Prefixes)
	case "replay":
		peer := "peer " + p.MRTPeer
		if p.MRTPeer == "" {
			peer = "first peer"
		}
		s = fmt.Sprintf("replay of %s (%s", filepath.Base(p.MRTFile), peer)
		if p.MRTMax > 0 {
			s += fmt.Sprintf(", at most %d routes/messages", p.MRTMax)
		}
		s += fmt.Sprintf(") → %s, speed %g (0: full speed)", count(p.Receivers, "receiver"), p.Speed)
	case "latency":
		s = fmt.Sprintf("1 speaker → 1 receiver, %d prefixes, rate %g/s (0: full speed)", p.Prefixes, p.Rate)
	}
	return s
}

// count says "1 receiver" or "2 receivers".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
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
