// Package suite is what `make bench` runs: the default side-by-side workloads sized for a
// 2-core machine, the Go micro-benchmarks of the hot packages, and the generated section
// of BENCHMARKS.md (tables, charts, machine, load and the exact command) that a rerun
// replaces between two markers while the hand-written prose around it stays.
//
// The sizes and commands are plain data (Workloads, Micros); RunMicro is the only part
// that starts processes (`go test -bench`), and it waits for them. Rendering (Section,
// Splice, WriteCharts) is pure apart from the chart files it is told to write.
package suite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/fanoutd/fanout/bench/charts"
	"github.com/fanoutd/fanout/bench/gen"
	"github.com/fanoutd/fanout/bench/gobench"
	"github.com/fanoutd/fanout/bench/harness"
)

// Workloads returns the default suite's workloads and their parameters. The full suite is
// sized so that every target but the slowest finishes each run in seconds on 2 shared
// cores; timeout bounds each timed phase, and a target that hits it is reported as timed
// out (once: the harness does not repeat a failed pair). quick is a smoke run: tiny sizes.
func Workloads(quick bool, timeout time.Duration) ([]string, map[string]gen.Params) {
	names := []string{"converge", "churn", "fanout", "storm", "latency", "ixp", "replay"}
	ps := map[string]gen.Params{}
	for _, w := range names {
		p := gen.DefaultParams(w)
		p.Timeout = gen.Duration(timeout)
		ps[w] = p
	}
	set := func(w string, f func(p *gen.Params)) {
		p := ps[w]
		f(&p)
		ps[w] = p
	}
	if quick {
		set("converge", func(p *gen.Params) { p.Speakers, p.Prefixes, p.Receivers = 2, 1000, 1 })
		set("churn", func(p *gen.Params) { p.Speakers, p.Prefixes, p.Receivers = 2, 1000, 1 })
		set("fanout", func(p *gen.Params) { p.Prefixes, p.Receivers = 2000, 3 })
		set("storm", func(p *gen.Params) { p.Speakers, p.Prefixes, p.Receivers = 2, 500, 5 })
		set("latency", func(p *gen.Params) { p.Prefixes = 1000 })
		set("ixp", func(p *gen.Params) { p.Speakers, p.Prefixes = 4, 200 })
		set("replay", func(p *gen.Params) { p.MRTFile, p.MRTPeer, p.MRTMax = replayFile, "", 300 })
		return names, ps
	}
	// converge and churn: 10 speakers x 10k (10% shared) to 2 receivers (gen's defaults).
	set("fanout", func(p *gen.Params) { p.Prefixes, p.Receivers = 50000, 20 })
	set("storm", func(p *gen.Params) { p.Speakers, p.Prefixes, p.Receivers = 4, 5000, 30 })
	set("ixp", func(p *gen.Params) { p.Speakers, p.Prefixes = 20, 1000 })
	set("latency", func(p *gen.Params) { p.Prefixes = 20000 })
	set("replay", func(p *gen.Params) { p.MRTFile, p.MRTPeer, p.MRTMax = replayFile, "", 20000 })
	return names, ps
}

// replayFile is a real full table as one peer's stream of UPDATEs (2015); replay takes
// its first messages (20,000 messages are about 300,000 prefixes).
const replayFile = "../shared/data/mrt/updates/updates.et-header.2015.fulltable-1peer.gz"

// Micro is one `go test -bench` invocation.
type Micro struct {
	What      string   // what it measures, for the report
	Pkgs      []string // package patterns
	Bench     string   // -bench regexp
	Benchtime string   // -benchtime
	Count     int      // -count
}

// Args returns the go command's arguments for m.
func (m Micro) Args() []string {
	a := []string{"test", "-run", "^$", "-bench", m.Bench, "-benchmem", "-benchtime", m.Benchtime, "-count", fmt.Sprint(m.Count)}
	return append(a, m.Pkgs...)
}

// Command returns m as a shell command line with goCmd as the go command.
func (m Micro) Command(goCmd string) string {
	return ShellJoin(append([]string{goCmd}, m.Args()...))
}

// ShellJoin joins args into a command line a POSIX shell splits back into args: an
// argument with anything but letters, digits and -_./=,:+@% is single-quoted.
func ShellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		safe := a != ""
		for _, c := range a {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./=,:+@%", c)) {
				safe = false
				break
			}
		}
		if safe {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}

