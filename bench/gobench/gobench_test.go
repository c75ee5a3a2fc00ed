package gobench

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func load(t *testing.T) *Set {
	t.Helper()
	f, err := os.Open("testdata/bench.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var s Set
	if err := s.Parse(f); err != nil {
		t.Fatal(err)
	}
	return &s
}

func TestParse(t *testing.T) {
	s := load(t)
	if len(s.Benches) != 4 || len(s.Failed) != 0 {
		t.Fatalf("benches %d, failed %v", len(s.Benches), s.Failed)
	}
	b := s.Benches[0]
	if b.Pkg != "github.com/fanoutd/fanout/proto" || b.Name != "EncodeUpdate/ipv4-unicast/1/fanout" || b.Procs != 2 || b.Runs != 3 {
		t.Errorf("first bench %+v", b)
	}
	ns, ok := b.Metric("ns/op")
	if !ok || ns.Median() != 232.2 || len(ns.Values) != 3 {
		t.Errorf("ns/op %+v", ns)
	}
	if m, ok := b.Metric("MB/s"); !ok || m.Median() != 572.69 {
		t.Errorf("MB/s %+v", m)
	}
	fo := s.Benches[3]
	if fo.Pkg != "github.com/fanoutd/fanout/bgp" || fo.Name != "ExportFanOut/clients=100" {
		t.Fatalf("last bench %+v", fo)
	}
	if m, ok := fo.Metric("s/load"); !ok || m.Median() != 4.862 {
		t.Errorf("s/load %+v", m)
	}
}

func TestParseFailuresAndOddLines(t *testing.T) {
	in := "pkg: x/y\nBenchmarkA-2\t10\t5 ns/op\nBenchmarkA-2\t10\t7 ns/op\nBenchmarkB-2\t10\tfive ns/op\n" +
		"BenchmarkLogLine says hello\n--- FAIL: BenchmarkC\nFAIL\tx/y\t0.1s\n"
	var s Set
	if err := s.Parse(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if len(s.Benches) != 1 || s.Benches[0].Runs != 2 {
		t.Fatalf("benches %+v", s.Benches)
	}
	if m, _ := s.Benches[0].Metric("ns/op"); m.Median() != 6 {
		t.Errorf("median of 5 and 7 = %v", m.Median())
	}
	if len(s.Failed) != 3 || !strings.HasPrefix(s.Failed[0], "unparsed: BenchmarkB") {
		t.Errorf("failed %q", s.Failed)
	}
}

func TestWriteMarkdown(t *testing.T) {
	s := load(t)
	var b bytes.Buffer
	s.WriteMarkdown(&b, "####", "github.com/fanoutd/fanout/")
	out := b.String()
	for _, want := range []string{
		"#### `proto` EncodeUpdate\n\n| benchmark | runs | ns/op | B/op | allocs/op | MB/s |",
		"| EncodeUpdate/ipv4-unicast/1/fanout | 3 | 232.2 [163.6–344.9] | 0 | 0 | 572.7 |",
		"| EncodeUpdate/ipv4-unicast/1/gobgp | 3 | 3870 [3669–4368] | 1208 | 40 | 34.37 |",
		"#### `bgp` ExportFanOut\n\n| benchmark | runs | ns/op | B/op | allocs/op | MiB-heap-sys | MiB-peak-rss | cpu-s | prefixes | s/load | updates-encoded |",
		"| ExportFanOut/clients=100 | 1 | 4862220299 | 516521392 | 3873430 | 545.9 | 560.1 | 3.514 | 497297 | 4.862 | 97737 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
}

func TestFormat(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.42134: "0.4213", 3.14159: "3.142", 12.345: "12.35", 123.45: "123.5", 98765.4: "98765", 40: "40", 1.5: "1.500"} {
		if got := Format(v); got != want {
			t.Errorf("Format(%v) = %q, want %q", v, got, want)
		}
	}
}
