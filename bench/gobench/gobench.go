// Package gobench reads the text output of `go test -bench` and summarises it: for each
// benchmark of each package, the median, fastest and slowest of every metric it reported
// (ns/op, B/op, allocs/op and custom ones such as ns/prefix or s/load) over the -count
// runs, and writes that as markdown tables for BENCHMARKS.md.
//
// It is a pure core: no processes, no files; bench/suite runs `go test` and hands the
// output here. Nothing is shared; a Set belongs to its caller.
package gobench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Metric is one unit's values over the runs of a benchmark, in run order.
type Metric struct {
	Unit   string    `json:"unit"`
	Values []float64 `json:"values"`
}

// Median returns the median of the values (the mean of the middle two for an even count).
func (m Metric) Median() float64 {
	s := slices.Clone(m.Values)
	slices.Sort(s)
	n := len(s)
	switch {
	case n == 0:
		return 0
	case n%2 == 1:
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Bench is one benchmark (with its sub-benchmark path) of one package.
type Bench struct {
	Pkg     string   `json:"pkg"`
	Name    string   `json:"name"` // without the "Benchmark" prefix and the -GOMAXPROCS suffix
	Procs   int      `json:"procs"`
	Runs    int      `json:"runs"`
	Metrics []Metric `json:"metrics"` // in the order first reported
}

// Metric returns the metric with unit u, if the benchmark reported it.
func (b *Bench) Metric(u string) (Metric, bool) {
	for _, m := range b.Metrics {
		if m.Unit == u {
			return m, true
		}
	}
	return Metric{}, false
}

// Set is the benchmarks of one or more `go test -bench` outputs, in first-seen order.
type Set struct {
	Benches []*Bench `json:"benches"`
	// Failed lists the packages whose output said FAIL, and lines that looked like a
	// benchmark result but did not parse.
	Failed []string `json:"failed,omitempty"`
}

// Parse reads `go test -bench` text output (several packages, -count runs) into s.
// Anything that is not a result line ("goos:", "PASS", log output) is skipped.
func (s *Set) Parse(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	pkg := ""
	index := map[[2]string]*Bench{}
	for _, b := range s.Benches {
		index[[2]string{b.Pkg, b.Name}] = b
	}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "pkg:"):
			pkg = strings.TrimSpace(strings.TrimPrefix(line, "pkg:"))
			continue
		case strings.HasPrefix(line, "FAIL"), strings.HasPrefix(line, "--- FAIL"):
			s.Failed = append(s.Failed, line)
			continue
		case !strings.HasPrefix(line, "Benchmark"):
			continue
		}
		name, procs, values, ok := parseLine(line)
		if !ok {
			if strings.Contains(line, "\t") { // a result line we cannot read, not a log line
				s.Failed = append(s.Failed, "unparsed: "+line)
			}
			continue
		}
		k := [2]string{pkg, name}
		b := index[k]
		if b == nil {
			b = &Bench{Pkg: pkg, Name: name, Procs: procs}
			index[k] = b
			s.Benches = append(s.Benches, b)
		}
		b.Runs++
		for _, v := range values {
			i := slices.IndexFunc(b.Metrics, func(m Metric) bool { return m.Unit == v.Unit })
			if i < 0 {
				b.Metrics = append(b.Metrics, Metric{Unit: v.Unit})
				i = len(b.Metrics) - 1
			}
			b.Metrics[i].Values = append(b.Metrics[i].Values, v.Values...)
		}
	}
	return sc.Err()
}

// parseLine reads "BenchmarkX/y-2   1000   123 ns/op   0 B/op ..." into the name without
// prefix and procs suffix, the procs, and one single-valued Metric per pair.
func parseLine(line string) (string, int, []Metric, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || len(f)%2 != 0 {
		return "", 0, nil, false
	}
	if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
		return "", 0, nil, false
	}
	name, procs := strings.TrimPrefix(f[0], "Benchmark"), 1
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if n, err := strconv.Atoi(name[i+1:]); err == nil {
			name, procs = name[:i], n
		}
	}
	var ms []Metric
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return "", 0, nil, false
		}
		ms = append(ms, Metric{Unit: f[i+1], Values: []float64{v}})
	}
	return name, procs, ms, true
}

// standard units come first in a table, in this order; others follow by first use.
var standard = []string{"ns/op", "B/op", "allocs/op"}

// WriteMarkdown writes one table per benchmark function (per package): a row per
// sub-benchmark with the median of each metric, and for ns/op the fastest and slowest run
// in brackets. modulePrefix is trimmed from package paths in headings
// ("github.com/fanoutd/fanout/").
func (s *Set) WriteMarkdown(w io.Writer, heading, modulePrefix string) {
	type group struct{ pkg, fn string }
	var order []group
	members := map[group][]*Bench{}
	for _, b := range s.Benches {
		fn, _, _ := strings.Cut(b.Name, "/")
		g := group{b.Pkg, fn}
		if _, ok := members[g]; !ok {
			order = append(order, g)
		}
		members[g] = append(members[g], b)
	}
	for _, g := range order {
		bs := members[g]
		units := slices.Clone(standard)
		for _, b := range bs {
			for _, m := range b.Metrics {
				if !slices.Contains(units, m.Unit) {
					units = append(units, m.Unit)
				}
			}
		}
		fmt.Fprintf(w, "%s `%s` %s\n\n| benchmark | runs |", heading, strings.TrimPrefix(g.pkg, modulePrefix), g.fn)
		for _, u := range units {
			fmt.Fprintf(w, " %s |", u)
		}
		fmt.Fprintf(w, "\n|---|---:|%s\n", strings.Repeat("---:|", len(units)))
		for _, b := range bs {
			fmt.Fprintf(w, "| %s | %d |", b.Name, b.Runs)
			for _, u := range units {
				m, ok := b.Metric(u)
				switch {
				case !ok:
					fmt.Fprint(w, " — |")
				case u == "ns/op" && len(m.Values) > 1:
					fmt.Fprintf(w, " %s [%s–%s] |", Format(m.Median()), Format(slices.Min(m.Values)), Format(slices.Max(m.Values)))
				default:
					fmt.Fprintf(w, " %s |", Format(m.Median()))
				}
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
	}
	for _, f := range s.Failed {
		fmt.Fprintf(w, "- failed: %s\n", f)
	}
	if len(s.Failed) > 0 {
		fmt.Fprintln(w)
	}
}

// Format prints v with about four significant digits and no exponent: 0.4213, 12.35,
// 1234, 1234567.
func Format(v float64) string {
	a := v
	if a < 0 {
		a = -a
	}
	switch {
	case a == 0 || a >= 1000 || v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