// Micros returns the micro-benchmarks make bench runs: the codec (proto), the scheduler
// and partitioned tables (sched, db), and export and learning over real sessions (bgp).
// rib has no benchmark of its own yet; best-path selection is inside the bgp ones.
func Micros(quick bool) []Micro {
	if quick {
		return []Micro{
			{What: "codec", Pkgs: []string{"./proto/"}, Bench: "EncodeUpdate/ipv4-unicast/100/|DecodeUpdate/.*/ipv4/prefixes=100$", Benchtime: "20ms", Count: 1},
			{What: "scheduler", Pkgs: []string{"./sched/"}, Bench: "Run", Benchtime: "20ms", Count: 1},
		}
	}
	return []Micro{
		{What: "codec: encode and decode UPDATEs, fanout beside GoBGP", Pkgs: []string{"./proto/"},
			Bench: "EncodeUpdate|DecodeUpdate|AppendAttrs", Benchtime: "100ms", Count: 3},
		{What: "scheduler and partitioned tables", Pkgs: []string{"./sched/", "./db/"}, Bench: ".", Benchtime: "100ms", Count: 3},
		{What: "export (best path, RibOut, encoding, sending) and learning over loopback sessions", Pkgs: []string{"./bgp/"},
			Bench: "ExportFanIn|ExportFanOut/clients=100$|LearnFromPeers/workers=2$", Benchtime: "1x", Count: 1},
	}
}

// RunMicro runs each of ms with goCmd in dir, appending their output to out, and returns
// the parsed set. A failing `go test` is recorded in the set (and its output kept), not
// fatal: the report says which package failed.
func RunMicro(ctx context.Context, goCmd, dir string, ms []Micro, out, progress io.Writer) (*gobench.Set, error) {
	set := &gobench.Set{}
	for _, m := range ms {
		if progress != nil {
			fmt.Fprintf(progress, "micro: %s\n", m.Command(goCmd))
		}
		var buf bytes.Buffer
		cmd := exec.CommandContext(ctx, goCmd, m.Args()...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &buf, &buf
		err := cmd.Run()
		if out != nil {
			out.Write(buf.Bytes())
		}
		if perr := set.Parse(bytes.NewReader(buf.Bytes())); perr != nil {
			return set, perr
		}
		if err != nil {
			if ctx.Err() != nil {
				return set, ctx.Err()
			}
			set.Failed = append(set.Failed, fmt.Sprintf("%s: %v", m.Command(goCmd), err))
		}
	}
	return set, nil
}

// Source describes the code in the git work tree at dir: the commit and how many files
// differ from it (others' work in progress in a shared tree is measured too). It returns
// "" when git cannot say.
func Source(ctx context.Context, dir string) string {
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	commit, err := git("rev-parse", "--short=12", "HEAD")
	if err != nil {
		return ""
	}
	st, err := git("status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return "commit " + commit
	}
	n := 0
	if st != "" {
		n = len(strings.Split(st, "\n"))
	}
	if n == 0 {
		return "commit " + commit
	}
	return fmt.Sprintf("commit %s with uncommitted changes in %d tracked files (work in progress in the shared tree)", commit, n)
}

// Markers delimit the generated section in BENCHMARKS.md.
const (
	BeginMarker = "<!-- BEGIN make bench: generated by `fanout-bench suite`; a rerun replaces everything up to the END marker -->"
	EndMarker   = "<!-- END make bench -->"
)

// Splice returns doc with the text between the markers (inclusive) replaced by section
// wrapped in the markers, or with it appended after a blank line when doc has no markers.
func Splice(doc, section []byte) ([]byte, error) {
	wrapped := append(append([]byte(BeginMarker+"\n\n"), bytes.TrimRight(section, "\n")...), []byte("\n\n"+EndMarker+"\n")...)
	b := bytes.Index(doc, []byte(BeginMarker))
	e := bytes.Index(doc, []byte(EndMarker))
	switch {
	case b < 0 && e < 0:
		out := bytes.TrimRight(doc, "\n")
		if len(out) > 0 {
			out = append(out, "\n\n"...)
		}
		return append(out, wrapped...), nil
	case b < 0 || e < b:
		return nil, fmt.Errorf("BENCHMARKS.md: the generated section's markers are unpaired or out of order")
	}
	end := e + len(EndMarker)
	if end < len(doc) && doc[end] == '\n' {
		end++
	}
	out := append([]byte{}, doc[:b]...)
	out = append(out, wrapped...)
	return append(out, doc[end:]...), nil
}

// Doc is everything the generated section says.
type Doc struct {
	Command       string          // the command a reader runs to reproduce it ("make bench")
	Invocation    string          // what that command ran
	Report        *harness.Report // side-by-side results; nil when not run
	Micro         *gobench.Set    // micro-benchmark results; nil when not run
	MicroCommands []string
	Charts        map[string]string // workload → chart path relative to the markdown file
	Started       time.Time
	Wall          time.Duration // the whole suite
	Source        string        // the code measured ("commit 1a2b3c4, 3 files changed")
}

// Section writes the generated section's markdown (without the markers).
func Section(w io.Writer, d Doc) error {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("## Generated by `%s`\n\n", d.Command)
	p("Everything from here to the end marker is written by `%s`; edit the prose above, not this.\n\n", d.Command)
	p("Command:\n\n```\n%s\n```\n\nwhich ran:\n\n```\n%s\n```\n\n", d.Command, d.Invocation)
	host := harness.Host{}
	if d.Report != nil {
		host = d.Report.Host
	}
	p("Date: %s; whole suite %s of wall time.\n", d.Started.UTC().Format("2006-01-02 15:04 UTC"), d.Wall.Round(time.Second))
	if host.CPUs > 0 {
		p("Machine: %s.\n", host.Describe())
	}
	if d.Source != "" {
		p("Code: %s.\n", d.Source)
	}
	p("The machine's cores are shared with other jobs that ran at the same time, so the numbers are noisy:\n")
	p("compare the rows of one table (run interleaved, repeat by repeat), not these numbers with another run's.\n\n")
	if d.Report != nil && len(d.Report.Runs) > 0 {
		p("### Side by side: fanoutd, BIRD 2, FRR, gobgpd, OpenBGPD\n\n")
		p("Each run starts the daemon afresh as a route server on its own loopback address, runs the workload with\n")
		p("real sessions from `bench/gen` (fanout's codec), checks that every receiver ends with exactly the table\n")
		p("RFC 7947 requires, and stops the daemon. A pair (target, workload) that fails is not repeated.\n\n")
		if err := harness.WriteMarkdownOpts(w, d.Report, harness.MarkdownOptions{Level: 3, Charts: d.Charts, NoHeader: true}); err != nil {
			return err
		}
		p("\n")
	}
	if d.Micro != nil {
		p("### Go micro-benchmarks\n\n")
		p("Medians of the `-count` runs (ns/op with the fastest and slowest in brackets); `gobgp` rows are GoBGP's\n")
		p("`pkg/packet/bgp` doing the same work in the same run. `rib` has no benchmark of its own yet: best-path\n")
		p("selection is measured inside the `bgp` export and learning benchmarks.\n\n")
		for _, c := range d.MicroCommands {
			p("    %s\n", c)
		}
		p("\n")
		d.Micro.WriteMarkdown(w, "####", "github.com/fanoutd/fanout/")
	}
	return nil
}

// WriteCharts draws one chart per workload of rep into dir and returns each chart's path
// relative to mdDir (the directory of the markdown file that shows them).
func WriteCharts(rep *harness.Report, dir, mdDir string) (map[string]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, w := range charts.Workloads(rep.Summary) {
		title := w
		for _, r := range rep.Runs {
			if r.Workload == w {
				title = w + ": " + harness.DescribeSize(w, r.Params)
				break
			}
		}
		path := filepath.Join(dir, w+".png")
		if err := charts.WriteFile(path, title, w, rep.Summary); err != nil {
			return nil, err
		}
		rel, err := filepath.Rel(mdDir, path)
		if err != nil {
			return nil, err
		}
		out[w] = filepath.ToSlash(rel)
	}
	return out, nil
}

// Meta is what a suite run records about itself beside the results, so that Publish can
// render the section again later from files alone.
type Meta struct {
	Command       string    `json:"command"`
	Invocation    string    `json:"invocation"`
	Started       time.Time `json:"started"`
	WallSeconds   float64   `json:"wall_seconds"`
	Source        string    `json:"source,omitempty"` // the code measured: commit, uncommitted changes
	MicroCommands []string  `json:"micro_commands,omitempty"`
}

// Files are the inputs and outputs of Publish. Results, Micro and Meta may be empty (or
// missing files) to leave that part out; Markdown is rewritten in place (created when
// missing) and ChartDir receives one PNG per workload.
type Files struct {
	Results  string // harness JSON
	Micro    string // `go test -bench` text
	Meta     string // Meta JSON
	Markdown string // BENCHMARKS.md
	ChartDir string
}

// Publish renders the generated section from the files and splices it into the markdown.
func Publish(f Files) error {
	var d Doc
	if f.Meta != "" {
		b, err := os.ReadFile(f.Meta)
		if err != nil {
			return err
		}
		var m Meta
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("%s: %w", f.Meta, err)
		}
		d.Command, d.Invocation, d.Started = m.Command, m.Invocation, m.Started
		d.Wall, d.MicroCommands = time.Duration(m.WallSeconds*float64(time.Second)), m.MicroCommands
		d.Source = m.Source
	}
	if f.Results != "" {
		rep, err := harness.Load(f.Results)
		if err != nil {
			return err
		}
		d.Report = rep
		if d.Started.IsZero() {
			d.Started = rep.Started
		}
		if len(rep.Runs) > 0 {
			if d.Charts, err = WriteCharts(rep, f.ChartDir, filepath.Dir(f.Markdown)); err != nil {
				return err
			}
		}
	}
	if f.Micro != "" {
		b, err := os.ReadFile(f.Micro)
		if err != nil {
			return err
		}
		d.Micro = &gobench.Set{}
		if err := d.Micro.Parse(bytes.NewReader(b)); err != nil {
			return fmt.Errorf("%s: %w", f.Micro, err)
		}
	}
	if d.Command == "" {
		d.Command = "make bench"
	}
	var sec bytes.Buffer
	if err := Section(&sec, d); err != nil {
		return err
	}
	old, err := os.ReadFile(f.Markdown)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	doc, err := Splice(old, sec.Bytes())
	if err != nil {
		return err
	}
	return os.WriteFile(f.Markdown, doc, 0o644)
}

// SaveMeta writes m as JSON to path.
func SaveMeta(path string, m Meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
